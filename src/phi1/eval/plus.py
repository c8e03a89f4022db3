"""Scoring under stricter tests (``phi1 eval humaneval --plus``) and what changes.

:func:`strict_problems` gives each problem its strict tests (:mod:`phi1.sandbox.plus`):
HumanEval's come from the set shipped with phi1 (checked against HumanEval's hash); any
other problem set gets tests generated on the spot (into ``OUT/plus/tests.json.gz``,
reused on a re-run with the same problems and settings). A problem without a reference
solution (MBPP in MultiPL-E's rendering) keeps its base tests: its strict score is its base
score, and the report says so.

:func:`compare` reads the base and the strict verdicts of the same samples and lists the
flips: samples that pass the base tests and fail the strict ones, with the failing test.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.io import atomic_write_json, read_jsonl, sha256_json
from phi1.sandbox.plus import (
    PlusSettings,
    PlusTests,
    generate_plus_tests,
    plus_problem,
    read_plus_tests,
    summarize,
    write_plus_tests,
)
from phi1.sandbox.problems import HUMANEVAL_SHA256, Problem


def problems_digest(problems: Mapping[str, Problem]) -> str:
    """What identifies a problem set for its strict tests."""
    return sha256_json([p.to_dict() for p in problems.values()])


def make_tests(
    problems: Mapping[str, Problem],
    settings: PlusSettings,
    *,
    benchmark: str,
    humaneval: bool = False,
) -> tuple[dict[str, PlusTests], dict[str, Any]]:
    """Strict tests for ``problems`` and the head of their file; ``humaneval`` applies the
    contracts and oracles written for HumanEval's docstrings."""
    contracts: dict[str, str] = {}
    oracles: dict[str, str] = {}
    if humaneval:
        from phi1.sandbox.contracts import HUMANEVAL, ORACLES

        contracts, oracles = HUMANEVAL, ORACLES
    tests = generate_plus_tests(problems, settings, contracts=contracts, oracles=oracles)
    head = {
        "benchmark": benchmark,
        "problems_sha256": problems_digest(problems),
        "settings": {k: v for k, v in vars(settings).items() if k != "workers"},
        "stated_contracts": len([t for t in contracts if t in problems]),
        **({"humaneval_sha256": HUMANEVAL_SHA256} if humaneval else {}),
        "note": "inputs and outputs are deterministic given the seed; time limits come "
        "from the generating machine's clock",
    }
    return tests, head


def strict_problems(
    problems: Mapping[str, Problem], out_dir: Path, *, shipped: bool
) -> tuple[dict[str, Problem], dict[str, PlusTests], dict[str, Any]]:
    """Each problem with its strict tests, the tests, and where they came from. ``shipped``:
    ``problems`` are HumanEval as phi1 ships it, whose tests come with phi1."""
    if shipped:
        tests, head = read_plus_tests()
        if head.get("benchmark") != "humaneval" or head.get("humaneval_sha256") != (
            HUMANEVAL_SHA256
        ):
            raise Phi1Error(f"{head.get('sha256')}: the shipped strict tests are not HumanEval's")
        missing = [t for t in problems if t not in tests]
        if missing:
            raise Phi1Error(f"the shipped strict tests lack {missing[:3]}")
    else:
        tests, head = _generated(problems, out_dir / "tests.json.gz")
    table = {t: plus_problem(p, tests.get(t)) for t, p in problems.items()}
    return table, {t: tests[t] for t in problems if t in tests}, head


def _generated(
    problems: Mapping[str, Problem], path: Path
) -> tuple[dict[str, PlusTests], dict[str, Any]]:
    """Tests generated for a problem set other than HumanEval, reused when ``path`` holds
    those of the same problems."""
    digest = problems_digest(problems)
    if path.exists():
        tests, head = read_plus_tests(path)
        if head.get("problems_sha256") == digest:
            return tests, head
    settings = PlusSettings()
    tests, head = make_tests(problems, settings, benchmark="custom")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_plus_tests(path, tests, head)
    return read_plus_tests(path)


def compare(base_dir: Path, plus_dir: Path, tests: Mapping[str, PlusTests]) -> dict[str, Any]:
    """Base against strict verdicts of the same samples: pass@k of each, the flips, and
    the test set's counts; written to ``plus_dir/comparison.json``."""
    base = {row["sample"]: row for row in read_jsonl(base_dir / "results.jsonl")}
    plus = {row["sample"]: row for row in read_jsonl(plus_dir / "results.jsonl")}
    flips, gained = [], []
    for index, row in sorted(plus.items()):
        before = base.get(index)
        if before is None:
            continue
        if before["passed"] and not row["passed"]:
            flips.append(
                {
                    "task_id": row["task_id"],
                    "completion_id": row["completion_id"],
                    "status": row["status"],
                    "detail": row["detail"][:300],
                }  # fmt: skip
            )
        elif row["passed"] and not before["passed"]:
            gained.append(row["task_id"])
    from phi1.io import read_json

    base_summary = read_json(base_dir / "results.json")
    plus_summary = read_json(plus_dir / "results.json")
    stats = summarize(tests)
    comparison = {
        "base": base_summary["pass@k"],
        "plus": plus_summary["pass@k"],
        "flips": flips,
        "flipped_problems": sorted({f["task_id"] for f in flips}, key=_task_order),
        "passed_only_plus": gained,  # always empty: the strict check runs the base one first
        "tests": stats,
    }
    atomic_write_json(plus_dir / "comparison.json", comparison)
    return comparison


def _task_order(task_id: str) -> tuple:
    head, _, tail = task_id.rpartition("/")
    return (head, int(tail)) if tail.isdigit() else (head, 0, tail)


def format_comparison(comparison: dict[str, Any]) -> str:
    """The base and strict scores side by side, and what flipped."""
    stats = comparison["tests"]
    lines = ["", "| metric | base tests | strict tests |", "|---|---|---|"]
    for name, value in comparison["base"].items():
        strict = comparison["plus"].get(name)
        lines.append(f"| {name} | {100 * value:.2f}% | {100 * strict:.2f}% |")
    lines.append("")
    lines.append(
        f"strict tests: {stats['plus_tests']} over {stats['with_plus_tests']} problems "
        f"(mean {stats['mean_plus_tests_per_problem']} per problem, on top of the base tests)"
    )
    if stats["kept_base"]:
        reasons = "; ".join(f"{n} {why}" for why, n in stats["kept_base_reasons"].items())
        lines.append(f"{stats['kept_base']} problems keep only their base tests ({reasons})")
    flipped = comparison["flipped_problems"]
    lines.append(f"flipped (pass base, fail strict): {len(flipped)} problems "
                 f"{', '.join(flipped) if flipped else ''}".rstrip())  # fmt: skip
    return "\n".join(lines) + "\n"
