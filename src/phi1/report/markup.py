"""HTML pieces of the report: escaping, numbers, tables."""

from __future__ import annotations

import html
from typing import Any


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def num(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def pct(v: Any) -> str:
    return "-" if v is None else f"{v:.1f}%"


def duration(seconds: float | None) -> str:
    if not seconds:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def counts_line(counts: dict, limit: int = 8) -> str:
    """``key n, ...`` for the numbers in ``counts`` (one nested level as ``outer.key``)."""
    parts = []
    for k, v in counts.items():
        if isinstance(v, dict):
            inner = counts_line(v, limit)
            parts.extend(f"{k}.{p}" for p in inner.split(", ") if p)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            parts.append(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v:.4g}")
    return ", ".join(parts[:limit])


def not_run(text: str) -> str:
    return f'<p class="not-run">{esc(text)}.</p>'


def table(head: list[str], rows: Any, *, raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw`` (the caller escaped them)."""
    cell = (lambda c: str(c)) if raw else esc
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return (f"<table><thead><tr>{''.join(f'<th>{esc(h)}</th>' for h in head)}</tr></thead>"
            f"<tbody>{body}</tbody></table>")  # fmt: skip
