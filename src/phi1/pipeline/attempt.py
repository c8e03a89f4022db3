"""One attempt at a stage, as the engine records it: the manifest written as the attempt
starts (a kill -9 leaves it ``running``), the stage's calls with their output teed into the
stage's ``log.txt`` (in this process, or launched as a subprocess), and the check that the
stage wrote what it declares before its digest and counts are recorded."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from phi1.errors import Phi1Error
from phi1.io import atomic_write_json
from phi1.pipeline.recipe import bind
from phi1.pipeline.stages import Context, Stage
from phi1.pipeline.state import MANIFEST, counts, digest, missing_outputs, now


def say(text: str) -> None:
    print(text, flush=True)


def new_manifest(
    stage: Stage, key: str, section: dict[str, Any], args: list[dict], inputs: dict
) -> dict[str, Any]:
    return {
        "stage": stage.name,
        "command": "phi1 " + " ".join(stage.words) if stage.cli else stage.func,
        "key": key,
        "section": section,
        "args": args,
        "inputs": inputs,
        "attempts": [],
    }


class Attempt:
    """One call of a stage, recorded in its manifest as it goes (a kill -9 leaves it
    ``running``; the next attempt marks it ``killed``)."""

    def __init__(self, folder: Path, manifest: dict[str, Any]):
        self.folder, self.manifest = folder, manifest
        for earlier in manifest["attempts"]:
            if earlier.get("status") == "running":  # its process died without a word
                earlier["status"] = "killed"
        manifest["status"] = "running"
        self.record = {"started": now(), "status": "running", "pid": os.getpid()}
        manifest["attempts"].append(self.record)
        atomic_write_json(folder / MANIFEST, manifest)
        self.t0, self.cpu0 = time.perf_counter(), _cpu_seconds()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def close(self, status: str, error: str | None = None) -> None:
        self.record.update(status=status, ended=now(), seconds=round(self.elapsed(), 2))
        self.record["cpu_seconds"] = round(_cpu_seconds() - self.cpu0, 2)
        if error:
            self.record["error"] = error
        attempts = self.manifest["attempts"]
        self.manifest["seconds"] = round(sum(a.get("seconds", 0) for a in attempts), 2)
        self.manifest["status"] = status
        atomic_write_json(self.folder / MANIFEST, self.manifest)


def run_calls(
    stage: Stage, func: Callable, attempt: Attempt, args: list[dict], launch: str | None, head: str
) -> None:
    """Call the stage's function once per wired call, logging its stdout to log.txt; an
    interrupt or a failure is recorded in the manifest before it propagates."""
    folder = attempt.folder
    try:
        with (folder / "log.txt").open("a", encoding="utf-8") as log:
            log.write(f"--- {now()} attempt {len(attempt.manifest['attempts'])}\n")
            with contextlib.redirect_stdout(_Tee(sys.stdout, log)):  # type: ignore[type-var]
                for call in args:
                    _call(stage, func, call, launch)
    except KeyboardInterrupt:
        attempt.close("interrupted")
        say(f"{head} interrupted after {attempt.elapsed():.1f}s")
        raise
    except Exception as e:
        message = str(e) if isinstance(e, Phi1Error) else f"{type(e).__name__}: {e}"
        attempt.close("failed", message)
        raise Phi1Error(
            f"stage {stage.name} failed: {message} (finished stages are kept; fix it and "
            f"re-run; log in {folder / 'log.txt'})"
        ) from e


def finish(stage: Stage, attempt: Attempt, ctx: Context, head: str) -> dict[str, Any]:
    """Check that the stage wrote what it declares; record its digest and counts."""
    folder, manifest = attempt.folder, attempt.manifest
    missing = missing_outputs(folder, stage)
    if missing:
        # It returned without finishing: its work was handed to a cluster (datatrove's Slurm
        # or Ray executor submits jobs and returns), or it is broken. Either way the next
        # stage cannot start; a re-run calls it again, and it picks up what the jobs did.
        attempt.close("incomplete", f"no {', '.join(missing)} yet")
        say(f"{head} returned without writing {', '.join(missing)}")
        raise Phi1Error(
            f"stage {stage.name} has not finished: no {', '.join(missing)} in {folder}. If it "
            "submitted cluster jobs (executor slurm or ray), re-run this command when they are "
            f"done; otherwise see {folder / 'log.txt'}"
        )
    manifest["digest"], manifest["artifacts"] = digest(folder, stage.artifacts)
    manifest["counts"] = counts(stage, folder)
    attempt.close("done")
    ctx.ran.add(stage.name)
    say(f"{head} done in {manifest['attempts'][-1]['seconds']:.1f}s")
    return {"status": "done", "digest": manifest["digest"], "seconds": manifest["seconds"]}


def _call(stage: Stage, func: Callable, args: dict[str, Any], launch: str | None) -> None:
    if launch is None:
        func(**bind(func, args, f"recipe section {'.'.join(stage.section)}"))
        return
    cmd = [*shlex.split(launch), "-m", "phi1.cli", *stage.words, "--config", json.dumps(args)]
    say(f"         launch: {shlex.join(cmd[:-1])} '<section>'")
    # stdout goes through this process, so the stage's log.txt gets it too; stderr
    # (progress bars) goes straight to the terminal.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        for line in iter(proc.stdout.readline, b""):
            sys.stdout.write(line.decode("utf-8", "replace"))
            sys.stdout.flush()
        rc = proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
    if rc != 0:
        raise Phi1Error(f"{shlex.split(launch)[0]} exited with status {rc}")


class _Tee:
    """Write to the terminal and to the stage's log."""

    def __init__(self, *streams: TextIO):
        self.streams = streams

    def write(self, text: str) -> int:
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self) -> None:
        for s in self.streams:
            s.flush()

    def isatty(self) -> bool:
        return False


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the stage's worker processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
