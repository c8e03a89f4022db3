"""The phi-1 decoder: parallel attention + MLP on one shared LayerNorm, partial rotary.

    h = x + attn(ln(x)) + mlp(ln(x))

Numerically the same function as transformers' ``PhiForCausalLM`` (see
``phi1.model.checkpoint`` for the weight mapping); q, k and v are one fused projection here
and are split when a checkpoint is written. The model knows nothing about distribution:
FSDP/DDP wrap it from ``phi1.train.parallelize``.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from phi1.model.config import ModelConfig


class KVCache:
    """Pre-allocated keys and values for every layer: (L, B, nh, T_max, hs) each."""

    def __init__(
        self,
        config: ModelConfig,
        batch_size: int,
        max_len: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        shape = (config.n_layer, batch_size, config.n_head, max_len, config.head_size)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.max_len = max_len
        self.pos = 0  # tokens already written

    def update(
        self, layer: int, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        t = k.size(2)
        end = self.pos + t
        if end > self.max_len:
            raise ValueError(f"KV cache full: {end} > {self.max_len} positions")
        self.k[layer, :, :, self.pos : end] = k
        self.v[layer, :, :, self.pos : end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def select(self, rows: torch.Tensor) -> None:
        """Keep (or repeat) batch rows: drop finished sequences, or fan a prompt out to n."""
        self.k = self.k.index_select(1, rows)
        self.v = self.v.index_select(1, rows)


def rope_cache(
    seq_len: int, rotary_dim: int, theta: float, device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables, (seq_len, rotary_dim), in the rotate-half (NeoX) layout."""
    inv_freq = 1.0 / (
        theta
        ** (torch.arange(0, rotary_dim, 2, device=device, dtype=torch.int64).float() / rotary_dim)
    )
    t = torch.arange(seq_len, device=device, dtype=torch.int64).float()
    freqs = torch.outer(t, inv_freq)  # (T, rd/2)
    emb = torch.cat((freqs, freqs), dim=-1)  # (T, rd)
    return emb.cos(), emb.sin()


def apply_rope(
    x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, rotary_dim: int
) -> torch.Tensor:
    """Rotate the first ``rotary_dim`` channels of x (B, nh, T, hs); cos/sin (B or 1, 1, T, rd)."""
    x_rot, x_pass = x[..., :rotary_dim], x[..., rotary_dim:]
    half = rotary_dim // 2
    rotated = torch.cat((-x_rot[..., half:], x_rot[..., :half]), dim=-1)
    # The rotation runs in the tables' precision (fp32 in training, under FSDP2's bf16 too:
    # its blocks do not cast their inputs) and comes back in x's dtype, so q, k and v agree
    # for attention. A no-op cast where x and the tables share a dtype.
    return torch.cat(((x_rot * cos + rotated * sin).to(x.dtype), x_pass), dim=-1)


@contextlib.contextmanager
def _no_default_init() -> Iterator[None]:
    """Skip torch's own initialisation of Linear, Embedding and LayerNorm while building.

    Phi.init_weights draws every weight anyway; the default init would double the cost of
    building a large model, and on the meta device its first normal_ imports torch._dynamo
    (seconds), which is what loading a checkpoint builds on.
    """
    classes = (nn.Linear, nn.Embedding, nn.LayerNorm)
    saved = [cls.reset_parameters for cls in classes]
    try:
        for cls in classes:
            cls.reset_parameters = _skip  # type: ignore[method-assign]
        yield
    finally:
        for cls, fn in zip(classes, saved, strict=True):
            cls.reset_parameters = fn  # type: ignore[method-assign]


def _skip(self: nn.Module) -> None:
    return None


def _onednn_linear() -> Callable[..., torch.Tensor] | None:
    """oneDNN's linear (``torch.ops.mkldnn._linear_pointwise``), or None where torch lacks it.

    It is the kernel torch's own compiler (Inductor) calls for CPU linears; torch's eager
    ``F.linear`` goes to MKL's sgemm instead.
    """
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        op = torch.ops.mkldnn._linear_pointwise
        # a private op: make sure this build runs it and gets F.linear's answer
        x, w, b = torch.arange(6.0).view(2, 3), torch.arange(12.0).view(4, 3), torch.ones(4)
        if not torch.equal(op(x, w, b, "none", [], ""), F.linear(x, w, b)):
            return None
    except (AttributeError, RuntimeError, NotImplementedError):
        return None
    return lambda x, w, b: op(x, w, b, "none", [], "")


_ONEDNN_LINEAR = _onednn_linear()


def _onednn_applies(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether oneDNN's linear can take this product: fp32 on the CPU, oneDNN enabled."""
    return (
        _ONEDNN_LINEAR is not None
        and x.device.type == "cpu"
        and x.dtype == weight.dtype == torch.float32
        and torch.backends.mkldnn.enabled
    )


def linear_cross_entropy(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    *,
    chunk_rows: int = 1024,
) -> torch.Tensor:
    """Mean cross-entropy of ``x @ weight.T + bias`` against ``targets`` (-100 ignored).

    The same number as ``F.cross_entropy(F.linear(x, weight, bias).float(), targets)``, but
    the (N, V) logits (V = 51200) are never materialised: rows go through in chunks, and
    when gradients are needed each chunk's softmax becomes its gradient at once (in place).
    That saves the logits, their log-softmax and its gradient: 3 x N x V floats, the
    largest tensors of a training step.

    Precision: every product runs in the compute dtype, autocast's under autocast (x, weight
    and bias are cast once, and autocast is off inside, so no product falls back to fp32),
    else x's and weight's (bf16 under FSDP2, fp32 on the CPU); the softmax, the loss and the
    weight and bias gradients are summed in fp32.
    """
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad):
        dtype = _compute_dtype(x, weight)
        with torch.autocast(x.device.type, enabled=False):
            return _LinearCrossEntropy.apply(x, weight, bias, targets, chunk_rows, dtype)
    total = x.new_zeros((), dtype=torch.float32)
    for start in range(0, x.size(0), chunk_rows):
        logits = F.linear(x[start : start + chunk_rows], weight, bias).float()
        total += F.cross_entropy(
            logits, targets[start : start + chunk_rows], ignore_index=-100, reduction="sum"
        )
    return total / (targets != -100).sum()


def _compute_dtype(x: torch.Tensor, weight: torch.Tensor) -> torch.dtype:
    """The dtype of the loss's products: autocast's where it is on (for the inputs autocast
    would cast: floating, not fp64), else x's and weight's promoted."""
    device = x.device.type
    if torch.is_autocast_enabled(device) and x.is_floating_point() and x.dtype != torch.float64:
        return torch.get_autocast_dtype(device)
    return torch.promote_types(x.dtype, weight.dtype)


def _training_logits(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None):
    """``F.linear(x, weight, bias)`` for the loss of a training step, through oneDNN on the
    CPU in fp32: MKL's sgemm does this (1024 x 1024) @ (1024 x 51200) product at 80-105
    GFLOP/s on this project's machine, oneDNN at 100-120. The product is a third of the
    lm_head's work and the lm_head half of a phi-1-small step; the loss and the gradients
    agree with ``F.linear``'s to float rounding (tests). Evaluation keeps ``F.linear``, whose
    logits match transformers' within 1e-5."""
    if not _onednn_applies(x, weight):
        return F.linear(x, weight, bias)
    return _ONEDNN_LINEAR(x, weight, bias)


def _softmax_grad(
    logits: torch.Tensor, targets: torch.Tensor, keep: torch.Tensor, acc: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """(softmax - one_hot(targets) of a chunk's logits, in ``acc``; the summed
    log-probability of its counted targets). The softmax is written over the log-softmax,
    in place: one (n, V) tensor in all."""
    g = torch.log_softmax(logits.to(acc), dim=-1)  # log-probabilities
    del logits
    rows = torch.arange(targets.size(0), device=targets.device)
    tgt = targets.clamp(min=0)
    picked = (g[rows, tgt] * keep).sum()
    g.exp_()
    g[rows, tgt] -= 1.0
    return g, picked


def _add_weight_grad(
    grad_w: torch.Tensor | None,
    grad_b: torch.Tensor | None,
    g: torch.Tensor,
    xc: torch.Tensor,
    acc: torch.dtype,
    exact: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Add a chunk's ``g.T @ xc`` and ``g.sum(0)`` to the weight and bias gradients (fp32)."""
    if grad_w is None or grad_b is None:  # the first chunk writes them
        return torch.mm(g.t(), xc).to(acc), g.sum(0, dtype=acc)
    if exact:  # fp32: accumulated in place, no (V, C) temporary
        grad_w.addmm_(g.t().to(acc), xc.to(acc))
    else:  # bf16/fp16: the product in that dtype, the sum over chunks in fp32
        grad_w += torch.mm(g.t(), xc)
    grad_b += g.sum(0, dtype=acc)
    return grad_w, grad_b


class _LinearCrossEntropy(torch.autograd.Function):
    """Forward computes the loss and, chunk by chunk, its gradients; backward only scales
    them by the incoming gradient (nothing to do for the usual 1 in fp32).

    In fp32 (and fp64) a chunk's softmax gradient is divided by n, the number of counted
    rows, before its products. In bf16 and fp16 it is not: the products take softmax -
    one_hot (|g| <= 1) and backward applies 1/n in fp32, together with the incoming
    gradient. Divided first, fp16 flushes a 16k-row batch's small probabilities to zero
    (p / n ~ 1e-9, under fp16's smallest subnormal) before the loss scale reaches them.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, targets, chunk_rows, dtype):  # noqa: D102
        counted = targets != -100
        n = counted.sum()
        acc = torch.promote_types(dtype, torch.float32)  # softmax and sums: fp32 or better
        exact = dtype == acc  # products at the sums' precision (fp32): 1/n applied first
        xs, w = x.to(dtype), weight.to(dtype)  # cast once (no-ops in fp32)
        b = bias.to(dtype) if bias is not None else None
        grad_x = torch.empty_like(xs)
        grad_w = grad_b = None
        total = torch.zeros((), dtype=acc, device=x.device)
        for start in range(0, x.size(0), chunk_rows):
            rows = slice(start, start + chunk_rows)
            xc, keep = xs[rows], counted[rows]  # (n, C), (n,)
            g, picked = _softmax_grad(_training_logits(xc, w, b), targets[rows], keep, acc)
            total -= picked
            # d(mean of -log p_target)/d logits = (softmax - one_hot) / n; 0 on ignored rows
            g.mul_((keep / n)[:, None] if exact else keep[:, None])
            g = g.to(dtype)
            torch.mm(g, w, out=grad_x[rows])
            grad_w, grad_b = _add_weight_grad(grad_w, grad_b, g, xc, acc, exact)
        ctx.save_for_backward(grad_x, grad_w, grad_b, n)
        ctx.has_bias = bias is not None
        ctx.exact = exact
        ctx.x_dtype, ctx.weight_dtype = x.dtype, weight.dtype
        return total / n

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        grad_x, grad_w, grad_b, n = ctx.saved_tensors
        if not ctx.exact:  # the loss scale (fp16) and 1/n meet here, in fp32
            scale = grad_out.float() / n
            grad_x, grad_w, grad_b = grad_x.to(ctx.x_dtype) * scale, grad_w * scale, grad_b * scale
        # the usual caller is loss.backward(): a gradient of exactly 1 needs no pass at all
        elif not (grad_out.device.type == "cpu" and grad_out.item() == 1.0):
            grad_x, grad_w, grad_b = (t * grad_out.to(t.dtype) for t in (grad_x, grad_w, grad_b))
        return (
            grad_x.to(ctx.x_dtype),
            grad_w.to(ctx.weight_dtype),
            grad_b.to(ctx.weight_dtype) if ctx.has_bias else None,
            None,
            None,
            None,
        )


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters, same state dict) with a faster CPU path for decoding.

    Without autograd, an fp32 CPU call of at most ``max_rows`` rows (one decoding step of a
    batch) goes to oneDNN's matmul instead of MKL's sgemm (what ``F.linear`` uses). On this
    project's 2-core AMD machine MKL's sgemm reads a weight at 11 GB/s for one row (oneDNN:
    18 GB/s, the machine's DRAM rate) and is 2.5x slower than oneDNN for 8 rows. The numbers
    agree with ``F.linear`` to float rounding. Longer inputs keep ``F.linear``: oneDNN sums
    in another order, and its logits would drift from transformers' by up to 2e-5 where
    MKL's stay within 1e-5. Training (autograd on), other devices and other dtypes take
    ``F.linear`` too; so does everything while ``torch.backends.mkldnn.enabled`` is off.
    """

    max_rows = 32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            not 0 < x.numel() <= self.max_rows * x.size(-1)
            or torch.is_grad_enabled()
            or not _onednn_applies(x, self.weight)
        ):
            return F.linear(x, self.weight, self.bias)
        rows = x.numel() // x.size(-1)
        if rows == 1 or self.out_features <= self.in_features:
            return _ONEDNN_LINEAR(x, self.weight, self.bias)
        # A wide weight (lm_head, qkv, fc1) times a few rows is faster as weight @ x.T:
        # the lm_head for 8 rows takes 20 ms this way and 28 ms as x @ weight.T.
        y = _ONEDNN_LINEAR(self.weight, x.reshape(rows, -1), None).t()  # (rows, out)
        y = y + self.bias if self.bias is not None else y.contiguous()
        return y.reshape(*x.shape[:-1], self.out_features)


class Attention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.n_head = config.n_head
        self.head_size = config.head_size
        self.rotary_dim = config.rotary_dim
        self.qkv = Linear(config.n_embd, 3 * config.n_embd, bias=True)
        self.dense = Linear(config.n_embd, config.n_embd, bias=True)
        self.attn_pdrop = config.attn_pdrop

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor | None,
        kv_cache: KVCache | None,
        layer: int,
    ) -> torch.Tensor:
        B, T, C = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.n_head, self.head_size)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, nh, T, hs)
        q = apply_rope(q, cos, sin, self.rotary_dim)
        k = apply_rope(k, cos, sin, self.rotary_dim)
        if kv_cache is not None:
            k, v = kv_cache.update(layer, k, v)  # (B, nh, T_past + T, hs)
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=self.attn_pdrop if self.training else 0.0,
            # without a mask, queries and keys start together: plain causal (prefill included)
            is_causal=mask is None and T > 1 and (kv_cache is None or kv_cache.pos == 0),
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)
        return self.dense(y)


class MLP(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.fc1 = Linear(config.n_embd, config.intermediate_size, bias=True)
        self.fc2 = Linear(config.intermediate_size, config.n_embd, bias=True)
        self.approximate = "none" if config.activation == "gelu" else "tanh"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate=self.approximate))


class Block(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.input_layernorm = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.self_attn = Attention(config)
        self.mlp = MLP(config)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x, cos, sin, mask, kv_cache, layer):
        h = self.input_layernorm(x)
        attn = self.resid_dropout(self.self_attn(h, cos, sin, mask, kv_cache, layer))
        return x + attn + self.resid_dropout(self.mlp(h))


class Phi(nn.Module):
    """phi-1 / phi-1-small as one ``nn.Module``.

    ``model(idx)`` returns logits (B, T, V); ``model(idx, targets)`` returns the mean
    next-token cross-entropy (targets already shifted; -100 is ignored).
    """

    def __init__(self, config: ModelConfig, *, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        # init_weights below draws every weight; torch's own init first is wasted work, but
        # without a generator it is kept so the global RNG advances as it always has
        # (golden runs stay put). On the meta device there is nothing to draw.
        skip = generator is not None or torch.get_default_device().type == "meta"
        with _no_default_init() if skip else contextlib.nullcontext():
            self.embed_tokens = nn.Embedding(config.vocab_size, config.n_embd)
            self.embd_dropout = nn.Dropout(config.embd_pdrop)
            self.layers = nn.ModuleList(Block(config) for _ in range(config.n_layer))
            self.final_layernorm = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
            self.lm_head = Linear(config.n_embd, config.vocab_size, bias=True)
        self.register_buffer("rope_cos", torch.empty(0), persistent=False)
        self.register_buffer("rope_sin", torch.empty(0), persistent=False)
        self.reset_rope()
        self.init_weights(generator)

    def reset_rope(self, device: torch.device | str | None = None) -> None:
        """(Re)compute the rotary tables, e.g. after building the model on the meta device."""
        if device is None:
            device = self.embed_tokens.weight.device
        if torch.device(device).type == "meta":  # shapes only: meta math imports torch._dynamo
            shape = (self.config.block_size, self.config.rotary_dim)
            self.rope_cos = torch.empty(shape, device=device)
            self.rope_sin = torch.empty(shape, device=device)
            return
        cos, sin = rope_cache(
            self.config.block_size, self.config.rotary_dim, self.config.rope_theta, device
        )
        self.rope_cos, self.rope_sin = cos, sin

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator | None = None) -> None:
        """Normal(0, initializer_range) matrices and embeddings, zero biases, unit norms.

        ``generator`` (a seeded ``torch.Generator`` on the weights' device) makes the draw
        reproducible; without one the global RNG is used.
        """
        if self.embed_tokens.weight.device.type == "meta":
            return
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                module.weight.normal_(0.0, std, generator=generator)
                if getattr(module, "bias", None) is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        *,
        kv_cache: KVCache | None = None,
        position_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        logits_at: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """idx (B, T) token ids -> logits (B, T, V), or the mean cross-entropy with targets.

        position_ids (B, T): rotary positions; default ``cache.pos + arange(T)``.
        attention_mask (B, T_past + T): 1 for real tokens, 0 for padding (left padding in
        batched generation); causal masking is always applied. A boolean (B, 1, T, T_past
        + T) mask is used as it is (True: may attend), e.g. several prompts packed in one
        row, each seeing only itself.
        logits_at (B, T) bool: only these positions go through lm_head; the logits come
        back as (N, V), in row-major order (scoring a few positions of long rows, through
        whatever wraps the model: DDP, FSDP2).
        """
        x = self.hidden_states(
            idx, kv_cache=kv_cache, position_ids=position_ids, attention_mask=attention_mask
        )
        if targets is None:
            if logits_at is not None:
                x = x[logits_at]  # (N, C)
            return self.lm_head(x)  # (B, T, V) or (N, V)
        return linear_cross_entropy(
            x.reshape(-1, x.size(-1)), self.lm_head.weight, self.lm_head.bias, targets.reshape(-1)
        )

    def hidden_states(
        self,
        idx: torch.Tensor,
        *,
        kv_cache: KVCache | None = None,
        position_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The final-LayerNorm output (B, T, C): what lm_head turns into logits.

        Generation calls it to project only the last position (a prompt's full logits are
        B x T x 51200 floats).
        """
        B, T = idx.shape
        past = kv_cache.pos if kv_cache is not None else 0
        if position_ids is None:
            if past + T > self.config.block_size:
                raise ValueError(
                    f"sequence of {past + T} tokens exceeds block_size {self.config.block_size}"
                )
            cos = self.rope_cos[past : past + T][None, None]  # (1, 1, T, rd)
            sin = self.rope_sin[past : past + T][None, None]
        else:
            cos = self.rope_cos[position_ids][:, None]  # (B, 1, T, rd)
            sin = self.rope_sin[position_ids][:, None]
        if attention_mask is not None and attention_mask.dim() == 4:
            mask = attention_mask
        elif attention_mask is not None or (kv_cache is not None and T > 1 and past > 0):
            mask = self._mask(B, T, past, attention_mask, idx.device)
        else:
            mask = None
        x = self.embd_dropout(self.embed_tokens(idx))  # (B, T, C)
        for i, block in enumerate(self.layers):
            x = block(x, cos, sin, mask, kv_cache, i)
        if kv_cache is not None:
            kv_cache.pos += T
        return self.final_layernorm(x)

    @staticmethod
    def _mask(
        B: int, T: int, past: int, attention_mask: torch.Tensor | None, device: torch.device
    ) -> torch.Tensor:
        """Boolean (B, 1, T, past + T): True where a query may attend."""
        total = past + T
        causal = torch.ones(T, total, dtype=torch.bool, device=device).tril(diagonal=past)
        mask = causal[None, None].expand(B, 1, T, total)
        if attention_mask is not None:
            keep = attention_mask[:, None, None, :total].bool()
            mask = mask & keep
            # A fully masked row (a pad position as query) would give NaN; let it see itself.
            eye = torch.zeros(T, total, dtype=torch.bool, device=device)
            eye[torch.arange(T), past + torch.arange(T)] = True
            mask = mask | eye[None, None]
        return mask

    # -- training helpers (nanoGPT style: beside the model) ------------------------------

    def num_params(self, *, exclude_embedding: bool = False) -> int:
        n = sum(p.numel() for p in self.parameters())
        return n - self.embed_tokens.weight.numel() if exclude_embedding else n

    def configure_optimizers(
        self,
        weight_decay: float,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.95),
        eps: float = 1e-8,
        *,
        device_type: str = "cpu",
    ) -> torch.optim.AdamW:
        """AdamW with weight decay on >= 2-D tensors only (matrices and embeddings)."""
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        # the fused kernel: one pass over each tensor instead of a dozen (CPU too since 2.4)
        fused = (
            device_type in ("cuda", "cpu")
            and "fused" in inspect.signature(torch.optim.AdamW).parameters
        )
        return torch.optim.AdamW(
            groups, lr=lr, betas=betas, eps=eps, **({"fused": True} if fused else {})
        )

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Training FLOPs per token: 6 N (matmuls, fwd + bwd) + 12 L T d (attention scores)."""
        cfg = self.config
        T = seq_len or cfg.block_size
        n = self.num_params(exclude_embedding=True)
        return 6 * n + 12 * cfg.n_layer * cfg.n_embd * T

    def estimate_mfu(
        self, tokens_per_sec: float, peak_flops: float, seq_len: int | None = None
    ) -> float:
        """Model FLOPs utilisation: achieved training FLOP/s over the device's peak."""
        return self.flops_per_token(seq_len) * tokens_per_sec / peak_flops
