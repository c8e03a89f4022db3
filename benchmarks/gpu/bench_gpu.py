"""GPU training throughput of the paper's two models: tokens/s, MFU and peak memory in bf16.

phi-1-small and phi-1, each with its recipe's pretraining settings (recipes/<model>.yaml:
micro-batch, bf16, compile) on 2048-token sequences of random ids, for ``--steps`` optimizer
steps of 2 accumulated micro-batches per process: the trainer's own step (``phi1 pretrain``'s
``_Trainer._update``: loader, autocast or FSDP2, the chunked loss, one gradient sync, clipping,
AdamW), without validation or checkpoints. One GPU: one process; several: FSDP2 on all of
them under torchrun. The first steps (compile, allocator) are left out of the rates. The
peer is the paper's own figure: ~18.4k tokens/s per A100, 46-50% MFU (shared/PAPER.md); the
target is >= 50% MFU on an H100/H200. Each model runs in its own process(es), so peak memory
is its own; the table at the end is ready for BENCHMARKS.md.

    benchmarks/gpu/run.sh                 # on the GPU machine (under 10 minutes)
    benchmarks/gpu/run.sh --dry-run       # on a CPU: the debug preset, the table's shape
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
from _machine import describe  # noqa: E402

MODELS = ("phi-1-small", "phi-1")
ACCUM = 2  # micro-batches per step: the no-sync and the sync branch both run
WARMUP = 5  # steps left out of the rates (compile, allocator)
PAPER = "paper (8 x A100, fp16, DeepSpeed): ~18.4k tokens/s per GPU, 46-50% MFU"


def _settings(model: str, dry_run: bool) -> dict:
    """The recipe's pretraining settings for ``model`` (the debug preset on a dry run)."""
    from phi1.pipeline.recipe import command_section

    if dry_run:  # a CPU: no compile (Inductor's C++ build takes minutes), short sequences
        return {"preset": "debug", "block": 64, "micro": 2, "compile": False}
    section = command_section(REPO / "recipes" / f"{model}.yaml", ["pretrain"])
    train = section.get("train", {})
    return {
        "preset": section.get("model", model),
        "block": 2048,
        "micro": train.get("micro_batch", 8),
        "compile": bool(train.get("compile")),
    }


def write_data(path: Path, tokens: int) -> None:
    """Packed random token ids (the tokenizer's range), enough for every step."""
    import numpy as np

    from phi1.model.tokens import write_index, write_tokens

    ids = np.random.default_rng(0).integers(0, 50256, size=tokens, dtype=np.uint16)
    write_tokens(path, "shard-00000", ids, documents=1, sources={}, input_sha256="bench",
                 tokenizer={"name": "random", "vocab_size": 50295}, eot_id=50256)  # fmt: skip
    write_index(path)


def worker(model: str, data: Path, out: Path, steps: int, dry_run: bool) -> None:
    """One process of one model's run; rank 0 writes ``out/<model>.json``."""
    import torch

    from phi1.train.parallelize import close_distributed, init_distributed
    from phi1.train.settings import DataSettings, LogSettings, TrainSettings
    from phi1.train.trainer import TrainJob, _Trainer

    s = _settings(model, dry_run)
    d = init_distributed("cpu" if dry_run else None)
    train = TrainSettings(
        steps=steps, global_batch=s["micro"] * d.world_size * ACCUM, micro_batch=s["micro"],
        warmup_steps=1, precision="bf16", compile=s["compile"], seed=0,
        device="cpu" if dry_run else None,
    )  # fmt: skip
    job = TrainJob("pretrain", out / model, s["preset"], None,
                   DataSettings(paths=[str(data)], block_size=s["block"], val_fraction=0.0),
                   train, LogSettings(tensorboard=False, progress=False), None)  # fmt: skip
    trainer = _Trainer(job, d)
    times = []
    for step in range(1, steps + 1):
        t0 = time.perf_counter()
        trainer._update(step)  # ends in loss.item(): the step has finished on the device
        times.append(time.perf_counter() - t0)
    timed = times[WARMUP:] or times
    tokens = train.global_batch * s["block"]
    tps = tokens * len(timed) / sum(timed)
    flops = trainer.raw.flops_per_token(s["block"]) * tps
    if d.device.type == "cuda":
        memory = torch.cuda.max_memory_allocated(d.device) / 2**30
    else:
        import resource

        memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # peak RSS
    mfu = flops / (trainer.peak * d.world_size)
    if d.is_main:
        (out / f"{model}.json").write_text(json.dumps({
            "model": model, "preset": s["preset"], "params": trainer.raw.num_params(),
            "world": d.world_size, "strategy": trainer.strategy, "device": _device_name(d),
            "micro": s["micro"], "accum": trainer.loader.accum, "block": s["block"],
            "compile": s["compile"], "tokens_per_s": tps, "mfu": mfu, "memory_gib": memory,
            "step_s": sum(timed) / len(timed), "first_step_s": times[0],
            "steps": steps, "timed_steps": len(timed),
        }))  # fmt: skip
    close_distributed()


def _device_name(d) -> str:
    import torch

    return torch.cuda.get_device_name(d.device) if d.device.type == "cuda" else "CPU"


def launch(model: str, data: Path, out: Path, steps: int, gpus: int, dry_run: bool,
           timeout: float) -> dict:  # fmt: skip
    """Run one model in its own process (torchrun over every GPU when there are several)."""
    args = [__file__, "--worker", model, "--data", str(data), "--out", str(out)]
    args += ["--steps", str(steps)] + (["--dry-run"] if dry_run else [])
    if gpus > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", str(gpus), *args]  # fmt: skip
    else:
        cmd = [sys.executable, *args]
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, env=env, timeout=timeout, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        return {"model": model, "error": f"timed out after {timeout:.0f} s"}
    result = out / f"{model}.json"
    if proc.returncode != 0 or not result.exists():
        tail = (proc.stderr or proc.stdout)[-2000:]
        return {"model": model, "error": f"exit status {proc.returncode}: {tail}"}
    return {**json.loads(result.read_text()), "wall_s": time.monotonic() - t0}


HEADER = (
    "| model | params | device | GPUs | parallel | micro-batch x accum x seq | compile "
    "| tokens/s | tokens/s per GPU | MFU | peak memory (GiB) | step (s) | first step (s) |"
)


def table(rows: list[dict]) -> str:
    """Markdown rows for BENCHMARKS.md (a failed model keeps its row, with why)."""
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | failed: {r['error'].splitlines()[-1][:200]} |")
            continue
        per_gpu = r["tokens_per_s"] / r["world"]
        lines.append(
            f"| {r['model']} | {r['params'] / 1e6:,.0f}M | {r['device']} | {r['world']} "
            f"| {r['strategy']} | {r['micro']} x {r['accum']} x {r['block']} "
            f"| {'on' if r['compile'] else 'off'} | {r['tokens_per_s']:,.0f} | {per_gpu:,.0f} "
            f"| {100 * r['mfu']:.1f}% | {r['memory_gib']:.1f} | {r['step_s']:.3f} "
            f"| {r['first_step_s']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="CPU, debug preset: the table's shape")
    ap.add_argument("--steps", type=int, default=20, help="optimizer steps per model")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--timeout", type=float, default=270.0, help="seconds per model at most")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.data, args.out, args.steps, args.dry_run)
        return
    import torch

    gpus = 0 if args.dry_run else torch.cuda.device_count()
    if not gpus and not args.dry_run:
        raise SystemExit("no CUDA device: run on a GPU machine, or pass --dry-run")
    if args.dry_run:  # the shape, not the numbers: all steps timed
        args.steps = min(args.steps, 3)
    print(describe())
    print(f"{'dry run: CPU, debug preset, no compile' if args.dry_run else f'{gpus} GPU(s)'}; "
          f"{args.steps} steps per model, the first {WARMUP} left out; {PAPER}")  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        biggest = max(_settings(m, args.dry_run)["micro"] * _settings(m, args.dry_run)["block"]
                      for m in args.models)  # fmt: skip
        write_data(data, biggest * max(gpus, 1) * ACCUM * (args.steps + 1) + 1)
        for model in args.models:
            rows.append(
                launch(model, data, Path(tmp), args.steps, gpus, args.dry_run, args.timeout)
            )
            if "error" in rows[-1]:
                print(f"{model}: failed: {rows[-1]['error']}", file=sys.stderr, flush=True)
            else:
                print(f"{model}: done in {rows[-1]['wall_s']:.0f} s", flush=True)
    print()
    print(f"command: benchmarks/gpu/run.sh{' --dry-run' if args.dry_run else ''}")
    print(table(rows))


if __name__ == "__main__":
    main()
