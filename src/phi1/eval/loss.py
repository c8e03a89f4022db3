"""``phi1 eval loss``: how likely a model finds a benchmark's reference solutions.

For each problem, the negative log-likelihood of its reference solution given its prompt
(the prompt is context, not scored), in nats per token and in bits per byte of the UTF-8
solution (which does not depend on the tokenizer). A model that scores 0% pass@1 still has
a loss that moves as it learns: the early-signal metric data ablations compare.

Out: ``OUT/results.jsonl`` (one row per problem: task_id, tokens, bytes, nll, nats_per_token,
bits_per_byte) and ``OUT/results.json`` (the means over the problems with a seeded bootstrap
95% interval, the token-weighted figures, the model's identity, the timing). The numbers
come from :mod:`phi1.model.score` (packed rows for phi1 checkpoints, padded batches for
transformers ones); training logs the same per-problem mean as ``val_loss/<benchmark>``.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.io import atomic_write_json, write_jsonl
from phi1.llm import LLMSettings, spec_kind


@dataclass
class LossSettings:
    """Which problems, how many tokens a forward call takes, the interval."""

    limit: int | None = None
    """Only the first N problems."""
    batch_tokens: int = 4096
    """Tokens per forward call (phi1: packed rows of up to 1024; transformers: padded rows)."""
    bootstrap: int = 1000
    """Resamples of the problems for the 95% interval of each mean."""
    seed: int = 0
    """Seed of the bootstrap's resampling."""


def bootstrap_interval(values: list[float], *, resamples: int, seed: int) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of the mean of ``values`` resampled with replacement
    (``resamples`` times, from a seeded generator)."""
    import numpy as np

    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2 or resamples < 1:
        return float(x.mean()), float(x.mean())
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(resamples, len(x)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def summarize(rows: list[dict[str, Any]], settings: LossSettings) -> dict[str, Any]:
    """The means over problems with their intervals, and the token-weighted figures."""
    out: dict[str, Any] = {"problems": len(rows)}
    for key, column in (("loss", "nats_per_token"), ("bpb", "bits_per_byte")):
        values = [r[column] for r in rows]
        lo, hi = bootstrap_interval(values, resamples=settings.bootstrap, seed=settings.seed)
        out[key] = {"mean": sum(values) / len(values), "ci95": [lo, hi]}
    nll, tokens, nbytes = (sum(r[k] for r in rows) for k in ("nll", "tokens", "bytes"))
    out["tokens"], out["bytes"] = tokens, nbytes
    out["token_weighted"] = {
        "nats_per_token": nll / tokens,
        "bits_per_byte": nll / math.log(2) / nbytes,
    }
    return out


def score_model(llm: LLMSettings, benchmark: str, settings: LossSettings) -> tuple[list, dict]:
    """Per-problem rows and the summary of ``llm`` (a phi1 or transformers checkpoint) on
    ``benchmark`` (``phi1.sandbox.problems.load_benchmark``'s specs)."""
    from phi1.model.score import hf_sequence_nll, reference_set, sequence_nll
    from phi1.sandbox.problems import load_benchmark

    kind = spec_kind(llm.model) if llm.model else "none"
    if kind not in ("phi1", "hf"):
        raise Phi1Error(
            f"phi1 eval loss reads a model's weights: --llm.model must be a phi1 or "
            f"transformers checkpoint directory (DIR, phi1:DIR or hf:DIR), not {kind} "
            f"{llm.model!r}"
        )
    name, problems = load_benchmark(benchmark)
    if settings.limit is not None:
        problems = dict(list(problems.items())[: settings.limit])
    if settings.batch_tokens < 1:
        raise Phi1Error(f"loss.batch_tokens must be >= 1, got {settings.batch_tokens}")
    backend = llm.load()
    try:
        ref = reference_set(name, problems, backend.tokenizer)
        start = time.perf_counter()
        if kind == "phi1":
            nll = sequence_nll(backend.model, ref.pairs, batch_tokens=settings.batch_tokens)
        else:
            pad = backend.tokenizer.pad_token_id
            nll = hf_sequence_nll(
                backend.model, ref.pairs, batch_tokens=settings.batch_tokens, pad_id=pad or 0
            )
        seconds = time.perf_counter() - start
        identity = backend.identity()
    finally:
        backend.close()
    rows = ref.per_problem(nll.cpu())
    summary = {
        "benchmark": name,
        "spec": benchmark,
        "model": llm.model,
        "backend": identity,
        **summarize(rows, settings),
        "without_solution": ref.missing,
        "settings": asdict(settings),
        "seconds": seconds,
    }
    return rows, summary


def write_results(out: Path, rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """``OUT/results.jsonl`` and ``OUT/results.json``, each written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "results.jsonl", rows)
    atomic_write_json(out / "results.json", summary)


def format_line(summary: dict[str, Any]) -> str:
    """One line: the benchmark, both means with their intervals, the model."""
    loss, bpb = summary["loss"], summary["bpb"]
    note = f" ({len(summary['without_solution'])} without a solution left out)"
    return (
        f"{summary['benchmark']}: {summary['problems']} problems, "
        f"{loss['mean']:.4f} nats/token [{loss['ci95'][0]:.4f}, {loss['ci95'][1]:.4f}], "
        f"{bpb['mean']:.4f} bits/byte [{bpb['ci95'][0]:.4f}, {bpb['ci95'][1]:.4f}]"
        f"{note if summary['without_solution'] else ''}; {summary['model']}"
    )
