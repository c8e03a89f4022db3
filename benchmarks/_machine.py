"""Describe the machine a benchmark ran on: CPU model, cores, load, torch version and threads.

Every script in benchmarks/ prints :func:`describe` so a number is never read without the
machine that produced it::

    from _machine import describe
    print(describe())

:class:`Worker` runs one side of a comparison in its own process, driven call by call, so
the peer and us can take turns on a machine whose load changes (see its docstring).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform reports."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cores() -> int:
    """Cores this process may run on (the affinity mask, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def describe() -> str:
    """One line: CPU model, usable cores, torch version and threads, GPU if any."""
    parts = [f"machine: {cpu_model()}", f"{cores()} cores"]
    try:
        parts.append("load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    except OSError:
        pass
    parts.append(f"python {platform.python_version()}")
    try:
        import torch

        parts.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
        if torch.cuda.is_available():
            parts.append(f"GPU {torch.cuda.get_device_name(0)}")
    except ImportError:
        pass
    return ", ".join(parts)


def best_rate(call: Callable[[], object], work: float, seconds: float = 2.0) -> float:
    """The best ``work`` per second of ``call()`` over about ``seconds`` (after one warm-up
    call): a machine's practical peak at something, e.g. FLOP/s of a large matmul."""
    best, start = 0.0, time.perf_counter()
    call()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        call()
        best = max(best, work / (time.perf_counter() - t0))
    return best


class Worker:
    """One side of a benchmark in its own process, answering requests on stdin/stdout.

    Peer and us stay loaded side by side and take turns, call by call, so a change in the
    machine's load (other jobs) hits both alike; each process's peak RSS is its own. The
    worker's end is :func:`serve`. Lines of its stdout that are not JSON objects are skipped.
    """

    def __init__(self, cmd: list[str]):
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ready = self._read()

    def ask(self, request: str = "run") -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(request + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> dict:
        """End the worker; its answer carries ``peak_rss_mb``."""
        out = self.ask("done")
        self.proc.wait()
        return out

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                return json.loads(line)
        raise SystemExit(f"benchmark worker failed (exit {self.proc.wait()}): {' '.join(self.cmd)}")


def take_turns(
    workers: dict[str, Worker], repeats: int
) -> tuple[dict[str, list[float]], dict[str, dict]]:
    """Ask each worker to "run" ``repeats`` + 1 times, taking turns (the order flips every
    round); the first call of each warms up. The timed calls' ``seconds`` per worker, and
    each worker's last answer."""
    times: dict[str, list[float]] = {side: [] for side in workers}
    last: dict[str, dict] = {}
    sides = list(workers)
    for i in range(repeats + 1):
        for side in sides if i % 2 == 0 else sides[::-1]:
            last[side] = r = workers[side].ask("run")
            if i:
                times[side].append(r["seconds"])
    return times, last


def fmt_times(xs: list[float]) -> str:
    """Seconds of each call, as ``1.23 4.56``."""
    return " ".join(f"{x:.2f}" for x in xs)


def serve(ready: dict, call: Callable[[], dict]) -> None:
    """The worker's loop: announce ``ready``, answer each request with ``call()``, and
    "done" with the peak RSS."""
    print(json.dumps(ready), flush=True)
    for line in sys.stdin:
        if line.strip() == "done":
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(json.dumps({"peak_rss_mb": rss}), flush=True)
            return
        print(json.dumps(call()), flush=True)


if __name__ == "__main__":
    print(describe())
