"""CodeExercises end to end: scripted answers over real HTTP, the real sandbox, SmolLM2."""

import json
import re
from collections import Counter

import pytest

from phi1.llm import load_llm
from phi1.llm.base import Completion
from phi1.llm.runner import RunnerSettings, read_rejects
from phi1.llm.testserver import serve
from phi1.synth.exercises import (
    ExerciseSettings,
    doctest_program,
    fix_doctest_continuations,
    generate_exercises,
    renamed_ast_dump,
    split_exercise,
)
from phi1.synth.stats import compute_stats

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
    settings = ExerciseSettings(n=9, timeout=1.0, names_file=str(names))

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
    rejects = read_rejects(tmp_path / "out" / "generated")
    by_reason = {r["reason"]: r for r in rejects}
    assert "2 of 2 examples fail" in by_reason["examples_fail"]["detail"]
    assert "ModuleNotFoundError" in by_reason["solution_error"]["detail"]
    dedup = [json.loads(line) for line in open(tmp_path / "out" / "rejects-dedup.jsonl")]
    assert dedup[0]["id"] == "exercise-0000001"
    assert dedup[0]["detail"] == "duplicate of exercise-0000000"
    stats = compute_stats(tmp_path / "out", embed=False)
    assert stats["records"] == 1 and stats["reject_reasons"] == EXPECTED
    assert stats["coverage"]["function_names"] == 1


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
    settings = ExerciseSettings(n=2, max_tokens=32, temperature=0.0, timeout=2.0)
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
            if (d / "generated" / name).exists()
            for line in (d / "generated" / name).read_text().splitlines()
        ]
        return next(r for r in rows if '"exercise-0000000"' in r)

    assert first(tmp_path / "a") == first(tmp_path / "b")
    requests = smollm2.usage.requests
    settings.n = 2
    again = generate_exercises(smollm2, tmp_path / "a", settings, runner)
    assert smollm2.usage.requests == requests  # nothing regenerated
    assert again["kept"] == a["kept"] and again["reasons"] == a["reasons"]
    reasons = Counter(r["reason"] for r in read_rejects(tmp_path / "a" / "generated"))
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
        settings = ExerciseSettings(n=4, timeout=2.0, names_file=str(names))
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
