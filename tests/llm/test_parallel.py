"""n samples of one prompt decoded together, and a reply continued from a prefill, on the
real SmolLM2-135M-Instruct GGUF through llama.cpp."""

import pytest

from phi1.errors import Phi1Error
from phi1.llm import GenParams, Request

pytestmark = pytest.mark.llm

ASK = [{"role": "user", "content": "Write a Python function that reverses a string."}]


def test_n_samples_decode_together_seeded_and_stopped(smollm2):
    params = GenParams(max_tokens=40, temperature=0.9, top_p=0.95, n=4, seed=7, stop=("\n\n",))
    first = smollm2.chat([ASK], params)[0]
    again = smollm2.chat([ASK], params)[0]
    assert len(first.texts) == 4 and first.texts == again.texts  # seeded: the same run again
    assert len(set(first.texts)) > 1  # each sequence draws with its own seed
    for text, reason in zip(first.texts, first.finish_reasons, strict=True):
        assert "\n\n" not in text and "<|im_end|>" not in text
        assert reason in ("stop", "length")
    assert 0 < first.completion_tokens <= 4 * 40
    assert first.prompt_tokens == len(smollm2.tokenize(smollm2.render_chat(ASK)))
    other = smollm2.chat([ASK], params.with_(seed=8))[0]
    assert other.texts != first.texts


def test_parallel_decoding_at_a_cold_temperature_is_the_greedy_answer(smollm2):
    """The batched decoder against llama-cpp-python's own loop: with the temperature so low
    that sampling is an argmax, every sequence must be the greedy completion."""
    greedy = smollm2.chat([ASK], GenParams(max_tokens=16, temperature=0.0))[0].text
    cold = smollm2.chat([ASK], GenParams(max_tokens=16, temperature=1e-4, n=3, seed=1))[0]
    assert cold.texts == [greedy] * 3


def test_a_greedy_request_for_n_is_decoded_once(smollm2):
    one = smollm2.chat([ASK], GenParams(max_tokens=12))[0]
    three = smollm2.chat([ASK], GenParams(max_tokens=12, n=3))[0]
    assert three.texts == one.texts * 3


def test_a_group_that_does_not_fit_the_context_is_split(smollm2):
    room = smollm2.n_ctx - len(smollm2.tokenize(smollm2.render_chat(ASK)))
    params = GenParams(max_tokens=room // 2, temperature=0.8, n=3, seed=2)  # 2 fit at once
    out = smollm2.chat([ASK], params)[0]
    assert len(out.texts) == 3 and all(out.texts)


def test_prefill_continues_the_reply(smollm2):
    start = "def reverse(s):\n    return"
    params = GenParams(max_tokens=12, temperature=0.0)
    ((_, got),) = smollm2.stream([Request(messages=ASK, params=params, prefill=start)])
    plain = smollm2.complete([smollm2.render_chat(ASK) + start], params)[0]
    assert got.text == plain.text and not got.text.startswith("def")
    with pytest.raises(Phi1Error, match="needs messages"):
        Request(prompt="x", prefill="y")
