"""The unconventional problem set: well formed, solvable, strong tests, unlike HumanEval."""

import ast
import doctest
from collections import Counter

import pytest

from phi1.eval.graded import WRONG_PATH, load_graded_problems
from phi1.io import read_jsonl
from phi1.sandbox.execute import execute

WRONG = WRONG_PATH


@pytest.fixture(scope="module")
def problems():
    return load_graded_problems()


def test_fifty_problems_in_humaneval_format(problems):
    assert list(problems) == [f"Unconventional/{i}" for i in range(50)]
    entry_points = [g.problem.entry_point for g in problems.values()]
    assert len(set(entry_points)) == 50
    difficulties = Counter(g.difficulty for g in problems.values())
    assert set(difficulties) == {"easy", "medium", "hard"}
    assert min(difficulties.values()) >= 5
    skills = Counter(g.skill for g in problems.values())
    assert "" not in skills and len(skills) >= 8
    assert max(skills.values()) <= 10  # spread out, not one skill with a few garnishes


def test_every_prompt_parses_and_states_its_function(problems):
    for g in problems.values():
        p = g.problem
        tree = ast.parse(p.prompt + "    pass\n", filename=p.task_id)
        func = tree.body[-1]
        assert isinstance(func, ast.FunctionDef) and func.name == p.entry_point, p.task_id
        assert len(ast.get_docstring(func) or "") > 150, p.task_id
        ast.parse(p.prompt + p.canonical_solution, filename=p.task_id)
        test = ast.parse(p.test, filename=p.task_id)
        check = [n for n in test.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
        assert len(check) == 1 and len(check[0].args.args) == 1, p.task_id


def test_docstring_examples_agree_with_the_reference(problems):
    examples = 0
    for g in problems.values():
        p = g.problem
        namespace: dict = {}
        exec(compile(p.prompt + p.canonical_solution, p.task_id, "exec"), namespace)
        runner = doctest.DocTestRunner(verbose=False)
        for test in doctest.DocTestFinder().find(namespace[p.entry_point], globs=namespace):
            examples += len(test.examples)
            runner.run(test, out=lambda _: None)
        assert runner.failures == 0, p.task_id
    assert examples >= 50


def test_references_pass_and_stubs_and_wrong_solutions_fail(problems):
    wrong = list(read_jsonl(WRONG, required=("task_id", "completion", "mistake")))
    assert {w["task_id"] for w in wrong} <= set(problems)
    assert len({w["task_id"] for w in wrong}) >= 45
    ids = list(problems)
    programs = [problems[t].problem.program(problems[t].problem.canonical_solution) for t in ids]
    programs += [problems[t].problem.program("    return None\n") for t in ids]
    programs += [problems[w["task_id"]].problem.program(w["completion"]) for w in wrong]
    results = execute(programs, timeout=10, workers=2)

    reference, stub, mistaken = results[:50], results[50:100], results[100:]
    assert [r.status for r in reference] == ["passed"] * 50, [
        (t, r.detail) for t, r in zip(ids, reference, strict=True) if not r.passed
    ]
    assert not [t for t, r in zip(ids, stub, strict=True) if r.passed]
    passing = [
        (w["task_id"], w["mistake"]) for w, r in zip(wrong, mistaken, strict=True) if r.passed
    ]
    assert not passing
    # they fail on the tests' asserts, not because the fixture itself is broken
    broken = [
        w["task_id"] for w, r in zip(wrong, mistaken, strict=True) if "SyntaxError" in r.detail
    ]
    assert not broken


def test_no_problem_duplicates_humaneval(problems):
    from phi1.data.decontam.run import BenchmarkIndex, load_benchmark, score_text

    index = BenchmarkIndex.build(load_benchmark("humaneval"), 13)
    everyone = range(len(index))
    for g in problems.values():
        p = g.problem
        score = score_text(index, p.prompt + p.canonical_solution, everyone)
        assert score.ngram_doc == {} and score.ngram_text == {}, p.task_id
        closest = max(score.ast.values())
        assert closest < 0.8, (p.task_id, closest)  # the paper's loosest threshold
