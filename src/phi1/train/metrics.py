"""Training logs: JSONL metrics, TensorBoard, a progress bar, and the loss-curve PNG.

``OUT/metrics.jsonl`` has one row per optimizer step (loss, lr, grad norm, tokens; every
``log_interval`` steps also tokens/s and MFU) and one row per validation (``val_loss`` and
``val_loss/<dataset>``; with ``log.benchmarks`` also ``val_loss/<benchmark>`` and
``val_bpb/<benchmark>``, and a step-0 row of those for the initial model). On resume the
rows after the checkpoint's step are dropped, so the file always reads as one uninterrupted
run. Only rank 0 logs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from phi1.io import JsonlWriter, read_jsonl, write_jsonl


class MetricsLog:
    """metrics.jsonl + TensorBoard + a tqdm bar; every method is a no-op when disabled."""

    def __init__(
        self,
        out: Path,
        *,
        enabled: bool,
        start_step: int,
        total_steps: int,
        tensorboard: bool,
        progress: bool,
    ):
        self.enabled = enabled
        self.path = out / "metrics.jsonl"
        self._writer = self._tb = self._bar = None
        if not enabled:
            return
        if self.path.exists():
            JsonlWriter(self.path).close()  # drops a torn last line
            rows = [r for r in read_jsonl(self.path) if r.get("step", 0) <= start_step]
            write_jsonl(self.path, rows)
        self._writer = JsonlWriter(self.path)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(out / "tensorboard"), purge_step=start_step + 1)
        from tqdm import tqdm

        self._bar = tqdm(
            total=total_steps,
            initial=start_step,
            desc="train",
            unit="step",
            disable=not progress,
            dynamic_ncols=True,
        )

    def step(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self._writer.write(row)
        self._bar.update(1)
        if "tokens_per_s" in row:
            self._bar.set_postfix_str(
                f"loss {row['loss']:.4f}, lr {row['lr']:.2e}, "
                f"{row['tokens_per_s']:,.0f} tok/s, MFU {100 * row['mfu']:.1f}%"
            )
            self._scalars(row)
            self._writer.flush()

    def val(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self._writer.write(row)
        self._writer.flush()
        self._scalars(row)
        self._bar.write(
            f"step {row['step']}: "
            + ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k.startswith("val_loss"))
        )

    def write(self, text: str) -> None:
        if self.enabled:
            self._bar.write(text)

    def flush(self) -> None:
        if self.enabled:
            self._writer.flush()
            if self._tb:
                self._tb.flush()

    def _scalars(self, row: dict[str, Any]) -> None:
        if self._tb is None:
            return
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                self._tb.add_scalar(key if "/" in key else f"train/{key}", value, row["step"])
            elif isinstance(value, dict):
                for sub, v in value.items():
                    self._tb.add_scalar(f"{key}/{sub}", v, row["step"])

    def close(self) -> None:
        if not self.enabled:
            return
        self._bar.close()
        self._writer.close()
        if self._tb:
            self._tb.close()


def benchmark_curves(rows: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """Benchmark name -> (step, nats/token) of its ``val_loss/<name>`` rows (log.benchmarks;
    a benchmark is a name that also has ``val_bpb/<name>``, which held-out datasets lack)."""
    curves: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        for key in r:
            name = key.removeprefix("val_bpb/")
            if key.startswith("val_bpb/") and isinstance(r.get(f"val_loss/{name}"), (int, float)):
                curves.setdefault(name, []).append((r["step"], r[f"val_loss/{name}"]))
    return curves


def plot_loss(metrics: Path, png: Path, title: str) -> None:
    """Training loss per step, validation loss points and the benchmarks' early-signal
    losses (log.benchmarks; nats/token, like the training loss) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(read_jsonl(metrics)) if metrics.exists() else []
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r and math.isfinite(r["loss"])]
    val = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    if train:
        ax.plot(*zip(*train, strict=True), lw=1, label="train")
    if val:
        ax.plot(*zip(*val, strict=True), "o-", ms=3, label="validation")
    for name, points in benchmark_curves(rows).items():
        ax.plot(*zip(*points, strict=True), "s--", ms=3, label=f"{name} solutions")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    plt.close(fig)
