"""The report's plots: matplotlib figures as inline SVG ``data:`` images (one file, no
external resource, the same bytes for the same numbers)."""

from __future__ import annotations

import base64
import io
import math
from collections import Counter
from typing import Any

from phi1.report.markup import esc, short

PALETTE = ["#3465a4", "#f57900", "#4e9a06", "#cc0000", "#75507b", "#c4a000", "#555753"]
KEEP_COLOR, DROP_COLORS = "#4e9a06", ["#cc0000", "#f57900", "#c4a000", "#75507b", "#555753"]
LABEL_COLORS = {"high": KEEP_COLOR, "low": "#cc0000", "unparseable": "#888a85"}


def subplots(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """``plt.subplots`` on the Agg backend, with the report's fonts and a fixed SVG salt."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update({"svg.hashsalt": "phi1", "font.size": 9})
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def figure(fig: Any, alt: str) -> str:
    """The figure as an inline SVG ``data:`` image, closed afterwards."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f'<figure><img class="plot" alt="{esc(alt)}" src="data:image/svg+xml;base64,{data}">'
            f"<figcaption>{esc(alt)}</figcaption></figure>")  # fmt: skip


def barh(values: dict[str, float], xlabel: str, title: str) -> str:
    labels = list(values)[::-1]
    fig, ax = subplots(figsize=(6.5, 0.9 + 0.22 * len(labels)))
    ax.barh([short(k) for k in labels], [values[k] for k in labels], color=PALETTE[0])
    ax.set(xlabel=xlabel)
    ax.grid(axis="x", alpha=0.3)
    return figure(fig, title)


def stacked_barh(
    data: dict[str, Counter],
    xlabel: str,
    title: str,
    *,
    order: list[str] | None = None,
    colors: dict[str, str] | None = None,
) -> str:
    """One bar per key of ``data``, split by the keys of its counter."""
    parts = list(dict.fromkeys([*(order or []), *(k for c in data.values() for k in c)]))
    parts = [p for p in parts if any(c.get(p) for c in data.values())]
    rows = list(data)[::-1]
    fig, ax = subplots(figsize=(6.5, 1.3 + 0.32 * len(rows)))
    left = [0.0] * len(rows)
    others = iter(DROP_COLORS + PALETTE)
    for part in parts:
        widths = [float(data[r].get(part, 0)) for r in rows]
        color = (colors or {}).get(part) or next(others, None)
        ax.barh([short(r) for r in rows], widths, left=left, label=short(part), color=color)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.set(xlabel=xlabel)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", ncols=min(3, max(1, len(parts))))
    return figure(fig, title)


def hist(
    groups: dict[str, list[float]],
    xlabel: str,
    title: str,
    *,
    bins: list[float] | int,
    vline: float | None = None,
    vlabel: str = "threshold",
    colors: dict[str, str] | None = None,
) -> str:
    fig, ax = subplots(figsize=(6.5, 3.0))
    names = list(groups)
    palette = iter(PALETTE * (1 + len(names) // len(PALETTE)))
    color = [(colors or {}).get(k) or next(palette) for k in names]
    ax.hist([groups[k] for k in names], bins=bins, stacked=True, label=[short(k) for k in names],
            color=color)  # fmt: skip
    if vline is not None and math.isfinite(vline):
        ax.axvline(vline, color="#000", ls="--", lw=1.2, label=f"{vlabel} {vline:.3g}")
    ax.set(xlabel=xlabel, ylabel="documents")
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    return figure(fig, title)


def loss_curves(curves: dict[str, tuple[list, list, dict[str, list]]]) -> str:
    """One panel per training stage: the training loss per step, the validation loss, and
    each benchmark's early-signal loss (log.benchmarks), all in nats/token."""
    fig, axes = subplots(1, len(curves), figsize=(4.6 * len(curves), 3.2), squeeze=False)
    for ax, (name, (train, val, benchmarks)) in zip(axes[0], curves.items(), strict=True):
        if train:
            ax.plot(*zip(*train, strict=True), color=PALETTE[0], lw=1.2, label="train")
        if val:
            ax.plot(*zip(*val, strict=True), "o-", color=PALETTE[1], ms=3, label="validation")
        for color, (bench, points) in zip(PALETTE[2:], benchmarks.items(), strict=False):
            ax.plot(*zip(*points, strict=True), "s--", color=color, ms=3,
                    label=f"{short(bench, 20)} solutions")  # fmt: skip
        ax.set(title=name, xlabel="step", ylabel="loss (nats/token)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return figure(fig, "Training and validation loss")


def grades(rows: list[dict]) -> str:
    """The judge's grade per problem, green where the problem's tests pass."""
    fig, ax = subplots(figsize=(max(4.0, 0.18 * len(rows) + 1.5), 2.8))
    xs = range(len(rows))
    values = [g["grade"] if isinstance(g.get("grade"), (int, float)) else 0 for g in rows]
    colors = [KEEP_COLOR if g.get("passed") else DROP_COLORS[0] for g in rows]
    ax.bar(xs, values, color=colors)
    for x, g in zip(xs, rows, strict=True):
        if not isinstance(g.get("grade"), (int, float)):
            ax.text(x, 0.2, "?", ha="center", fontsize=7, color="#555")
    ax.set(ylim=(0, 10.5), ylabel="grade (0-10)", xlabel="problem (green: tests pass; "
           "?: no grade)")  # fmt: skip
    ax.set_xticks([])
    return figure(fig, "The judge's grade per problem")
