"""The teacher's speed: generated tokens/s through phi1 beside raw llama-cpp-python, and
verified exercises per minute.

The requests are the ones ``phi1 synth exercises`` makes: the exercise itself (one sample),
the candidate solutions (``--candidates`` samples of one prompt, the reply prefilled with
the exercise) and the test inputs (greedy). The peer is llama-cpp-python's own
``create_completion`` on the very same prompt tokens, with the same sampling settings and
stop strings, one call per sample (seeds ``seed + k``: what it offers for n samples); phi1
decodes a request's samples together (:class:`phi1.llm.llamacpp.ParallelDecoder`). Both
use the same ``llama_cpp.Llama`` (same weights, threads, context); rounds are interleaved
so background load hits both alike. Prints tokens/s of each, per kind of request and in
all, and the ratio (target >= 0.90).

``--exercises N`` then runs ``phi1 synth exercises`` on N exercises with the default
settings into a temporary directory and prints verified exercises per minute, with the
wall time and the CPU seconds it took (the machine may be shared).

    .venv/bin/python benchmarks/bench_teacher.py --rounds 2 --exercises 12
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

from _machine import describe
from phi1.llm import GenParams, Request, load_llm
from phi1.llm.prompts import TEMPLATES, render
from phi1.llm.runner import RunnerSettings
from phi1.synth.exercises import ExerciseSettings, exercise_jobs, generate_exercises
from phi1.synth.verify import SOLUTION_STOPS

EXERCISE = '''def count_even_runs(values: list[int]) -> int:
    """Return how many maximal runs of consecutive even numbers ``values`` holds.

    A run is one or more even numbers next to each other; an odd number ends a run.
    An empty list has no runs.

    >>> count_even_runs([2, 4, 1, 6, 3, 8, 8])
    3
    >>> count_even_runs([])
    0
    """
'''


def requests(settings: ExerciseSettings, statements: int, tokens: int) -> list[tuple]:
    """``(kind, Request)`` of each kind the exercise stage sends."""
    out = []
    for job in exercise_jobs(settings, TEMPLATES)[:statements]:
        params = job.request.params.with_(max_tokens=tokens)
        out.append(("exercise", Request(messages=job.request.messages, params=params)))
    system = {"role": "system", "content": render(TEMPLATES, "exercise.system")}
    fields = {"name": "count_even_runs", "prompt": EXERCISE, "inputs": settings.inputs}
    user = {"role": "user", "content": render(TEMPLATES, "exercise.solution", **fields)}
    for seed in range(statements):
        params = GenParams(max_tokens=tokens, n=settings.candidates - 1, seed=seed,
                           temperature=settings.solution_temperature, top_p=settings.top_p,
                           stop=SOLUTION_STOPS)  # fmt: skip
        out.append(("candidates", Request(messages=[system, user], params=params,
                                          prefill="```python\n" + EXERCISE)))  # fmt: skip
    user = {"role": "user", "content": render(TEMPLATES, "exercise.inputs", **fields)}
    params = GenParams(max_tokens=tokens, temperature=0.0, stop=("\n```",))
    out.append(("inputs", Request(messages=[system, user], params=params,
                                  prefill="```python\ncount_even_runs(")))  # fmt: skip
    return out


def run_raw(llm, reqs: list[tuple]) -> dict[str, list]:
    """llama-cpp-python's ``create_completion``, one call per sample, on phi1's prompt."""
    raw, done = llm.llama, {}
    for kind, r in reqs:
        tokens = llm.tokenize(llm.prompt_text(r))
        p, t0, n = r.params, time.perf_counter(), 0
        for k in range(p.n if p.temperature > 0 else 1):
            raw.reset()  # what phi1 does per request: no cache from the request before
            out = raw.create_completion(prompt=tokens, max_tokens=p.max_tokens,
                                        temperature=p.temperature, top_p=p.top_p, top_k=0,
                                        min_p=0.0, stop=list(p.stop), seed=p.seed + k,
                                        repeat_penalty=1.0)  # fmt: skip
            n += out["usage"]["completion_tokens"]
        _add(done, kind, n, time.perf_counter() - t0)
    return done


def run_ours(llm, reqs: list[tuple]) -> dict[str, list]:
    done: dict[str, list] = {}
    for kind, r in reqs:
        t0 = time.perf_counter()
        ((_, c),) = llm.stream([r])
        _add(done, kind, c.completion_tokens, time.perf_counter() - t0)
    return done


def _add(done: dict[str, list], kind: str, n: int, dt: float) -> None:
    got = done.setdefault(kind, [0, 0.0])
    got[0] += n
    got[1] += dt


def compare(args: argparse.Namespace, settings: ExerciseSettings) -> None:
    llm = load_llm(args.model, n_ctx=4096, n_threads=args.threads)
    reqs = requests(settings, args.statements, args.max_tokens)
    print(f"model {args.model}, {llm.n_threads} threads; per round {len(reqs)} requests "
          f"(exercise, {settings.candidates - 1} candidates of one prompt, inputs), <= "
          f"{args.max_tokens} new tokens each; {args.rounds} rounds")  # fmt: skip
    sides = {"raw llama-cpp-python": run_raw, "phi1 (ours)": run_ours}
    totals: dict[str, dict[str, list]] = {name: {} for name in sides}
    for _ in range(args.rounds):
        for name, fn in sides.items():
            for kind, (n, dt) in fn(llm, reqs).items():
                _add(totals[name], kind, n, dt)
    for kind in ("exercise", "candidates", "inputs"):
        rates = {name: t[kind][0] / t[kind][1] for name, t in totals.items()}
        print(f"{kind:11s} " + "   ".join(f"{name} {rate:6.1f} tok/s" for name, rate in
                                          rates.items())
              + f"   ratio {rates['phi1 (ours)'] / rates['raw llama-cpp-python']:.2f}")  # fmt: skip
    rate = {name: sum(n for n, _ in t.values()) / sum(dt for _, dt in t.values())
            for name, t in totals.items()}  # fmt: skip
    ratio = rate["phi1 (ours)"] / rate["raw llama-cpp-python"]
    for name, r in rate.items():
        print(f"{name:22s} {r:8.1f} generated tokens/s in all")
    print(f"ratio ours / raw: {ratio:.3f} (target >= 0.90: {'met' if ratio >= 0.9 else 'NOT met'})")
    llm.close()


def exercises_per_minute(args: argparse.Namespace, settings: ExerciseSettings) -> None:
    settings.n = args.exercises
    llm = load_llm(args.model, n_threads=args.threads)
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        summary = generate_exercises(llm, out, settings, RunnerSettings(progress=False))
    wall, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    llm.close()
    kept = summary["kept"]
    print(f"synth exercises: {kept} of {summary['asked']} kept in {wall:.0f} s wall, "
          f"{cpu:.0f} CPU-s: {60 * kept / wall:.2f} verified exercises per minute "
          f"({summary['reasons']})")  # fmt: skip


def _cpu_seconds() -> float:
    """CPU seconds of this process and its children (the sandbox's)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--statements", type=int, default=2, help="exercises asked per round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None, help="default: the idle cores")
    ap.add_argument("--exercises", type=int, default=0, help="then time a synth run of N")
    args = ap.parse_args()
    settings = ExerciseSettings()
    print(describe())
    compare(args, settings)
    if args.exercises:
        exercises_per_minute(args, settings)


if __name__ == "__main__":
    main()
