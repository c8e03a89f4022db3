"""What the judge is shown besides the code: the student's outputs beside the reference's.

A small local judge reads code poorly: shown a reference and a wrong solution that differ
in one condition, it grades both alike (examples/graded/calibration). What it can read is
a result. So, for each solution graded, the problem's inputs are made as phi1's strict
tests make them (EvalPlus: the literal calls of the docstring's examples, then inputs
mutated from them, type-aware and inside the contract those seeds show;
:mod:`phi1.sandbox.plus`), both the reference (the oracle) and the student's code run on
every one in the sandbox, and the judge sees a few lines such as::

    mirror_stutter('ab') -> reference 'ab', student 'abb'   DIFFERENT

with the count of inputs on which they agree. The problem's own tests are never used, so
the judge still grades the code; it grades it knowing what the code does. An input on
which the reference raises is outside the problem's contract and is not shown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from phi1.sandbox.literals import Unrepresentable, from_source, to_source
from phi1.sandbox.problems import Problem

WIDTH = 70
"""Characters of one shown value before it is cut with an ellipsis."""


def problem_inputs(problem: Problem, n: int, seed: int) -> list[tuple]:
    """The docstring examples' inputs, then up to ``n`` mutated from them (deterministic
    given ``seed`` and the task id); none when the docstring has no literal example."""
    from phi1.sandbox.plus import PlusSettings, candidates, seed_inputs

    bare = dataclasses.replace(problem, test="")  # the docstring's calls only, not the tests
    seeds = seed_inputs(bare)[0]
    if not seeds or n <= 0:
        return seeds
    try:
        new, _ = candidates(bare, seeds, PlusSettings(seed=seed, tests=n, candidates=n))
    except (TypeError, ValueError, RecursionError):  # seeds of mixed shapes
        new = []
    return seeds + new


def output_evidence(
    solutions: Mapping[str, tuple[Problem, str]],
    *,
    show: int,
    mutations: int,
    seed: int = 0,
    limit: float = 2.0,
) -> dict[str, str]:
    """For each key's ``(problem, completion)``: the text the judge is shown (up to
    ``show`` inputs, those where the student differs first), or "" when the problem has no
    input to run."""
    from phi1.sandbox.plus import PlusSettings, run_oracle

    inputs = {}
    for problem, _ in solutions.values():
        if problem.task_id not in inputs:
            inputs[problem.task_id] = problem_inputs(problem, mutations, seed)
    jobs: dict[str, tuple[Problem, list[tuple], None]] = {}
    for task_id, args in inputs.items():
        problem = next(p for p, _ in solutions.values() if p.task_id == task_id)
        if args:
            jobs[f"reference:{task_id}"] = (problem, args, None)
    for key, (problem, completion) in solutions.items():
        if inputs[problem.task_id]:
            student = dataclasses.replace(problem, canonical_solution=completion)
            jobs[f"student:{key}"] = (student, inputs[problem.task_id], None)
    answers = run_oracle(jobs, PlusSettings(oracle_limit=limit)) if jobs else {}
    out = {}
    for key, (problem, _) in solutions.items():
        args = inputs[problem.task_id]
        reference = answers.get(f"reference:{problem.task_id}")
        if not args or not isinstance(reference, list):
            out[key] = ""
            continue
        out[key] = describe(problem.entry_point, args, reference, answers[f"student:{key}"], show)
    return out


def describe(name: str, args: list[tuple], reference: list, student: list | str, show: int) -> str:
    """The lines the judge reads: a count, then up to ``show`` inputs, differences first."""
    if isinstance(student, str):  # the student's program did not run at all
        return f"The student's code was run on {len(args)} inputs and did not finish: {student}"
    rows = []
    for a, ref, got in zip(args, reference, student, strict=True):
        if ref[0] != "ok":  # the reference raises: not an input the problem allows
            continue
        same = got[0] == "ok" and _equal(ref[1], got[1])
        call = f"{name}({', '.join(_short(to_source(x)) for x in a)})"
        line = f"{call} -> reference {_short(ref[1])}, student {_answer(got)}"
        rows.append((same, line + ("" if same else "   DIFFERENT")))
    if not rows:
        return ""
    agree = sum(same for same, _ in rows)
    rows.sort(key=lambda r: r[0])  # differences first, otherwise in input order
    lines = [line for _, line in rows[:show]]
    head = f"The student's code returns what the reference returns on {agree} of {len(rows)} inputs"
    return head + (":" if lines else ".") + "\n" + "\n".join(lines)


def _answer(answer: list) -> str:
    status, value = answer[0], answer[1]
    if status == "ok":
        return _short(value)
    if status == "raised":
        return f"raises {value}"
    return status  # timeout, unstable


def _equal(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return _canon(from_source(a)) == _canon(from_source(b))
    except Unrepresentable:
        return False


def _canon(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, list | tuple):
        return type(value).__name__, tuple(_canon(v) for v in value)
    return value


def _short(text: str) -> str:
    return text if len(text) <= WIDTH else text[: WIDTH - 3] + "..."
