"""Reading a grade out of a judge's messy reply: never one the text does not contain."""

import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phi1.eval.graded import parse_grade, pearson, summarize

NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")

# Pieces judges really write, shuffled into any order with random junk between them.
FRAGMENTS = [
    "Grade", "grade", "GRADE", "Score", "rating", "mark", ":", "**", "/", "out of", " is ",
    " of ", "=", "-", "10", "7", "3.5", "11", "100", "-2", "0", ".", "\n", " ", "[", "]",
    "\u2013", "Final grade:", "/10", "out of 10", "The code", "def f(x):", "return x + 1",
]  # fmt: skip
JUNK = string.ascii_letters + string.digits + string.punctuation + " \n\t\u00e9\u0663"
messy_text = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(alphabet=JUNK, max_size=6)), max_size=30
).map("".join)
# Prose without ASCII digits: whatever it says, it cannot state a grade.
no_digits = st.text(
    alphabet=st.characters(blacklist_characters=string.digits, blacklist_categories=("Cs",)),
    max_size=200,
)
STYLES = [
    "Grade: {g}",
    "Grade: {g}/10",
    "**Grade:** {g}",
    "**Grade: {g}/10**",
    "Final grade = [{g}]",
    "GRADE - {g} out of 10",
    "grade of {g}",
    "Score: {g}/10",
    "I would rate this {g} out of 10.",
    "{g}/10",
    "{g}",
    "**{g}**",
]


@settings(max_examples=300, deadline=None)
@given(messy_text)
def test_never_a_grade_the_text_does_not_contain(text):
    grade = parse_grade(text)
    if grade is not None:
        assert 0 <= grade <= 10
        assert any(float(n) == grade for n in NUMBER.findall(text)), (text, grade)


@settings(max_examples=200, deadline=None)
@given(no_digits)
def test_no_number_no_grade(text):
    assert parse_grade(text) is None


@settings(max_examples=200, deadline=None)
@given(
    grade=st.one_of(st.integers(0, 10), st.sampled_from([0.5, 2.5, 7.5, 9.5])),
    style=st.sampled_from(STYLES),
    before=no_digits,
    after=no_digits,
    distractors=st.lists(st.integers(0, 10_000), max_size=5),
)
def test_the_stated_grade_is_found(grade, style, before, after, distractors):
    # numbers in the evaluation before the grade ("a list of 3 items") do not matter
    evaluation = before + "".join(f" uses {n} items." for n in distractors)
    text = f"{evaluation}\n{style.format(g=grade)}\n{after}"
    assert parse_grade(text) == grade


@settings(max_examples=200, deadline=None)
@given(value=st.integers(11, 99), den=st.integers(2, 100).filter(lambda d: d != 10))
def test_out_of_range_and_other_scales_are_not_grades(value, den):
    assert parse_grade(f"Grade: {value}") is None
    assert parse_grade(f"Grade: {value}/10") is None
    assert parse_grade(f"Score: {den // 2}/{den}") is None
    assert parse_grade(f"Grade: -{value % 10}") is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The code follows every rule.\n\nGrade: 9", 9),
        ("It ignores the '!' rule and shouts single letters.\n**Grade:** 4/10", 4),
        ("Grade: 3 at first sight, but on reflection\nGrade: 6", 6),
        ("Handles 2 of the 3 cases; score 3/5.\nI'd give it 7 out of 10.", 7),
        ("The solution loops 100 times. Grade: ten", None),
        ("Grade: <number>", None),
        ("Grade: 10/10 - flawless.", 10),
        ("grade: 1/100", None),
        ("Score: 7.5/10", 7.5),
        ("Python 3.11 is used.\n8", 8),
        ("", None),
    ],
)
def test_typical_judge_replies(text, expected):
    assert parse_grade(text) == expected


def test_summary_matches_hand_computation():
    rows = [
        {"grade": 8, "passed": True},
        {"grade": 6, "passed": True},
        {"grade": 2, "passed": False},
        {"grade": None, "passed": False},
    ]
    s = summarize(rows)
    assert (s["problems"], s["graded"], s["unparsed"]) == (4, 3, 1)
    assert s["score"] == pytest.approx(10 * (8 + 6 + 2) / 3, abs=0.01)
    assert s["pass@1"] == 50.0
    assert s["score_when_passed"] == 70.0 and s["score_when_failed"] == 20.0
    # point-biserial r from its textbook formula: (M1 - M0) / s_n * sqrt(p q)
    m1, m0, p = 7.0, 2.0, 2 / 3
    mean = (8 + 6 + 2) / 3
    s_n = (((8 - mean) ** 2 + (6 - mean) ** 2 + (2 - mean) ** 2) / 3) ** 0.5
    assert s["correlation"] == pytest.approx((m1 - m0) / s_n * (p * (1 - p)) ** 0.5, abs=1e-3)


def test_correlation_is_undefined_without_spread():
    assert pearson([5, 5, 5], [1, 0, 1]) is None
    assert pearson([1, 2, 3], [1, 1, 1]) is None
    assert pearson([4], [1]) is None
    assert summarize([])["score"] is None
