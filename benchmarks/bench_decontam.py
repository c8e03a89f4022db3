"""Decontamination throughput against the 164 HumanEval problems, and the time for 880K.

Measures, on generated exercises (tests/assets/decontam/exercises.py):

1. the AST edit distance: ours (rapidfuzz's bit-parallel Levenshtein over one character per
   AST token, all pairs in C) against the peers, a pure-Python dynamic programme and
   difflib's SequenceMatcher (which is not an edit distance), on the same pairs;
2. ``phi1 decontam run`` end to end with the defaults (MiniLM embeddings, AST on the 10
   nearest problems), split into its fixed cost (model load, the 164 problems), embedding
   and scoring;
3. ``phi1 decontam run --settings.embedder none`` (no embeddings; AST against every problem).

and projects each to 880K exercises: fixed cost + 880K x (measured seconds per record). The
machine is shared, so it also prints the load average and a projection from CPU seconds
(CPU seconds per record x 880K / cores: what the run would take on idle cores).

    .venv/bin/python benchmarks/bench_decontam.py --records 1000
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

from _machine import describe
from phi1.data.decontam import DecontamSettings, decontam_run
from phi1.data.decontam_features import ast_units, match_rates, parse_code
from phi1.data.decontam_score import BenchmarkIndex, load_benchmark
from phi1.io import write_jsonl

ROOT = Path(__file__).resolve().parent.parent
TARGET = 880_000


def _generate(n: int, seed: int) -> list[dict]:
    if "decontam_exercises" in sys.modules:
        return sys.modules["decontam_exercises"].generate(n, seed)
    spec = importlib.util.spec_from_file_location(
        "decontam_exercises", ROOT / "tests" / "assets" / "decontam" / "exercises.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.generate(n, seed)


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def bench_edit_distance(rows: list[dict], index: BenchmarkIndex) -> None:
    units = [ast_units(parse_code(r["text"])) for r in rows[:200]]
    problems = index.units[:10]
    pairs = [(u[0], p) for u in units if u for p in problems]
    t = time.perf_counter()
    for u in units:
        match_rates(problems, u)
    ours = (time.perf_counter() - t) / len(pairs)
    t = time.perf_counter()
    for a, b in pairs:
        1 - _levenshtein(a, b) / max(len(a), len(b))
    python_dp = (time.perf_counter() - t) / len(pairs)
    t = time.perf_counter()
    for a, b in pairs:
        difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
    diff = (time.perf_counter() - t) / len(pairs)
    mean_len = sum(len(a) + len(b) for a, b in pairs) / (2 * len(pairs))
    print(f"\n1. AST match rate, {len(pairs)} pairs of ~{mean_len:.0f} tokens:")
    print(f"   peer  pure-Python Levenshtein DP  {python_dp * 1e6:9.1f} us/pair")
    print(f"   peer  difflib SequenceMatcher     {diff * 1e6:9.1f} us/pair (not an edit distance)")
    print(f"   us    rapidfuzz cdist             {ours * 1e6:9.1f} us/pair")
    print(f"   ratio {python_dp / ours:.0f}x faster than the DP, {diff / ours:.0f}x than difflib")


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _run(data: Path, out: Path, settings: DecontamSettings) -> tuple[float, float, dict]:
    wall, cpu = time.perf_counter(), _cpu()
    report = decontam_run(str(data), str(out), settings)
    return time.perf_counter() - wall, _cpu() - cpu, report


def bench_minilm(tmp: Path, n: int, cores: int) -> None:
    print(f"\n2. decontam run, defaults (MiniLM window 256, AST on 10 candidates), {n} rec:")
    fixed_wall, fixed_cpu, _ = _run(tmp / "one.jsonl", tmp / "o1", DecontamSettings())
    wall, cpu, rep = _run(tmp / "data.jsonl", tmp / "o2", DecontamSettings())
    per_wall, per_cpu = (wall - fixed_wall) / n, (cpu - fixed_cpu) / n
    embed_s = rep["seconds"]["embed"] - fixed_wall
    print(f"   fixed cost (model load + 164 problems): {fixed_wall:.1f} s")
    print(
        f"   embedding {n / max(embed_s, 1e-9):.1f} records/s, "
        f"scoring {n / rep['seconds']['score']:.1f} records/s (wall)"
    )
    print(
        f"   end to end {n / wall:.1f} records/s incl. fixed, {1 / max(per_wall, 1e-9):.1f} without"
    )
    print(
        f"   880K projected: {_fmt(fixed_wall + TARGET * per_wall)} (wall as measured), "
        f"{_fmt((fixed_cpu + TARGET * per_cpu) / cores)} (CPU s / {cores} cores)"
    )


def _fmt(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds > 5400 else f"{seconds / 60:.1f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500, help="generated exercises")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--none-records", type=int, default=5000, help="for the run without")
    parser.add_argument("--no-minilm", action="store_true", help="skip the embedding runs")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(describe())
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {cores} cores")
    rows = _generate(args.records, args.seed)
    index = BenchmarkIndex.build(load_benchmark("humaneval"), 13)
    bench_edit_distance(rows, index)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_jsonl(tmp / "one.jsonl", rows[:1])
        write_jsonl(tmp / "data.jsonl", rows)
        n = len(rows)
        if args.no_minilm:
            print("\n2. skipped (--no-minilm)")
        else:
            bench_minilm(tmp, n, cores)
        # No model to load here, so more records: the worker start-up is amortised.
        n = args.none_records
        write_jsonl(tmp / "many.jsonl", _generate(n, args.seed + 1))
        print(f"\n3. decontam run --settings.embedder none (AST against all 164), {n} records:")
        none = DecontamSettings(embedder="none")
        fixed_wall, fixed_cpu, _ = _run(tmp / "one.jsonl", tmp / "o3", none)
        wall, cpu, rep = _run(tmp / "many.jsonl", tmp / "o4", none)
        per_wall, per_cpu = (wall - fixed_wall) / n, (cpu - fixed_cpu) / n
        print(f"   fixed cost (benchmark load): {fixed_wall:.1f} s")
        print(f"   end to end {n / wall:.1f} records/s (wall), {per_cpu * 1e3:.2f} CPU ms/record")
        print(
            f"   880K projected: {_fmt(fixed_wall + TARGET * per_wall)} (wall as measured), "
            f"{_fmt((fixed_cpu + TARGET * per_cpu) / cores)} (CPU s / {cores} cores)"
        )
        print(f"   flagged at tau 0.9: {rep['removed']['0.9']} of {n} generated exercises")
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}; target: 880K in under 1 h")


if __name__ == "__main__":
    main()
