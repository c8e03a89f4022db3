"""Next-token probabilities of the real SmolLM2 and Qwen2.5-Coder-0.5B GGUFs, against a
brute-force reading (every option's tokens evaluated from an empty context)."""

import math

import numpy as np
import pytest

from phi1.errors import Phi1Error
from phi1.llm import load_llm
from phi1.llm.logprob import TokenProbe, supports_logprobs

pytestmark = pytest.mark.llm

GRADES = [f" {g}" for g in range(11)]
ASK = [{"role": "user", "content": "Rate the number seven from 0 to 10. Answer: Grade: N"}]


def brute_force(llm, context: list[int], tail: list[int]) -> float:
    """P(tail | context), each token's probability from a fresh evaluation of everything
    before it."""
    llama, p = llm.llama, 1.0
    for k, token in enumerate(tail):
        llama.reset()
        llama.eval(context + tail[:k])
        logits = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),))
        x = logits.astype(np.float64)
        p *= math.exp(x[token] - x.max()) / np.exp(x - x.max()).sum()
    return p


@pytest.fixture(scope="module")
def qwen():
    llm = load_llm("qwen2.5-coder-0.5b-instruct", n_ctx=1024)
    yield llm
    llm.close()


@pytest.mark.parametrize("which", ["smollm2", "qwen"])
def test_grade_options_against_brute_force(which, request):
    llm = request.getfixturevalue(which)
    probe = TokenProbe(llm)
    text = llm.render_chat(ASK) + "Grade:"
    context, tails = probe.option_tails(text, GRADES)
    for g, tail in enumerate(tails):  # each option's tokens are what the tokenizer writes
        assert llm.tokenize(text + GRADES[g])[-len(tail) :] == tail
    probs, mass = probe.option_probs(context, tails)
    assert math.isclose(sum(probs), 1.0, rel_tol=1e-9) and 0 < mass <= 1.0 + 1e-9
    raw = [brute_force(llm, context, tail) for tail in tails]
    # "1" alone is the mass of "1" that does not go on into "10"
    for g, tail in enumerate(tails):
        longer = [h for h, t in enumerate(tails) if len(t) > len(tail) and t[: len(tail)] == tail]
        if longer:
            raw[g] -= sum(raw[h] for h in longer)
    # llama.cpp's logits move in the third digit with the batch they are evaluated in
    assert mass == pytest.approx(sum(raw), rel=1e-2, abs=1e-5)
    assert probs == pytest.approx([r / sum(raw) for r in raw], rel=1e-2, abs=1e-5)


def test_a_kept_prefix_changes_nothing(qwen):
    probe = TokenProbe(qwen)
    head = qwen.render_chat([{"role": "user", "content": "A shared question about code."}])
    prefix = probe.prefix_tokens(head)
    a = qwen.tokenize(head + "First answer: 1")
    b = qwen.tokenize(head + "Second answer, longer: 22")
    alone = probe.logprobs(a)  # no prefix: evaluated from nothing
    first = probe.logprobs(a, prefix)
    probe.logprobs(b, prefix)  # the prefix stays, the rest is replaced
    second = probe.logprobs(a, prefix)
    assert np.array_equal(first, second)  # a resumed reading equals an uninterrupted one
    # evaluated in other batches, a quantized model's logits move a little
    assert np.allclose(np.exp(first), np.exp(alone), atol=1e-2)
    assert math.isclose(np.exp(first).sum(), 1.0, rel_tol=1e-6)


def test_only_local_models_are_read(tmp_path):
    from phi1.llm.openai_http import OpenAIHTTPLLM

    http = OpenAIHTTPLLM("http://127.0.0.1:9/v1", model="m")
    assert not supports_logprobs(http)
    with pytest.raises(Phi1Error, match="local llama.cpp"):
        TokenProbe(http, "grading by probability")
