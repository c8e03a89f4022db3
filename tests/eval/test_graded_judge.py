"""``phi1 eval graded``: solutions tested in the sandbox, graded by a judge over real HTTP.

The judge here is the project's loopback OpenAI-compatible server answering from a script:
a real model cannot be made, on demand, to forget its grade, go down mid-run, or grade
deterministically by task. The real SmolLM2 judges once at the end.
"""

import json
import re

import pytest

from phi1.cli import main
from phi1.errors import Phi1Error
from phi1.eval.commands import graded
from phi1.eval.graded import (
    WRONG_PATH,
    GradeProbe,
    GradingSettings,
    JudgeSettings,
    best_cut,
    judge_messages,
    load_graded_problems,
    parse_grade,
    roc_auc,
    run_judge,
    student_code,
)
from phi1.io import read_jsonl, sha256_text
from phi1.llm import LLMSettings, load_llm
from phi1.llm.base import Completion, Request
from phi1.llm.testserver import Faults, serve

WRONG = WRONG_PATH
PROBLEMS = load_graded_problems()
IDS = list(PROBLEMS)[:4]

# What the scripted judge says about each task, turn by turn (None: no grade in the reply).
SCRIPT = {
    IDS[0]: ["Follows every rule of the tribe.\nGrade: 8"],
    IDS[1]: ["Reads the columns well but"] * 3,  # never gives a grade
    IDS[2]: ["The padding rule is missed; ", "Grade: 3"],  # the grade on the follow-up
    IDS[3]: ["Keeps 2 of the 3 rules, shouts 'A.'", "I am not sure.", "**Grade:** 5/10"],
}


def scripted_judge(request):
    rubric = request.messages[1]["content"]
    task_id = next(t for t in IDS if f"def {PROBLEMS[t].problem.entry_point}(" in rubric)
    turn = (len(request.messages) - 2) // 2
    text = SCRIPT[task_id][turn]
    return Completion([text], ["stop"], len(rubric.split()), len(text.split()))


def write_samples(path, wrong_for=()):
    """Reference solutions to all 50, except a known wrong one for the tasks in ``wrong_for``
    (the tests grade the first four: ``grading.limit`` leaves the others out)."""
    wrong = {w["task_id"]: w["completion"] for w in read_jsonl(WRONG)}
    with open(path, "w") as f:
        for t in PROBLEMS:
            completion = wrong[t] if t in wrong_for else PROBLEMS[t].problem.canonical_solution
            f.write(json.dumps({"task_id": t, "completion": completion}) + "\n")
    return path


def grade(tmp_path, url, samples, out="run"):
    return graded(
        samples=str(samples),
        judge=LLMSettings(model=url),
        out=str(tmp_path / out),
        grading=GradingSettings(limit=len(IDS), progress=False),
    )


def test_grades_retries_and_scores(tmp_path):
    samples = write_samples(tmp_path / "samples.jsonl", wrong_for=IDS[2:])
    with serve(scripted_judge) as server:
        summary = grade(tmp_path, server.url, samples)
        asked = server.counts["answered"]

    judge_dir = next((tmp_path / "run").glob("judge-*"))
    rows = {r["task_id"]: r for r in read_jsonl(judge_dir / "grades.jsonl")}
    expected = {t: parse_grade(SCRIPT[t][-1]) for t in IDS}
    assert {t: rows[t]["grade"] for t in IDS} == expected
    assert expected[IDS[1]] is None  # never graded: unparsed, not a made-up number
    assert [rows[t]["judge_turns"] for t in IDS] == [len(SCRIPT[t]) for t in IDS]
    assert asked == sum(len(turns) for turns in SCRIPT.values())
    assert [rows[t]["passed"] for t in IDS] == [True, True, False, False]

    grades = [g for g in expected.values() if g is not None]
    assert summary["problems"] == len(IDS) and summary["problem_set"].startswith("unconventional")
    assert summary["unparsed"] == 1 and summary["graded"] == 3
    assert summary["score"] == pytest.approx(10 * sum(grades) / len(grades), abs=0.01)
    assert summary["pass@1"] == 50.0
    assert json.loads((judge_dir / "summary.json").read_text())["score"] == summary["score"]
    verdicts = list(read_jsonl(tmp_path / "run" / "executions.jsonl"))
    assert sorted(v["task_id"] for v in verdicts) == sorted(IDS)


def test_follow_up_turns_carry_the_earlier_replies():
    messages = judge_messages("def f():\n    return 1\n", ["first try", "second try"])
    assert [m["role"] for m in messages] == ["system", "user"] + ["assistant", "user"] * 2
    assert "def f():" in messages[1]["content"]
    assert [m["content"] for m in messages if m["role"] == "assistant"] == [
        "first try",
        "second try",
    ]


def test_a_rerun_asks_nothing_again(tmp_path):
    samples = write_samples(tmp_path / "samples.jsonl")
    with serve(scripted_judge) as server:
        first = grade(tmp_path, server.url, samples)
        asked = server.counts["answered"]
        second = grade(tmp_path, server.url, samples)
        assert server.counts["answered"] == asked
    assert first == second


def test_a_judge_that_goes_down_resumes_where_it_stopped(tmp_path):
    problems = {t: PROBLEMS[t].problem for t in IDS}
    programs = {t: p.prompt + p.canonical_solution for t, p in problems.items()}
    attempt0 = tmp_path / "judge" / "attempt-0"
    with serve(scripted_judge, Faults(always="500", after=2)) as server:
        with load_llm(server.url, max_retries=1, backoff=0.01) as llm:
            with pytest.raises(Phi1Error, match="re-run to resume"):
                run_judge(llm, programs, tmp_path / "judge", progress=False)
    kept = [r["id"] for p in attempt0.glob("part-*") for r in read_jsonl(p)]
    assert 1 <= len(kept) <= 2

    with serve(scripted_judge) as server:
        with load_llm(server.url) as llm:
            replies = run_judge(llm, programs, tmp_path / "judge", progress=False)
        asked = server.counts["answered"]
    assert {t: replies[t][-1]["grade"] for t in IDS} == {t: parse_grade(SCRIPT[t][-1]) for t in IDS}
    judged = [r["id"] for p in attempt0.glob("part-*") for r in read_jsonl(p)]
    assert sorted(judged) == sorted(IDS)  # each task judged exactly once
    assert asked == sum(len(turns) for turns in SCRIPT.values()) - len(kept)


def test_other_solutions_in_the_same_directory_are_refused(tmp_path):
    with serve(scripted_judge) as server:
        first = grade(tmp_path, server.url, write_samples(tmp_path / "a.jsonl"))
        asked = server.counts["answered"]
        # the same solutions from another path are the same run: nothing is asked again
        (tmp_path / "moved").mkdir()
        moved = write_samples(tmp_path / "moved" / "a.jsonl")
        assert grade(tmp_path, server.url, moved)["score"] == first["score"]
        assert server.counts["answered"] == asked
        with pytest.raises(Phi1Error, match="other solutions"):
            grade(tmp_path, server.url, write_samples(tmp_path / "b.jsonl", wrong_for=IDS[:1]))


def test_bad_input_gives_one_clear_line(tmp_path, capsys):
    bad = tmp_path / "samples.jsonl"
    bad.write_text('{"task_id": "Unconventional/0", "completion": "    pass"}\n'
                   '{"task_id": "HumanEval/0", "completion": "    pass"}\n')  # fmt: skip
    assert main(["eval", "graded", "--samples", str(bad), "--out", str(tmp_path / "o")]) == 1
    assert f"{bad}:2: unknown task_id 'HumanEval/0'" in capsys.readouterr().err
    assert main(["eval", "graded", "--samples", str(bad)]) == 1
    assert "--out DIR is required" in capsys.readouterr().err
    args = ["eval", "graded", "--solver.model", "x", "--samples", str(bad), "--out", str(tmp_path)]
    assert main(args) == 1
    assert "exactly one of --solver.model" in capsys.readouterr().err
    templates = tmp_path / "t.yaml"
    templates.write_text("graded.rubric: 'Grade ${code}'\n")
    args = ["eval", "graded", "--samples", str(bad), "--out", str(tmp_path / "o2")]
    assert main([*args, "--judging.templates", str(templates)]) == 1
    assert "$code" in capsys.readouterr().err


@pytest.mark.llm
@pytest.mark.slow
def test_the_real_smollm2_solves_and_judges_through_llama_cpp(tmp_path):
    summary = graded(
        solver=LLMSettings(model="smollm2-135m-instruct", n_ctx=2048),
        judge=LLMSettings(model="smollm2-135m-instruct", n_ctx=2048),
        out=str(tmp_path / "run"),
        judging=JudgeSettings(max_tokens=48, retries=1),
        grading=GradingSettings(limit=1, max_tokens=96, progress=False),
    )
    (sample,) = read_jsonl(tmp_path / "run" / "samples.jsonl")
    (verdict,) = read_jsonl(tmp_path / "run" / "executions.jsonl")
    assert sample["task_id"] == verdict["task_id"] == IDS[0]
    judge_dir = tmp_path / "run" / "judge-smollm2-135m-instruct"
    (row,) = read_jsonl(judge_dir / "grades.jsonl")
    assert row["status"] == verdict["status"] and row["passed"] == (verdict["status"] == "passed")
    assert summary["pass@1"] == (100.0 if row["passed"] else 0.0)
    replies = [r for p in sorted(judge_dir.glob("attempt-*/part-*")) for r in read_jsonl(p)]
    assert len(replies) == row["judge_turns"] == 1
    assert all(r["grade"] == parse_grade(r["text"]) for r in replies)
    assert row["grade"] == next((r["grade"] for r in replies if r["grade"] is not None), None)
    assert row["evaluation"] == replies[0]["text"]
    # the model's own solution, its docstring left to the problem shown with the reference
    judged = student_code(PROBLEMS[IDS[0]].problem.prompt, sample["completion"])
    assert replies[0]["meta"]["program_sha256"] == sha256_text(judged)
    assert replies[0]["meta"]["outputs_sha256"] != sha256_text("")  # shown its outputs
    assert summary["graded"] == 1 and 0 <= row["grade"] <= 10  # read by probability: always
    assert summary["judge"]["name"] == "smollm2-135m-instruct"
    assert summary["judge"]["method"] == "logprob" and summary["judge"]["reference"]


def test_roc_auc_against_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = __import__("random").Random(0)
    for _ in range(20):
        pos = [rng.choice([1, 2, 2.5, 7, 9, 10]) for _ in range(rng.randint(1, 9))]
        neg = [rng.choice([0, 1, 2, 2.5, 7, 8]) for _ in range(rng.randint(1, 9))]
        expected = roc_auc_score([1] * len(pos) + [0] * len(neg), pos + neg)
        assert roc_auc(pos, neg) == pytest.approx(expected, abs=1e-12)
    assert roc_auc([], [1.0]) is None


def test_best_cut_reaches_youdens_j_of_the_roc_curve():
    from sklearn.metrics import roc_curve

    rng = __import__("random").Random(1)
    for _ in range(30):
        pos = [rng.choice([2, 5.5, 6, 6.5, 7, 9]) for _ in range(rng.randint(1, 9))]
        neg = [rng.choice([0, 2, 5.5, 6, 6.25, 8]) for _ in range(rng.randint(1, 9))]
        fpr, tpr, _ = roc_curve([1] * len(pos) + [0] * len(neg), pos + neg)
        cut, balanced = best_cut(pos, neg)
        assert balanced == pytest.approx((1 + max(tpr - fpr)) / 2, abs=1e-12)
        right = sum(p >= cut for p in pos) / len(pos) + sum(n < cut for n in neg) / len(neg)
        assert right / 2 == pytest.approx(balanced, abs=1e-12)  # the cut is the one it reports
    assert best_cut([9.0, 8.0], [2.0, 3.0]) == (5.5, 1.0)
    assert best_cut([], [1.0]) is None


def test_the_student_code_is_shown_without_the_problems_docstring():
    problem = PROBLEMS[IDS[0]].problem
    code = student_code(problem.prompt, problem.canonical_solution)
    assert code.startswith(problem.prompt.split('"""')[0].rstrip())
    assert '"""' not in code and code.endswith(problem.canonical_solution)
    assert student_code("def f(:\n", "    pass\n") == "def f(:\n    pass\n"  # as it is


def reference_checking_judge(request):
    """Grades 9 when the student's code is the reference's body, else 2: what a judge that
    reads the reference does."""
    blocks = re.findall(r"```python\n(.*?)\n```", request.messages[1]["content"], re.S)
    reference, student = blocks[0], blocks[-1]
    body = student.split("\n", 1)[1] if "\n" in student else student
    same = reference.endswith(body)
    grade = 9 if same else 2
    return Completion([f"Looks at the rules.\nGrade: {grade}"], ["stop"], 10, 5)


def test_calibration_over_http_reports_how_the_judge_separates(tmp_path, capsys):
    grading = GradingSettings(limit=4, calibrate=True, progress=False)
    with serve(reference_checking_judge) as server:
        summary = graded(judge=LLMSettings(model=server.url), out=str(tmp_path / "cal"),
                         grading=grading)  # fmt: skip
    cal = summary["calibration"]
    wrong = [w for w in read_jsonl(WRONG_PATH) if w["task_id"] in IDS]
    assert cal["solutions"] == {"reference": 4, "wrong": len(wrong)}
    assert cal["mean_grade"] == {"reference": 9.0, "wrong": 2.0}
    assert cal["roc_auc"] == 1.0 and cal["roc_auc_passed_vs_failed"] == 1.0
    assert cal["correlation"] == 1.0 and not cal["below_floor"]
    assert cal["cut"] == 5.5 and cal["balanced_accuracy"] == 1.0  # between 2 and 9
    assert summary["judge"]["method"] == "generate"
    out = capsys.readouterr().out
    assert "ROC-AUC reference vs wrong 1.0" in out and "WARNING" not in out
    assert "read as right at grade >= 5.5" in out
    rows = list(
        read_jsonl(next((tmp_path / "cal").glob("judge-*")) / "calibration" / "grades.jsonl")
    )
    assert {r["set"] for r in rows} == {"reference", "wrong"}
    assert all(r["passed"] == (r["set"] == "reference") for r in rows)

    def indifferent(request):
        return Completion(["Grade: 7"], ["stop"], 10, 2)

    with serve(indifferent) as server:
        summary = graded(judge=LLMSettings(model=server.url), out=str(tmp_path / "flat"),
                         grading=grading)  # fmt: skip
    assert summary["calibration"]["roc_auc"] == 0.5 and summary["calibration"]["below_floor"]
    assert "WARNING" in capsys.readouterr().out


def test_judged_right_reads_a_calibrated_run_on_the_scale_of_pass_at_1(tmp_path, capsys):
    """Half the solutions are references, half known-wrong: the judge that tells them apart
    reads half as right, whatever the mean grade says."""
    wrong = {w["task_id"]: w["completion"] for w in read_jsonl(WRONG)}
    samples = tmp_path / "samples.jsonl"
    rows = [{"task_id": t, "completion": PROBLEMS[t].problem.canonical_solution if i % 2
             else wrong[t]} for i, t in enumerate(IDS)]  # fmt: skip
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    grading = GradingSettings(limit=4, calibrate=True, progress=False)
    with serve(reference_checking_judge) as server:
        summary = graded(judge=LLMSettings(model=server.url), samples=str(samples),
                         out=str(tmp_path / "run"), grading=grading)  # fmt: skip
    assert summary["score"] == 55.0 and summary["pass@1"] == 50.0  # grades 2, 9, 2, 9
    assert summary["calibration"]["cut"] == 5.5 and summary["judged_right"] == 50.0
    assert "| 55 | 50 | 50 |" in capsys.readouterr().out  # score, judged right, pass@1


@pytest.mark.llm
def test_the_grade_is_the_expectation_over_the_judges_probabilities(smollm2):
    problem = PROBLEMS[IDS[0]].problem
    reference = problem.prompt + problem.canonical_solution
    probe = GradeProbe(smollm2, "A student wrote this solution to the same problem:")
    wrong = next(w["completion"] for w in read_jsonl(WRONG_PATH) if w["task_id"] == IDS[0])
    texts = []
    for completion in (problem.canonical_solution, wrong, problem.canonical_solution):
        program = student_code(problem.prompt, completion)
        messages = judge_messages(program, reference=reference, logprob=True)
        probs, mass, _ = probe.grade_probs(messages)
        assert sum(probs) == pytest.approx(1.0) and 0 < mass <= 1.0001
        ((_, answer),) = probe.stream([Request(messages=messages)])
        grade = parse_grade(answer.text)
        assert grade == pytest.approx(sum(g * p for g, p in enumerate(probs)), abs=1e-3)
        texts.append(answer.text)
    assert texts[0] == texts[2]  # the kept problem and reference change nothing
