"""The page of a ``phi1 ablate`` folder: what each data variant did to the model.

Read from ``DIR/ablation.json`` alone (``phi1.pipeline.ablate`` writes it) and written beside
it: ``report.html`` (one self-contained page, like the run report), ``early-signal.svg`` (the
plot) and ``ablation.md`` (the table and the comparisons, for a README). The page holds:

- the setup: the model, the budget in steps and tokens, the seeds, the early-signal metric;
- the early-signal loss against tokens, every variant on one plot, the mean over seeds with
  a band of one standard deviation either side;
- a table per variant: the final loss (mean, spread, each seed), bits per byte, pass@k where
  it is not zero, the data packed, the tokens trained and the epochs over each dataset;
- each variant against the baseline, in words: the difference, and whether it is larger
  than the seed spread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.io import atomic_write_bytes, atomic_write_text, read_json
from phi1.report.html import CSS
from phi1.report.markup import esc, table
from phi1.report.plots import PALETTE, embed, subplots, svg

RESULT = "ablation.json"
PLOT = "early-signal.svg"
TABLE = "ablation.md"


def is_ablation(directory: str | Path) -> bool:
    return (Path(directory) / RESULT).is_file()


def build_ablation_report(directory: str | Path, out: str | Path | None = None) -> Path:
    """Write the page, the plot and the markdown table of an ablation folder; return the
    page's path."""
    root = Path(directory)
    if not is_ablation(root):
        raise Phi1Error(f"{root}: not an ablation folder (no {RESULT})")
    result = read_json(root / RESULT)
    target = Path(out) if out else root / "report.html"
    head, rows = summary_table(result)
    image = early_signal_plot(result)
    if image is not None:
        atomic_write_bytes(target.parent / PLOT, image)
    comparisons = [c["text"] for c in result.get("comparisons", [])]
    atomic_write_text(target.parent / TABLE, markdown(result, head, rows, comparisons))
    atomic_write_text(target, _page(root, result, head, rows, image, comparisons))
    return target


def _metric_text(s: dict[str, Any]) -> str:
    metric = s.get("metric", "val_loss")
    if metric == "val_loss":
        return ("each run's held-out loss on its own data (val_loss; no early-signal "
                "benchmark: not comparable across variants)")  # fmt: skip
    bench = metric.split("/", 1)[1]
    return (f"the loss of {bench}'s reference solutions given their prompts ({metric}, "
            f"{s.get('unit')}; lower is better)")  # fmt: skip


def setup_text(result: dict[str, Any]) -> str:
    s = result.get("settings", {})
    seeds = ", ".join(str(x) for x in s.get("seeds", []))
    return (
        f"Every run trains the {s.get('model')} preset from the seed's initial weights on "
        f"{s.get('steps', 0):,} steps x {s.get('tokens_per_step', 0):,} tokens = "
        f"{s.get('tokens', 0):,} pretraining tokens (seeds {seeds}); a smaller dataset repeats. "
        f"Early signal: {_metric_text(s)}. The spread is the standard deviation over seeds; a "
        f"variant is compared with the baseline, {s.get('baseline')}, against the pooled "
        "spread of the two."
    )


def summary_table(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The table's head and rows: one row per variant."""
    s = result.get("settings", {})
    keys = s.get("metrics", [])
    primary, bpb = keys[0] if keys else "val_loss", next((k for k in keys if "bpb" in k), None)
    variants = result.get("variants", {})
    passk = sorted({k for v in variants.values() for k, x in (v.get("pass@k") or {}).items() if x})
    head = [
        "variant", f"final {primary} (mean ± spread)", "each seed",
        *([f"final {bpb}"] if bpb else []), *passk, "data packed (tokens)", "tokens trained",
        "epochs",
    ]  # fmt: skip
    rows = []
    for name, v in variants.items():
        final = (v.get("final") or {}).get(primary)
        rows.append([
            name + (" (baseline)" if name == s.get("baseline") else ""),
            _pm(final), _seeds(final), *([_pm(v.get("final", {}).get(bpb))] if bpb else []),
            *(f"{100 * v.get('pass@k', {}).get(k, 0):.1f}%" for k in passk),
            _data(v.get("data") or {}), f"{v.get('tokens') or 0:,}", _epochs(v.get("epochs")),
        ])  # fmt: skip
    return head, rows


def _pm(final: dict | None) -> str:
    if not final:
        return "-"
    std = final.get("std")
    return f"{final['mean']:.4f}" + (f" ± {std:.4f}" if std is not None else "")


def _seeds(final: dict | None) -> str:
    if not final:
        return "-"
    return ", ".join(f"{v:.4f}" for v in final.get("values", {}).values())


def _data(data: dict[str, dict]) -> str:
    return ", ".join(f"{k} {v.get('tokens') or 0:,}" for k, v in data.items()) or "-"


def _epochs(epochs: dict[str, dict] | None) -> str:
    parts = [f"{stage}: " + ", ".join(f"{k} {v:.2f}" for k, v in e.items())
             for stage, e in (epochs or {}).items()]  # fmt: skip
    return "; ".join(parts) or "-"


def early_signal_plot(result: dict[str, Any]) -> bytes | None:
    """Every variant's early-signal curve (mean over seeds, a band of one standard
    deviation) against tokens trained, as SVG: the whole run, and beside it the same from
    the second measurement on, where the variants part (the initial model's loss, the same
    for all, would flatten them); None when no run has a point yet."""
    s = result.get("settings", {})
    key = s.get("metric", "val_loss")
    curves = {n: (v.get("curves") or {}).get(key) for n, v in result.get("variants", {}).items()}
    curves = {n: c for n, c in curves.items() if c}
    if not curves:
        return None
    fig, axes = subplots(1, 2, figsize=(9.5, 3.8))
    for ax, first in zip(axes, (0, 1), strict=True):
        for i, (name, points) in enumerate(curves.items()):
            color = PALETTE[i % len(PALETTE)]
            xs, mean = [p[0] for p in points[first:]], [p[1] for p in points[first:]]
            std = [p[2] or 0.0 for p in points[first:]]
            ax.plot(xs, mean, "o-", ms=3, lw=1.4, color=color, label=name)
            ax.fill_between(xs, [m - d for m, d in zip(mean, std, strict=True)],
                            [m + d for m, d in zip(mean, std, strict=True)], color=color,
                            alpha=0.18, lw=0)  # fmt: skip
        ax.set(xlabel="tokens trained", ylabel=f"{key} ({s.get('unit', '')})")
        ax.grid(alpha=0.3)
    axes[0].set_title("every measurement", fontsize=9)
    axes[1].set_title("from the second measurement on (zoomed)", fontsize=9)
    axes[1].legend(fontsize=8)
    return svg(fig)


def markdown(result: dict[str, Any], head: list[str], rows: list[list[str]],
             comparisons: list[str]) -> str:  # fmt: skip
    lines = [f"# Ablation: {result.get('recipe')}", "", setup_text(result), "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head),
             *("| " + " | ".join(r) + " |" for r in rows), ""]  # fmt: skip
    if comparisons:
        lines += ["Against the baseline:", "", *(f"- {c}" for c in comparisons), ""]
    return "\n".join(lines)


def _page(root: Path, result: dict[str, Any], head: list[str], rows: list[list[str]],
          image: bytes | None, comparisons: list[str]) -> str:  # fmt: skip
    title = f"phi1 ablate: {root.name}"
    status = result.get("status", "?")
    error = f'<p class="error">{esc(result["error"])}</p>' if result.get("error") else ""
    runs = [[name, seed, r.get("folder", ""), f"{r.get('tokens') or 0:,}",
             ", ".join(f"{k} {v:.4f}" for k, v in (r.get("final") or {}).items()) or "-"]
            for name, v in result.get("variants", {}).items()
            for seed, r in v.get("runs", {}).items()]  # fmt: skip
    body = [
        f"<p>Recipe <code>{esc(result.get('recipe'))}</code>, status <b>{esc(status)}</b>.</p>",
        error,
        f"<p>{esc(setup_text(result))}</p>",
        embed(image, "Early-signal loss against tokens (mean over seeds, band: one standard "
              "deviation)") if image else '<p class="not-run">No early-signal point yet.</p>',
        "<h2>Final loss</h2>",
        table(head, rows),
        "<h2>Against the baseline</h2>",
        "<ul>" + "".join(f"<li>{esc(c)}</li>" for c in comparisons) + "</ul>"
        if comparisons else '<p class="not-run">No comparison yet.</p>',
        "<h2>Runs</h2>",
        "<p>Each run is a <code>phi1 run</code> folder (<code>phi1 report FOLDER</code> draws "
        "its own report); their stages live in <code>stages/</code>, shared between runs.</p>",
        table(["variant", "seed", "folder", "tokens", "final"], runs),
    ]  # fmt: skip
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{esc(title)}</h1><p>{esc(root.resolve())}</p>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
