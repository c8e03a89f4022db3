"""Training throughput: phi1's trainer against a bare PyTorch loop on the same model.

The peer is the least a training step can be: forward, backward, AdamW on random tokens
already in memory. "us" is ``phi1 pretrain``'s whole loop on packed shards (loader,
accumulation, clipping, schedule, logging). The ratio shows what the trainer costs on top
of the model; both report tokens/s, MFU against the CPU's theoretical peak (cores x clock x
FMA width, so it reads low) and peak RSS. Each measurement runs in its own process so its
peak memory is its own.

    .venv/bin/python benchmarks/bench_train.py --preset tiny --block 256 --batch 4 --steps 6
    .venv/bin/python benchmarks/bench_train.py --preset phi-1-small --block 512 --batch 1 --steps 3
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe  # noqa: E402


def peer(preset: str, block: int, batch: int, steps: int, q) -> None:
    import torch

    from phi1.model.config import ModelConfig
    from phi1.model.model import Phi

    torch.manual_seed(0)
    model = Phi(ModelConfig.from_name(preset))
    opt = model.configure_optimizers(0.1, 1e-4)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 50000, (batch, block + 1), generator=g)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = model(x[:, :-1], x[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
    q.put((batch * block * (steps - 1) / sum(times[1:]), _rss_mb()))


def ours(preset: str, block: int, batch: int, steps: int, q) -> None:
    import json
    import random

    import numpy as np

    from phi1.model.tokens import write_index, write_tokens
    from phi1.train.settings import DataSettings, LogSettings, TrainSettings
    from phi1.train.trainer import TrainJob, run

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        rng = random.Random(0)
        n = (block * batch * steps + 1) * 2
        tokens = np.array([rng.randrange(50000) for _ in range(n)], dtype=np.uint16)
        write_tokens(
            data, "shard-00000", tokens, documents=1, sources={}, input_sha256="bench",
            tokenizer={"name": "random"}, eot_id=50256,
        )  # fmt: skip
        write_index(data)
        job = TrainJob(
            stage="pretrain",
            out=Path(tmp) / "run",
            model=preset,
            init=None,
            data=DataSettings(paths=[str(data)], block_size=block, val_fraction=0.0),
            train=TrainSettings(
                steps=steps, global_batch=batch, lr=1e-4, warmup_steps=0, dropout=0.0, seed=0
            ),
            log=LogSettings(log_interval=1, save_interval=10**9, tensorboard=False, progress=False),
            resume=None,
        )
        run(job)
        rows = [json.loads(line) for line in (job.out / "metrics.jsonl").open()]
        rows = [r for r in rows if "tokens_per_s" in r][1:]  # the first step warms up
        seconds = sum(batch * block / r["tokens_per_s"] for r in rows)
    q.put((batch * block * len(rows) / seconds, _rss_mb()))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(fn, *args) -> tuple[float, float]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=fn, args=(*args, q))
    p.start()
    result = q.get()
    p.join()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", action="append", help="model preset(s); default tiny")
    ap.add_argument("--block", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=6)
    args = ap.parse_args()
    import torch

    from phi1.model.config import ModelConfig
    from phi1.model.model import Phi
    from phi1.train.optim import peak_flops

    print(describe())
    peak = peak_flops("cpu")
    print(f"CPU theoretical peak (fp32 FMA): {peak / 1e9:.0f} GFLOP/s; GPU MFU: not measured here")
    for preset in args.preset or ["tiny"]:
        with torch.device("meta"):
            fpt = Phi(ModelConfig.from_name(preset)).flops_per_token(args.block)
        shape = (preset, args.block, args.batch, args.steps)
        base_tps, base_rss = measure(peer, *shape)
        tps, rss = measure(ours, *shape)
        print(f"\n{preset}: batch {args.batch} x {args.block} tokens, {args.steps} steps (fp32)")
        for name, t, r in (("bare loop (peer)", base_tps, base_rss), ("phi1 trainer", tps, rss)):
            mfu = 100 * fpt * t / peak
            print(f"  {name:18s} {t:9.1f} tok/s  MFU {mfu:5.2f}%  peak RSS {r:7.0f} MB")
        print(f"  ratio phi1 / peer: {tps / base_tps:.2f}x tokens/s, {rss / base_rss:.2f}x memory")


if __name__ == "__main__":
    main()
