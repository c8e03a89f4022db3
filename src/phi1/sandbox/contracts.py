"""The input contracts HumanEval's docstrings state, written for phi1's strict tests.

The seeds show most of a function's contract (:class:`phi1.sandbox.mutate.Contract` infers
types, signs, alphabets, non-empty lists); these entries add what a docstring says and the
seeds cannot show: a balanced bracket string, two lists of equal length, a value range
("1 <= n <= 1000"), distinct elements. Each is an expression of the function's parameters;
an input for which it is false (or raises) is never a test. They were written by reading
each docstring, in the spirit of EvalPlus's contracts, not copied from them.

``ORACLES`` replaces equality where a problem has several right answers: an expression of
``args`` (the input) and ``out`` (the candidate's answer), run in the sandboxed program.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import combinations

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def balanced(text: str, pairs: str = "()") -> bool:
    """Every opening bracket closed, never closed before it opens."""
    depth = 0
    for c in text:
        if c == pairs[0]:
            depth += 1
        elif c == pairs[1]:
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def is_prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))


def single_spaced(text: str) -> bool:
    """Words separated by one space, none at either end."""
    return text == " ".join(text.split())


def one_closest_pair(numbers: Sequence[float]) -> bool:
    """The two closest numbers are one pair of values (ties would make two answers right)."""
    pairs = [tuple(sorted(p)) for p in combinations(numbers, 2)]
    if not pairs:
        return False
    best = min(b - a for a, b in pairs)
    return len({p for p in pairs if p[1] - p[0] == best}) == 1


def permutation_grid(grid: Sequence[Sequence[int]]) -> bool:
    """An N x N grid (N >= 2) holding each of 1..N*N once."""
    n = len(grid)
    return (
        n >= 2
        and all(isinstance(row, list) and len(row) == n for row in grid)
        and sorted(x for row in grid for x in row) == list(range(1, n * n + 1))
    )


def bored_sentences(text: str) -> bool:
    """No sentence starts with a space or is the word "I" alone (where HumanEval/91's own
    solution and its docstring disagree)."""
    return not text[:1].isspace() and all(
        s.strip() != "I" and not s[:1].isspace() for s in re.split(r"[.?!]", text)
    )


def plain_date(date: str) -> bool:
    """HumanEval/124's string is mm-dd-yyyy, or invalid however it is read: its solution
    reads ``04-12-003`` or ``4-12-2000`` as valid dates, its docstring's format does not."""
    if date != date.strip():
        return False
    if re.fullmatch(r"\d{2}-\d{2}-\d{4}", date):
        return True
    parts = date.split("-")
    if len(parts) != 3 or not all(re.fullmatch(r"\d+", p) for p in parts):
        return True
    month, day = int(parts[0]), int(parts[1])
    return not (1 <= month <= 12 and 1 <= day <= 31)


def fullmatch(pattern: str, text: str) -> bool:
    return isinstance(text, str) and re.fullmatch(pattern, text) is not None


HELPERS = {
    f.__name__: f
    for f in (
        balanced,
        is_prime,
        single_spaced,
        one_closest_pair,
        permutation_grid,
        bored_sentences,
        plain_date,
        fullmatch,
    )  # fmt: skip
}
HELPERS["NUMBER_WORDS"] = NUMBER_WORDS

HUMANEVAL: dict[str, str] = {
    "HumanEval/1": "balanced(paren_string) and all(balanced(g) for g in paren_string.split())",
    "HumanEval/6": "single_spaced(paren_string) and all(balanced(g) and g for g in "
    "paren_string.split(' '))",
    "HumanEval/11": "len(a) == len(b)",
    "HumanEval/17": "single_spaced(music_string) and all(n in ('o', 'o|', '.|') for n in "
    "music_string.split())",
    "HumanEval/19": "single_spaced(numbers) and all(w in NUMBER_WORDS for w in numbers.split())",
    "HumanEval/20": "len(numbers) >= 2 and one_closest_pair(numbers)",
    "HumanEval/21": "len(numbers) >= 2 and min(numbers) < max(numbers)",
    "HumanEval/32": "len(xs) % 2 == 0 and xs[-1] != 0",
    "HumanEval/44": "x >= 0 and 2 <= base < 10",
    "HumanEval/59": "n > 1 and not is_prime(n)",
    "HumanEval/67": "fullmatch(r'\\d+ apples and \\d+ oranges', s) and "
    "n >= sum(int(w) for w in s.split() if w.isdigit())",
    "HumanEval/75": "0 < a < 100",
    "HumanEval/78": "all(c in '0123456789ABCDEF' for c in num)",
    "HumanEval/81": "all(0 <= g <= 4 for g in grades)",
    "HumanEval/84": "0 <= N <= 10000",
    "HumanEval/91": "bored_sentences(S)",
    "HumanEval/94": "any(is_prime(x) for x in lst)",
    # "unit digit" of a negative number: -16 % 10 == 4 (the canonical solution) or 6;
    # the two readings agree where the last digit is 0 or 5, or the number is not negative
    "HumanEval/97": "all(v % 10 == abs(v) % 10 for v in (a, b))",
    "HumanEval/99": "fullmatch(r'-?\\d+(\\.\\d+)?', value)",
    "HumanEval/107": "1 <= n <= 1000",
    "HumanEval/109": "len(set(arr)) == len(arr)",
    "HumanEval/111": "single_spaced(test) and all(len(w) == 1 and w.islower() for w in "
    "test.split())",
    "HumanEval/113": "all(s.isdigit() for s in lst)",
    "HumanEval/115": "len(grid) >= 1 and all(len(r) == len(grid[0]) and set(r) <= {0, 1} "
    "for r in grid) and 1 <= capacity <= 10",
    "HumanEval/119": "len(lst) == 2",
    "HumanEval/120": "1 <= len(arr) and 0 <= k <= len(arr) and all(-1000 <= x <= 1000 "
    "for x in arr)",
    # "at most two digits": the canonical solution counts the minus sign (-10 has three)
    "HumanEval/122": "1 <= k <= len(arr) and not any(-100 < x <= -10 for x in arr)",
    "HumanEval/124": "plain_date(date)",
    "HumanEval/127": "interval1[0] <= interval1[1] and interval2[0] <= interval2[1]",
    "HumanEval/129": "permutation_grid(grid) and k >= 1",
    "HumanEval/135": "len(set(arr)) == len(arr)",
    "HumanEval/137": "all(not isinstance(v, str) or fullmatch(r'-?\\d+([.,]\\d+)?', v) "
    "for v in (a, b))",
    "HumanEval/143": "1 <= len(sentence) <= 100 and all(w.isalpha() for w in sentence.split(' '))",
    "HumanEval/144": "fullmatch(r'[1-9]\\d*/[1-9]\\d*', x) and "
    "fullmatch(r'[1-9]\\d*/[1-9]\\d*', n)",
    "HumanEval/152": "len(game) == len(guess)",
    "HumanEval/156": "1 <= number <= 1000",
    "HumanEval/159": "all(0 <= v <= 1000 for v in (number, need, remaining))",
    "HumanEval/160": "len(operator) >= 1 and len(operator) == len(operand) - 1 and "
    "all(o in ('+', '-', '*', '//', '**') for o in operator)",
}

ORACLES: dict[str, str] = {
    # find_zero: any zero of the polynomial is right (the base tests check the same way)
    "HumanEval/32": "abs(poly(args[0], out)) < 1e-4",
}
