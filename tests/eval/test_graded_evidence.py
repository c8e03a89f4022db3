"""What the judge is shown beside the code: the student's outputs and the reference's on
the docstring's and mutated inputs, run in the real sandbox."""

import re

from phi1.eval.evidence import output_evidence, problem_inputs
from phi1.eval.graded import (
    OUTPUTS_HEAD,
    WRONG_PATH,
    GradingSettings,
    JudgeSettings,
    judge_inputs,
    judge_messages,
    load_graded_problems,
)
from phi1.io import read_jsonl
from phi1.sandbox.literals import from_source, to_source

PROBLEMS = load_graded_problems()
IDS = list(PROBLEMS)[:4]
WRONG = [w for w in read_jsonl(WRONG_PATH) if w["task_id"] in IDS]


def run_here(problem, completion, args):
    """The student's answer computed in this process: the parity the sandbox must match."""
    space: dict = {}
    exec(problem.prompt + completion, space)
    try:
        return repr(space[problem.entry_point](*args))
    except Exception as e:  # noqa: BLE001 - the answer is the exception's type
        return f"raises {type(e).__name__}"


def test_inputs_come_from_the_docstring_and_mutation_never_the_tests():
    problem = PROBLEMS[IDS[0]].problem
    inputs = problem_inputs(problem, 12, seed=0)
    assert inputs[:2] == [("abcd",), ("abcde",)]  # the two examples of its docstring
    assert 2 < len(inputs) <= 14
    assert problem_inputs(problem, 12, seed=0) == inputs  # seeded
    tested = {"xyzzy", "hello world"}  # inputs only the problem's tests hold
    assert not tested & {a[0] for a in inputs}


def test_the_reference_agrees_with_itself_and_a_wrong_solution_shows_where_it_differs():
    pairs = {f"{t}#reference": (PROBLEMS[t].problem, PROBLEMS[t].problem.canonical_solution)
             for t in IDS}  # fmt: skip
    for k, w in enumerate(WRONG):
        pairs[f"{w['task_id']}#wrong-{k}"] = (PROBLEMS[w["task_id"]].problem, w["completion"])
    shown = output_evidence(pairs, show=6, mutations=12)
    for t in IDS:
        m = re.match(r"The student's code returns what the reference returns on (\d+) of (\d+)",
                     shown[f"{t}#reference"])  # fmt: skip
        assert m and m.group(1) == m.group(2) and "DIFFERENT" not in shown[f"{t}#reference"]
    differing = [k for k in pairs if "DIFFERENT" in shown[k]]
    assert len(differing) >= len(WRONG) // 2  # most hurried mistakes show on these inputs
    for key in differing:
        problem, completion = pairs[key]
        line = next(x for x in shown[key].splitlines() if x.endswith("DIFFERENT"))
        call, _, rest = line.partition(" -> reference ")
        if "..." in line:
            continue  # a value cut for the judge cannot be compared whole
        args = from_source("(" + call[len(problem.entry_point) + 1 : -1] + ",)")
        student = rest.removesuffix("   DIFFERENT").split(", student ", 1)[1]
        assert student == run_here(problem, completion, args)
        assert to_source(args)  # the call is a literal the judge can read


def test_a_student_program_that_does_not_run_says_so():
    problem = PROBLEMS[IDS[0]].problem
    shown = output_evidence({"x": (problem, "    return (\n")}, show=6, mutations=4)
    assert "did not finish" in shown["x"]


def test_the_judge_reads_the_outputs_after_the_code_and_nothing_without_them():
    problem = PROBLEMS[IDS[0]].problem
    reference = problem.prompt + problem.canonical_solution
    with_outputs = judge_messages("def f(): pass", reference=reference, outputs="on 1 of 2")
    without = judge_messages("def f(): pass", reference=reference)
    text = with_outputs[1]["content"]
    assert OUTPUTS_HEAD in text and text.index("def f()") < text.index("on 1 of 2")
    assert OUTPUTS_HEAD not in without[1]["content"]
    pairs = {"a": (problem, problem.canonical_solution)}
    _, refs, outputs = judge_inputs(pairs, JudgeSettings(outputs=0))
    assert refs == {"a": reference} and outputs == {}
    _, _, outputs = judge_inputs(pairs, JudgeSettings(), GradingSettings().timeout)
    assert "of" in outputs["a"]
