"""Helpers for the model tests: random weights that exercise every tensor, and the
transformers reference model built from a phi1 config."""

from __future__ import annotations

from phi1.model.checkpoint import hf_model

__all__ = ["hf_model", "randomize"]


def randomize(model, *, seed: int, scale: float = 1.0) -> None:
    """Give every tensor of ``model`` non-trivial random values (biases and norms included),
    so that a parity test exercises each of them; ``scale`` widens the logits."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if p.dim() >= 2:
                p.normal_(0.0, 0.02 if "embed" not in name else 0.5, generator=g)
            elif "norm" in name and name.endswith("weight"):
                p.normal_(1.0, 0.2, generator=g)
            else:
                p.normal_(0.0, 0.05, generator=g)
            if "lm_head" in name:
                p.mul_(scale)
