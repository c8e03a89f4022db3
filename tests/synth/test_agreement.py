"""Exercises verified by agreement: candidates, inputs, groups and rewritten examples, with
real sandboxed runs (no model: the candidates are written here, right and wrong on purpose).
"""

import ast
import doctest

import pytest

from phi1.errors import Phi1Error
from phi1.sandbox.execute import execute
from phi1.synth import agreement as ag
from phi1.synth.checks import doctest_program
from phi1.synth.exercises import ExerciseSettings

PROMPT = '''def add_pairs(xs: list[int]) -> list[int]:
    """Sum each adjacent pair of the list.

    Examples:
    >>> add_pairs([1, 2, 3])
    [3, 5]
    >>> add_pairs([])
    [7]
    """
'''
RIGHT = "    return [a + b for a, b in zip(xs, xs[1:])]\n"
RIGHT_TOO = (
    "    out = []\n    for i in range(len(xs) - 1):\n        out.append(xs[i] + xs[i + 1])\n"
    "    return out\n"
)
OFF_BY_ONE = "    return [xs[i] + xs[i + 1] for i in range(len(xs))]\n"
DOUBLES = "    return [x * 2 for x in xs]\n"


def test_a_candidate_body_is_cut_where_the_function_ends():
    body = ag.candidate_body(RIGHT + "```\nThis sums pairs.", PROMPT, "add_pairs")
    assert body == RIGHT
    tail = RIGHT_TOO + "print(add_pairs([1, 2]))\n"
    assert ag.candidate_body(tail, PROMPT, "add_pairs") == RIGHT_TOO
    # a backend that answered afresh: the body of the function it wrote
    fresh = f'```python\ndef add_pairs(xs):\n    """Doc."""\n{DOUBLES}```\nDone.'
    assert ag.candidate_body(fresh, PROMPT, "add_pairs") == DOUBLES
    assert ag.candidate_body("    return (\n", PROMPT, "add_pairs") is None
    assert ag.candidate_body("", PROMPT, "add_pairs") is None


def test_the_teachers_calls_are_read_one_a_line():
    text = "add_pairs([4, 5])\n>>> add_pairs([1])\nfoo(3)\nadd_pairs(x\nprint(add_pairs([2, 2]))\n"
    assert ag.teacher_calls(text + "```\nadd_pairs([9])", "add_pairs") == (
        "add_pairs([4, 5])\nadd_pairs([1])\nadd_pairs([2, 2])"
    )


def test_inputs_come_from_the_docstring_the_teacher_and_mutation():
    calls = "add_pairs([4, 5])\nadd_pairs([1])"
    inputs = ag.exercise_inputs("ex", PROMPT, "add_pairs", calls, mutations=6, seed=0)
    assert inputs.args[:4] == [([1, 2, 3],), ([],), ([4, 5],), ([1],)]
    assert inputs.source[:4] == ["docstring", "docstring", "teacher", "teacher"]
    assert inputs.counts()["mutated"] == len(inputs.args) - 4 > 0
    assert all(isinstance(a[0], list) for a in inputs.args)  # the type is kept
    again = ag.exercise_inputs("ex", PROMPT, "add_pairs", calls, mutations=6, seed=0)
    assert again.args == inputs.args  # seeded


def test_a_teacher_input_of_another_shape_than_the_docstrings_is_left_out():
    # the docstring passes lists: a tuple, a string or two arguments are outside the task
    calls = "add_pairs((4, 5))\nadd_pairs('ab')\nadd_pairs([4], [5])\nadd_pairs([7, 8])"
    inputs = ag.exercise_inputs("ex", PROMPT, "add_pairs", calls, mutations=0, seed=0)
    assert inputs.args == [([1, 2, 3],), ([],), ([7, 8],)]
    bare = PROMPT.replace(">>> add_pairs", ">>> len")  # no example: the teacher's all count
    inputs = ag.exercise_inputs("ex", bare, "add_pairs", calls, mutations=0, seed=0)
    # (two arguments for one parameter is no input at all)
    assert inputs.counts() == {"docstring": 0, "teacher": 3, "mutated": 0}


def run(bodies, mutations=6):
    inputs = ag.exercise_inputs("ex", PROMPT, "add_pairs", "add_pairs([4, 5])", mutations=mutations,
                                seed=0)  # fmt: skip
    answers = ag.run_candidates({"e": (PROMPT, "add_pairs", bodies, inputs)}, 1.0)["e"]
    return inputs, answers


def test_the_largest_agreeing_group_wins_and_rewrites_the_examples():
    inputs, answers = run([OFF_BY_ONE, RIGHT, DOUBLES, RIGHT_TOO])
    written = ag.teacher_examples(PROMPT, "add_pairs")
    assert written == {"([1, 2, 3],)": ("list", (3, 5)), "([],)": ("list", (7,))}
    choice = ag.choose(answers, inputs, written, 2, 3)
    assert choice.kept and choice.group == [1, 3]
    assert choice.groups == [2, 1, 1] and choice.examples_agree == 1
    # off by one raises on every non-empty list: those inputs stay in the domain (3 return)
    assert len(choice.domain) == len(inputs.args)
    examples = ag.pick_examples(inputs, answers[1], choice.domain, 3)
    assert ("[1, 2, 3]", "[3, 5]") in examples and ("[]", "[]") in examples
    prompt = ag.rewrite_examples(PROMPT, "add_pairs", examples)
    assert "[7]" not in prompt  # the teacher's wrong output is gone
    docstring = ast.get_docstring(ast.parse(prompt).body[0])
    parsed = doctest.DocTestParser().get_examples(docstring)
    assert [(e.source.strip(), e.want.strip()) for e in parsed] == [
        (f"add_pairs({a})", w) for a, w in examples
    ]
    (verdict,) = execute([doctest_program(prompt + RIGHT, "add_pairs")])
    assert verdict.passed, verdict.detail


def test_examples_needed_asks_the_group_to_give_the_teachers_own_outputs():
    # the teacher wrote [1, 2, 3] -> [3, 5] (right) and [] -> [7] (wrong): the agreed group
    # gives its output on 1 of its 2 examples
    inputs, answers = run([OFF_BY_ONE, RIGHT, DOUBLES, RIGHT_TOO])
    written = ag.teacher_examples(PROMPT, "add_pairs")
    assert ag.choose(answers, inputs, written, 2, 3, examples_needed=0.5).kept
    strict = ag.choose(answers, inputs, written, 2, 3, examples_needed=1.0)
    assert not strict.kept and strict.reason == "examples_disagree"
    assert strict.detail == "the agreed group gives the docstring's output on 1 of 2 examples"
    fixed = {**written, "([],)": ("list", ())}  # [] -> [] as the prose says: all agree
    assert ag.choose(answers, inputs, fixed, 2, 3, examples_needed=1.0).kept
    bare = ag.choose(answers, inputs, {}, 2, 3, examples_needed=0.5)
    assert not bare.kept and bare.reason == "no_examples_to_check"


def test_too_small_a_group_or_a_constant_is_rejected():
    inputs, answers = run([RIGHT, OFF_BY_ONE, DOUBLES])
    choice = ag.choose(answers, inputs, {}, 2, 3)
    assert not choice.kept and choice.reason == "no_agreement"
    assert choice.detail == "largest group 1 of 3"
    inputs, answers = run(["    return 0\n", "    return 0\n"])
    choice = ag.choose(answers, inputs, {}, 2, 3)
    assert not choice.kept and choice.reason == "constant_output"


def test_inputs_few_candidates_accept_are_left_out_of_the_agreement():
    picky = "    if len(xs) > 3:\n        raise ValueError('long')\n" + RIGHT
    sloppy = "    if len(xs) > 3:\n        return None\n" + RIGHT
    inputs, answers = run([picky, sloppy, RIGHT], mutations=12)
    long = [j for j, a in enumerate(inputs.args) if len(a[0]) > 3]
    assert long  # mutation made some
    choice = ag.choose(answers, inputs, {}, 3, 3)
    # on long lists only two of three return: not in the domain, so all three agree
    assert choice.kept and sorted(choice.group) == [0, 1, 2]
    assert not set(long) & set(choice.domain)


def test_a_candidate_that_answers_differently_each_run_agrees_with_nothing():
    unstable = "    import random\n    return [random.random()]\n"
    inputs, answers = run([unstable, unstable, RIGHT, RIGHT_TOO])
    assert answers[0][0][0] == answers[1][0][0] == "unstable"
    choice = ag.choose(answers, inputs, {}, 2, 3)
    assert choice.kept and choice.group == [2, 3] and choice.groups == [2, 1, 1]


def test_a_docstring_without_examples_gets_them():
    prompt = 'def twice(x: int) -> int:\n    """Return x doubled."""\n'
    new = ag.rewrite_examples(prompt, "twice", [("3", "6"), ("0", "0")])
    assert new.splitlines()[1:] == [
        '    """',
        "    Return x doubled.",
        "",
        "    Examples:",
        "    >>> twice(3)",
        "    6",
        "    >>> twice(0)",
        "    0",
        '    """',
    ]
    assert ag.rewrite_examples('def f(x): """One line."""\n', "f", [("1", "1")]) is None


def test_an_example_that_returns_none_is_printed_so_doctest_sees_it():
    prompt = 'def first(xs: list) -> object:\n    """The first item, or None."""\n'
    body = "    return xs[0] if xs else None\n"
    new = ag.rewrite_examples(prompt, "first", [("[]", "None"), ("[4]", "4")])
    assert ">>> print(first([]))\n    None\n" in new and ">>> first([4])\n    4\n" in new
    (verdict,) = execute([doctest_program(new + body, "first")])
    assert verdict.passed, verdict.detail
    (verdict,) = execute([doctest_program(new + "    return 4\n", "first")])
    assert not verdict.passed  # the printed None is checked: a body returning 4 fails it


def test_candidates_that_share_broken_code_agree_on_nothing():
    # three candidates call a helper nobody defined: they all raise NameError on every
    # non-empty input, which is no behaviour the docstring asks for
    broken = "    if not xs:\n        return []\n    return helper(xs)\n"
    inputs, answers = run([broken, broken, broken, RIGHT, RIGHT_TOO])
    choice = ag.choose(answers, inputs, {}, 2, 3)
    assert choice.kept and choice.group == [3, 4]
    assert choice.groups == [2, 1, 1, 1]


def test_bad_agreement_settings_name_their_field():
    with pytest.raises(Phi1Error, match=r"exercise.examples_needed must be between 0 and 1"):
        ExerciseSettings(examples_needed=1.5)
    with pytest.raises(Phi1Error, match=r"exercise.agree must be between 1 and"):
        ExerciseSettings(agree=6)


def _pair_only_the_recheck_tells_apart() -> tuple[str, str]:
    """Two strings whose set prints in one order under the candidates' four hash seeds,
    for every input below, and in another under one of the re-check's: the case the runs
    miss (with two strings, one time in eight)."""
    from phi1.synth.verify import RECHECK_HASH_SEEDS

    pairs = [(f"w{i}", f"v{i}") for i in range(120)]
    forms = [[[a, b], [b, a, b], [a, a, b]] for a, b in pairs]  # the inputs of the test
    program = "\n".join(f"print('|'.join(' '.join(set(f)) for f in {f!r}))" for f in forms)
    orders = {}
    for seed in (*ag.HASH_SEEDS, *RECHECK_HASH_SEEDS):
        (result,) = execute([program], hash_seed=seed, max_output=1 << 20)
        orders[seed] = result.stdout.splitlines()
    for i, pair in enumerate(pairs):
        first = orders[ag.HASH_SEEDS[0]][i]
        if all(orders[s][i] == first for s in ag.HASH_SEEDS) and any(
            orders[s][i] != first for s in RECHECK_HASH_SEEDS
        ):
            return pair
    raise AssertionError("no such pair among 120: the seeds are not independent")


def _distinct_words(body: str, calls: str, settings: ExerciseSettings):
    from phi1.synth import verify

    prompt = (
        'def distinct_words(words: list) -> str:\n    """The distinct words, one space apart."""\n'
    )
    item = {"prompt": prompt, "own": body, "name": "distinct_words", "id": "ex",
            "solutions": [body, body], "inputs": calls}  # fmt: skip
    ((_, choice, _),) = verify._agreement_batch([item], settings)
    return choice


LEAKS = "    return ' '.join(set(words))\n"
SORTS = "    return ' '.join(sorted(set(words)))\n"


def test_candidates_that_list_a_set_in_hash_order_agree_with_nothing():
    calls = "\n".join(f"distinct_words({[f'w{i}' for i in range(k)]!r})" for k in range(1, 6))
    settings = ExerciseSettings(candidates=3, agree=2, mutations=0)
    choice = _distinct_words(LEAKS, calls, settings)
    assert not choice.kept and choice.reason == "no_agreement"
    assert choice.groups == [1, 1, 1]  # three copies, yet no two agree: unstable answers
    assert _distinct_words(SORTS, calls, settings).kept


def test_a_solution_that_follows_hash_order_fails_its_rewritten_examples_every_time():
    a, b = _pair_only_the_recheck_tells_apart()
    calls = f"distinct_words([{a!r}, {b!r}])\ndistinct_words([{b!r}, {a!r}, {b!r}])\n" + (
        f"distinct_words([{a!r}, {a!r}, {b!r}])"
    )
    settings = ExerciseSettings(candidates=3, agree=2, mutations=0)
    for _ in range(2):  # the same verdict on every check
        choice = _distinct_words(LEAKS, calls, settings)
        assert choice.groups == [3]  # the four runs agree: it looks stable
        assert not choice.kept and choice.reason == "rewritten_examples_fail"
        assert choice.detail.startswith("PYTHONHASHSEED=")
    assert _distinct_words(SORTS, calls, settings).kept
