"""The in-process llama.cpp backend on the real SmolLM2-135M-Instruct GGUF."""

import pickle

import pytest

from phi1.errors import Phi1Error
from phi1.llm import GenParams, Request, load_llm

pytestmark = pytest.mark.llm

HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]


def test_chat_uses_the_gguf_template(smollm2):
    prompt = smollm2.render_chat(HELLO)
    source = smollm2.llama.metadata["tokenizer.chat_template"]
    assert "<|im_start|>user\nSay hello in one short sentence.<|im_end|>\n" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    # SmolLM2's own template adds its default system prompt; a guessed format would not.
    assert "You are a helpful AI assistant named SmolLM" in source
    assert prompt.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    # Special tokens become single ids, not text.
    ids = smollm2.tokenize(prompt)
    im_start = smollm2.tokenize("<|im_start|>")
    assert len(im_start) == 1 and ids.count(im_start[0]) == 3


def test_greedy_chat_is_deterministic_and_stops_at_im_end(smollm2):
    params = GenParams(max_tokens=48, temperature=0.0, seed=3)
    first = smollm2.chat([HELLO], params)[0]
    second = smollm2.chat([HELLO], params)[0]
    assert first.texts == second.texts
    assert first.text.strip()
    assert "<|im_end|>" not in first.text and "<|im_start|>" not in first.text
    if first.finish_reasons[0] == "stop":
        assert first.completion_tokens < 48
    assert first.prompt_tokens == len(smollm2.tokenize(smollm2.render_chat(HELLO)))


def test_complete_length_stop_and_samples(smollm2):
    out = smollm2.complete(["def add(a, b):\n"], GenParams(max_tokens=8))[0]
    assert out.finish_reasons == ["length"] and out.completion_tokens == 8

    stopped = smollm2.complete(["1, 2, 3, 4,"], GenParams(max_tokens=24, stop=(" 7",)))[0]
    assert " 7" not in stopped.text

    sampled = smollm2.complete(
        ["Once upon a time"], GenParams(max_tokens=12, temperature=1.0, n=3, seed=11)
    )[0]
    again = smollm2.complete(
        ["Once upon a time"], GenParams(max_tokens=12, temperature=1.0, n=3, seed=11)
    )[0]
    assert len(sampled.texts) == 3 and sampled.texts == again.texts
    assert len(set(sampled.texts)) > 1  # seeds seed, seed+1, seed+2 differ


def test_usage_counts_and_stream_order(smollm2):
    before = smollm2.usage.requests
    reqs = [Request(prompt=f"x = {i}", params=GenParams(max_tokens=2)) for i in range(3)]
    got = list(smollm2.stream(reqs))
    assert [i for i, _ in got] == [0, 1, 2]
    assert smollm2.usage.requests - before == 3
    assert smollm2.usage.completion_tokens >= 6


def test_identity_and_pickle(smollm2):
    ident = smollm2.identity()
    assert ident["backend"] == "llama.cpp" and ident["name"] == "smollm2-135m-instruct"
    assert ident["sha256"].startswith("b179c9523d0e6a0f")
    clone = pickle.loads(pickle.dumps(smollm2))
    assert clone._llama is None and clone.path == smollm2.path


def test_bad_input_is_one_clear_error(smollm2, tmp_path):
    with pytest.raises(Phi1Error, match="unknown model 'gpt-17'"):
        load_llm("gpt-17")
    with pytest.raises(Phi1Error, match="no such GGUF"):
        load_llm(f"gguf:{tmp_path}/missing.gguf")
    with pytest.raises(Phi1Error, match="unknown option"):
        load_llm("smollm2-135m-instruct", temprature=0.5)
    with pytest.raises(Phi1Error, match="empty"):
        load_llm("  ")
    with pytest.raises(Phi1Error, match="role"):
        smollm2.chat([[{"role": "wizard", "content": "hi"}]])
    with pytest.raises(Phi1Error, match="max_tokens"):
        GenParams(max_tokens=0)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf")
    with pytest.raises(Phi1Error, match="could not load"):
        load_llm(f"gguf:{bad}").complete(["x"])
    with pytest.raises(Phi1Error, match="context window"):
        smollm2.complete(["word " * (smollm2.n_ctx + 50)], GenParams(max_tokens=4))


def test_default_threads_follows_the_environment_and_the_idle_cores(monkeypatch):
    import os

    from phi1.errors import Phi1Error
    from phi1.llm.llamacpp import _idle_cores, default_threads

    cores = len(os.sched_getaffinity(0))
    monkeypatch.setenv("PHI1_LLAMA_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("PHI1_LLAMA_THREADS", "many")
    with pytest.raises(Phi1Error, match="PHI1_LLAMA_THREADS='many'"):
        default_threads()
    monkeypatch.delenv("PHI1_LLAMA_THREADS")
    idle = _idle_cores(cores, interval=0.1)
    assert idle is not None and 0.0 <= idle <= cores
    assert 1 <= default_threads() <= cores


def test_a_message_holding_a_control_tokens_text_stays_text(smollm2):
    # A judged file that mentions "<|im_end|>" must not end the user's turn in the prompt:
    # the template's control tokens are parsed, the messages' text is not.
    im_end = smollm2.tokenize("<|im_end|>")
    assert len(im_end) == 1  # a bare string: special tokens parsed
    content = "Rate this file:\nEOS = '<|endoftext|>'\nEND = '<|im_end|>'  # <|im_start|>x"
    messages = [{"role": "user", "content": content}]
    prompt = smollm2.render_chat(messages)
    ids = smollm2.tokenize(prompt)
    # the template's own: after the system prompt and after the user's message
    assert ids.count(im_end[0]) == 2
    assert ids.count(smollm2.tokenize("<|endoftext|>")[0]) == 0
    # the model reads every character of the prompt, the message's as plain text
    assert smollm2.llama.detokenize(ids, special=True).decode() == str(prompt)
    plain = smollm2.llama.tokenize(content.encode(), add_bos=False, special=False)
    assert any(ids[i : i + len(plain)] == plain for i in range(len(ids)))
    # adding the reply's start keeps it, and a prefill with the text is text too
    assert smollm2.tokenize(prompt + "Sure").count(im_end[0]) == 2
    request = Request(messages=messages, prefill="x = '<|im_end|>'", params=GenParams())
    assert smollm2.tokenize(smollm2.prompt_text(request)).count(im_end[0]) == 2
    out = smollm2.chat([messages], GenParams(max_tokens=4, temperature=0.0))[0]
    assert out.prompt_tokens == len(ids)


def test_a_message_without_control_text_tokenizes_as_before(smollm2):
    from phi1.llm.llamacpp import tokenize_prompt

    prompt = smollm2.render_chat(HELLO + [{"role": "assistant", "content": "a < b, <b>"}])
    assert type(prompt) is str  # nothing remembered: the whole prompt in one call
    assert smollm2.tokenize(prompt) == tokenize_prompt(smollm2.llama, prompt)


def test_literal_pieces_cut_at_every_occurrence_longest_first():
    from phi1.llm.llamacpp import _pieces

    text = "<s>A<|x|>B<|x|>|>C"
    assert _pieces(text, ["<|x|>", "<|x|>B"]) == [
        ("<s>A", False), ("<|x|>B", True), ("<|x|>", True), ("|>C", False),
    ]  # fmt: skip
    assert _pieces(text, []) == [(text, False)]
    assert _pieces(text, ["absent", ""]) == [(text, False)]
