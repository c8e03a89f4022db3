"""phi1.model.score: packing, sharding over ranks and windows leave the NLL of each target
unchanged; long sequences are scored in the documented windows, as transformers scores
them."""

from __future__ import annotations

import pytest
import torch
from model_helpers import hf_model, randomize

from phi1.errors import Phi1Error
from phi1.model.checkpoint import to_hf_state_dict
from phi1.model.config import ModelConfig
from phi1.model.model import Phi
from phi1.model.score import hf_sequence_nll, reference_set, sequence_nll
from phi1.sandbox.problems import load_humaneval


def _model(block_size: int, seed: int = 0) -> Phi:
    """debug-sized, with attention and MLP weights wide enough that the context matters."""
    model = Phi(ModelConfig.from_name("debug", block_size=block_size), generator=torch.Generator())
    randomize(model, seed=seed, scale=2.0 / (0.02 * model.config.n_embd**0.5))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("layers.") and p.dim() >= 2:
                p.mul_(15.0)
    return model.eval()


@pytest.fixture(scope="module")
def pairs() -> list:
    problems = dict(list(load_humaneval().items())[:12])
    return reference_set("humaneval", problems).pairs


def test_packing_and_sharding_leave_each_sequence_alone(pairs):
    model = _model(1024)
    packed = sequence_nll(model, pairs)
    alone = torch.cat([sequence_nll(model, [p]) for p in pairs])
    torch.testing.assert_close(packed, alone, rtol=1e-6, atol=0)
    calls = []
    hook = model.register_forward_hook(lambda *_: calls.append(1))
    try:
        shards = []
        for rank in range(2):
            calls.clear()
            shards.append(sequence_nll(model, pairs, batch_tokens=1024, rank=rank, world_size=2))
            shards[-1].calls = len(calls)
    finally:
        hook.remove()
    torch.testing.assert_close(sum(shards), packed, rtol=1e-6, atol=0)
    assert all((s != 0).any() for s in shards)  # the work is really split ...
    # ... and every rank calls the model alike (3 rows: one rank repeats a call it discards)
    assert [s.calls for s in shards] == [2, 2]


def _windows_reference(net, ctx: list[int], tgt: list[int], block: int) -> float:
    """The documented rule, written out: the target in pieces of block // 2 tokens, each
    scored after the block - (piece length) tokens before it."""
    ids, total = ctx + tgt, 0.0
    for start in range(len(ctx), len(ids), block // 2):
        end = min(start + block // 2, len(ids))
        begin = max(0, end - block)
        with torch.no_grad():
            logits = net(torch.tensor([ids[begin:end]])).logits[0].double()
        logp = torch.log_softmax(logits[start - begin - 1 : end - begin - 1], dim=-1)
        total -= logp.gather(1, torch.tensor(ids[start:end])[:, None]).sum().item()
    return total


def test_long_sequences_are_scored_in_windows_as_transformers_scores_them(pairs):
    model = _model(64, seed=1)
    net = hf_model(model.config, to_hf_state_dict(model.state_dict(), model.config))
    few = [(ctx, tgt) for ctx, tgt in pairs if len(ctx) + len(tgt) > 2 * 64][:4]
    assert len(few) == 4
    want = torch.tensor([_windows_reference(net, c, t, 64) for c, t in few], dtype=torch.float64)
    torch.testing.assert_close(sequence_nll(model, few), want, rtol=1e-5, atol=0)
    torch.testing.assert_close(hf_sequence_nll(net, few), want, rtol=1e-5, atol=0)
    with pytest.raises(Phi1Error, match="empty context"):
        sequence_nll(model, [([], [1, 2])])
