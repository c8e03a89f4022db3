"""Decontamination throughput against the 164 HumanEval problems, and the time for 880K.

Measures, on generated exercises (tests/assets/decontam/exercises.py) with the 10 planted
HumanEval copies of tests/assets/decontam/planted/ hidden among them:

1. the AST edit distance: ours (rapidfuzz's bit-parallel Levenshtein over one character per
   AST token, all pairs in C) against the peers, a pure-Python dynamic programme and
   difflib's SequenceMatcher (which is not an edit distance), on the same pairs;
2. ``phi1 decontam run`` end to end with the defaults (the ``hash`` embedder, AST on the
   10 nearest problems), split into its fixed cost (the 164 problems, worker start-up),
   embedding and scoring;
3. the same with ``--settings.embedder minilm`` (the previous default; slow, so on fewer
   records; ``--minilm-records 0`` skips it);
4. ``--settings.embedder none`` (no embeddings; AST against every problem).

Each run reports the planted copies flagged at tau 0.9 (of 10) and the generated exercises
flagged (false positives), and projects to 880K exercises: fixed cost + 880K x (measured
seconds per record). The machine is shared, so it also prints the load average and a
projection from CPU seconds (CPU seconds per record x 880K / cores: what the run would take
on idle cores).

    .venv/bin/python benchmarks/bench_decontam.py [--records 5000] [--minilm-records 300]
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from _machine import describe
from phi1.data.decontam.features import ast_units, match_rates, parse_code
from phi1.data.decontam.run import DecontamSettings, run_decontam
from phi1.data.decontam.score import BenchmarkIndex, load_benchmark
from phi1.io import read_jsonl, write_jsonl

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
    report = run_decontam(str(data), str(out), settings)
    return time.perf_counter() - wall, _cpu() - cpu, report


def _fmt(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds > 5400 else f"{seconds / 60:.1f} min"


def _planted() -> list[dict]:
    out = []
    for path in sorted((ROOT / "tests" / "assets" / "decontam" / "planted").glob("he*.py.txt")):
        out.append({"id": f"planted-{int(path.name[2:5])}", "text": path.read_text()})
    return out


def _dataset(n: int, seed: int) -> list[dict]:
    rows = _generate(n, seed)
    rng = random.Random(seed)
    for row in _planted():
        rows.insert(rng.randrange(len(rows) + 1), row)
    return rows


def bench_run(tmp: Path, label: str, settings: DecontamSettings, n: int, seed: int,
              cores: int) -> float:  # fmt: skip
    """One setting on ``n`` generated exercises + the planted copies; returns records/s."""
    rows = _dataset(n, seed)
    data = tmp / f"{label}.jsonl"
    write_jsonl(data, rows)
    fixed_wall, fixed_cpu, _ = _run(tmp / "one.jsonl", tmp / f"{label}-one", settings)
    wall, cpu, rep = _run(data, tmp / f"{label}-out", settings)
    per_wall, per_cpu = (wall - fixed_wall) / len(rows), (cpu - fixed_cpu) / len(rows)
    rejects = {r["id"]: r for r in read_jsonl(tmp / f"{label}-out" / "rejects.jsonl")}
    at_09 = {i for i, r in rejects.items() if 0.9 in r["taus"]}
    planted = sum(f"planted-{k}" in at_09 for k in (0, 5, 10, 20, 46, 69, 80, 95, 109, 141))
    false_pos = sum(i.startswith("gen-") for i in at_09)
    print(f"   fixed cost (benchmark, model load, workers): {fixed_wall:.1f} s")
    if settings.uses_embeddings:
        embed_s = max(rep["seconds"]["embed"] - fixed_wall, 1e-9)
        print(f"   embedding {len(rows) / embed_s:.1f} records/s, scoring "
              f"{len(rows) / rep['seconds']['score']:.1f} records/s (wall)")  # fmt: skip
    rate = 1 / max(per_wall, 1e-9)
    print(f"   end to end {len(rows) / wall:.1f} records/s incl. fixed, {rate:.1f} without; "
          f"{per_cpu * 1e3:.2f} CPU ms/record")  # fmt: skip
    print(f"   880K projected: {_fmt(fixed_wall + TARGET * per_wall)} (wall as measured), "
          f"{_fmt((fixed_cpu + TARGET * per_cpu) / cores)} (CPU s / {cores} cores)")  # fmt: skip
    print(f"   flagged at tau 0.9: planted copies {planted}/10, generated exercises "
          f"{false_pos}/{n}")  # fmt: skip
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000, help="generated exercises")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minilm-records", type=int, default=300,
                        help="exercises for the MiniLM run (0: skip it)")  # fmt: skip
    parser.add_argument("--none-records", type=int, default=5000, help="for the run without")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(describe())
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {cores} cores")
    index = BenchmarkIndex.build(load_benchmark("humaneval"), 13)
    bench_edit_distance(_generate(500, args.seed), index)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_jsonl(tmp / "one.jsonl", _generate(1, args.seed))
        n = args.records
        print(f"\n2. decontam run, defaults (hash embedder, AST on 10 candidates), {n} records:")
        ours = bench_run(tmp, "hash", DecontamSettings(), n, args.seed, cores)
        if args.minilm_records:
            n = args.minilm_records
            print(f"\n3. decontam run --settings.embedder minilm (window 256), {n} records:")
            minilm = DecontamSettings(embedder="minilm")
            peer = bench_run(tmp, "minilm", minilm, n, args.seed, cores)
            print(f"   ratio (hash / minilm records/s): {ours / peer:.1f}x")
        else:
            print("\n3. skipped (--minilm-records 0)")
        n = args.none_records
        print(f"\n4. decontam run --settings.embedder none (AST against all 164), {n} records:")
        peer = bench_run(tmp, "none", DecontamSettings(embedder="none"), n, args.seed + 1, cores)
        print(f"   ratio (hash / none records/s): {ours / peer:.2f}x")
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}; target: 880K in under 1 h")


if __name__ == "__main__":
    main()
