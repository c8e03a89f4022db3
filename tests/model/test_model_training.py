"""The model's training path: the chunked linear + cross-entropy against the plain one (in
fp32, and its products in bf16 and fp16 under autocast), the optimizer groups, seeded
initialisation, and the KV-cache prefill."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

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


class _Products(TorchDispatchMode):
    """Records the dtypes of the floating inputs of every matrix product that runs."""

    NAMES = {"mm", "addmm", "addmm_", "bmm", "baddbmm", "matmul", "linear", "_linear_pointwise"}

    def __init__(self):
        super().__init__()
        self.seen: list[tuple[str, set[torch.dtype]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.overloadpacket.__name__ in self.NAMES:
            dtypes = {
                a.dtype
                for a in (*args, *kwargs.values())
                if isinstance(a, torch.Tensor) and a.is_floating_point()
            }
            self.seen.append((str(func), dtypes))
        return func(*args, **kwargs)


def _relative_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return ((ours.float() - ref).norm() / ref.norm()).item()


@pytest.mark.parametrize("inputs", ["autocast", "bf16"], ids=["autocast-fp32-inputs", "bf16"])
def test_every_product_runs_in_bf16_and_matches_fp32(inputs):
    """Under bf16 autocast (DDP, one process) or with bf16 parameters (FSDP2), the loss's
    products are bf16 (logits, input gradient, weight gradient: 3 per chunk), and the loss
    and gradients agree with an fp32 reference to bf16 precision."""
    x, w, b, t = _problem(300, 32, 1000)
    chunk_rows, chunks = 64, 5
    leaves = (x, w, b)
    if inputs == "bf16":
        leaves = tuple(p.detach().bfloat16().requires_grad_() for p in leaves)
    context = torch.autocast("cpu", dtype=torch.bfloat16) if inputs == "autocast" else nullcontext()
    products = _Products()
    with products, context:
        loss = linear_cross_entropy(*leaves, t, chunk_rows=chunk_rows)
        (loss * 3.0).backward()
    assert len(products.seen) == 3 * chunks, products.seen
    assert all(dtypes == {torch.bfloat16} for _, dtypes in products.seen), products.seen
    assert loss.dtype == torch.float32
    assert all(p.grad.dtype == p.dtype for p in leaves)

    ref = F.cross_entropy(F.linear(x, w, b), t, ignore_index=-100)
    (ref * 3.0).backward()
    torch.testing.assert_close(loss, ref.detach(), rtol=2e-3, atol=0)
    for ours, p in zip(leaves, (x, w, b), strict=True):
        assert _relative_error(ours.grad, p.grad) < 2e-2


def test_fp16_loss_scaling_flushes_no_chunk_to_zero():
    """fp16 autocast with a loss scale, on a batch large enough that p / n (a softmax
    probability over the number of counted rows) is under fp16's smallest subnormal. Each
    chunk's rows use their own two input columns, so columns 2k, 2k+1 of the weight
    gradient are chunk k's contribution alone; rows of the weight that no target names get
    only those small p / n terms. None may be flushed: every chunk's share matches fp32."""
    chunks, rows, per, vocab, scale = 8, 2048, 2, 4096, 2.0**16
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(chunks * rows, chunks * per)
    for k in range(chunks):
        x[k * rows : (k + 1) * rows, k * per : (k + 1) * per] = torch.randn(rows, per, generator=g)
    w = torch.randn(vocab, chunks * per, generator=g)
    b = torch.randn(vocab, generator=g)
    t = torch.randint(0, vocab // 2, (chunks * rows,), generator=g)  # rows >= V/2: no target
    t[::7] = -100
    x, w, b = (p.requires_grad_() for p in (x, w, b))
    with torch.autocast("cpu", dtype=torch.float16):
        loss = linear_cross_entropy(x, w, b, t, chunk_rows=rows)
    (loss * scale).backward()  # what GradScaler does; it unscales before the step
    ours = [p.grad / scale for p in (x, w, b)]
    for p in (x, w, b):
        p.grad = None
    ref = F.cross_entropy(F.linear(x, w, b), t, ignore_index=-100)
    ref.backward()
    torch.testing.assert_close(loss, ref.detach(), rtol=1e-4, atol=0)
    untargeted = slice(vocab // 2, None)
    for k in range(chunks):
        cols, chunk = slice(k * per, (k + 1) * per), slice(k * rows, (k + 1) * rows)
        share, expected = ours[1][untargeted, cols], w.grad[untargeted, cols]
        assert torch.count_nonzero(expected) == expected.numel()
        assert torch.count_nonzero(share) == share.numel(), f"chunk {k} flushed to zero"
        assert _relative_error(share, expected) < 1e-2, k
        assert _relative_error(ours[0][chunk], x.grad[chunk]) < 1e-2, k
    assert _relative_error(ours[2], b.grad) < 1e-2
