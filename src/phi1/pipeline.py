"""``phi1 run --recipe FILE --out DIR``: the whole recipe, stage by stage.

The stages, in order, each writing under ``DIR/<stage>/``::

    corpus      collect the code corpus          pipeline.collect_corpus
    annotate    LLM labels for a sample          phi1 annotate
    classifier  the quality classifier           phi1 classifier train
    filter      keep the educational code        phi1 filter
    dedup       drop exact and near duplicates   phi1 dedup
    textbooks   synthetic textbook sections      phi1 synth textbooks
    exercises   synthetic exercises              phi1 synth exercises
    decontam    prune exercises near HumanEval   phi1 decontam run
    pack        token shards per dataset         phi1 pack
    pretrain    phi-1-base                       phi1 pretrain
    finetune    phi-1                            phi1 finetune
    humaneval   pass@k                           phi1 eval humaneval
    graded      LLM-graded understanding         phi1 eval graded

Each stage calls the same function its command calls, with the recipe's section for that
command as arguments (``synth: {textbooks: {...}}`` for ``phi1 synth textbooks``), parsed
against the function's signature by jsonargparse exactly as ``--config`` would be; the
pipeline adds only the paths that join the stages (``out``, ``inputs``, ``init``,
``data.paths``), and a section that sets one of those is refused. Every section is checked
before the first stage starts, so a typo in ``finetune:`` fails in seconds, not after
pretraining.

Each stage folder holds ``stage.json``, its manifest: the section, the arguments, the
inputs (the digests of the stages it read), the digest of its artifacts, counts, and the
time of every attempt. A stage is skipped when its manifest says it finished with the same
section and the same input digests (and its artifacts are still there); a stage that
started but did not finish (an interrupt, ``kill -9``, a failure) is called again in the
same folder, where its own resume (the generation runner, the trainer's checkpoints,
datatrove's finished tasks) picks up the finished work. A stage whose section or inputs
changed, and every stage from ``--from STAGE`` on, starts afresh; its old folder is moved to
``DIR/superseded/`` rather than deleted. Changes to phi1's own code are not detected: use
``--from``.

A stage runs only when the recipe has a section for it; a stage whose module is not
installed, or whose required input stage did not run, is skipped with a line that says so.
``pipeline: {launch: {pretrain: "torchrun --nproc-per-node 8"}}`` runs a stage as
``<launch> -m phi1.cli <command> --config <section>`` in a subprocess instead of in this
process (torchrun for training, ``srun ... python`` on a cluster); see docs/PIPELINE.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import heapq
import importlib.util
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from phi1.cli import _resolve as resolve
from phi1.cli import function_parser
from phi1.data.readers import ReaderSettings
from phi1.errors import Phi1Error
from phi1.io import atomic_write_json, read_json, sha256_file, sha256_json, sha256_text

# ``--from`` reaches ``from_`` as an abbreviation (``from`` is a keyword); jsonargparse 4
# warns that abbreviations go away in 5. Harmless with the pinned 4.x; silence the warning.
warnings.filterwarnings("ignore", message="Option '--from' was expanded to '--from_'")

MANIFEST = "stage.json"
STATE = "pipeline.json"
SUPERSEDED = "superseded"
FORMAT_VERSION = 1


class Skip(Exception):
    """Raised by a stage's wiring when it cannot run (a required input stage did not run)."""


# --- the stages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One step of the recipe: which section configures it, what it calls, what it reads."""

    name: str
    """Folder name under DIR and the name ``--from`` takes."""
    section: tuple[str, ...]
    """Keys of its recipe section (``("synth", "textbooks")``); also its command's words."""
    wire: Callable[[Context], list[dict[str, Any]]]
    """The arguments the pipeline adds, one dict per call (``pack`` calls once per dataset)."""
    artifacts: tuple[str, ...]
    """Glob patterns (relative to the stage folder) of what later stages read; their digest
    identifies the stage's output. Each must match a file when the stage has finished,
    except those written with a leading ``?`` (may be empty)."""
    done: tuple[str, ...] = ()
    """Files that exist only once the stage has finished (summaries with timings, which
    stay out of the digest)."""
    reads: tuple[str, ...] = ()
    """Stages whose outputs it may read (the digests of those that ran are its inputs)."""
    modules: tuple[str, ...] = ()
    """Modules it needs beyond its command's own (a stage whose module has not landed is
    skipped)."""
    summary: str | None = None
    """The stage's own summary file, copied into the manifest's counts."""
    command: str | None = None
    """``module:function`` when the stage has no CLI command of its own."""

    @property
    def words(self) -> list[str]:
        return list(self.section)

    def spec(self) -> str:
        if self.command:
            return self.command
        from phi1.cli import COMMANDS

        table: Any = COMMANDS
        for key in self.section:
            table = table[key]
        return table


@dataclass
class Context:
    """What the wiring of a stage may look at: the run folder, the stages that ran, the
    pipeline's own settings."""

    root: Path
    ran: set[str]
    settings: PipelineSettings
    planning: bool = False
    """Checking the sections before anything runs: every stage counts as run and every
    output as present."""

    def dir(self, stage: str) -> Path:
        return self.root / stage

    def has_records(self, path: Path) -> bool:
        return self.planning or has_records(path)

    def need(self, *stages: str) -> None:
        missing = [s for s in stages if s not in self.ran]
        if missing:
            raise Skip(f"needs {', '.join(missing)}, which did not run")


def _wire_corpus(c: Context) -> list[dict]:
    return [{"out": str(c.dir("corpus"))}]


def _corpus_source(c: Context) -> str:
    c.need("corpus")
    return f"jsonl:{c.dir('corpus') / 'documents'}"


def _wire_annotate(c: Context) -> list[dict]:
    return [{"inputs": [_corpus_source(c)], "out": str(c.dir("annotate"))}]


def _wire_classifier(c: Context) -> list[dict]:
    c.need("annotate")
    return [{"annotations": str(c.dir("annotate")), "out": str(c.dir("classifier"))}]


def _wire_filter(c: Context) -> list[dict]:
    c.need("classifier")
    return [
        {
            "inputs": [_corpus_source(c)],
            "classifier": str(c.dir("classifier")),
            "out": str(c.dir("filter")),
        }
    ]


def _wire_dedup(c: Context) -> list[dict]:
    c.need("filter")
    return [{"inputs": [f"jsonl:{c.dir('filter') / 'kept'}"], "out": str(c.dir("dedup"))}]


def _wire_textbooks(c: Context) -> list[dict]:
    return [{"out": str(c.dir("textbooks"))}]


def _wire_exercises(c: Context) -> list[dict]:
    return [{"out": str(c.dir("exercises"))}]


def _wire_decontam(c: Context) -> list[dict]:
    c.need("exercises")
    return [{"dataset": str(c.dir("exercises") / "exercises.jsonl"), "out": str(c.dir("decontam"))}]


def pack_inputs(c: Context) -> dict[str, str]:
    """Dataset name -> the file packed for it: the most processed version that exists.

    Code: deduplicated, else filtered, else the raw corpus (the paper's unfiltered
    ablation). Exercises: the decontaminated copy at ``pipeline.prune_tau``, else as
    generated.
    """
    out: dict[str, str] = {}
    if "dedup" in c.ran:
        out["code"] = str(c.dir("dedup") / "kept.jsonl")
    elif "filter" in c.ran:
        out["code"] = str(c.dir("filter") / "kept")
    elif "corpus" in c.ran:
        out["code"] = str(c.dir("corpus") / "documents")
    if "textbooks" in c.ran:
        out["textbooks"] = str(c.dir("textbooks") / "textbooks.jsonl")
    if "decontam" in c.ran:
        tau = c.settings.prune_tau
        out["exercises"] = str(c.dir("decontam") / "pruned" / f"tau{tau:g}.jsonl")
    elif "exercises" in c.ran:
        out["exercises"] = str(c.dir("exercises") / "exercises.jsonl")
    return out


def _wire_pack(c: Context) -> list[dict]:
    inputs = pack_inputs(c)
    if not inputs:
        raise Skip("nothing to pack: none of corpus, filter, dedup, textbooks, exercises ran")
    calls, empty = [], []
    for name, path in inputs.items():
        if c.has_records(Path(path)):
            calls.append({"inputs": path, "out": str(c.dir("pack") / name)})
        else:
            empty.append(name)
    if empty:
        _say(f"         pack: {', '.join(empty)} hold no records; not packed")
    if not calls:
        raise Skip(f"nothing to pack: {', '.join(empty)} hold no records")
    return calls


def _packed(c: Context, name: str) -> bool:
    return c.planning or (c.dir("pack") / name / "index.json").exists()


def _wire_pretrain(c: Context) -> list[dict]:
    c.need("pack")
    paths = [str(c.dir("pack") / n) for n in ("code", "textbooks") if _packed(c, n)]
    if not paths:
        raise Skip("no pretraining data: neither code nor textbooks were packed")
    return [{"out": str(c.dir("pretrain")), "data": {"paths": paths}, "resume": "auto"}]


def _wire_finetune(c: Context) -> list[dict]:
    c.need("pack", "pretrain")
    if not _packed(c, "exercises"):
        raise Skip("no finetuning data: no exercises were packed")
    return [
        {
            "init": str(c.dir("pretrain")),
            "out": str(c.dir("finetune")),
            "data": {"paths": [str(c.dir("pack") / "exercises")]},
            "resume": "auto",
        }
    ]


def evaluated_model(c: Context) -> str:
    """The model the evaluation stages read: phi-1 (finetuned), else phi-1-base."""
    for stage in ("finetune", "pretrain"):
        if stage in c.ran:
            return str(c.dir(stage) / "final")
    raise Skip("needs a model: neither pretrain nor finetune ran")


def _wire_humaneval(c: Context) -> list[dict]:
    """One evaluation per model, in ``humaneval/<stage>/``: phi-1, and phi-1-base too when
    ``pipeline.eval_base`` is set (the paper reports both)."""
    stages = [s for s in ("finetune", "pretrain") if s in c.ran]
    if not stages:
        raise Skip("needs a model: neither pretrain nor finetune ran")
    if not c.settings.eval_base:
        stages = stages[:1]
    return [{"model": str(c.dir(s) / "final"), "out": str(c.dir("humaneval") / s)} for s in stages]


def _wire_graded(c: Context) -> list[dict]:
    return [{"model": evaluated_model(c), "out": str(c.dir("graded"))}]


TRAINER = ("phi1.model.checkpoint",)

STAGES: tuple[Stage, ...] = (
    Stage("corpus", ("corpus",), _wire_corpus, ("documents/*.jsonl",), done=("corpus.json",),
          summary="corpus.json", command="phi1.pipeline:collect_corpus"),
    Stage("annotate", ("annotate",), _wire_annotate, ("sample.jsonl", "?part-*.jsonl"),
          reads=("corpus",), summary="annotate.json"),
    Stage("classifier", ("classifier", "train"), _wire_classifier, ("model.joblib",),
          done=("classifier.json",), reads=("annotate",), summary="classifier.json"),
    Stage("filter", ("filter",), _wire_filter, ("?kept/*.jsonl",), done=("summary.json",),
          reads=("corpus", "classifier"), summary="summary.json"),
    Stage("dedup", ("dedup",), _wire_dedup, ("kept.jsonl",), done=("summary.json",),
          reads=("filter",), summary="summary.json"),
    Stage("textbooks", ("synth", "textbooks"), _wire_textbooks, ("textbooks.jsonl",),
          done=("summary.json",), summary="summary.json"),
    Stage("exercises", ("synth", "exercises"), _wire_exercises, ("exercises.jsonl",),
          done=("summary.json",), summary="summary.json"),
    Stage("decontam", ("decontam", "run"), _wire_decontam, ("pruned/*.jsonl",),
          done=("report.json",), reads=("exercises",), summary="report.json"),
    Stage("pack", ("pack",), _wire_pack, ("*/index.json",),
          reads=("corpus", "filter", "dedup", "textbooks", "exercises", "decontam")),
    Stage("pretrain", ("pretrain",), _wire_pretrain, ("final/*",),
          done=("final/config.json", "summary.json"), reads=("pack",), modules=TRAINER,
          summary="summary.json"),
    Stage("finetune", ("finetune",), _wire_finetune, ("final/*",),
          done=("final/config.json", "summary.json"), reads=("pack", "pretrain"),
          modules=TRAINER, summary="summary.json"),
    Stage("humaneval", ("eval", "humaneval"), _wire_humaneval, ("*/samples.jsonl",),
          done=("*/results.json",), reads=("pretrain", "finetune")),
    Stage("graded", ("eval", "graded"), _wire_graded, ("judge-*/grades.jsonl",),
          done=("executions.jsonl",), reads=("pretrain", "finetune"),
          modules=("phi1.eval.generation",)),
)  # fmt: skip
STAGE_NAMES = tuple(s.name for s in STAGES)


# --- collect corpus (the one stage without a command of its own) -----------------------------


def collect_corpus(
    inputs: list[str] | str | None = None,
    out: str | None = None,
    max_documents: int | None = None,
    seed: int = 0,
    shard_documents: int = 50_000,
    reader: ReaderSettings = ReaderSettings(),  # noqa: B008 (jsonargparse reads it)
    progress: bool = True,
) -> dict:
    """Read the code corpus once into ``OUT/documents/part-NNNNN.jsonl`` (phi1 records).

    Every later data stage reads this copy, so they all see the same documents. With
    ``max_documents`` the copy is a seeded sample: the documents with the smallest
    ``sha256(seed:id)``, which does not depend on read order.

    Args:
        inputs: Corpus sources (as for ``phi1 annotate``). Default: stdlib and site-packages.
        out: Output directory.
        max_documents: Keep at most this many documents (a seeded sample); None: all.
        seed: Seed of that sample.
        shard_documents: Documents per output file.
        reader: How sources are read (extensions, max_bytes, text_column, ...).
        progress: Show a progress bar (documents read).
    """
    from phi1.data.readers import DEFAULT_SOURCES, ReadStats, read_corpus

    if out is None:
        raise Phi1Error("corpus: out is required")
    if max_documents is not None and max_documents < 1:
        raise Phi1Error(f"corpus.max_documents must be >= 1, got {max_documents}")
    if shard_documents < 1:
        raise Phi1Error(f"corpus.shard_documents must be >= 1, got {shard_documents}")
    if inputs is None:
        inputs = list(DEFAULT_SOURCES)
    sources = [inputs] if isinstance(inputs, str) else list(inputs)
    t0 = time.perf_counter()
    stats = ReadStats()
    records: Iterator[dict] = read_corpus(sources, settings=reader, stats=stats)
    if max_documents is not None:
        records = iter(_sample(records, max_documents, seed))
    docs = Path(out) / "documents"
    tmp = Path(out) / ".documents.tmp"
    _rmtree(tmp)
    tmp.mkdir(parents=True)
    by_source: Counter = Counter()
    n = chars = 0
    f: TextIO | None = None
    from tqdm import tqdm

    bar = tqdm(desc="corpus", unit=" docs", disable=not progress, dynamic_ncols=True)
    try:
        for record in records:
            bar.update()
            if n % shard_documents == 0:
                if f is not None:
                    f.close()
                f = (tmp / f"part-{n // shard_documents:05d}.jsonl").open("w", encoding="utf-8")
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
            chars += len(record["text"])
            by_source[record["meta"].get("source", "?")] += 1
    finally:
        bar.close()
        if f is not None:
            f.close()
    if n == 0:
        raise Phi1Error(f"corpus: no documents in {', '.join(sources)} ({stats.summary()})")
    _rmtree(docs)
    os.replace(tmp, docs)
    summary = {
        "inputs": sources,
        "documents": n,
        "characters": chars,
        "by_source": dict(sorted(by_source.items())),
        "max_documents": max_documents,
        "seed": seed,
        "read": stats.to_dict(),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    atomic_write_json(Path(out) / "corpus.json", summary)
    sources_line = ", ".join(f"{k} {v}" for k, v in summary["by_source"].items())
    print(f"corpus: {n} documents ({sources_line}); {stats.summary()}")
    return summary


def _sample(records: Iterator[dict], k: int, seed: int) -> list[dict]:
    """The k records with the smallest ``sha256(seed:id)``, in read order."""
    heap: list[tuple[int, int, dict]] = []  # (-key, order, record): a max-heap of the k best
    for order, record in enumerate(records):
        key = int(sha256_text(f"{seed}:{record['id']}")[:16], 16)
        if len(heap) < k:
            heapq.heappush(heap, (-key, order, record))
        elif -key > heap[0][0]:
            heapq.heapreplace(heap, (-key, order, record))
    return [r for _, _, r in sorted(heap, key=lambda t: t[1])]


# --- recipes ---------------------------------------------------------------------------------


@dataclass
class PipelineSettings:
    """The recipe's ``pipeline:`` section: how ``phi1 run`` runs the stages."""

    prune_tau: float = 0.9
    """Which decontaminated copy of the exercises is packed for finetuning (one of
    ``decontam.run.decontam.taus``)."""
    launch: dict[str, str] = field(default_factory=dict)
    """Stage name -> a command prefix that runs it in a subprocess as ``<prefix> -m phi1.cli
    <command> --config <section>`` (``torchrun --nproc-per-node 8``); default: in-process."""
    eval_base: bool = False
    """Also run HumanEval on the pretrained model (phi-1-base), beside phi-1."""
    report: bool = True
    """Write ``DIR/report.html`` and ``DIR/report.json`` at the end."""


def load_recipe(path: str | os.PathLike) -> dict[str, Any]:
    """The recipe as a mapping; unknown top-level keys and sub-keys are errors naming them."""
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise Phi1Error(f"{path}: {e.strerror}") from None
    try:
        recipe = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise Phi1Error(f"{path}: invalid YAML ({e})") from None
    if not isinstance(recipe, dict):
        raise Phi1Error(f"{path}: a recipe is a mapping of sections, got {type(recipe).__name__}")
    known: dict[str, set[str]] = {"pipeline": set()}
    for stage in STAGES:
        known.setdefault(stage.section[0], set())
        if len(stage.section) > 1:
            known[stage.section[0]].add(stage.section[1])
    known["synth"].add("stats")  # a command of its own, not a stage: allowed, not run
    for key, value in recipe.items():
        if key not in known:
            raise Phi1Error(
                f"{path}: unknown section {key!r}; sections: {', '.join(sorted(known))}"
            )
        if value is not None and not isinstance(value, dict):
            raise Phi1Error(f"{path}: section {key!r} must be a mapping")
        for sub in value or {}:
            if known[key] and sub not in known[key]:
                raise Phi1Error(
                    f"{path}: unknown section {key}.{sub}; {key} has: "
                    f"{', '.join(sorted(known[key]))}"
                )
    return recipe


def section_of(recipe: dict[str, Any], stage: Stage) -> dict[str, Any] | None:
    """The stage's section, or None when the recipe has none (the stage does not run)."""
    value: Any = recipe
    for key in stage.section:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return dict(value or {})


def pipeline_settings(recipe: dict[str, Any], path: str | os.PathLike) -> PipelineSettings:
    section = recipe.get("pipeline") or {}
    unknown = set(section) - set(PipelineSettings.__dataclass_fields__)
    if unknown:
        raise Phi1Error(f"{path}: unknown key pipeline.{sorted(unknown)[0]}")
    settings = PipelineSettings(**section)
    for name in settings.launch:
        if name not in STAGE_NAMES:
            raise Phi1Error(f"{path}: pipeline.launch names no stage {name!r}")
        if name == "corpus":
            raise Phi1Error(f"{path}: pipeline.launch: corpus runs in-process only")
    return settings


def _merge(section: dict[str, Any], wired: dict[str, Any], where: str) -> dict[str, Any]:
    """The section with the pipeline's paths added; a section may not set them itself."""
    out = dict(section)
    for key, value in wired.items():
        if isinstance(value, dict):
            inner = out.get(key) or {}
            if not isinstance(inner, dict):
                raise Phi1Error(f"{where}.{key} must be a mapping")
            out[key] = _merge(inner, value, f"{where}.{key}")
        elif key in out:
            raise Phi1Error(
                f"{where}.{key} is set by phi1 run (it joins the stages: {value}); "
                "remove it from the recipe"
            )
        else:
            out[key] = value
    return out


def bind(func: Callable, args: dict[str, Any], where: str) -> dict[str, Any]:
    """Parse ``args`` against ``func``'s signature as ``--config`` would: keyword arguments
    with dataclass sections built; an unknown or mistyped key raises naming it."""
    import argparse

    parser = function_parser(func)
    try:
        cfg = parser.parse_object(args)
        init = parser.instantiate(cfg)
    except (argparse.ArgumentError, TypeError, ValueError) as e:
        raise Phi1Error(f"{where}: {e}") from None
    return {k: v for k, v in vars(init).items() if k != "__path__"}


def has_records(path: Path) -> bool:
    """Whether a JSONL file, or any JSONL file under a folder, has a non-blank line."""
    files = sorted(path.rglob("*.jsonl")) if path.is_dir() else [path] if path.exists() else []
    for f in files:
        with f.open("rb") as fh:
            if any(line.strip() for line in fh):
                return True
    return False


def _missing_modules(stage: Stage) -> list[str]:
    names = [stage.spec().split(":")[0], *stage.modules]
    return [m for m in names if importlib.util.find_spec(m) is None]


# --- manifests and digests -------------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def artifact_files(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    """The files the patterns match under ``folder`` (a directory matches all its files)."""
    seen: dict[str, Path] = {}
    for pattern in patterns:
        for path in sorted(folder.glob(pattern.removeprefix("?"))):
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for f in files:
                if not f.name.startswith("."):
                    seen.setdefault(f.relative_to(folder).as_posix(), f)
    return [seen[k] for k in sorted(seen)]


def missing_outputs(folder: Path, stage: Stage) -> list[str]:
    """What a finished stage would have written and this folder lacks."""
    patterns = [*stage.done, *(p for p in stage.artifacts if not p.startswith("?"))]
    return [p for p in patterns if not any(folder.glob(p))]


def digest(folder: Path, patterns: tuple[str, ...]) -> tuple[str, dict[str, dict]]:
    """The sha256 over the artifacts' names and contents, and each file's size and hash."""
    files = {
        f.relative_to(folder).as_posix(): {"bytes": f.stat().st_size, "sha256": sha256_file(f)}
        for f in artifact_files(folder, patterns)
    }
    return sha256_json({k: v["sha256"] for k, v in files.items()}), files


def read_manifest(folder: Path) -> dict | None:
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        return read_json(path)
    except Phi1Error:
        return None  # a torn manifest is as good as none: the stage runs again


def _counts(stage: Stage, folder: Path) -> dict[str, Any]:
    """The stage's own summary (small numbers only), for the manifest and the report."""
    out: dict[str, Any] = {}
    paths = [folder / stage.summary] if stage.summary else []
    if stage.name == "pack":
        paths = sorted(folder.glob("*/index.json"))
    elif stage.name == "humaneval":
        paths = sorted(folder.glob("*/results.json"))
    elif stage.name == "graded":
        paths = sorted(folder.glob("judge-*/summary.json"))
    for path in paths:
        try:
            data = read_json(path)
        except Phi1Error:
            continue
        key = path.parent.name if stage.name in ("pack", "humaneval", "graded") else None
        picked = {
            k: v
            for k, v in (data.items() if isinstance(data, dict) else [])
            if isinstance(v, (int, float, str, bool)) or (isinstance(v, dict) and len(v) <= 20)
        }
        if key:
            out[key] = picked
        else:
            out.update(picked)
    return out


# --- running ---------------------------------------------------------------------------------


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


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
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
def _sigterm_as_interrupt() -> Iterator[None]:
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


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _say(text: str) -> None:
    print(text, flush=True)


def _call(stage: Stage, func: Callable, args: dict[str, Any], launch: str | None) -> None:
    if launch is None:
        func(**bind(func, args, f"recipe section {'.'.join(stage.section)}"))
        return
    cmd = [*shlex.split(launch), "-m", "phi1.cli", *stage.words, "--config", json.dumps(args)]
    _say(f"         launch: {shlex.join(cmd[:-1])} '<section>'")
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


def _run_stage(
    stage: Stage,
    func: Callable,
    calls: list[dict],
    manifest: dict,
    folder: Path,
    launch: str | None,
) -> None:
    """Call the stage's function once per wired call, logging its stdout to log.txt."""
    with (folder / "log.txt").open("a", encoding="utf-8") as log:
        log.write(f"--- {_now()} attempt {len(manifest['attempts'])}\n")
        with contextlib.redirect_stdout(_Tee(sys.stdout, log)):  # type: ignore[type-var]
            for args in calls:
                _call(stage, func, args, launch)


def run(
    recipe: str | None = None,
    out: str | None = None,
    from_: str | None = None,
) -> dict[str, Any]:
    """Run the whole recipe, stage by stage, into one folder per stage under --out.

    A re-run skips the stages whose section and inputs are unchanged and resumes the one
    that was interrupted; see docs/PIPELINE.md.

    Args:
        recipe: The recipe YAML (recipes/smoke.yaml, tiny, phi-1-small, phi-1).
        out: The run directory.
        from_: ``--from STAGE``: redo this stage and every later one (their old folders
            go to OUT/superseded/). Stages: corpus, annotate, classifier, filter, dedup,
            textbooks, exercises, decontam, pack, pretrain, finetune, humaneval, graded.
    """
    if recipe is None:
        raise Phi1Error("run: --recipe FILE is required (recipes/smoke.yaml, recipes/tiny.yaml)")
    if out is None:
        raise Phi1Error("run: --out DIR is required")
    if from_ is not None and from_ not in STAGE_NAMES:
        raise Phi1Error(f"--from {from_!r}: no such stage; stages: {', '.join(STAGE_NAMES)}")
    config = load_recipe(recipe)
    settings = pipeline_settings(config, recipe)
    root = Path(out)
    plan = _plan(config, settings, root, recipe)
    with _lock(root), _sigterm_as_interrupt():
        return _execute(plan, config, settings, root, recipe, from_)


def check_recipe(
    recipe: str | os.PathLike, out: str | os.PathLike = "run"
) -> dict[str, str | None]:
    """Check every section of a recipe against its stage's function without running
    anything; return stage -> why it would be skipped (None: it runs)."""
    config = load_recipe(recipe)
    settings = pipeline_settings(config, recipe)
    return {p.stage.name: p.skip for p in _plan(config, settings, Path(out), str(recipe))}


@dataclass
class _Planned:
    stage: Stage
    section: dict[str, Any] | None
    func: Callable | None
    skip: str | None  # why it does not run, known before anything runs


def _plan(
    config: dict[str, Any], settings: PipelineSettings, root: Path, recipe: str
) -> list[_Planned]:
    """Resolve every stage and check every section against its function, before running."""
    if settings.prune_tau <= 0 or settings.prune_tau > 1:
        raise Phi1Error(f"{recipe}: pipeline.prune_tau must be in (0, 1]")
    everything = Context(root, set(STAGE_NAMES), settings, planning=True)
    plan = []
    for stage in STAGES:
        section = section_of(config, stage)
        where = f"{recipe}: section {'.'.join(stage.section)}"
        if section is None:
            plan.append(_Planned(stage, None, None, "no section in the recipe"))
            continue
        missing = _missing_modules(stage)
        if missing:
            plan.append(
                _Planned(stage, section, None, f"{', '.join(missing)} not in phi1 yet (not run)")
            )
            continue
        func = resolve(stage.spec())
        if func is None:  # its module imports one that has not landed
            plan.append(_Planned(stage, section, None, f"{stage.spec()} not in phi1 yet (not run)"))
            continue
        try:
            calls = stage.wire(everything)
        except Skip:
            calls = []
        for wired in calls:
            bind(func, _merge(section, wired, where), where)
        if stage.name == "decontam":
            taus = section.get("decontam", {}).get("taus")
            if taus is not None and settings.prune_tau not in taus:
                raise Phi1Error(
                    f"{recipe}: pipeline.prune_tau {settings.prune_tau} is not one of "
                    f"decontam.run.decontam.taus {taus}"
                )
        plan.append(_Planned(stage, section, func, None))
    return plan


def _execute(
    plan: list[_Planned],
    config: dict[str, Any],
    settings: PipelineSettings,
    root: Path,
    recipe: str,
    from_: str | None,
) -> dict[str, Any]:
    state_path = root / STATE
    state: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "recipe": str(recipe),
        "recipe_sha256": sha256_json(config),
        "config": config,
        "started": _now(),
        "finished": None,
        "status": "running",
        "stages": {},
    }
    ctx = Context(root, set(), settings)
    n = len(plan)
    _say(f"phi1 run: {recipe} -> {root} ({n} stages)")
    forced = False
    try:
        for i, p in enumerate(plan, 1):
            stage = p.stage
            forced = forced or stage.name == from_
            head = f"[{i:2d}/{n}] {stage.name:<10}"
            entry = _stage(p, ctx, root, head, forced, settings)
            state["stages"][stage.name] = entry
            atomic_write_json(state_path, state)
        state["status"] = "done"
    except KeyboardInterrupt:
        state["status"] = "interrupted"
        _say("phi1 run: interrupted; finished stages are kept, re-run the same command to resume")
        raise
    except Phi1Error:
        state["status"] = "failed"
        raise
    finally:
        state["finished"] = _now()
        atomic_write_json(state_path, state)
        if settings.report and state["status"] != "interrupted":
            _write_report(root)
    _say(f"phi1 run: done; stage folders in {root}")
    return state


def _write_report(root: Path) -> None:
    try:
        from phi1.report.html import build_report
    except ImportError:
        return
    try:
        html_path = build_report(root)
    except Exception as e:  # the report must never hide the run's own outcome
        _say(f"report: not written ({type(e).__name__}: {e})")
        return
    _say(f"report: {html_path}")


def _stage(
    p: _Planned, ctx: Context, root: Path, head: str, forced: bool, settings: PipelineSettings
) -> dict[str, Any]:
    stage = p.stage
    folder = root / stage.name
    if p.skip is not None:
        _say(f"{head} skipped: {p.skip}")
        return {"status": "skipped", "reason": p.skip}
    assert p.func is not None and p.section is not None
    try:
        calls = stage.wire(ctx)
    except Skip as e:
        _say(f"{head} skipped: {e}")
        return {"status": "skipped", "reason": str(e)}
    where = f"recipe section {'.'.join(stage.section)}"
    args = [_merge(p.section, w, where) for w in calls]
    inputs = {s: (read_manifest(root / s) or {}).get("digest") for s in stage.reads if s in ctx.ran}
    key = sha256_json({"stage": stage.name, "section": p.section, "inputs": inputs,
                       "calls": [_relative(w, root) for w in calls]})  # fmt: skip
    old = read_manifest(folder)
    reason = None
    if folder.exists():
        if forced:
            reason = "--from"
        elif old is None:
            reason = "no manifest"
        elif old.get("key") != key:
            reason = "its section or inputs changed"
        elif old.get("status") == "done" and not missing_outputs(folder, stage):
            when = old["attempts"][-1].get("ended", "?") if old.get("attempts") else "?"
            _say(f"{head} unchanged since {when}: skipped")
            ctx.ran.add(stage.name)
            return {"status": "unchanged", "digest": old.get("digest")}
    resuming = old is not None and reason is None and folder.exists()
    if reason is not None:
        moved = _supersede(root, folder)
        _say(f"{head} {reason}: redoing it; the old folder is kept in {moved}")
        old = None
    folder.mkdir(parents=True, exist_ok=True)
    manifest = old if resuming and old is not None else {
        "stage": stage.name,
        "command": "phi1 " + " ".join(stage.words) if not stage.command else stage.command,
        "key": key,
        "section": p.section,
        "args": args,
        "inputs": inputs,
        "attempts": [],
    }  # fmt: skip
    for earlier in manifest["attempts"]:
        if earlier.get("status") == "running":  # its process died without a word (kill -9)
            earlier["status"] = "killed"
    manifest["status"] = "running"
    attempt = {"started": _now(), "status": "running", "pid": os.getpid()}
    manifest["attempts"].append(attempt)
    atomic_write_json(folder / MANIFEST, manifest)
    if resuming:
        _say(f"{head} resuming (the last attempt did not finish)")
    else:
        _say(f"{head} running: {manifest['command']}")
    t0, cpu0 = time.perf_counter(), _cpu_seconds()

    def close(status: str, error: str | None = None) -> None:
        attempt.update(status=status, ended=_now(), seconds=round(time.perf_counter() - t0, 2))
        attempt["cpu_seconds"] = round(_cpu_seconds() - cpu0, 2)
        if error:
            attempt["error"] = error
        manifest["seconds"] = round(sum(a.get("seconds", 0) for a in manifest["attempts"]), 2)
        atomic_write_json(folder / MANIFEST, manifest)

    try:
        _run_stage(stage, p.func, args, manifest, folder, settings.launch.get(stage.name))
    except KeyboardInterrupt:
        close("interrupted")
        manifest["status"] = "interrupted"
        atomic_write_json(folder / MANIFEST, manifest)
        _say(f"{head} interrupted after {time.perf_counter() - t0:.1f}s")
        raise
    except Exception as e:
        message = str(e) if isinstance(e, Phi1Error) else f"{type(e).__name__}: {e}"
        manifest["status"] = "failed"
        close("failed", message)
        raise Phi1Error(
            f"stage {stage.name} failed: {message} (finished stages are kept; fix it and "
            f"re-run; log in {folder / 'log.txt'})"
        ) from e
    missing = missing_outputs(folder, stage)
    if missing:
        # It returned without finishing: its work was handed to a cluster (datatrove's Slurm
        # or Ray executor submits jobs and returns), or it is broken. Either way the next
        # stage cannot start; a re-run calls it again, and it picks up what the jobs did.
        manifest["status"] = "incomplete"
        close("incomplete", f"no {', '.join(missing)} yet")
        _say(f"{head} returned without writing {', '.join(missing)}")
        raise Phi1Error(
            f"stage {stage.name} has not finished: no {', '.join(missing)} in {folder}. If it "
            "submitted cluster jobs (executor slurm or ray), re-run this command when they are "
            f"done; otherwise see {folder / 'log.txt'}"
        )
    manifest["digest"], manifest["artifacts"] = digest(folder, stage.artifacts)
    manifest["counts"] = _counts(stage, folder)
    manifest["status"] = "done"
    close("done")
    ctx.ran.add(stage.name)
    _say(f"{head} done in {manifest['attempts'][-1]['seconds']:.1f}s")
    return {"status": "done", "digest": manifest["digest"], "seconds": manifest["seconds"]}


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the stage's worker processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _relative(value: Any, root: Path) -> Any:
    """Wired paths relative to the run folder, so a moved run folder keeps its keys."""
    if isinstance(value, dict):
        return {k: _relative(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v, root) for v in value]
    if isinstance(value, str):
        return value.replace(str(root), "<out>")
    return value


def stage_manifests(root: str | os.PathLike) -> dict[str, dict | None]:
    """Each stage's manifest (None for a stage that never ran), in pipeline order."""
    return {s.name: read_manifest(Path(root) / s.name) for s in STAGES}


__all__ = [
    "STAGES",
    "STAGE_NAMES",
    "PipelineSettings",
    "Stage",
    "check_recipe",
    "collect_corpus",
    "load_recipe",
    "run",
    "stage_manifests",
]
