"""Activation checkpointing and compile, as parallelize applies them: the checkpointed
blocks compile (one graph for all of them, counted with an eager backend) and give the
plain model's loss and gradients, with every parameter's name unchanged."""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.utils import counters

from phi1.model.config import ModelConfig
from phi1.model.model import Phi
from phi1.train.parallelize import Dist, parallelize


class Graphs:
    """A torch.compile backend that keeps every graph it is given and runs it eagerly."""

    def __init__(self):
        self.graphs: list[torch.fx.GraphModule] = []

    def __call__(self, gm: torch.fx.GraphModule, example_inputs):
        self.graphs.append(gm)
        return gm.forward


def _linears(gm: torch.fx.GraphModule) -> int:
    """Linear products in a graph and the subgraphs it calls (a checkpoint's body)."""
    n = sum(1 for node in gm.graph.nodes if "linear" in str(node.target))
    return n + sum(
        _linears(child) for child in gm.children() if isinstance(child, torch.fx.GraphModule)
    )


def _step(model: Phi) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    idx = torch.randint(0, 50295, (2, 16), generator=g)
    targets = torch.randint(0, 50295, (2, 16), generator=g)
    loss = model(idx, targets)
    loss.backward()
    return loss.detach(), {n: p.grad for n, p in model.named_parameters()}


@pytest.mark.parametrize("checkpointing", [True, False], ids=["checkpointed", "plain"])
def test_compiled_blocks_are_one_graph_and_give_the_same_gradients(checkpointing):
    config = ModelConfig.from_name("debug", n_layer=3, attn_pdrop=0.0, resid_pdrop=0.0)
    plain = Phi(config, generator=torch.Generator().manual_seed(0))
    model = Phi(config, generator=torch.Generator().manual_seed(0))
    names = [n for n, _ in model.named_parameters()]
    backend = Graphs()
    torch._dynamo.reset()
    counters.clear()
    parallelize(model, Dist(), strategy="none", dtype=torch.float32, compile=True,
                activation_checkpointing=checkpointing, compile_backend=backend)  # fmt: skip
    loss, grads = _step(model)
    assert len(backend.graphs) == 1  # three blocks, one graph: their weights are its inputs
    assert _linears(backend.graphs[0]) == 4  # qkv, dense, fc1, fc2: the whole block
    if checkpointing:  # the block's body sits inside the checkpoint's higher-order op
        assert any(isinstance(c, torch.fx.GraphModule) for c in backend.graphs[0].children())
    assert dict(counters["graph_break"]) == {}
    assert [n for n, _ in model.named_parameters()] == names  # nothing renamed
    ref_loss, ref_grads = _step(plain)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-6, atol=1e-6)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, ref_grads[name], rtol=1e-5, atol=1e-7, msg=name)
