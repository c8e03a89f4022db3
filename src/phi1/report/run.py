"""A ``phi1 run`` folder as the report reads it: the run's state, each stage's manifest and
outcome, and the stage's files through the stage table's declarations.

The report reads only what the pipeline's state module exposes (manifests, summaries,
declared outputs); it never imports the engine.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.io import read_jsonl
from phi1.pipeline import state


@dataclass
class Run:
    root: Path
    state: dict[str, Any]
    manifests: dict[str, dict | None]
    stage_names: list[str]

    @classmethod
    def load(cls, root: Path) -> Run:
        run_state = state.read_state(root)
        manifests = state.stage_manifests(root)
        if not run_state and not any(manifests.values()):
            raise Phi1Error(f"{root}: not a phi1 run folder (no {state.STATE}, no stage manifests)")
        return cls(root, run_state, manifests, list(manifests))

    def status(self, name: str) -> dict[str, Any]:
        """The stage's outcome: done (this run or an earlier one), skipped (why), failed..."""
        entry = dict(self.state.get("stages", {}).get(name) or {})
        manifest = self.manifests.get(name)
        if manifest is not None and entry.get("status") != "skipped":
            last = (manifest.get("attempts") or [{}])[-1]
            entry = {
                "status": manifest.get("status"),
                "seconds": manifest.get("seconds"),
                "ended": last.get("ended"),
                "error": last.get("error"),
                "counts": manifest.get("counts", {}),
            }
        elif not entry:
            entry = {"status": "not run", "reason": "no record of it in this folder"}
        return entry

    def ran(self, name: str) -> bool:
        return self.status(name).get("status") == "done"

    def why_not(self, name: str) -> str:
        s = self.status(name)
        reason = s.get("reason") or s.get("error")
        return f"{name} did not run" + (f": {reason}" if reason else f" ({s.get('status')})")

    def dir(self, name: str) -> Path:
        return self.root / name

    def summary(self, name: str) -> Any:
        """The stage's summary, or None when it did not run (or wrote none)."""
        return state.summary(self.root, name) if self.ran(name) else None

    def summaries(self, name: str) -> dict[str, Any]:
        """Subfolder -> summary, for a stage with one summary per subfolder."""
        return state.summaries(self.root, name) if self.ran(name) else {}

    def outputs(self, name: str, output: str) -> list[Path]:
        """The files of the stage's declared output ``output``."""
        return state.outputs(self.root, name, output)


def rows(paths: Iterable[Path], limit: int | None = None) -> Iterator[dict]:
    """The records of JSONL files (at most ``limit``), skipping a torn last line: a run may
    still be writing them."""
    every = itertools.chain.from_iterable(read_jsonl(p, torn_tail=True) for p in paths)
    return itertools.islice(every, limit)
