"""``phi1 export gguf``: llama.cpp (through llama-cpp-python) runs the exported file and
agrees with phi1 token for token: the same ids for the standard library's text, the same
greedy continuations (f32), nearly the same (f16); bad input fails with one clear error."""

from __future__ import annotations

import json

import pytest
import torch
from model_helpers import randomize

from phi1.cli import main
from phi1.errors import Phi1Error
from phi1.model.checkpoint import save_checkpoint
from phi1.model.config import ModelConfig
from phi1.model.generate import generate_ids
from phi1.model.gguf_export import export_gguf
from phi1.model.model import Phi
from phi1.model.tokenizer import get_tokenizer

llama_cpp = pytest.importorskip("llama_cpp")

PROMPTS = [
    "def fibonacci(n):\n    ",
    "import os\nimport sys\n\n",
    "class Stack:\n    def __init__(self):\n        self.items = []\n",
    "# Return the sum of a list of numbers\n",
    "for i in range(10):\n\tprint(i)\n",
    'def greet(name: str) -> str:\n    """Say hello."""\n    return',
    "x = [1, 2, 3]\n    y = {'a': 1}\n        ",
    "if __name__ == '__main__':\n",
    "    ",
    "while True:\n        break\n",
]
NEW_TOKENS = 64


@pytest.fixture(scope="module", params=["debug", "tiny"])
def exported(request, tmp_path_factory):
    """A preset with random weights (logits widened so that greedy decoding is far from
    ties and not degenerate), its checkpoint, and its f32 and f16 GGUF files."""
    preset = request.param
    folder = tmp_path_factory.mktemp(preset)
    model = Phi(ModelConfig.from_name(preset), generator=torch.Generator().manual_seed(0))
    randomize(model, seed=1, scale=30.0)
    model.eval()
    ckpt = save_checkpoint(model, folder / "ckpt")
    files = {dtype: export_gguf(ckpt, folder / f"{preset}-{dtype}.gguf", dtype=dtype)
             for dtype in ("f32", "f16")}  # fmt: skip
    prompts = [get_tokenizer().encode(p) for p in PROMPTS]
    with torch.no_grad():
        greedy = [ids for ids, _ in generate_ids(model, prompts, max_new_tokens=NEW_TOKENS,
                                                 eos_id=-1)]  # fmt: skip
    return preset, prompts, greedy, ckpt, files


def _llama(path):
    # one thread: llama.cpp's threads spin while they wait, which a busy machine punishes
    return llama_cpp.Llama(model_path=str(path), n_ctx=256, n_threads=1, verbose=False)


def _greedy_llama(llm, prompts) -> list[list[int]]:
    out = []
    for ids in prompts:
        llm.reset()
        tokens: list[int] = []
        for token in llm.generate(ids, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0):
            tokens.append(token)
            if len(tokens) == NEW_TOKENS:
                break
        out.append(tokens)
    return out


@pytest.mark.slow
@pytest.mark.llm
def test_llama_cpp_tokenizes_and_decodes_like_phi1(exported, stdlib_texts):
    preset, prompts, ours, _, files = exported
    tok = get_tokenizer()
    llm = _llama(files["f32"])
    try:
        if preset == "debug":  # the tokenizer is the same in every file: check it once
            texts = stdlib_texts[::25]  # 70-odd files of the standard library
            texts += [" " * n + "x" + "\t" * (n % 12) + "y" for n in range(1, 70)]
            texts += ["<|endoftext|> is plain text", "  \n\t\t \t  ", "héllo wörld ∑ 😀"]
            for text in texts:
                assert llm.tokenize(text.encode(), add_bos=False, special=False) == tok.encode(
                    text
                ), text[:80]
        theirs = _greedy_llama(llm, prompts)
        assert theirs == ours
        distinct = {t for row in ours for t in row}
        assert len(distinct) > 50  # not degenerate: many different tokens
    finally:
        llm.close()


@pytest.mark.slow
@pytest.mark.llm
def test_f16_agrees_on_95_percent_of_greedy_tokens(exported):
    _, prompts, ours, _, files = exported
    llm = _llama(files["f16"])
    try:
        theirs = _greedy_llama(llm, prompts)
    finally:
        llm.close()
    same = sum(a == b for x, y in zip(ours, theirs, strict=True) for a, b in zip(x, y, strict=True))
    assert same / (len(PROMPTS) * NEW_TOKENS) >= 0.95


@pytest.mark.llm
def test_exported_file_works_as_gguf_spec_and_from_the_command(exported, tmp_path, capsys):
    preset, _, _, ckpt, _ = exported
    if preset != "debug":
        pytest.skip("one preset is enough for the command and the backend")
    out = tmp_path / "q8.gguf"
    assert main(["export", "gguf", str(ckpt), "--out", str(out), "--dtype", "q8_0"]) == 0
    assert "q8_0" in capsys.readouterr().out
    from phi1.llm import load_llm
    from phi1.llm.base import GenParams

    with load_llm(f"gguf:{out}", n_ctx=256) as llm:
        assert not llm.instruct
        (done,) = llm.complete(["def add(a, b):"], GenParams(max_tokens=8, temperature=0.0))
    assert done.completion_tokens > 0 and isinstance(done.texts[0], str)


def test_bad_input_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(Phi1Error, match="not a checkpoint directory .no config.json"):
        export_gguf(tmp_path, tmp_path / "x.gguf")
    with pytest.raises(Phi1Error, match="no such checkpoint directory"):
        export_gguf(tmp_path / "missing", tmp_path / "x.gguf")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(Phi1Error, match="model_type 'llama'"):
        export_gguf(tmp_path, tmp_path / "x.gguf")
    with pytest.raises(Phi1Error, match="--dtype must be one of f32, f16, q8_0, got 'q4'"):
        export_gguf(tmp_path, tmp_path / "x.gguf", dtype="q4")
    assert main(["export", "gguf", str(tmp_path), "--out", str(tmp_path / "x.gguf"),
                 "--dtype", "bf16"]) == 1  # fmt: skip
    assert "--dtype must be one of" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.gguf")) and not list(tmp_path.glob(".*partial*"))
