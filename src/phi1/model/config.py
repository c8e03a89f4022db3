"""Model configuration: one frozen dataclass, named presets, overrides by keyword.

    ModelConfig.from_name("phi-1-small", n_layer=2)

The presets follow shared/PAPER.md (phi-1: 24 x 2048, phi-1-small: 20 x 1024, heads of 64,
rotary dim 32, vocab padded to 51200, context 2048). ``tiny`` and ``debug`` are for CPUs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from phi1.errors import Phi1Error

# codegen-350M-mono: 50257 GPT-2 tokens + 38 whitespace runs; the embedding is padded to a
# multiple of 64 (pad_vocab_size_multiple in the original config) -> 51200.
TOKENIZER_VOCAB = 50295
PADDED_VOCAB = 51200
EOT_ID = 50256


@dataclass(frozen=True)
class ModelConfig:
    """Shape and regularisation of a phi-style decoder."""

    name: str = "custom"
    n_layer: int = 24
    """Transformer blocks."""
    n_embd: int = 2048
    """Residual width (d_model)."""
    n_head: int = 32
    """Attention heads; head size is n_embd // n_head."""
    intermediate_size: int | None = None
    """MLP inner width; 4 * n_embd when None."""
    rotary_dim: int = 32
    """Leading dims of each head that get the rotary embedding (partial rotary)."""
    vocab_size: int = PADDED_VOCAB
    """Embedding rows (the tokenizer's 50295, padded)."""
    block_size: int = 2048
    """Context length."""
    layer_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    activation: str = "gelu_new"
    """gelu_new is GELU with the tanh approximation."""
    attn_pdrop: float = 0.0
    """Dropout on attention probabilities (0.1 in the paper's training)."""
    resid_pdrop: float = 0.0
    """Dropout on the attention and MLP outputs before the residual add (0.1 in the paper)."""
    embd_pdrop: float = 0.0
    """Dropout on token embeddings."""
    initializer_range: float = 0.02
    bos_token_id: int = EOT_ID
    eos_token_id: int = EOT_ID
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Unrecognised keys of an imported config.json, kept so a round trip loses nothing."""

    def __post_init__(self) -> None:
        if self.intermediate_size is None:
            object.__setattr__(self, "intermediate_size", 4 * self.n_embd)
        for name in ("n_layer", "n_embd", "n_head", "vocab_size", "block_size"):
            if getattr(self, name) <= 0:
                raise Phi1Error(f"model config: {name} must be positive, got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise Phi1Error(
                f"model config: n_embd={self.n_embd} is not divisible by n_head={self.n_head}"
            )
        if not 0 < self.rotary_dim <= self.head_size or self.rotary_dim % 2:
            raise Phi1Error(
                f"model config: rotary_dim={self.rotary_dim} must be even and within the head "
                f"size {self.head_size}"
            )
        if self.activation not in ("gelu_new", "gelu_pytorch_tanh", "gelu"):
            raise Phi1Error(f"model config: unsupported activation {self.activation!r}")

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    @classmethod
    def from_name(cls, name: str, **overrides: Any) -> ModelConfig:
        if name not in PRESETS:
            raise Phi1Error(f"unknown model preset {name!r}; known: {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], "name": name, **overrides})

    def replace(self, **overrides: Any) -> ModelConfig:
        unknown = set(overrides) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise Phi1Error(f"model config: unknown field(s) {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def num_params(self) -> int:
        """Exact parameter count of :class:`phi1.model.model.Phi` for this config."""
        d, f, v = self.n_embd, self.intermediate_size, self.vocab_size
        ln = 2 * d
        attn = 4 * (d * d + d)
        mlp = d * f + f + f * d + d
        return v * d + self.n_layer * (ln + attn + mlp) + ln + (d * v + v)


PRESETS: dict[str, dict[str, Any]] = {
    "phi-1": dict(n_layer=24, n_embd=2048, n_head=32, intermediate_size=8192, rotary_dim=32),
    "phi-1-small": dict(n_layer=20, n_embd=1024, n_head=16, intermediate_size=4096, rotary_dim=32),
    # CPU presets: the same vocabulary and head size, a fraction of the depth and width.
    "tiny": dict(
        n_layer=4, n_embd=256, n_head=4, intermediate_size=1024, rotary_dim=32, block_size=2048
    ),
    "debug": dict(
        n_layer=2, n_embd=64, n_head=2, intermediate_size=256, rotary_dim=16, block_size=256
    ),
}
