"""``phi1 eval humaneval --samples`` / ``phi1 eval mbpp --samples``: scoring, results files,
resume after a kill, and one clear error for each kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phi1.cli import main
from phi1.eval.passk import pass_at_k
from phi1.io import read_jsonl
from phi1.sandbox.problems import load_humaneval

ASSETS = Path(__file__).parents[1] / "assets" / "eval"
BODIES = ("canonical", "    pass\n", "    raise ValueError('no')\n")


def _samples(path: Path, problems: int = 4) -> Path:
    he = load_humaneval()
    rows = []
    for task_id in list(he)[:problems]:
        for body in BODIES:
            completion = he[task_id].canonical_solution if body == "canonical" else body
            rows.append({"task_id": task_id, "completion": completion})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_score_a_samples_file(tmp_path, capsys):
    samples = _samples(tmp_path / "samples.jsonl")
    assert main(["eval", "humaneval", "--samples", str(samples), "--scoring.k", "1,2,3"]) == 0
    printed = capsys.readouterr().out
    out = tmp_path / "samples-eval"
    summary = json.loads((out / "results.json").read_text())
    rows = list(read_jsonl(out / "results.jsonl"))
    assert [r["status"] for r in rows] == ["passed", "failed", "error"] * 4
    assert [r["completion_id"] for r in rows] == [0, 1, 2] * 4
    assert rows[2]["detail"] == "ValueError: no"
    for k in (1, 2, 3):
        assert summary["pass@k"][f"pass@{k}"] == pytest.approx(pass_at_k(3, 1, k))
    assert summary["problems_attempted"] == 4 and summary["problems"] == 164
    assert summary["status_counts"] == {"passed": 4, "failed": 4, "error": 4, "timeout": 0}
    assert summary["isolation"]["network"]
    table = (out / "results.md").read_text()
    assert "| pass@1 | 33.33% |" in table and table in printed
    assert "only 4 of 164 problems" in table


def test_limit_skips_the_samples_of_the_problems_it_leaves_out(tmp_path, capsys):
    samples = _samples(tmp_path / "samples.jsonl", problems=4)
    out = tmp_path / "out"
    args = ["eval", "humaneval", "--samples", str(samples), "--out", str(out), "--scoring.k", "1"]
    assert main(args + ["--scoring.limit", "2"]) == 0
    summary = json.loads((out / "results.json").read_text())
    assert summary["problems"] == 2 and summary["problems_attempted"] == 2
    assert summary["status_counts"] == {"passed": 2, "failed": 2, "error": 2, "timeout": 0}
    # an id outside the benchmark is still an error, --scoring.limit or not
    with samples.open("a") as f:
        f.write(json.dumps({"task_id": "HumanEval/999", "completion": "    pass\n"}) + "\n")
    args[args.index("--out") + 1] = str(tmp_path / "other")
    assert main(args + ["--scoring.limit", "2"]) == 1
    assert "samples.jsonl:13: unknown task_id 'HumanEval/999'" in capsys.readouterr().err


def test_resume_keeps_finished_verdicts(tmp_path):
    samples = _samples(tmp_path / "s.jsonl")
    out = tmp_path / "out"
    args = ["eval", "humaneval", "--samples", str(samples), "--out", str(out), "--scoring.k", "1"]
    assert main(args) == 0
    rows = (out / "results.jsonl").read_text().splitlines()
    # as after a kill: five verdicts written, the sixth torn
    (out / "results.jsonl").write_text("\n".join(rows[:5]) + "\n" + rows[5][:20])
    assert main(args) == 0
    again = (out / "results.jsonl").read_text().splitlines()
    assert again[:5] == rows[:5]  # same durations: not run again
    assert [json.loads(r)["status"] for r in again] == [json.loads(r)["status"] for r in rows]
    # a different timeout is a different evaluation: not mixed into the same directory
    assert main(args + ["--scoring.timeout", "5"]) == 1


@pytest.mark.parametrize(
    "line3, message",
    [
        ("{broken", r"s\.jsonl:3: invalid JSON"),
        (
            '{"task_id": "HumanEval/999", "completion": "x"}',
            r"s\.jsonl:3: unknown task_id 'HumanEval/999'",
        ),
        ('{"task_id": "HumanEval/1"}', r"s\.jsonl:3: missing field 'completion'"),
        ('{"completion": "    pass"}', r"s\.jsonl:3: missing field 'task_id'"),
        (
            '{"task_id": "HumanEval/1", "completion": 7}',
            r"s\.jsonl:3: 'completion' must be a string",
        ),
        ('{"task_id": ["HumanEval/1"], "completion": ""}', r"s\.jsonl:3: 'task_id' must be"),
        ('["HumanEval/1", "    pass"]', r"s\.jsonl:3: expected a JSON object, got list"),
        (b'{"task_id": "HumanEval/1", "completion": "\xff"}', r"s\.jsonl:3: not UTF-8"),
    ],
    ids=["json", "task_id", "completion", "no-task-id", "not-string", "id-type", "array", "utf8"],
)
def test_bad_samples_file_gives_one_error_naming_the_line(tmp_path, capsys, line3, message):
    good = json.dumps({"task_id": "HumanEval/0", "completion": "    pass\n"})
    path = tmp_path / "s.jsonl"
    line3 = line3 if isinstance(line3, bytes) else line3.encode()
    path.write_bytes(f"{good}\n\n".encode() + line3 + f"\n{good}\n".encode())  # line 2: blank
    assert main(["eval", "humaneval", "--samples", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("phi1: error: ")
    assert __import__("re").search(message, err[0]), err[0]


def test_flag_errors(tmp_path, capsys):
    samples = _samples(tmp_path / "s.jsonl", problems=1)
    cases = [
        ["eval", "humaneval"],
        ["eval", "humaneval", "--samples", str(samples), "--llm.model", "x"],
        ["eval", "humaneval", "--llm.model", "smollm2-135m-instruct"],
        ["eval", "humaneval", "--samples", str(samples), "--scoring.k", "0"],
        ["eval", "mbpp", "--problems", str(tmp_path / "none.json"), "--samples", str(samples)],
    ]
    for argv in cases:
        assert main(argv) == 1, argv
    err = capsys.readouterr().err
    assert "exactly one of --samples" in err and "--llm.model needs --out" in err
    assert "--scoring.k needs integers >= 1" in err and "none.json: no such file" in err


def test_mbpp_scores_ids_in_every_spelling(tmp_path):
    from phi1.sandbox.problems import load_mbpp

    problems = load_mbpp(ASSETS / "mbpp_full.jsonl")
    ids = [601, "602", "Mbpp/603", "Mbpp/604"]
    rows = [
        {"task_id": i, "completion": p.canonical_solution}
        for i, p in zip(ids, problems.values(), strict=True)
    ]
    rows.append({"task_id": 601, "completion": "def sum_squares(n):\n    return n\n"})
    samples = tmp_path / "m.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    argv = [
        "eval",
        "mbpp",
        "--problems",
        str(ASSETS / "mbpp_full.jsonl"),
        "--samples",
        str(samples),
    ]
    assert main(argv + ["--scoring.k", "1"]) == 0
    summary = json.loads((tmp_path / "m-eval" / "results.json").read_text())
    assert summary["per_problem"]["Mbpp/601"] == {"n": 2, "c": 1, "pass@1": 0.5}
    assert summary["pass@k"]["pass@1"] == pytest.approx((0.5 + 1 + 1 + 1) / 4)
