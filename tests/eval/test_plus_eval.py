"""``--scoring.plus true``: the same samples scored under base and strict tests, the flips;
``phi1 eval plus-tests``; MBPP, whose default set has no reference solutions."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from phi1.cli import main
from phi1.io import read_jsonl
from phi1.sandbox.problems import load_humaneval

ASSETS = Path(__file__).parents[1] / "assets"
WRONG = ASSETS / "sandbox" / "plus_wrong_solutions.jsonl"


def test_humaneval_plus_scores_both_and_lists_the_flips(tmp_path, capsys):
    he = load_humaneval()
    wrong = {w["task_id"]: w for w in map(json.loads, WRONG.read_text().splitlines())}
    rows = [{"task_id": t, "completion": he[t].canonical_solution} for t in list(he)[:2]]
    rows.append({"task_id": "HumanEval/2", "completion": wrong["HumanEval/2"]["completion"]})
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    args = ["eval", "humaneval", "--samples", str(samples), "--out", str(out)]
    assert main(args + ["--scoring.k", "1", "--scoring.limit", "3", "--scoring.plus", "true"]) == 0
    printed = capsys.readouterr().out
    base = json.loads((out / "results.json").read_text())
    strict = json.loads((out / "plus" / "results.json").read_text())
    comparison = json.loads((out / "plus" / "comparison.json").read_text())
    assert base["pass@k"]["pass@1"] == 1.0
    assert abs(strict["pass@k"]["pass@1"] - 2 / 3) < 1e-9
    assert comparison["flipped_problems"] == ["HumanEval/2"]
    assert comparison["flips"][0]["detail"].startswith("AssertionError: plus test")
    assert comparison["passed_only_plus"] == []
    assert "| pass@1 | 100.00% | 66.67% |" in printed
    assert [r["status"] for r in read_jsonl(out / "plus" / "results.jsonl")] == [
        "passed", "passed", "failed"
    ]  # fmt: skip


def test_mbpp_without_reference_solutions_keeps_its_base_tests(tmp_path, capsys):
    problems = ASSETS / "eval" / "mbpp_multipl_e.json"
    samples = tmp_path / "samples.jsonl"
    samples.write_text(
        json.dumps({"task_id": "Mbpp/2", "completion": "    return sorted(set(a) & set(b))\n"})
        + "\n"
        + json.dumps(
            {"task_id": "Mbpp/3", "completion": "    return any(n % d == 0 for d in range(2, n))\n"}
        )
        + "\n"
    )
    args = ["eval", "mbpp", "--problems", str(problems), "--samples", str(samples)]
    assert main(args + ["--scoring.k", "1", "--scoring.plus", "true"]) == 0
    printed = capsys.readouterr().out
    comparison = json.loads((tmp_path / "samples-eval" / "plus" / "comparison.json").read_text())
    assert comparison["base"] == comparison["plus"] == {"pass@1": 1.0}
    assert comparison["tests"]["kept_base_reasons"] == {"no reference solution (the oracle)": 2}
    assert "only the base tests apply" in printed


def test_mbpp_with_reference_code_gets_generated_strict_tests(tmp_path):
    problems = ASSETS / "eval" / "mbpp_full.jsonl"
    rows = [json.loads(line) for line in problems.read_text().splitlines() if line.strip()]
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": r["task_id"], "completion": r["code"]})
                               + "\n" for r in rows))  # fmt: skip
    out = tmp_path / "out"
    args = ["eval", "mbpp", "--problems", str(problems), "--samples", str(samples)]
    assert main(args + ["--out", str(out), "--scoring.k", "1", "--scoring.plus", "true"]) == 0
    comparison = json.loads((out / "plus" / "comparison.json").read_text())
    assert comparison["tests"]["with_plus_tests"] >= 1
    assert comparison["plus"] == comparison["base"] == {"pass@1": 1.0}  # references pass
    assert (out / "plus" / "tests.json.gz").is_file()


def test_plus_tests_command_is_deterministic_given_its_seed(tmp_path, capsys):
    problems = ASSETS / "eval" / "tiny_humaneval.jsonl"
    files = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.json.gz"
        args = ["eval", "plus-tests", "--problems", str(problems), "--out", str(path)]
        assert main(args + ["--plus.tests", "20", "--plus.candidates", "40"]) == 0
        files.append(json.loads(gzip.decompress(path.read_bytes())))
    assert "strict tests for" in capsys.readouterr().out
    strip = [[(p["inputs"], p["outputs"]) for p in f["problems"]] for f in files]
    assert strip[0] == strip[1] and any(p[0] for p in strip[0])
    assert files[0]["settings"]["tests"] == 20
