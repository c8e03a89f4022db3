"""Unit tests of the decontamination views: n-gram normalisation, the AST normaliser, the
edit-distance match rate (hand-checked pairs, and parity with a brute-force Levenshtein)."""

from __future__ import annotations

import ast
import builtins
import keyword
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phi1.data.decontam.features import (
    ast_token_string,
    ast_tokens,
    ast_units,
    docstrings,
    encode_tokens,
    match_rate,
    match_rates,
    ngrams,
    normalize_words,
    parse_code,
    text_ngrams,
)

# --- n-gram normalisation -----------------------------------------------------------------


def test_normalize_words_hand_checked():
    assert normalize_words("Has_Close_Elements([1.0, 2.5], x) -> True") == [
        "has", "close", "elements", "1", "0", "2", "5", "x", "true",
    ]  # fmt: skip
    assert normalize_words("  Ünïcode\tTEXT, isn't  it?") == ["ünïcode", "text", "isn", "t", "it"]
    assert normalize_words("--- ... !!!") == []


def test_code_and_prose_normalise_to_the_same_words():
    assert normalize_words("def has_close_elements(numbers):") == normalize_words(
        "Def: has close Elements (numbers)"
    )


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_normalize_words_is_idempotent(text):
    words = normalize_words(text)
    assert normalize_words(" ".join(words)) == words
    assert all(w and w == w.lower() for w in words)


def test_ngrams_hand_checked():
    words = ["a", "b", "c", "d"]
    assert ngrams(words, 3) == {("a", "b", "c"), ("b", "c", "d")}
    assert ngrams(words, 4) == {("a", "b", "c", "d")}
    assert ngrams(words, 5) == set()
    assert ngrams(words, 1) == {("a",), ("b",), ("c",), ("d",)}
    with pytest.raises(ValueError):
        ngrams(words, 0)


def test_text_ngrams_do_not_span_two_texts():
    grams = text_ngrams(["one two three", "four five six"], 3)
    assert grams == {("one", "two", "three"), ("four", "five", "six")}


# --- parsing and docstrings -----------------------------------------------------------------

FUNC = textwrap.dedent(
    '''
    def f(x):
        """Doc string here."""
        # a comment
        return len(x) + 1
    '''
)


def test_parse_code_whole_text_fenced_blocks_and_failures():
    assert len(parse_code(FUNC).trees) == 1 and parse_code(FUNC).problem is None
    book = f"Some prose first.\n\n```python\n{FUNC}```\n\nMore prose.\n```\ndef g(:\n```\n"
    parsed = parse_code(book)
    assert len(parsed.trees) == 1
    assert parsed.problem.startswith("code block 2 does not parse")
    broken = parse_code("def broken(:\n    return 1\n")
    assert broken.trees == [] and "line 1" in broken.problem
    assert "does not parse" in parse_code("x = 1\x00\n").problem  # NUL bytes: no crash


def test_docstrings_from_ast_and_from_unparseable_text():
    code = 'class A:\n    """Class doc."""\n    def m(self):\n        """Method doc."""\n'
    assert sorted(docstrings(parse_code(code), code)) == ["Class doc.", "Method doc."]
    bad = 'def f(:\n    """Still found."""\n'
    assert docstrings(parse_code(bad), bad) == ["Still found."]


# --- the AST normaliser ---------------------------------------------------------------------


def test_ast_tokens_hand_checked():
    assert ast_tokens(ast.parse(FUNC)) == [
        "FunctionDef", "arguments", "arg", "Return", "BinOp", "Call", "b:len", "Name", "Add",
        "lit:int",
    ]  # fmt: skip


def test_renaming_reformatting_comments_and_docstrings_do_not_change_the_ast():
    other = textwrap.dedent(
        """
        def totally_different_name(items):

            '''A reworded docstring, much longer than before,
            spanning lines.'''

            return len(
                items
            ) + 7  # another comment
        """
    )
    assert ast_token_string(other) == ast_token_string(FUNC)


def test_literals_are_normalised_by_type_builtins_and_attributes_are_kept():
    base = ast_token_string("def f(s):\n    return s.strip() + 'a'\n")
    assert ast_token_string("def g(t):\n    return t.strip() + 'zzz'\n") == base
    assert ast_token_string("def g(t):\n    return t.strip() + 1\n") != base  # str vs int
    assert ast_token_string("def g(t):\n    return t.lower() + 'a'\n") != base  # API kept
    assert ast_token_string("def g(t):\n    return len(t)\n") != ast_token_string(
        "def g(t):\n    return sum(t)\n"
    )


IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda s: not keyword.iskeyword(s) and not hasattr(builtins, s)
)
TEMPLATE = """
def {f}({a}, {b}=3):
    {acc} = []
    for {i}, {v} in enumerate({a}):
        if {v} % {b} == 0:
            {acc}.append(({i}, {v} * 2.5))
    return {acc}
"""


@settings(max_examples=50, deadline=None)
@given(st.lists(IDENT, min_size=6, max_size=6, unique=True))
def test_any_consistent_renaming_gives_the_same_ast_token_string(names):
    keys = ["f", "a", "b", "acc", "i", "v"]
    base = TEMPLATE.format(**dict(zip(keys, ["fn", "xs", "k", "out", "j", "val"], strict=True)))
    renamed = TEMPLATE.format(**dict(zip(keys, names, strict=True)))
    assert ast_token_string(renamed) == ast_token_string(base)


def test_ast_units_split_a_module_with_several_definitions():
    two = "import os\n\ndef a():\n    return 1\n\nclass B:\n    pass\n"
    units = ast_units(parse_code(two))
    assert len(units) == 3  # the module, then each top-level definition
    assert units[1] == ast_token_string("def a():\n    return 1\n")
    assert len(ast_units(parse_code(FUNC))) == 1
    assert ast_units(parse_code("def f(:\n")) == []


# --- the edit-distance match rate -----------------------------------------------------------


def _levenshtein(a: list[str], b: list[str]) -> int:
    """The textbook dynamic programme: the reference the C implementation must match."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def test_match_rate_on_hand_checked_pairs():
    f = ast_token_string(FUNC)  # 10 tokens
    assert match_rate(f, f) == 1.0
    # one substituted token in ten
    for near in ("return len(x) - 1", "return sum(x) + 1", "return len(x) + 1.0"):
        assert match_rate(f, ast_token_string(f"def f(x):\n    {near}\n")) == pytest.approx(0.9)
    # an added statement `y = 2` is three tokens (Assign, Name, lit:int): 3 edits, 13 long
    longer = ast_token_string("def f(x):\n    y = 2\n    return len(x) + 1\n")
    assert len(longer) == 13
    assert match_rate(f, longer) == pytest.approx(10 / 13)
    assert match_rate(f, "") == 0.0


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["Name", "Call", "b:len", "Add", ".append", "lit:int"]), max_size=40),
    st.lists(st.sampled_from(["Name", "Call", "b:len", "Add", ".append", "lit:int"]), max_size=40),
)
def test_match_rate_equals_one_minus_brute_force_levenshtein_over_length(a, b):
    expected = 1 - _levenshtein(a, b) / max(len(a), len(b)) if a and b else 0.0
    assert match_rate(encode_tokens(a), encode_tokens(b)) == pytest.approx(expected)


def test_match_rates_take_the_best_unit_and_honour_the_cutoff():
    f = ast_token_string(FUNC)
    g = ast_token_string("def g(a, b):\n    for x in a:\n        b.append(x)\n    return b\n")
    near = ast_token_string("def f(x):\n    return len(x) - 1\n")
    rates = match_rates([f, g, ""], [g, near])  # a record with two units
    assert rates[0] == pytest.approx(0.9) and rates[1] == 1.0 and rates[2] == 0.0
    cut = match_rates([f, g], [near], cutoff=0.95)
    assert cut[0] == 0.0  # 0.9 is below the cutoff
    assert match_rates([f], []).tolist() == [0.0]
