"""The model's training path: the chunked linear + cross-entropy against the plain one,
the optimizer groups, seeded initialisation, and the KV-cache prefill."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from phi1.model.config import ModelConfig
from phi1.model.model import KVCache, Phi, linear_cross_entropy


def _problem(n: int, c: int, v: int, dtype=torch.float32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, generator=g, dtype=dtype).requires_grad_()
    w = (torch.randn(v, c, generator=g, dtype=dtype) * 0.3).requires_grad_()
    b = torch.randn(v, generator=g, dtype=dtype).requires_grad_()
    t = torch.randint(0, v, (n,), generator=g)
    t[::5] = -100
    return x, w, b, t


@pytest.mark.parametrize("chunk_rows", [1, 7, 64, 512])
def test_chunked_cross_entropy_matches_plain(chunk_rows):
    x, w, b, t = _problem(50, 16, 300)
    loss = linear_cross_entropy(x, w, b, t, chunk_rows=chunk_rows)
    (loss * 3.0).backward()  # a non-unit incoming gradient is scaled through
    ours = [loss.detach(), x.grad, w.grad, b.grad]
    for p in (x, w, b):
        p.grad = None
    ref = F.cross_entropy(F.linear(x, w, b), t, ignore_index=-100)
    (ref * 3.0).backward()
    for a, r in zip(ours, [ref.detach(), x.grad, w.grad, b.grad], strict=True):
        torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-6)
    with torch.no_grad():  # evaluation: no gradients, same number
        torch.testing.assert_close(linear_cross_entropy(x, w, b, t, chunk_rows=chunk_rows), ref)


def test_chunked_cross_entropy_gradcheck():
    x, w, b, t = _problem(9, 5, 7, dtype=torch.float64, seed=1)
    assert torch.autograd.gradcheck(
        lambda x, w, b: linear_cross_entropy(x, w, b, t, chunk_rows=4), (x, w, b)
    )


def test_model_loss_is_cross_entropy_of_its_logits():
    model = Phi(ModelConfig.from_name("debug"), generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    idx = torch.randint(0, 50295, (2, 33), generator=g)
    targets = torch.randint(0, 50295, (2, 33), generator=g)
    targets[0, :5] = -100
    loss = model(idx, targets)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    logits = model(idx)
    ref = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-100)
    ref.backward()
    torch.testing.assert_close(loss, ref, rtol=1e-6, atol=1e-6)
    for name, p in model.named_parameters():
        torch.testing.assert_close(grads[name], p.grad, rtol=1e-4, atol=1e-7, msg=name)


def test_configure_optimizers_groups_and_steps():
    model = Phi(ModelConfig.from_name("debug"), generator=torch.Generator().manual_seed(0))
    opt = model.configure_optimizers(0.1, 1e-3, device_type="cpu")
    decay, plain = opt.param_groups
    assert decay["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() < 2 for p in plain["params"])
    assert len(decay["params"]) + len(plain["params"]) == len(list(model.parameters()))
    # the fused kernel takes the same step as the reference loop
    ref_model = Phi(model.config)
    ref_model.load_state_dict(model.state_dict())
    ref = torch.optim.AdamW(
        [
            {"params": [p for p in ref_model.parameters() if p.dim() >= 2], "weight_decay": 0.1},
            {"params": [p for p in ref_model.parameters() if p.dim() < 2], "weight_decay": 0.0},
        ],
        lr=1e-3,
        betas=(0.9, 0.95),
        eps=1e-8,
        foreach=False,
    )
    idx = torch.randint(0, 50295, (2, 16), generator=torch.Generator().manual_seed(2))
    # one step from identical gradients (later steps amplify rounding noise in the
    # near-zero gradients of the key bias, which softmax ignores, into visible differences)
    for m, o in ((model, opt), (ref_model, ref)):
        m(idx[:, :-1], idx[:, 1:]).backward()
        o.step()
    for (name, a), b in zip(model.named_parameters(), ref_model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_seeded_init_and_global_rng_init():
    config = ModelConfig.from_name("debug")
    a = Phi(config, generator=torch.Generator().manual_seed(4))
    b = Phi(config, generator=torch.Generator().manual_seed(4))
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    torch.manual_seed(9)
    c = Phi(config)
    torch.manual_seed(9)
    d = Phi(config)
    assert all(torch.equal(x, y) for x, y in zip(c.parameters(), d.parameters(), strict=True))
    assert a.lm_head.weight.std().item() == pytest.approx(config.initializer_range, rel=0.05)
    assert torch.count_nonzero(a.lm_head.bias) == 0
    assert torch.equal(a.final_layernorm.weight, torch.ones(config.n_embd))


def test_prefill_through_the_cache_is_causal():
    """The cache's first call (the prompt) must mask the future like a plain forward."""
    model = Phi(ModelConfig.from_name("debug"), generator=torch.Generator().manual_seed(5))
    model.eval()
    idx = torch.randint(0, 50295, (2, 12), generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        plain = model(idx)
        cache = KVCache(model.config, 2, 20)
        first = model(idx[:, :8], kv_cache=cache)
        rest = torch.cat([model(idx[:, i : i + 1], kv_cache=cache) for i in range(8, 12)], 1)
    torch.testing.assert_close(torch.cat([first, rest], 1), plain, rtol=1e-5, atol=1e-5)
