"""Helpers for the model tests: random weights that exercise every tensor, and the
transformers reference model built from a phi1 config."""

from __future__ import annotations


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


def hf_model(config, state_dict=None):
    """transformers' ``PhiForCausalLM`` for a phi1 config, with weights given in HF names."""
    from transformers import PhiConfig, PhiForCausalLM
    from transformers.initialization import no_init_weights

    from phi1.model.checkpoint import config_to_hf

    skip = ("architectures", "model_type", "transformers_version")
    hc = PhiConfig(**{k: v for k, v in config_to_hf(config).items() if k not in skip})
    if state_dict is None:
        return PhiForCausalLM(hc).eval()
    with no_init_weights():
        model = PhiForCausalLM(hc)
    model.load_state_dict(state_dict, strict=True)
    return model.eval()
