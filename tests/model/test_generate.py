"""Generation: stop strings, eos, seeded sampling, top-p, batching, bad arguments."""

from __future__ import annotations

import pytest
import torch
from model_helpers import randomize

from phi1.errors import Phi1Error
from phi1.model import generate as generate_module
from phi1.model import model as model_module
from phi1.model.config import ModelConfig
from phi1.model.generate import complete, generate_ids, next_tokens
from phi1.model.model import Linear, Phi
from phi1.model.tokenizer import get_tokenizer

PROMPTS = ["def add(a, b):\n", "import os\n\nclass Config:", "x = ["]


@pytest.fixture(scope="module")
def model() -> Phi:
    model = Phi(ModelConfig.from_name("debug"))
    randomize(model, seed=11, scale=3.0)
    return model.eval()


def test_stop_string_cuts_the_text_and_ends_early(model):
    (full,) = complete(model, PROMPTS[:1], max_new_tokens=40)
    text = full[0].text
    assert full[0].finish_reason == "length" and len(full[0].token_ids) == 40
    # a stop string that starts in the middle of the greedy continuation
    start = len(text) // 2
    stop = text[start : start + 3]
    first = text.find(stop)
    (cut,) = complete(model, PROMPTS[:1], max_new_tokens=40, stop=["never there", stop])
    assert cut[0].text == text[:first]
    assert cut[0].finish_reason == "stop"
    assert len(cut[0].token_ids) < 40
    assert full[0].token_ids[: len(cut[0].token_ids)] == cut[0].token_ids


def test_eos_ends_a_row(model):
    forced = Phi(model.config)
    forced.load_state_dict(model.state_dict())
    with torch.no_grad():
        forced.lm_head.bias[50256] = 1e4  # every position now predicts <|endoftext|>
    forced.eval()
    (out,) = complete(forced, PROMPTS[:1], max_new_tokens=10)
    assert out[0].text == "" and out[0].finish_reason == "eos" and out[0].token_ids == []
    assert generate_ids(forced, [[1, 2]], max_new_tokens=5, eos_id=-1)[0] == ([50256] * 5, "length")


def test_sampling_is_seeded_and_independent_of_batching():
    # Batching changes the logits by float rounding (1e-7), which moves a draw to the next
    # token only when it lands that close to a boundary: rare for a peaked distribution like
    # a trained model's, common for the flat one of small random weights. So: peaked.
    model = Phi(ModelConfig.from_name("debug"))
    randomize(model, seed=12, scale=30.0)
    model.eval()
    kw = dict(max_new_tokens=8, temperature=1.0, top_p=0.95)
    batch = complete(model, PROMPTS, n=2, seed=5, batch_size=6, **kw)
    again = complete(model, PROMPTS, n=2, seed=5, batch_size=4, **kw)
    alone = complete(model, PROMPTS[1:2], n=2, seed=5, **kw)  # prompt 1 became prompt 0
    first = complete(model, PROMPTS[:1], n=2, seed=5, **kw)
    other = complete(model, PROMPTS[:1], n=2, seed=6, **kw)
    texts = [[c.text for c in row] for row in batch]
    assert texts == [[c.text for c in row] for row in again]
    assert texts[0] == [c.text for c in first[0]]
    assert texts[0] != [c.text for c in other[0]]
    assert texts[1] != [c.text for c in alone[0]]  # the seed follows the prompt's index
    assert texts[0][0] != texts[0][1]  # the n samples of a prompt differ
    assert all(len(c.token_ids) == 8 for row in batch for c in row)


def test_greedy_n_copies_and_tiny_top_p_is_greedy(model):
    greedy = complete(model, PROMPTS, n=3, max_new_tokens=8)
    assert all(len({c.text for c in row}) == 1 and len(row) == 3 for row in greedy)
    nucleus = complete(model, PROMPTS, max_new_tokens=8, temperature=0.7, top_p=1e-9, seed=1)
    assert [r[0].text for r in nucleus] == [r[0].text for r in greedy]


def test_next_tokens_follow_the_distribution():
    logits = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0]]).repeat(4000, 1)
    gens = [torch.Generator().manual_seed(i) for i in range(4000)]
    for top_p, temperature in ((1.0, 1.0), (1.0, 0.5), (0.8, 1.0)):
        probs = torch.softmax(logits[0] / temperature, -1)
        if top_p < 1.0:  # the smallest prefix of the sorted tokens with mass >= top_p
            keep = (probs.cumsum(-1) - probs) <= top_p
            probs = torch.where(keep, probs, 0.0)
            probs = probs / probs.sum()
        got = next_tokens(logits, temperature=temperature, top_p=top_p, generators=gens)
        freq = torch.bincount(got, minlength=5).double() / len(got)
        assert (freq - probs).abs().max() < 0.03, (top_p, temperature, freq, probs)
        assert freq[probs == 0].sum() == 0


def test_prompts_of_many_lengths_in_one_batch(model):
    tok = get_tokenizer()
    prompts = [tok.encode(p) for p in PROMPTS]
    batched = generate_ids(model, prompts, max_new_tokens=10, eos_id=-1)
    for p, got in zip(prompts, batched, strict=True):
        assert generate_ids(model, [p], max_new_tokens=10, eos_id=-1)[0] == got


def test_packed_prefill_in_groups_equals_one_prompt_at_a_time(model, monkeypatch):
    """Prompts packed into prefill rows of any size (one prompt per row, some per row, all
    in one) continue exactly as each prompt alone does."""
    tok = get_tokenizer()
    prompts = [tok.encode(p) for p in PROMPTS + ["for i in range(10):\n    print(i", "#"]]
    alone = [generate_ids(model, [p], max_new_tokens=8, eos_id=-1)[0] for p in prompts]
    for budget in (1, 12, 10_000):
        monkeypatch.setattr(generate_module, "PACKED_PREFILL", budget)
        assert generate_ids(model, prompts, max_new_tokens=8, eos_id=-1) == alone
    assert generate_module._pack([3, 4, 5, 9, 1], budget=8) == [[0, 1], [2], [3], [4]]
    assert generate_module._pack([9], budget=8) == [[0]]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("width", [(96, 40_000), (4096, 96)])  # weight @ x.T; x @ weight.T
def test_decode_linear_equals_f_linear(bias, width, monkeypatch):
    """The oneDNN path for a few rows gives F.linear's numbers in every shape that decoding
    sends it, and is really taken there; longer inputs and autograd take F.linear itself,
    gradients included."""
    if model_module._ONEDNN_LINEAR is None:
        pytest.skip("this torch build has no oneDNN linear")
    calls = []
    onednn = model_module._ONEDNN_LINEAR
    monkeypatch.setattr(model_module, "_ONEDNN_LINEAR", lambda *a: calls.append(a) or onednn(*a))
    torch.manual_seed(0)
    n_in, n_out = width
    lin = Linear(n_in, n_out, bias=bias)
    shapes = [(1,), (2,), (8,), (3, 1), (2, 5), (32,), (33,), (4, 9)]
    for shape in shapes:
        x = torch.randn(*shape, n_in)
        with torch.no_grad():
            got = lin(x)
            ref = torch.nn.functional.linear(x, lin.weight, lin.bias)
        assert got.shape == ref.shape
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    assert len(calls) == 6  # up to 32 rows
    assert all(lin.weight is a[0] or lin.weight is a[1] for a in calls)
    x = torch.randn(4, n_in, requires_grad=True)
    lin(x).square().sum().backward()
    assert x.grad is not None and lin.weight.grad is not None
    if bias:
        assert lin.bias.grad is not None
    assert len(calls) == 6


def test_bad_arguments(model):
    with pytest.raises(Phi1Error, match="exceeds the model's context of 256"):
        generate_ids(model, [[1] * 200], max_new_tokens=100)
    with pytest.raises(Phi1Error, match="empty prompt"):
        generate_ids(model, [[1], []], max_new_tokens=1)
    with pytest.raises(Phi1Error, match="top_p"):
        complete(model, ["x"], temperature=1.0, top_p=0.0)
    with pytest.raises(TypeError, match="list of prompts"):
        complete(model, "x")
    assert generate_ids(model, [[1, 2]], max_new_tokens=0) == [([], "length")]
    assert complete(model, []) == []
