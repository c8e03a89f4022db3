"""Strict (HumanEval+-style) tests: the shipped set, the generator, the programs it makes.

Real sandboxed runs throughout: the canonical solutions against every strict test, the
committed wrong solutions that pass the base tests and must fail the strict ones.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phi1.sandbox.execute import Limits, Sandbox
from phi1.sandbox.literals import from_source, to_source
from phi1.sandbox.mutate import Contract
from phi1.sandbox.plus import (
    PlusSettings,
    generate_plus_tests,
    plus_problem,
    plus_timeout,
    read_plus_tests,
    seed_inputs,
)
from phi1.sandbox.problems import HUMANEVAL_SHA256, Problem, load_humaneval

WRONG = Path(__file__).parents[1] / "assets" / "sandbox" / "plus_wrong_solutions.jsonl"


@pytest.fixture(scope="module")
def humaneval():
    return load_humaneval()


@pytest.fixture(scope="module")
def shipped():
    return read_plus_tests()


def test_shipped_set_has_50_tests_per_problem_and_counts_what_keeps_base(humaneval, shipped):
    tests, head = shipped
    assert head["benchmark"] == "humaneval" and head["humaneval_sha256"] == HUMANEVAL_SHA256
    assert list(tests) == list(humaneval)
    mean = sum(len(t.inputs) for t in tests.values()) / len(tests)
    assert mean >= 50, mean
    kept = {t.task_id: t.kept_base for t in tests.values() if t.kept_base}
    # decode_cyclic and decode_shift test only random strings: nothing literal to mutate
    assert set(kept) == {"HumanEval/38", "HumanEval/50"}
    assert head["summary"]["kept_base"] == len(kept)
    for t in tests.values():
        assert len(t.inputs) == len(t.outputs) == len(t.limits)
        assert all(limit >= head["settings"]["min_limit"] for limit in t.limits)


@pytest.mark.slow
def test_every_canonical_solution_passes_all_its_strict_tests(humaneval, shipped):
    tests, _ = shipped
    programs = [
        plus_problem(p, tests[t]).program(p.canonical_solution) for t, p in humaneval.items()
    ]
    with Sandbox(2, Limits(timeout=plus_timeout(tests, 3.0))) as box:
        results = box.run(programs)
    failed = {t: r.detail for t, r in zip(humaneval, results, strict=True) if not r.passed}
    assert failed == {}


def test_wrong_solutions_pass_the_base_tests_and_fail_the_strict_ones(humaneval, shipped):
    tests, _ = shipped
    wrong = [json.loads(line) for line in WRONG.read_text().splitlines()]
    assert len(wrong) >= 15
    with Sandbox(2, Limits(timeout=plus_timeout(tests, 3.0))) as box:
        base = box.run([humaneval[w["task_id"]].program(w["completion"]) for w in wrong])
        strict = box.run(
            [
                plus_problem(humaneval[w["task_id"]], tests[w["task_id"]]).program(w["completion"])
                for w in wrong
            ]  # fmt: skip
        )
    for w, b, s in zip(wrong, base, strict, strict=True):
        assert b.passed, (w["task_id"], w["bug"], b.detail)
        assert not s.passed, (w["task_id"], w["bug"])
        assert s.detail.startswith(("AssertionError: plus test", "_Phi1TimeLimit: plus test"))


def test_seeds_come_from_base_tests_and_prompt_examples(humaneval):
    seeds, calls = seed_inputs(humaneval["HumanEval/0"])
    assert calls == 7
    assert ([1.0, 2.0, 3.0], 0.5) in seeds and ([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) in seeds
    assert len(seeds) == 9  # 7 test calls, 2 docstring examples, no repeats
    assert seed_inputs(humaneval["HumanEval/38"])[0] == []  # random strings only


HALF = Problem(
    "Toy/0",
    'def half(n: int) -> float:\n    """Half of an even n."""\n',
    "half",
    "def check(candidate):\n    assert abs(candidate(4) - 2) < 1e-6\n"
    "    assert abs(candidate(-6) + 3) < 1e-6\n    assert abs(candidate(10) - 5) < 1e-6\n",
    "    if n % 2:\n        raise ValueError(n)\n    return n / 2\n",
)


def test_generation_is_deterministic_and_drops_what_the_oracle_refuses():
    cfg = PlusSettings(seed=3, tests=15, candidates=40, workers=1)
    one = generate_plus_tests({"Toy/0": HALF}, cfg, progress=False)["Toy/0"]
    two = generate_plus_tests({"Toy/0": HALF}, cfg, progress=False)["Toy/0"]
    assert (one.inputs, one.outputs) == (two.inputs, two.outputs)
    assert one.new == 15 and one.seeds == 3
    assert one.dropped["canonical raised"] > 0  # odd numbers make the solution raise
    assert all(from_source(a)[0] % 2 == 0 for a in one.inputs)
    other = generate_plus_tests({"Toy/0": HALF}, PlusSettings(seed=4, tests=15,
                                candidates=40, workers=1), progress=False)["Toy/0"]  # fmt: skip
    assert other.inputs != one.inputs


def test_the_oracle_runs_under_fixed_hash_seeds_and_marks_what_they_change():
    from phi1.errors import Phi1Error
    from phi1.sandbox.plus import run_oracle

    words = [f"w{i}" for i in range(8)]
    prompt = "def show(xs: list) -> str:\n    pass\n"
    jobs = {
        name: (Problem(name, prompt, "show", "", canonical_solution=body), [(words,), ([],)], None)
        for name, body in (("leaks", "    return ' '.join(set(xs))\n"),
                           ("sorts", "    return ' '.join(sorted(xs))\n"))
    }  # fmt: skip
    cfg = PlusSettings(workers=1)
    one, two = run_oracle(jobs, cfg), run_oracle(jobs, cfg)
    assert {k: [a[:2] for a in v] for k, v in one.items()} == {
        k: [a[:2] for a in v] for k, v in two.items()
    }  # the same answers (not times) on every call
    assert one["leaks"][0][0] == "unstable" and one["leaks"][1][:2] == ["ok", "''"]
    assert one["sorts"][0][:2] == ["ok", repr(" ".join(sorted(words)))]
    with pytest.raises(Phi1Error, match="at least two hash seeds"):
        run_oracle(jobs, cfg, hash_seeds=(1,))


def test_stated_contract_and_float_tolerance_and_time_limit():
    cfg = PlusSettings(tests=10, candidates=30, workers=1, min_limit=0.5)
    tests = generate_plus_tests({"Toy/0": HALF}, cfg, contracts={"Toy/0": "n > 0"},
                                progress=False)["Toy/0"]  # fmt: skip
    new = [from_source(a)[0] for a in tests.inputs[tests.seeds :]]
    assert new and all(n > 0 for n in new)
    assert tests.dropped["stated contract"] > 0
    strict = plus_problem(HALF, tests)
    close = "    return n / 2 + 1e-9\n"
    off = "    return n / 2 + 1e-3\n"
    slow = "    import time\n    if n > 10:\n        time.sleep(2)\n    return n / 2\n"
    with Sandbox(1, Limits(timeout=plus_timeout({"t": tests}, 10.0))) as box:
        results = box.run([strict.program(c) for c in (HALF.canonical_solution, close, off)])
        assert [r.status for r in results] == ["passed", "passed", "failed"]
        if any(n > 10 for n in new):
            (late,) = box.run([strict.program(slow)])
            assert "over its 0.5 s limit" in late.detail


def test_without_reference_or_literal_inputs_a_problem_keeps_its_base_tests():
    bare = Problem("Toy/1", HALF.prompt, "half", HALF.test)  # no canonical solution
    rand = Problem("Toy/2", HALF.prompt, "half",
                   "def check(candidate):\n    import random\n"
                   "    assert candidate(2 * random.randint(0, 9)) >= 0\n",
                   HALF.canonical_solution)  # fmt: skip
    tests = generate_plus_tests({"Toy/1": bare, "Toy/2": rand}, PlusSettings(), progress=False)
    assert tests["Toy/1"].kept_base == "no reference solution (the oracle)"
    assert tests["Toy/2"].kept_base == "no literal input in its tests or its prompt"
    assert plus_problem(bare, tests["Toy/1"]) is bare


def test_inferred_contract_narrows_to_what_the_seeds_show():
    contract = Contract([("0110", [1, 2, 3]), ("10", [0, 5, 9])])
    assert contract.admits(("0011", [1, 1, 4])) is None
    assert "alphabet" in contract.admits(("012", [1, 2, 3]))
    assert "sign" in contract.admits(("01", [-1, 2, 3]))
    assert "not sorted" in contract.admits(("01", [3, 2, 1]))
    assert "type" in contract.admits(("01", [1.5, 2, 3]))
    assert "arguments" in contract.admits(("01",))


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
        | st.frozensets(st.integers(), max_size=3).map(set)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(values)
def test_literal_source_round_trips(value):
    text = to_source(value)
    again = from_source(text)
    assert to_source(again) == text
    if not _has_nan(value):
        assert again == value


def _has_nan(value) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    if isinstance(value, (list, tuple, set)):
        return any(_has_nan(v) for v in value)
    return False
