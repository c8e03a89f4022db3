"""Early-signal loss over all 164 HumanEval problems: ``phi1 eval loss``'s scoring against a
plain transformers loop.

Same weights (phi1's seeded init moved into ``PhiForCausalLM`` with the checkpoint mapping),
same token ids (prompt and canonical solution tokenized apart, as ``phi1 eval loss`` does),
fp32 on the CPU. The peer is the loop anyone would write: one problem at a time, the whole
sequence through ``PhiForCausalLM``, log-softmax over its logits, the solution tokens'
log-probabilities summed. Us: :func:`phi1.model.score.sequence_nll`, what ``phi1 eval loss``
and training's ``log.benchmarks`` call (packed rows, document-masked attention, lm_head on
the scored positions only). The per-problem NLLs must agree within 1e-4 relative; the
script fails otherwise. Each side runs in its own process (peak RSS per side); they take
turns call by call, so a change in the machine's load hits both alike.

    .venv/bin/python benchmarks/bench_eval_loss.py                           # phi-1-small, 4 layers
    .venv/bin/python benchmarks/bench_eval_loss.py --preset tiny --layers 0  # the demo's model
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _machine import Worker, describe, fmt_times, serve, take_turns  # noqa: E402


def problems(limit: int | None) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, solution ids) of HumanEval's problems, phi1's tokenizer."""
    from phi1.model.score import reference_set
    from phi1.sandbox.problems import load_humaneval

    table = dict(list(load_humaneval().items())[:limit])
    return reference_set("humaneval", table).pairs


def build(side: str, preset: str, layers: int, limit: int | None) -> Callable[[], dict]:
    """One timed scoring of every problem by ``side``; the model stays loaded between calls."""
    import torch

    from phi1.model.config import ModelConfig
    from phi1.model.model import Phi

    config = ModelConfig.from_name(preset, **({"n_layer": layers} if layers else {}))
    model = Phi(config, generator=torch.Generator().manual_seed(0)).eval()
    pairs = problems(limit)
    if side == "hf":
        from phi1.model.checkpoint import hf_model, to_hf_state_dict

        net = hf_model(config, to_hf_state_dict(model.state_dict(), config))
        del model

        def score() -> list[float]:
            out = []
            with torch.no_grad():
                for ctx, sol in pairs:
                    logits = net(torch.tensor([ctx + sol])).logits[0]
                    logp = torch.log_softmax(logits[len(ctx) - 1 : -1].float(), dim=-1)
                    out.append(-logp.gather(1, torch.tensor(sol)[:, None]).sum().item())
            return out
    else:
        from phi1.model.score import sequence_nll

        def score() -> list[float]:
            return sequence_nll(model, pairs).tolist()

    def call() -> dict:
        t0 = time.perf_counter()
        nll = score()
        return {"seconds": time.perf_counter() - t0, "nll": nll}

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="phi-1-small")
    parser.add_argument("--layers", type=int, default=4, help="depth (0: the preset's own)")
    parser.add_argument("--limit", type=int, default=None, help="first N problems (all: 164)")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls; the best counts")
    parser.add_argument("--worker", choices=["hf", "phi1"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        serve({"ready": args.worker}, build(args.worker, args.preset, args.layers, args.limit))
        return
    print(describe())
    pairs = problems(args.limit)
    total = sum(len(c) + len(s) for c, s in pairs)
    scored = sum(len(s) for _, s in pairs)
    depth = f"{args.layers} layers" if args.layers else "full depth"
    print(f"model: {args.preset} shape, {depth}, fp32; {len(pairs)} HumanEval problems, "
          f"{total:,} tokens of which {scored:,} scored (the solutions)")  # fmt: skip
    workers = {}
    for side in ("hf", "phi1"):
        cmd = [sys.executable, __file__, "--worker", side, "--preset", args.preset]
        cmd += ["--layers", str(args.layers)]
        cmd += ["--limit", str(args.limit)] if args.limit else []
        workers[side] = Worker(cmd)
    times, last = take_turns(workers, args.repeats)
    rss = {side: w.close()["peak_rss_mb"] for side, w in workers.items()}
    pairs_nll = zip(last["phi1"]["nll"], last["hf"]["nll"], strict=True)
    worst = max(abs(a - b) / abs(b) for a, b in pairs_nll)
    if worst > 1e-4:
        raise SystemExit(f"NLLs differ by up to {worst:.2e} relative: not comparable")
    for name, side in (("peer  transformers loop", "hf"), ("us    phi1 eval loss", "phi1")):
        best = min(times[side])
        print(f"  {name:24s} {total / best:9.1f} tokens/s  {best:7.2f} s  "
              f"peak RSS {rss[side]:.0f} MB")  # fmt: skip
    hf, us = min(times["hf"]), min(times["phi1"])
    print(
        f"  ratio us/peer: {hf / us:.2f}x tokens/s, {rss['phi1'] / rss['hf']:.2f}x peak RSS; "
        f"NLLs agree within {worst:.1e} relative; calls (s) peer {fmt_times(times['hf'])}, "
        f"us {fmt_times(times['phi1'])}"
    )


if __name__ == "__main__":
    main()
