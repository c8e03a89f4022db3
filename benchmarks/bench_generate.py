"""Generation throughput: phi1's ``generate_ids`` against transformers' ``generate``.

Same weights (phi1's random init moved into ``PhiForCausalLM`` with the checkpoint mapping),
same prompts (HumanEval-sized: 40 to 120 tokens of real code, left-padded in a batch),
greedy decoding of a fixed number of new tokens with eos disabled, fp32 on the CPU. The new
tokens must be identical; the script compares them and fails otherwise. tokens/s counts new
tokens (batch x new) over the whole call, prefill included. The run also measures how fast
the machine streams memory: a decoding step reads every weight once, so ``new`` steps take
at least (weight bytes x new / bandwidth) whatever the batch, which bounds the ratio any
fp32 implementation can reach (at batch 1 the step is little else). Each (side, batch)
runs in its own process, so peak RSS is per case; both stay loaded and take turns call by
call, so a change in the machine's load hits both alike.

    .venv/bin/python benchmarks/bench_generate.py                           # phi-1-small, 4 layers
    .venv/bin/python benchmarks/bench_generate.py --preset tiny --layers 0  # the preset's depth
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).parent))
from _machine import Worker, best_rate, describe, fmt_times, serve, take_turns  # noqa: E402

if TYPE_CHECKING:
    from phi1.model.config import ModelConfig


def prompts(batch: int) -> list[list[int]]:
    """``batch`` prompts cut from this library's own source, 40 to 120 tokens each."""
    from phi1.model import generate
    from phi1.model.tokenizer import get_tokenizer

    ids = get_tokenizer().encode(inspect.getsource(generate))
    lengths = [40 + (80 * i) // max(1, batch - 1) for i in range(batch)] if batch > 1 else [80]
    return [ids[i * 97 : i * 97 + n] for i, n in enumerate(lengths)]


def model_config(preset: str, layers: int) -> ModelConfig:
    """The preset's config, at ``layers`` depth (0: the preset's own)."""
    from phi1.model.config import ModelConfig

    return ModelConfig.from_name(preset, **({"n_layer": layers} if layers else {}))


def build(side: str, preset: str, layers: int, batch: int, new: int) -> Callable[[], dict]:
    """One timed generation call of ``side``; the model stays loaded between calls."""
    import torch

    from phi1.model.model import Phi

    config = model_config(preset, layers)
    model = Phi(config, generator=torch.Generator().manual_seed(0)).eval()
    rows = prompts(batch)
    if side == "hf":
        from phi1.model.checkpoint import hf_model, to_hf_state_dict

        net = hf_model(config, to_hf_state_dict(model.state_dict(), config))
        del model
        width = max(map(len, rows))
        ids = torch.tensor([[0] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])

        def generate() -> list[list[int]]:
            with torch.no_grad():
                out = net.generate(
                    ids,
                    attention_mask=mask,
                    max_new_tokens=new,
                    min_new_tokens=new,
                    do_sample=False,
                    eos_token_id=None,
                    pad_token_id=0,
                )
            return out[:, width:].tolist()
    else:
        from phi1.model.generate import generate_ids

        def generate() -> list[list[int]]:
            return [ids for ids, _ in generate_ids(model, rows, max_new_tokens=new, eos_id=-1)]

    def call() -> dict:
        t0 = time.perf_counter()
        tokens = generate()
        return {
            "seconds": time.perf_counter() - t0,
            "tokens_sha256": hashlib.sha256(json.dumps(tokens).encode()).hexdigest(),
            "prompt_tokens": sum(map(len, rows)),
        }

    return call


def read_bandwidth(mb: int = 512, seconds: float = 2.0) -> float:
    """Best bytes/s of summing an ``mb`` MB fp32 tensor: how fast this machine streams
    weights from memory with torch's threads (the floor of a decoding step)."""
    import torch

    x = torch.ones(mb << 18)
    return best_rate(x.sum, x.numel() * 4, seconds)


def weight_bytes(preset: str, layers: int) -> int:
    """Bytes a decoding step must read: every fp32 weight but the token embedding."""
    import torch

    from phi1.model.model import Phi

    with torch.device("meta"):
        return 4 * Phi(model_config(preset, layers)).num_params(exclude_embedding=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="phi-1-small")
    parser.add_argument("--layers", type=int, default=4, help="depth (0: the preset's own)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--new", type=int, default=64, help="new tokens per prompt")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls; the best counts")
    parser.add_argument("--worker", choices=["hf", "phi1"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        (batch,) = args.batch
        serve({"ready": args.worker}, build(args.worker, args.preset, args.layers, batch, args.new))
        return
    print(describe())
    depth = f"{args.layers} layers" if args.layers else "full depth"
    print(f"model: {args.preset} shape, {depth}, fp32, greedy, {args.new} new tokens per prompt")
    best_times: dict[int, tuple[float, float]] = {}  # batch -> (peer, us) seconds
    for batch in args.batch:
        workers = {}
        for side in ("hf", "phi1"):
            cmd = [sys.executable, __file__, "--worker", side, "--batch", str(batch)]
            cmd += ["--preset", args.preset, "--layers", str(args.layers), "--new", str(args.new)]
            workers[side] = Worker(cmd)
        times, last = take_turns(workers, args.repeats)
        rss = {side: w.close()["peak_rss_mb"] for side, w in workers.items()}
        if last["hf"]["tokens_sha256"] != last["phi1"]["tokens_sha256"]:
            raise SystemExit(f"batch {batch}: generated tokens differ: not comparable")
        n = batch * args.new
        print(f"batch {batch} ({last['hf']['prompt_tokens']} prompt tokens):")
        for name, side in (
            ("peer  transformers generate", "hf"),
            ("us    phi1 generate_ids", "phi1"),
        ):
            best = min(times[side])
            print(
                f"  {name:28s} {n / best:8.1f} new tokens/s  {best:7.2f} s  "
                f"peak RSS {rss[side]:.0f} MB"
            )
        hf, us = min(times["hf"]), min(times["phi1"])
        print(
            f"  ratio us/peer: {hf / us:.2f}x tokens/s, {rss['phi1'] / rss['hf']:.2f}x peak RSS; "
            f"tokens identical; calls (s) peer {fmt_times(times['hf'])}, "
            f"us {fmt_times(times['phi1'])}"
        )
        best_times[batch] = hf, us
    # Measured last: a worker started from a process that once held the 512 MB buffer would
    # report that process's peak RSS as its own (Linux carries it across exec).
    bandwidth, weights = read_bandwidth(), weight_bytes(args.preset, args.layers)
    floor = args.new * weights / bandwidth  # decoding only: the prefill comes on top
    print(
        f"weight-read floor: {weights / 1e6:.0f} MB of weights per decoding step at "
        f"{bandwidth / 1e9:.1f} GB/s (best of the run) = {floor:.2f} s for {args.new} steps"
    )
    for batch, (hf, us) in best_times.items():
        print(
            f"  batch {batch}: us at {floor / us:.0%} of the floor; no fp32 decoder that reads "
            f"its weights once a step beats {hf / floor:.2f}x the peer here"
        )


if __name__ == "__main__":
    main()
