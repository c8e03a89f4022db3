"""Training step (forward + backward + AdamW) of phi1's model against transformers' PhiForCausalLM.

Same weights (phi1's random init, moved into transformers with the checkpoint mapping), same
tokens, fp32 on the CPU. The peer is what a transformers user writes: ``model(ids,
labels=ids).loss``, ``backward()``, ``torch.optim.AdamW`` (defaults) over the same parameter
groups; phi1 is ``model(idx, targets)`` and ``model.configure_optimizers``. Both losses are
printed: they must agree. Achieved FLOP/s (``Phi.flops_per_token``) are divided by the
large-matmul FLOP/s measured in the same run (the best of a short measurement before each
round of steps). Each (side, length) runs in its own process, so peak RSS is per case; both
stay loaded and take turns step by step, so a change in the machine's load hits both alike.
The best step of each side counts; every step time is printed.

    .venv/bin/python benchmarks/bench_train_step.py                     # 512 and 2048
    .venv/bin/python benchmarks/bench_train_step.py --seq 512 --steps 3 --layers 2
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _machine import Worker, best_rate, describe, serve  # noqa: E402


def matmul_flops(n: int = 2048, seconds: float = 2.0) -> float:
    """Best FLOP/s of an n x n x n fp32 matmul: the machine's practical peak."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return best_rate(lambda: torch.mm(a, b), 2 * n**3, seconds)


def build(side: str, layers: int, seq: int, batch: int) -> Callable[[], dict]:
    """One training step of ``side`` as a function; the model and optimizer stay loaded."""
    import torch

    from phi1.model.checkpoint import hf_model, to_hf_state_dict
    from phi1.model.config import ModelConfig
    from phi1.model.model import Phi

    config = ModelConfig.from_name("phi-1-small", n_layer=layers, block_size=max(seq, 2048))
    model = Phi(config, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 50295, (batch, seq + 1), generator=g)
    hparams = dict(weight_decay=0.1, lr=1e-4, betas=(0.9, 0.95), eps=1e-8)
    x = ids[:, :-1]
    if side == "hf":
        net = hf_model(config, to_hf_state_dict(model.state_dict(), config)).train()
        del model
        params = [p for p in net.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(
            [
                {"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
                {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
            ],
            lr=hparams["lr"],
            betas=hparams["betas"],
            eps=hparams["eps"],
        )

        def loss() -> torch.Tensor:
            return net(x, labels=x).loss  # transformers shifts the labels itself
    else:
        opt = model.configure_optimizers(**hparams)
        targets = torch.cat([x[:, 1:], torch.full((batch, 1), -100)], dim=1)

        def loss() -> torch.Tensor:
            return model(x, targets)

    def step() -> dict:
        t0 = time.perf_counter()
        value = loss()
        value.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        value = value.item()
        return {"seconds": time.perf_counter() - t0, "loss": value}

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seq", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--layers", type=int, default=4, help="phi-1-small at this depth")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument(
        "--steps", type=int, default=3, help="timed steps per side; the best counts"
    )
    parser.add_argument("--worker", choices=["hf", "phi1"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        (seq,) = args.seq
        serve({"ready": args.worker}, build(args.worker, args.layers, seq, args.batch))
        return

    from phi1.model.config import ModelConfig
    from phi1.model.model import Phi

    print(describe())
    print(f"model: phi-1-small shape, {args.layers} layers, batch {args.batch}, fp32, AdamW")
    peak = 0.0
    for seq in args.seq:
        config = ModelConfig.from_name(
            "phi-1-small", n_layer=args.layers, block_size=max(seq, 2048)
        )
        with torch.device("meta"):
            flops_per_token = Phi(config).flops_per_token(seq)
        workers = {}
        for side in ("hf", "phi1"):
            cmd = [sys.executable, __file__, "--worker", side, "--seq", str(seq)]
            cmd += ["--layers", str(args.layers), "--batch", str(args.batch)]
            workers[side] = Worker(cmd)
        times: dict[str, list[float]] = {"hf": [], "phi1": []}
        losses: dict[str, float] = {}
        for i in range(args.steps + 1):  # turn by turn; the first step of each warms up
            peak = max(peak, matmul_flops(seconds=1.0))
            for side in ("hf", "phi1") if i % 2 == 0 else ("phi1", "hf"):
                r = workers[side].ask("step")
                losses.setdefault(side, r["loss"])
                if i:
                    times[side].append(r["seconds"])
        rss = {side: w.close()["peak_rss_mb"] for side, w in workers.items()}
        tokens = args.batch * seq
        print(f"seq {seq}:")
        for name, side in (("peer  transformers PhiForCausalLM", "hf"), ("us    phi1 Phi", "phi1")):
            best = min(times[side])
            tps = tokens / best
            print(
                f"  {name:34s} {tps:8.1f} tokens/s  {best:6.2f} s/step  "
                f"{flops_per_token * tps / peak:5.1%} of matmul peak  "
                f"peak RSS {rss[side]:.0f} MB  first loss {losses[side]:.6f}"
            )
        hf, us = min(times["hf"]), min(times["phi1"])
        print(
            f"  ratio us/peer: {hf / us:.2f}x tokens/s, {rss['phi1'] / rss['hf']:.2f}x peak RSS; "
            f"steps (s) peer {_fmt(times['hf'])}, us {_fmt(times['phi1'])}"
        )
    print(f"large-matmul peak (2048^3 fp32, best of the run): {peak / 1e9:.1f} GFLOP/s")


def _fmt(xs: list[float]) -> str:
    return " ".join(f"{x:.2f}" for x in xs)


if __name__ == "__main__":
    main()
