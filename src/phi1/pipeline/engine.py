"""The engine of ``phi1 run``: plan every stage, then run them in order, one folder each.

:func:`run` checks every section before the first stage starts (:func:`plan`), takes the
run folder's lock, and runs each stage (:func:`run_stage`): skipped when its manifest says
it finished with the same section and input digests, resumed in its folder when its last
attempt did not finish, redone (the old folder moved to ``DIR/superseded/``) when its
section or inputs changed or ``--from`` reaches it. The engine draws nothing: ``phi1 run``,
which ends with the report, is composed above it (``phi1.report.commands.run``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import os
import re
import signal
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phi1.pipeline.stages as stages
from phi1.errors import Phi1Error
from phi1.io import atomic_write_json, sha256_json
from phi1.pipeline.attempt import Attempt, finish, new_manifest, run_calls, say
from phi1.pipeline.recipe import (
    bind,
    check_keys,
    load_recipe,
    merge,
    pipeline_settings,
    resolve,
    section_of,
)
from phi1.pipeline.stages import Context, PipelineSettings, Skip, Stage
from phi1.pipeline.state import (
    FORMAT_VERSION,
    STATE,
    SUPERSEDED,
    missing_outputs,
    now,
    read_manifest,
)

# ``--from`` reaches ``from_`` as an abbreviation (``from`` is a keyword); jsonargparse 4
# warns that abbreviations go away in 5. Harmless with the pinned 4.x; silence the warning.
warnings.filterwarnings("ignore", message="Option '--from' was expanded to '--from_'")


def run(
    recipe: str | None = None,
    out: str | None = None,
    from_: str | None = None,
    *,
    on_end: Callable[[Path], None] | None = None,
) -> dict[str, Any]:
    """Run every stage of ``recipe`` into ``out``; return the run's state (pipeline.json).

    ``from_`` redoes that stage and every later one. ``on_end(out)`` is called when the run
    ends, done or failed but not interrupted, unless the recipe says ``pipeline.report:
    false`` (``phi1 run`` passes the report there).
    """
    if recipe is None:
        raise Phi1Error("run: --recipe FILE is required (recipes/smoke.yaml, recipes/tiny.yaml)")
    if out is None:
        raise Phi1Error("run: --out DIR is required")
    names = [s.name for s in stages.STAGES]
    if from_ is not None and from_ not in names:
        raise Phi1Error(f"--from {from_!r}: no such stage; stages: {', '.join(names)}")
    return run_config(load_recipe(recipe), out, source=recipe, from_=from_, on_end=on_end)


def run_config(
    config: dict[str, Any],
    out: str | os.PathLike,
    *,
    source: str,
    from_: str | None = None,
    on_end: Callable[[Path], None] | None = None,
    cache: Path | None = None,
) -> dict[str, Any]:
    """:func:`run` on a recipe already loaded (``source`` names it in messages and in
    pipeline.json). With ``cache``, every stage's folder lives in that shared stage cache,
    named by the stage's key (its section, input digests and wired paths), and
    ``out/<stage>`` links to it: runs whose stages are the same share them, and each is
    done once (``phi1 ablate``)."""
    settings = pipeline_settings(config, source)
    root = Path(out)
    planned = plan(config, settings, root, source)
    with lock(root), sigterm_as_interrupt():
        return _execute(planned, config, settings, root, source, from_, on_end, cache)


def check_recipe(
    recipe: str | os.PathLike, out: str | os.PathLike = "run"
) -> dict[str, str | None]:
    """Check every section of a recipe against its stage's function without running
    anything; return stage -> why it would be skipped (None: it runs)."""
    config = load_recipe(recipe)
    settings = pipeline_settings(config, recipe)
    return {p.stage.name: p.skip for p in plan(config, settings, Path(out), str(recipe))}


# --- planning ---------------------------------------------------------------------------------


@dataclass
class Planned:
    stage: Stage
    section: dict[str, Any] | None
    func: Callable | None
    skip: str | None  # why it does not run, known before anything runs


def plan(
    config: dict[str, Any], settings: PipelineSettings, root: Path, recipe: str | os.PathLike
) -> list[Planned]:
    """Resolve every stage and check every section against its function, before running."""
    _check_references(config, settings, recipe)
    everything = Context(root, {s.name for s in stages.STAGES}, settings, planning=True)
    return [_plan_stage(stage, config, settings, everything, recipe) for stage in stages.STAGES]


def _plan_stage(
    stage: Stage,
    config: dict[str, Any],
    settings: PipelineSettings,
    everything: Context,
    recipe: str | os.PathLike,
) -> Planned:
    section = section_of(config, stage)
    if section is None:
        return Planned(stage, None, None, "no section in the recipe")
    missing = _missing_modules(stage)
    if missing:
        return Planned(stage, section, None, f"{', '.join(missing)} not in phi1 yet (not run)")
    func = resolve(stage.func)
    if func is None:  # its module imports one that has not landed
        return Planned(stage, section, None, f"{stage.func} not in phi1 yet (not run)")
    check_keys(stage.words, func, section, str(recipe))
    try:
        calls = stage.wire(everything)
    except Skip:
        calls = []
    where = f"{recipe}: section {'.'.join(stage.section)}"
    for wired in calls:
        bind(func, merge(section, wired, where), where)
    return Planned(stage, section, func, None)


def _check_references(
    config: dict[str, Any], settings: PipelineSettings, recipe: str | os.PathLike
) -> None:
    """The ``pipeline:`` settings that name what another section must produce: the pruned
    copy it packs (one of decontam's taus), the pretraining step it calls phi-1-base (one
    of pretrain's kept steps, or that checkpoint is gone when finetuning starts)."""
    if settings.prune_tau <= 0 or settings.prune_tau > 1:
        raise Phi1Error(f"{recipe}: pipeline.prune_tau must be in (0, 1]")
    decontam = ((config.get("decontam") or {}).get("run") or {}).get("decontam") or {}
    taus = decontam.get("taus")
    if taus is not None and settings.prune_tau not in taus:
        raise Phi1Error(
            f"{recipe}: pipeline.prune_tau {settings.prune_tau} is not one of "
            f"decontam.run.decontam.taus {taus}"
        )
    pretrain = config.get("pretrain")
    if settings.base_step is not None and pretrain is not None:
        kept = ((pretrain.get("log") or {}).get("keep_steps")) or []
        if settings.base_step not in kept:
            raise Phi1Error(
                f"{recipe}: pipeline.base_step {settings.base_step} is not one of "
                f"pretrain.log.keep_steps {kept}: add it there, or that checkpoint is "
                "deleted before finetuning starts"
            )


def _missing_modules(stage: Stage) -> list[str]:
    names = [stage.func.split(":")[0], *stage.modules]
    return [m for m in names if importlib.util.find_spec(m) is None]


# --- running ----------------------------------------------------------------------------------


def _execute(
    planned: list[Planned],
    config: dict[str, Any],
    settings: PipelineSettings,
    root: Path,
    recipe: str,
    from_: str | None,
    on_end: Callable[[Path], None] | None,
    cache: Path | None = None,
) -> dict[str, Any]:
    state_path = root / STATE
    state: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "recipe": str(recipe),
        "recipe_sha256": sha256_json(config),
        "config": config,
        "started": now(),
        "finished": None,
        "status": "running",
        "stages": {},
    }
    ctx = Context(root, set(), settings, cache=cache)
    n = len(planned)
    say(f"phi1 run: {recipe} -> {root} ({n} stages)")
    forced = False
    try:
        with outcome(state, "phi1 run", "stages"):
            for i, p in enumerate(planned, 1):
                forced = forced or p.stage.name == from_
                head = f"[{i:2d}/{n}] {p.stage.name:<10}"
                state["stages"][p.stage.name] = run_stage(p, ctx, head, forced)
                atomic_write_json(state_path, state)
    finally:
        state["finished"] = now()
        atomic_write_json(state_path, state)
        if on_end is not None and settings.report and state["status"] != "interrupted":
            on_end(root)
    say(f"phi1 run: done; stage folders in {root}")
    return state


@contextlib.contextmanager
def outcome(record: dict[str, Any], name: str, what: str) -> Iterator[None]:
    """``record["status"]`` as the block ends: ``done``, ``interrupted`` (said, with how to
    resume) or ``failed`` (a :class:`Phi1Error`, also kept as ``record["error"]``); the
    interrupt or error propagates."""
    try:
        yield
        record["status"] = "done"
    except KeyboardInterrupt:
        record["status"] = "interrupted"
        say(f"{name}: interrupted; finished {what} are kept, re-run the same command to resume")
        raise
    except Phi1Error as e:
        record["status"], record["error"] = "failed", str(e)
        raise


def run_stage(p: Planned, ctx: Context, head: str, forced: bool) -> dict[str, Any]:
    """Run one planned stage (or skip it, or find it unchanged); return its entry in
    pipeline.json. ``forced``: ``--from`` reached it."""
    stage, root = p.stage, ctx.root
    if p.skip is not None:
        return _skipped(head, p.skip)
    assert p.func is not None and p.section is not None
    try:
        calls = stage.wire(ctx)
    except Skip as e:
        return _skipped(head, str(e))
    where = f"recipe section {'.'.join(stage.section)}"
    args = [merge(p.section, w, where) for w in calls]
    inputs = {s: _input_digest(ctx, s, calls) for s in stage.reads if s in ctx.ran}
    key = sha256_json({"stage": stage.name, "section": _relative(p.section, ctx),
                       "inputs": inputs, "calls": [_relative(w, ctx) for w in calls]})  # fmt: skip
    folder = _place(ctx, stage.name, key)
    if folder != root / stage.name:  # in the cache: the stage writes there
        args = [_moved(a, root / stage.name, folder) for a in args]
    old = read_manifest(folder)
    reason = _redo_reason(folder, old, key, forced)
    if reason is None and old is not None:
        if old.get("status") == "done" and not missing_outputs(folder, stage):
            when = old["attempts"][-1].get("ended", "?") if old.get("attempts") else "?"
            say(f"{head} unchanged since {when}: skipped")
            ctx.ran.add(stage.name)
            return {"status": "unchanged", "digest": old.get("digest")}
        say(f"{head} resuming (the last attempt did not finish)")
        manifest = old
    else:
        if reason is not None:
            moved = _supersede(ctx.cache or root, folder)
            say(f"{head} {reason}: redoing it; the old folder is kept in {moved}")
        manifest = new_manifest(stage, key, p.section, args, inputs)
        say(f"{head} running: {manifest['command']}")
    folder.mkdir(parents=True, exist_ok=True)
    attempt = Attempt(folder, manifest)
    assert p.func is not None
    run_calls(stage, p.func, attempt, args, ctx.settings.launch.get(stage.name), head)
    return finish(stage, attempt, ctx, head)


def _input_digest(ctx: Context, name: str, calls: list[dict]) -> str | None:
    """What a stage read of stage ``name``: the digest of the artifacts under the paths its
    wired arguments name in that stage's folder (pretraining names ``pack/code`` and
    ``pack/textbooks``, so new exercises leave its key as it was); the whole stage's
    digest when they name none of its artifacts in particular."""
    manifest = read_manifest(ctx.dir(name)) or {}
    files = manifest.get("artifacts") or {}
    folder = str(ctx.dir(name))
    pattern = re.escape(folder) + r"(?![^/\s:,])(?:/[^\s:,]*)?"  # the folder or a path in it
    named = {m.rstrip("/") for text in _strings(calls) for m in re.findall(pattern, text)}
    if not named or folder in named or not isinstance(files, dict):
        return manifest.get("digest")
    read = {
        rel: f["sha256"]
        for rel, f in files.items()
        if any(f"{folder}/{rel}" == n or f"{folder}/{rel}".startswith(n + "/") for n in named)
    }
    return sha256_json(read) if 0 < len(read) < len(files) else manifest.get("digest")


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _skipped(head: str, why: str) -> dict[str, Any]:
    say(f"{head} skipped: {why}")
    return {"status": "skipped", "reason": why}


def _redo_reason(folder: Path, old: dict | None, key: str, forced: bool) -> str | None:
    """Why an existing stage folder is moved aside and the stage started afresh (None: it
    is unchanged, or resumed)."""
    if not folder.exists():
        return None
    if forced:
        return "--from"
    if old is None:
        return "no manifest"
    if old.get("key") != key:
        return "its section or inputs changed"
    return None


# --- the run folder ---------------------------------------------------------------------------


def _place(ctx: Context, name: str, key: str) -> Path:
    """The stage's folder: ``root/<stage>``, or with a cache ``cache/<stage>-<key>``, which
    ``root/<stage>`` then links to (relatively, so the whole tree can move). A folder of
    an earlier run without the cache is moved to ``superseded/``; a link to another key
    (the section or inputs changed) is pointed at the new one, the old folder kept."""
    link = ctx.root / name
    if ctx.cache is None:
        return link
    folder = ctx.cache / f"{name}-{key[:16]}"
    target = os.path.relpath(folder, link.parent)
    if link.is_symlink() and os.readlink(link) != target:
        link.unlink()
    elif link.exists() and not link.is_symlink():
        _supersede(ctx.root, link)
    if not link.is_symlink():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target, target_is_directory=True)
    ctx.folders[name] = folder
    return folder


def _moved(value: Any, old: Path, new: Path) -> Any:
    """``value`` with the path ``old`` (and any path under it) replaced by ``new``."""
    if isinstance(value, dict):
        return {k: _moved(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_moved(v, old, new) for v in value]
    if isinstance(value, str):
        return re.sub(re.escape(str(old)) + r"(?![^/])", lambda _: str(new), value)
    return value


@contextlib.contextmanager
def lock(root: Path) -> Iterator[None]:
    """One process at a time in ``root`` (a lock file holding its pid); a second is refused."""
    import fcntl

    root.mkdir(parents=True, exist_ok=True)
    path = root / ".lock"
    with path.open("a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            raise Phi1Error(
                f"{root} is in use by another phi1 run (pid {f.read().strip() or '?'})"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        yield


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """``kill PID`` stops the run like Ctrl-C: the stage's finished work is flushed."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _supersede(root: Path, folder: Path) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    target = root / SUPERSEDED / f"{folder.name}-{stamp}"
    k = 1
    while target.exists():
        k += 1
        target = root / SUPERSEDED / f"{folder.name}-{stamp}-{k}"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(folder, target)
    return target


def _relative(value: Any, ctx: Context) -> Any:
    """Paths relative to the run folder, so a moved run folder keeps its keys; a stage's
    folder in the cache counts as ``<out>/<stage>``, so a stage has the same key in the
    cache as in a run folder of its own; other paths in the cache as ``<cache>/...``."""
    if isinstance(value, dict):
        return {k: _relative(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v, ctx) for v in value]
    if isinstance(value, str):
        for name, folder in ctx.folders.items():
            value = _moved(value, folder, Path("<out>") / name)
        if ctx.cache is not None:
            value = _moved(value, ctx.cache, Path("<cache>"))
        return value.replace(str(ctx.root), "<out>")
    return value
