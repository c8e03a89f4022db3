"""phi1 against transformers' ``PhiForCausalLM``: random weights moved both ways give the
same logits (fp32, 1e-5) and the same 64 greedy tokens, for ``tiny`` and for the phi-1 and
phi-1-small shapes at reduced depth."""

from __future__ import annotations

import pytest
import torch
from model_helpers import hf_model, randomize

from phi1.model.checkpoint import from_hf_state_dict, to_hf_state_dict
from phi1.model.config import ModelConfig
from phi1.model.generate import generate_ids
from phi1.model.model import Phi

SHAPES = {
    "tiny": dict(),
    "phi-1-small": dict(n_layer=2),
    "phi-1": dict(n_layer=2),  # 310M parameters: the 2 x 105M embedding and head dominate
}


def _build(name: str, seed: int) -> Phi:
    # a generator skips torch's default init: randomize draws every tensor anyway
    model = Phi(ModelConfig.from_name(name, **SHAPES[name]), generator=torch.Generator())
    randomize(model, seed=seed, scale=_logit_scale(model.config))
    return model.eval()


def _logit_scale(config: ModelConfig) -> float:
    """lm_head scale for logits of std ~2: no near-ties for greedy decoding, and fp32
    rounding stays far below the 1e-5 tolerance."""
    return 2.0 / (0.02 * config.n_embd**0.5)


def _check(ours: Phi, theirs, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, 50295, (2, 48), generator=g)
    with torch.no_grad():
        a = ours(idx)
        b = theirs(idx).logits
        assert a.shape == b.shape == (2, 48, ours.config.vocab_size)
        assert a.std() > 1.0  # the comparison is not between near-zero numbers
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
        # the loss path too
        targets = torch.randint(0, 50295, (2, 48), generator=g)
        loss = ours(idx, targets)
        ref = torch.nn.functional.cross_entropy(b.view(-1, b.size(-1)), targets.view(-1))
        torch.testing.assert_close(loss, ref, rtol=0, atol=1e-5)

    prompt = idx[0, :7].tolist()
    ((mine, reason),) = generate_ids(ours, [prompt], max_new_tokens=64, eos_id=-1)
    ref = theirs.generate(
        torch.tensor([prompt]),
        max_new_tokens=64,
        do_sample=False,
        eos_token_id=None,
        pad_token_id=0,
    )[0, len(prompt) :].tolist()
    assert reason == "length" and len(mine) == 64
    assert mine == ref


@pytest.mark.parametrize(
    "name",
    ["tiny", "phi-1-small", pytest.param("phi-1", marks=pytest.mark.slow)],
)
def test_phi1_weights_into_transformers(name):
    ours = _build(name, seed=1)
    theirs = hf_model(ours.config, to_hf_state_dict(ours.state_dict(), ours.config))
    _check(ours, theirs, seed=2)


@pytest.mark.parametrize(
    "name",
    [
        "tiny",
        pytest.param("phi-1-small", marks=pytest.mark.slow),
        pytest.param("phi-1", marks=pytest.mark.slow),
    ],
)
def test_transformers_weights_into_phi1(name):
    config = ModelConfig.from_name(name, **SHAPES[name])
    theirs = hf_model(config)  # transformers' own initialisation ...
    randomize(theirs, seed=3, scale=_logit_scale(config))  # ... then every tensor made non-trivial
    with torch.device("meta"):
        ours = Phi(config)
    ours.load_state_dict(from_hf_state_dict(theirs.state_dict(), config), assign=True)
    ours.reset_rope("cpu")
    _check(ours.eval(), theirs, seed=4)


def test_left_padded_batch_matches_transformers():
    ours = _build("tiny", seed=5)
    theirs = hf_model(ours.config, to_hf_state_dict(ours.state_dict(), ours.config))
    prompts = [[11, 12, 13, 14, 15, 16], [21, 22], [31, 32, 33]]
    got = generate_ids(ours, prompts, max_new_tokens=24, eos_id=-1)
    width = max(map(len, prompts))
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    ref = theirs.generate(
        ids,
        attention_mask=mask,
        max_new_tokens=24,
        do_sample=False,
        eos_token_id=None,
        pad_token_id=0,
    )[:, width:].tolist()
    assert [g for g, _ in got] == ref
    # and each prompt alone gives the same tokens as in the batch
    for p, (g, _) in zip(prompts, got, strict=True):
        assert generate_ids(ours, [p], max_new_tokens=24, eos_id=-1)[0][0] == g
