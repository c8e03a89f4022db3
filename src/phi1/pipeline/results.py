"""An ablation's numbers: one run's early-signal curves and final values read from its run
folder, their mean and spread over a variant's seeds, and each variant against the baseline
in words ("top is 0.21 nats/token below random, 4.2x the seed spread")."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.io import read_jsonl
from phi1.pipeline import state


def unit(key: str) -> str:
    return "bits/byte" if key.startswith("val_bpb") else "nats/token"


def packed_summaries(folder: Path) -> dict[str, dict]:
    try:
        return state.summaries(folder, "pack")
    except Phi1Error:
        return {}


def collect_run(folder: Path, root: Path, keys: list[str]) -> dict[str, Any]:
    """One run's numbers: early-signal curves of ``keys`` against tokens (pretraining, then
    the finetune's on top), final values, tokens, epochs per dataset, pass@k, data sizes;
    ``folder`` is recorded relative to the ablation's ``root``."""
    out: dict[str, Any] = {"folder": str(folder.relative_to(root))}
    curves: dict[str, list[list[float]]] = {k: [] for k in keys}
    offset, tokens, epochs = 0, 0, {}
    for stage in ("pretrain", "finetune"):
        summary = _summary(folder, stage)
        if summary is None:
            continue
        per_step = summary["tokens"] / summary["steps"] if summary.get("steps") else 0
        points: dict[str, dict[int, float]] = {k: {} for k in keys}
        for row in _metrics(folder, stage):
            step = row.get("step")
            # a finetune's step 0 is the pretrained model, already the pretraining's last point
            if not isinstance(step, int) or (stage == "finetune" and step == 0):
                continue
            for k in keys:
                if isinstance(row.get(k), (int, float)):
                    points[k][step] = row[k]
            if isinstance(row.get("epoch"), dict):
                epochs[stage] = row["epoch"]
        for k in keys:
            curves[k] += [[offset + step * per_step, v] for step, v in sorted(points[k].items())]
        offset += summary.get("tokens", 0)
        tokens = offset
        out[f"{stage}_steps"] = summary.get("steps")
    out.update(tokens=tokens, epochs=epochs, curves={k: v for k, v in curves.items() if v})
    out["final"] = {k: v[-1][1] for k, v in curves.items() if v}
    out["data"] = {n: {"documents": i.get("documents"), "tokens": i.get("tokens")}
                   for n, i in packed_summaries(folder).items()}  # fmt: skip
    passk = _pass_at_k(folder)
    if passk is not None:
        out["pass@k"] = passk
    return out


def _summary(folder: Path, stage: str) -> dict | None:
    manifest = state.read_manifest(folder / stage)
    if not manifest or manifest.get("status") != "done":
        return None
    return state.summary(folder, stage)


def _metrics(folder: Path, stage: str) -> list[dict]:
    rows: list[dict] = []
    for path in state.outputs(folder, stage, "metrics"):
        rows.extend(read_jsonl(path, torn_tail=True))
    return rows


def _pass_at_k(folder: Path) -> dict | None:
    """pass@k of the run's last model (phi-1 when finetuned, else phi-1-base)."""
    manifest = state.read_manifest(folder / "humaneval")
    if not manifest or manifest.get("status") != "done":
        return None
    results = state.summaries(folder, "humaneval")
    for model in ("finetune", "pretrain"):
        if model in results:
            return results[model].get("pass@k")
    return None


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def aggregate(runs: dict[str, dict], keys: list[str]) -> dict[str, Any]:
    """Over a variant's seeds: the final values (mean, sample standard deviation), the
    curves point by point, tokens, epochs and pass@k."""
    if not runs:
        return {"final": {}, "curves": {}}
    final, curves = {}, {}
    for k in keys:
        values = {seed: r["final"][k] for seed, r in runs.items() if k in r.get("final", {})}
        if values:
            mean, std = _mean_std(list(values.values()))
            final[k] = {"mean": mean, "std": std, "n": len(values), "values": values}
        points: dict[float, list[float]] = {}
        for r in runs.values():
            for x, y in r.get("curves", {}).get(k, []):
                points.setdefault(x, []).append(y)
        curves[k] = [[x, *_mean_std(ys)] for x, ys in sorted(points.items())]
    first = next(iter(runs.values()))
    passk: dict[str, list[float]] = {}
    for r in runs.values():
        for name, v in (r.get("pass@k") or {}).items():
            passk.setdefault(name, []).append(v)
    return {
        "final": final,
        "curves": {k: v for k, v in curves.items() if v},
        "tokens": first.get("tokens"),
        "epochs": first.get("epochs"),
        "data": first.get("data"),
        "pass@k": {name: sum(v) / len(v) for name, v in passk.items()},
    }


def compare(result: dict[str, Any], baseline: str, key: str) -> list[dict[str, Any]]:
    """Each variant against the baseline on ``key``: the difference of the means, the seed
    spread (the pooled standard deviation of the two), their ratio, how many seeds agree
    in sign (seeds pair up: the same initial weights), and a sentence saying it."""
    variants = result["variants"]
    base = (variants.get(baseline) or {}).get("final", {}).get(key)
    out: list[dict[str, Any]] = []
    if base is None:
        return out
    for name, entry in variants.items():
        mine = entry.get("final", {}).get(key)
        if name == baseline or mine is None:
            continue
        diff = mine["mean"] - base["mean"]
        stds = [x["std"] for x in (mine, base) if x["std"] is not None]
        spread = math.sqrt(sum(s * s for s in stds) / len(stds)) if stds else None
        paired = [mine["values"][s] - base["values"][s] for s in mine["values"]
                  if s in base["values"]]  # fmt: skip
        same = sum(1 for d in paired if (d < 0) == (diff < 0) and d != 0)
        ratio = abs(diff) / spread if spread else None
        larger = ratio > 1 if ratio is not None else bool(spread == 0 and diff)
        out.append({
            "variant": name, "baseline": baseline, "metric": key, "difference": diff,
            "spread": spread, "ratio": ratio, "larger": larger,
            "seeds_agree": f"{same}/{len(paired)}",
            "text": _sentence(name, baseline, diff, spread, ratio, same, len(paired), key),
        })  # fmt: skip
    return out


def _sentence(name: str, base: str, diff: float, spread: float | None, ratio: float | None,
              same: int, paired: int, key: str) -> str:  # fmt: skip
    if diff == 0:
        return f"{name} ends with the same {key} as {base}"
    side = "below" if diff < 0 else "above"
    head = f"{name} is {abs(diff):.3f} {unit(key)} {side} {base}"
    if spread is None:
        return f"{head} (one seed each so far: no spread yet)"
    if not spread or ratio is None:
        return f"{head}; the seeds do not vary, so any difference exceeds their spread"
    verdict = "larger than" if ratio > 1 else "within"
    word = "lower" if diff < 0 else "higher"
    return (f"{head}, {ratio:.1f}x the seed spread ({spread:.3f}): {verdict} the seed spread; "
            f"{word} on {same} of {paired} seeds")  # fmt: skip
