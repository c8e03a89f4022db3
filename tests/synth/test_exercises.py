"""CodeExercises end to end: scripted answers over real HTTP, the real sandbox, SmolLM2."""

import json
import re
from collections import Counter

import pytest

from phi1.io import write_jsonl
from phi1.llm import load_llm
from phi1.llm.base import Completion
from phi1.llm.runner import RunnerSettings, read_rejects
from phi1.llm.testserver import serve
from phi1.sandbox.execute import execute
from phi1.synth.checks import doctest_program
from phi1.synth.exercises import (
    ExerciseSettings,
    fix_doctest_continuations,
    generate_exercises,
    renamed_ast_dump,
    split_exercise,
)
from phi1.synth.stats import compute_stats, render_markdown, topic_shown

GOOD = '''Here is the exercise:

```python
from typing import List


def {name}(values: List[int]) -> int:
    """Return the sum of the even numbers in values.

    >>> {name}([1, 2, 3, 4])
    6
    >>> {name}([])
    0
    """
    total = 0
    for v in values:
        if v % 2 == 0:
            total += v
    return total
```
'''
# The same solution with other names: a duplicate by normalized AST.
RENAMED = GOOD.replace("values", "xs").replace("total", "acc").replace(" v ", " x ")
RENAMED = RENAMED.replace("v % 2", "x % 2").replace("+= v", "+= x")
WRONG = GOOD.replace("return total", "return total + 1")
SLOW = GOOD.replace("    return total", "    while True:\n        pass")
NO_DOC = "```python\ndef {name}(x):\n    return x\n```"
NO_EXAMPLES = '```python\ndef {name}(x):\n    """Return x."""\n    return x\n```'
CRASH = GOOD.replace("from typing import List", "from typing import List\nimport no_such_mod")

SCRIPT = [GOOD, RENAMED, WRONG, SLOW, NO_DOC, NO_EXAMPLES, CRASH,
          "I'm sorry, but I cannot help with that.", "def other(x):\n    return x"]  # fmt: skip
EXPECTED = {
    "duplicate": 1,
    "examples_fail": 1,
    "timeout": 1,
    "no_docstring": 1,
    "no_examples": 1,
    "solution_error": 1,
    "refusal": 1,
    "no_code_block": 1,
}


def test_validation_dedup_and_rejects_over_http(tmp_path):
    # A user list of names; the server answers task_k with SCRIPT[k].
    names = tmp_path / "names.txt"
    names.write_text("\n".join(f"task_{k}" for k in range(9)))
    settings = ExerciseSettings(n=9, timeout=1.0, names_file=str(names), check="examples")

    def answer(request):
        user = request.messages[-1]["content"]
        k = int(re.search(r"named `task_(\d+)`", user).group(1))
        name = f"task_{k}"
        return Completion([SCRIPT[k].replace("{name}", name)], ["stop"], 10, 20)

    with serve(answer) as server:
        llm = load_llm(server.url)
        summary = generate_exercises(
            llm, tmp_path / "out", settings, RunnerSettings(progress=False)
        )
        llm.close()
    assert summary["kept"] == 1 and summary["asked"] == 9
    assert summary["reasons"] == EXPECTED
    rows = [json.loads(line) for line in open(tmp_path / "out" / "exercises.jsonl")]
    (record,) = rows
    assert record["id"] == "exercise-0000000"
    assert record["text"] == record["prompt"] + record["completion"]
    assert record["prompt"].startswith("from typing import List\n\n\ndef task_0(values")
    assert record["prompt"].rstrip().endswith('"""')
    assert record["completion"].startswith("    total = 0\n")
    meta = record["meta"]
    assert meta["function_name"] == "task_0" and meta["validation"] == "passed"
    assert meta["examples"] == 2 and meta["difficulty"] in ("easy", "medium", "hard")
    assert meta["topic"] and meta["rng"] == "random.Random('0:exercise:0')"
    rejects = read_rejects(tmp_path / "out" / "statements")
    by_reason = {r["reason"]: r for r in rejects}
    assert "2 of 2 examples fail" in by_reason["examples_fail"]["detail"]
    assert "ModuleNotFoundError" in by_reason["solution_error"]["detail"]
    dedup = [json.loads(line) for line in open(tmp_path / "out" / "rejects-dedup.jsonl")]
    assert dedup[0]["id"] == "exercise-0000001"
    assert dedup[0]["detail"] == "duplicate of exercise-0000000"
    stats = compute_stats(tmp_path / "out", embed=False)
    assert stats["records"] == 1 and stats["reject_reasons"] == EXPECTED
    assert stats["coverage"]["function_names"] == 1
    # the default prompt has no ${topic}: the drawn topic is recorded, not counted as shown
    assert meta["topic_shown"] is False
    assert stats["coverage"]["topics_used"] == 0 and stats["coverage"]["topics_not_shown"] == 1
    assert "- topics: none shown to the model (1 records drew one" in render_markdown(stats)


def test_stats_count_the_topics_a_prompt_showed(tmp_path):
    from phi1.llm.prompts import TEMPLATES, template_hash
    from phi1.synth.exercises import exercise_jobs

    with_topic = {**TEMPLATES, "exercise.function": TEMPLATES["exercise.function"]
                  + "\nIts subject: ${topic}."}  # fmt: skip
    settings = ExerciseSettings(n=3)
    shown = [j.meta["topic_shown"] for j in exercise_jobs(settings, with_topic)]
    assert shown == [True] * 3
    assert [j.meta["topic_shown"] for j in exercise_jobs(settings, dict(TEMPLATES))] == [False] * 3
    # records made before meta.topic_shown: by the hash of their templates (phi1's default
    # prompt: not shown; any other: shown)
    default = template_hash(TEMPLATES, "exercise.system", "exercise.function")
    metas = [{"topic": "recursion", "template_hash": default},
             {"topic": "graphs", "template_hash": "0123456789ab"},
             {"topic": "sorting", "template_hash": default, "topic_shown": True}]  # fmt: skip
    out = tmp_path / "old"
    out.mkdir()
    body = "def f():\n    pass\n"
    rows = [{"id": f"exercise-{i:07d}", "text": body, "meta": m} for i, m in enumerate(metas)]
    write_jsonl(out / "exercises.jsonl", rows)
    coverage = compute_stats(out, embed=False)["coverage"]
    assert coverage["most_common_topics"] == {"graphs": 1, "sorting": 1}
    # a textbook's default prompt shows its topic (as ${leaf})
    textbook = template_hash(TEMPLATES, "textbook.system", "textbook.section")
    assert topic_shown({"topic": "recursion", "template_hash": textbook})
    assert coverage["topics_not_shown"] == 1
    assert "; 1 more records drew a topic their prompt did not show" in render_markdown(
        compute_stats(out, embed=False)
    )


def test_split_and_renamed_ast_dump():
    split = split_exercise(GOOD.replace("{name}", "f"), "f")
    assert split.examples == 2
    assert renamed_ast_dump(split.prompt + split.completion) == renamed_ast_dump(
        RENAMED.split("```python\n")[1].split("```")[0].replace("{name}", "g")
    )
    assert renamed_ast_dump("def f(a):\n    return a + 1\n") != renamed_ast_dump(
        "def f(a):\n    return a - 1\n"
    )
    assert split_exercise(GOOD.replace("{name}", "f"), "g") == "wrong_function_name: defines f"
    assert split_exercise("```python\ndef f(:\n```", "f").startswith("code_does_not_parse")
    stub = '```python\ndef f(x):\n    """Doc.\n\n    >>> f(1)\n    1\n    """\n    pass\n```'
    assert split_exercise(stub, "f") == "empty_solution"


UNPREFIXED = '''```python
def flatten(board):
    """Rows of ``board`` joined into one list.

    >>> flatten([
            ["X", "O"],
            ["O", "X"],
        ])
    ['X', 'O', 'O', 'X']
    >>> flatten([])
    []
    >>> for row in [[1]]:
    ...     print(flatten([row]))
    [1]
    """
    return [cell for row in board for cell in row]
```'''


def test_multiline_examples_without_prefix_are_repaired_and_run():
    split = split_exercise(UNPREFIXED, "flatten")
    assert split.examples == 3 and split.repaired
    block = (
        '    >>> flatten([\n    ...         ["X", "O"],\n    ...         ["O", "X"],\n'
        "    ...     ])\n"
    )
    assert block in split.prompt
    text = split.prompt + split.completion
    assert fix_doctest_continuations(text) == text  # already whole: nothing more to do
    ns: dict = {}
    exec(compile(doctest_program(text, "flatten"), "<exercise>", "exec"), ns)  # raises if one fails
    wrong = text.replace("['X', 'O', 'O', 'X']", "['X']")
    with pytest.raises(AssertionError, match="1 of 3 examples fail"):
        exec(compile(doctest_program(wrong, "flatten"), "<exercise>", "exec"), {})
    plain = GOOD.replace("{name}", "f")
    assert fix_doctest_continuations(plain) == plain
    assert not split_exercise(plain, "f").repaired


@pytest.mark.llm
def test_real_model_run_is_deterministic_and_resumes(tmp_path, smollm2):
    settings = ExerciseSettings(n=2, max_tokens=32, temperature=0.0, timeout=2.0, check="lenient")
    runner = RunnerSettings(progress=False)
    a = generate_exercises(smollm2, tmp_path / "a", settings, runner)
    assert a["kept"] + a["rejected"] == 2
    # A smaller run in another directory makes the same first job, byte for byte.
    settings.n = 1
    generate_exercises(smollm2, tmp_path / "b", settings, runner)

    def first(d):
        rows = [
            line
            for name in ("part-000-00000.jsonl", "rejects-000-00000.jsonl")
            if (d / "statements" / name).exists()
            for line in (d / "statements" / name).read_text().splitlines()
        ]
        return next(r for r in rows if '"exercise-0000000"' in r)

    assert first(tmp_path / "a") == first(tmp_path / "b")
    requests = smollm2.usage.requests
    settings.n = 2
    again = generate_exercises(smollm2, tmp_path / "a", settings, runner)
    assert smollm2.usage.requests == requests  # nothing regenerated
    assert again["kept"] == a["kept"] and again["reasons"] == a["reasons"]
    reasons = Counter(r["reason"] for r in read_rejects(tmp_path / "a" / "statements"))
    assert sum(reasons.values()) == a["rejected"]


def test_whole_functions_are_kept_from_cut_off_replies(tmp_path):
    # Small models go on after the function (tests, prints) until the token limit, or end at
    # the stop string before the closing fence; a function cut off inside is not kept.
    good = GOOD.split("```python\n")[1].split("```")[0]
    other = good.split("    total = 0")[0] + "    return sum(v for v in values if v % 2 == 0)\n"
    replies = {
        "task_0": ("```python\n" + good + "\n# Tests\nprint(task_0([2]))\nprint(task_0(", "length"),
        "task_1": ("```python\n" + other, "stop"),
        "task_2": ("```python\n" + good.split("    for v")[0] + "    for v in val", "length"),
        "task_3": ("```python\n" + good.split("    return total")[0], "length"),
    }
    names = tmp_path / "names.txt"
    names.write_text("\n".join(replies))
    stops = set()

    def answer(request):
        stops.update(request.params.stop)
        name = re.search(r"named `(task_\d+)`", request.messages[-1]["content"]).group(1)
        text, reason = replies[name]
        return Completion([text.replace("{name}", name)], [reason], 10, 20)

    with serve(answer) as server:
        llm = load_llm(server.url)
        settings = ExerciseSettings(n=4, timeout=2.0, names_file=str(names), check="examples")
        summary = generate_exercises(
            llm, tmp_path / "out", settings, RunnerSettings(progress=False)
        )
        llm.close()
    assert stops == {"\n```\n"}
    assert summary["reasons"] == {"truncated": 2} and summary["kept"] == 2
    rows = [json.loads(line) for line in open(tmp_path / "out" / "exercises.jsonl")]
    assert [r["meta"]["salvaged"] for r in rows] == ["length", "stop"]
    assert [r["completion"].splitlines()[-1] for r in rows] == [
        "    return total",
        "    return sum(v for v in values if v % 2 == 0)",
    ]
    assert all("print" not in r["text"] for r in rows)


# --- verified by agreement -----------------------------------------------------------------

RIGHT = [
    "    return sum(v for v in values if v % 2 == 0)\n",
    "    return sum(filter(lambda v: v % 2 == 0, values))\n",
    "    out = 0\n    for v in values:\n        out += v if v % 2 == 0 else 0\n    return out\n",
    "    return sum([v for v in values if not v % 2])\n",
]
WRONG_BODIES = [
    "    return sum(v for v in values if v % 2 == 1)\n",
    "    return sum(values)\n",
    "    return max(values, default=0)\n",
    "    return len(values)\n",
    "    return min(values, default=0)\n",
]
LYING = GOOD.replace("    6\n", "    7\n").replace("return total", "return total + 1")
BODILESS = GOOD.split("    total = 0")[0] + "```"
# what each task's teacher writes, and the candidate bodies sampled for it
AGREEMENT = {
    "task_0": (GOOD, RIGHT[:3] + WRONG_BODIES[:1]),  # own body + 3 agree: kept, group 4 of 5
    "task_1": (LYING, RIGHT),  # its own body and examples are wrong; the 4 sampled agree
    "task_2": (GOOD.replace("total += v", "total += 2 * v"), WRONG_BODIES[1:]),  # all differ
    "task_3": (BODILESS, RIGHT + WRONG_BODIES[:1]),  # no body of its own: 5 sampled
    "task_4": (NO_DOC, []),
}


def agreement_answer(request):
    user = request.messages[-1]["content"]
    name = re.search(r"`(task_\d+)`", user).group(1)
    statement, bodies = AGREEMENT[name]
    if "def " in request.prefill:  # the candidates: the reply goes on after the exercise
        assert request.prefill.endswith('"""\n') and f"def {name}(" in request.prefill
        texts = [b + "```\nThis sums the even numbers." for b in bodies[: request.params.n]]
        return Completion(texts, ["stop"] * len(texts), 10, 20)
    if request.prefill:  # the teacher's test inputs: the reply goes on after "name("
        assert request.prefill == f"```python\n{name}("
        calls = f"[1, 2, 3, 4])\n{name}([])\n{name}([2, 2, 7])\n{name}([5])\n```"
        return Completion([calls], ["stop"], 10, 20)
    return Completion([statement.replace("{name}", name)], ["stop"], 10, 20)


def test_agreement_keeps_what_candidates_agree_on_over_http(tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("\n".join(AGREEMENT))
    settings = ExerciseSettings(n=5, names_file=str(names), candidates=5, agree=3, mutations=8)
    with serve(agreement_answer) as server:
        llm = load_llm(server.url)
        summary = generate_exercises(llm, tmp_path, settings, RunnerSettings(progress=False))
        asked = server.counts["answered"]
        again = generate_exercises(llm, tmp_path, settings, RunnerSettings(progress=False))
        assert server.counts["answered"] == asked  # a re-run asks nothing again
        llm.close()
    assert asked == 5 + 4 * 2  # statements, then candidates and inputs of the 4 that parse
    assert summary["reasons"] == {"no_docstring": 1, "no_agreement": 1, "duplicate": 1}
    assert again["kept"] == summary["kept"] == 2
    # the group sizes of the exercises kept once task_3, the duplicate, is gone
    assert summary["agreement"]["kept_group_sizes"] == {"4": 2}
    rows = {
        r["meta"]["function_name"]: r for r in map(json.loads, open(tmp_path / "exercises.jsonl"))
    }
    assert set(rows) == {"task_0", "task_1"}  # task_3 repeats task_0's solution: a duplicate
    first, lying = rows["task_0"], rows["task_1"]
    agreement = first["meta"]["agreement"]
    assert agreement["k"] == 5 and agreement["m"] == 3 and agreement["groups"] == [4, 1]
    assert agreement["chosen"] == 0 and agreement["examples_agree"] == "2 of 2"
    assert agreement["inputs"]["docstring"] == 2 and agreement["inputs"]["teacher"] == 2
    assert agreement["inputs"]["mutated"] > 0 and agreement["tests"]
    assert first["completion"].startswith("    total = 0\n")  # the teacher's own body
    # the teacher's wrong body and example lose to the four that agree; the examples are
    # written again from the agreed outputs
    assert lying["meta"]["agreement"]["groups"] == [4, 1]
    assert lying["meta"]["agreement"]["examples_agree"] == "1 of 2"  # its [] -> 0 was right
    assert lying["completion"] == RIGHT[0] and "    7\n" not in lying["prompt"]
    assert ">>> task_1([1, 2, 3, 4])\n    6\n" in lying["prompt"]
    for row in rows.values():
        (verdict,) = execute([doctest_program(row["text"], row["meta"]["function_name"])])
        assert verdict.passed, verdict.detail
    checked = [json.loads(line) for line in open(tmp_path / "rejects-check.jsonl")]
    assert [(c["id"], c["detail"]) for c in checked] == [
        ("exercise-0000002", "largest group 1 of 5")
    ]


def test_a_solver_writes_the_candidates_and_inputs_the_teacher_does_not(tmp_path):
    # Two real servers: the teacher is asked only for exercises, the solver only for the
    # candidate bodies and the test inputs; the verdicts are those of one model doing all.
    names = tmp_path / "names.txt"
    names.write_text("\n".join(AGREEMENT))
    settings = ExerciseSettings(n=5, names_file=str(names), candidates=5, agree=3, mutations=8)

    def teacher_answer(request):
        assert not request.prefill, "the teacher was asked for a candidate or inputs"
        return agreement_answer(request)

    def solver_answer(request):
        assert request.prefill, "the solver was asked to write an exercise"
        return agreement_answer(request)

    with serve(teacher_answer) as teacher_server, serve(solver_answer) as solver_server:
        teacher, solver = load_llm(teacher_server.url), load_llm(solver_server.url)
        summary = generate_exercises(
            teacher, tmp_path, settings, RunnerSettings(progress=False), solver=solver
        )
        teacher.close()
        solver.close()
        assert teacher_server.counts["answered"] == 5
        assert solver_server.counts["answered"] == 4 * 2
    assert summary["reasons"] == {"no_docstring": 1, "no_agreement": 1, "duplicate": 1}
    assert summary["kept"] == 2 and set(summary["models"]) == {"teacher", "solver"}
    rows = [json.loads(line) for line in open(tmp_path / "exercises.jsonl")]
    assert all(r["meta"]["solver"] == summary["models"]["solver"] for r in rows)
    assert [r["meta"]["agreement"]["groups"] for r in rows] == [[4, 1], [4, 1]]


@pytest.mark.parametrize("sees", [False, True])
def test_the_candidates_read_the_exercise_without_its_examples_unless_asked(tmp_path, sees):
    # The candidates are asked with the teacher's examples taken out (the prose alone must
    # fix the behaviour); the teacher's inputs are asked with them; the kept exercise gets
    # its examples back, written from the agreed outputs. solver_sees_examples shows them.
    names = tmp_path / "names.txt"
    names.write_text("task_0\ntask_1\n")
    settings = ExerciseSettings(n=2, names_file=str(names), agree=3, mutations=8,
                                solver_sees_examples=sees)  # fmt: skip
    shown = {"candidates": [], "inputs": []}

    def answer(request):
        if request.prefill:
            kind = "candidates" if "def " in request.prefill else "inputs"
            shown[kind].append(">>>" in request.prefill + request.messages[-1]["content"])
        return agreement_answer(request)

    with serve(answer) as server:
        llm = load_llm(server.url)
        summary = generate_exercises(llm, tmp_path, settings, RunnerSettings(progress=False))
        llm.close()
    assert shown == {"candidates": [sees, sees], "inputs": [True, True]}
    assert summary["kept"] == 2
    for r in map(json.loads, open(tmp_path / "exercises.jsonl")):
        name = r["meta"]["function_name"]
        assert f">>> {name}([1, 2, 3, 4])\n    6\n" in r["prompt"]
        (verdict,) = execute([doctest_program(r["text"], name)])
        assert verdict.passed, verdict.detail
    samples = json.load(open(tmp_path / "samples" / "manifest.json"))["fingerprint"]["settings"]
    # the setting is in the samples' key only when off: runs made before it re-run
    assert samples.get("solver_sees_examples", "absent") == (False if not sees else "absent")


def test_the_default_teacher_and_solver_are_one_model_and_only_the_agreement_check_asks_it(
    monkeypatch,
):
    from phi1.synth import commands

    passed = {}

    def generate(kind, gen, out, llm, *args, **others):
        passed.update(others, llm=llm)

    monkeypatch.setattr(commands, "_generate", generate)
    commands.exercises(out="unused")
    assert passed["llm"].model == passed["solver"].model == "qwen2.5-coder-1.5b-instruct"
    assert passed["llm"] == passed["solver"]  # equal settings: _generate loads one model
    for check in ("examples", "lenient"):  # these ask no candidate: nothing to load
        commands.exercises(out="unused", exercise=ExerciseSettings(check=check))
        assert passed["solver"] is None


def test_a_solver_with_the_teachers_settings_is_the_loaded_teacher(tmp_path, monkeypatch, capsys):
    # phi1 synth exercises with --llm and --solver naming one real server: one load, and the
    # one model is asked for the exercises, the candidates and the inputs
    from phi1.llm import LLMSettings
    from phi1.synth import commands

    names = tmp_path / "names.txt"
    names.write_text("\n".join(AGREEMENT))
    loads = []
    real_load = LLMSettings.load
    monkeypatch.setattr(LLMSettings, "load", lambda self: loads.append(self) or real_load(self))
    settings = ExerciseSettings(n=5, names_file=str(names), candidates=5, agree=3, mutations=8)
    with serve(agreement_answer) as server:
        spec = LLMSettings(model=server.url)
        solver = LLMSettings(model=server.url)  # equal to the teacher's, not the same object
        runner = RunnerSettings(progress=False)
        commands.exercises(str(tmp_path / "out"), spec, solver, settings, runner)
        assert server.counts["answered"] == 5 + 4 * 2
    assert loads == [spec]
    assert "exercises: 2 kept of 5 asked" in capsys.readouterr().out
