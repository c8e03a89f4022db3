"""phi1 and transformers checkpoints behind the LLM interface: which backend a spec picks,
phi1's batched generation unchanged through it, greedy parity between the two, and which
models count as instruct models."""

from __future__ import annotations

import pytest
import torch

from phi1.errors import Phi1Error
from phi1.llm import GenParams, LLMSettings, Request, load_llm, spec_kind
from phi1.model.checkpoint import save_checkpoint
from phi1.model.config import ModelConfig
from phi1.model.generate import complete
from phi1.model.model import Phi

PROMPTS = ["def add(a, b):\n", "import os\n\nclass Config:", "x = [", "def add(a, b):\n"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "ckpt"
    save_checkpoint(Phi(ModelConfig.from_name("debug", block_size=1024)), path)
    return path


def test_a_spec_names_its_backend(checkpoint, tmp_path):
    assert spec_kind(str(checkpoint)) == spec_kind(f"phi1:{checkpoint}") == "phi1"
    assert spec_kind(f"hf:{checkpoint}") == "hf"
    (tmp_path / "other").mkdir()  # a directory without a phi1 checkpoint is transformers'
    assert spec_kind(str(tmp_path / "other")) == "hf"
    assert spec_kind("http://h:8000/v1,http://g:8000/v1") == "http"
    assert spec_kind("gguf:m.gguf") == spec_kind("m.gguf") == "gguf"
    assert spec_kind("smollm2-135m-instruct") == "registry"
    llm = LLMSettings(model=str(checkpoint), batch_size=3).load()
    assert type(llm).__name__ == "Phi1LLM" and llm.batch_size == 3
    with pytest.raises(Phi1Error, match="unknown option.*n_ctx"):
        load_llm(str(checkpoint), n_ctx=2048)


def test_phi1_backend_generates_as_complete_does(checkpoint):
    """Plain prompts through the LLM interface: the texts of phi1's own batched call, one
    request per prompt, each sampling from its own seed."""
    llm = load_llm(f"phi1:{checkpoint}")
    assert not llm.instruct
    assert llm.identity()["backend"] == "phi1" and len(llm.identity()["sha256"]) == 64
    for params in (
        GenParams(max_tokens=12, n=2, stop=("\n\n",)),
        GenParams(max_tokens=12, n=3, temperature=0.8, top_p=0.95),
    ):
        seeds = [11, 12, 13, 11]
        requests = [
            Request(prompt=p, params=params.with_(seed=s))
            for p, s in zip(PROMPTS, seeds, strict=True)
        ]
        got = [c for _, c in sorted(llm.stream(requests), key=lambda pair: pair[0])]
        want = complete(
            llm.model,
            PROMPTS,
            tokenizer=llm.tokenizer,
            n=params.n,
            max_new_tokens=12,
            temperature=params.temperature,
            top_p=params.top_p,
            stop=params.stop,
            seeds=seeds,
            batch_size=len(PROMPTS) * (params.n if params.temperature else 1),
        )
        assert [c.texts for c in got] == [[x.text for x in row] for row in want]
        assert all(len(c.texts) == params.n for c in got)
        assert got[0].texts == got[3].texts  # same prompt, same seed
        assert all(r in ("stop", "length") for c in got for r in c.finish_reasons)
        assert all(c.prompt_tokens > 0 and c.completion_tokens > 0 for c in got)
    assert llm.usage.requests == 8
    with pytest.raises(Phi1Error, match="no chat template"):
        list(llm.stream([Request(messages=[{"role": "user", "content": "hi"}])]))


def test_batches_hold_at_most_batch_size_sequences(checkpoint, monkeypatch):
    from phi1.model import generate

    calls = []
    real = generate.generate_ids

    def counted(model, prompts, **kw):
        calls.append(len(prompts))
        return real(model, prompts, **kw)

    monkeypatch.setattr(generate, "generate_ids", counted)
    llm = load_llm(str(checkpoint), batch_size=4)
    sampled = GenParams(max_tokens=2, n=2, temperature=1.0)
    requests = [Request(prompt=p, params=sampled.with_(seed=i)) for i, p in enumerate(PROMPTS)]
    requests += [Request(prompt=p, params=GenParams(max_tokens=2, n=5)) for p in PROMPTS]
    answered = sorted(i for i, _ in llm.stream(requests))
    assert answered == list(range(8))
    assert calls == [4, 4, 4]  # 2 + 2 samples, 2 + 2, then 4 greedy prompts (copies are free)


@pytest.mark.slow
def test_phi1_and_transformers_backends_agree_greedy(checkpoint):
    from phi1.sandbox.problems import load_humaneval

    he = load_humaneval()
    prompts = [he[t].prompt for t in ("HumanEval/2", "HumanEval/53")]
    texts = {}
    for spec in (str(checkpoint), f"hf:{checkpoint}"):
        llm = load_llm(spec)
        assert type(llm).__name__ == ("Phi1LLM" if spec[0] != "h" else "TransformersLLM")
        assert not llm.instruct
        params = GenParams(n=2, temperature=0.0, top_p=1.0, seed=0, max_tokens=12)
        texts[spec] = [c.texts for c in llm.complete(prompts, params)]
    phi1_texts, hf_texts = texts.values()
    assert phi1_texts == hf_texts
    assert all(len(row) == 2 and row[0] == row[1] for row in phi1_texts)


def test_instruct_models_by_backend(tmp_path):
    from phi1.llm.llamacpp import LlamaCppLLM
    from phi1.llm.openai_http import OpenAIHTTPLLM

    for name, instruct in (
        ("SmolLM2-135M-Instruct.Q4_1.gguf", True),
        ("qwen-chat.gguf", True),
        ("gemma-2b-it.gguf", True),
        ("codegen-350M-mono.gguf", False),
    ):
        (tmp_path / name).write_bytes(b"")  # llama.cpp loads the file on first use only
        assert LlamaCppLLM(tmp_path / name).instruct is instruct, name
    assert LlamaCppLLM(tmp_path / "codegen-350M-mono.gguf", name="x-instruct").instruct
    assert OpenAIHTTPLLM("http://127.0.0.1:9/v1").instruct
