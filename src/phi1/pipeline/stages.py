"""The stage table: what each stage of ``phi1 run`` calls, what it reads, what it writes.

A :class:`Stage` names the function it calls (``module:function``, the same function its
command calls), its recipe section, the wiring that adds the paths joining it to the stages
before it, and its file layout, declared once: ``artifacts`` (what identifies its output),
``done`` (what exists only once it finished), ``summary`` (its own summary file or files)
and ``outputs`` (named paths that later stages and the report read). The engine, the
manifests and the report all read that declaration; nothing else spells a stage's paths.

This module imports nothing of phi1's stages: a stage's function is imported only when the
stage runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error


class Skip(Exception):
    """Raised by a stage's wiring when it cannot run (a required input stage did not run)."""


@dataclass(frozen=True)
class Stage:
    """One step of the recipe: which section configures it, what it calls, what it reads,
    and where its files are."""

    name: str
    """Folder name under DIR and the name ``--from`` takes."""
    section: tuple[str, ...]
    """Keys of its recipe section (``("synth", "textbooks")``); also its command's words."""
    func: str
    """``module:function`` it calls: its command's function (``phi1.cli.COMMANDS`` holds the
    same), or, for a stage without a command (``cli=False``), the function itself."""
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
    """Modules it needs beyond its function's own (a stage whose module has not landed is
    skipped)."""
    summary: str | None = None
    """Glob (relative to the stage folder) of its own summary, copied into the manifest's
    counts and read by the report. A pattern with a folder part (``*/index.json``) matches
    one summary per subfolder (dataset, model, judge), keyed by the subfolder's name."""
    outputs: dict[str, str] = field(default_factory=dict, hash=False)
    """Name -> path or glob (relative to the stage folder; ``{field}`` placeholders filled by
    the reader) of what later stages and the report read."""
    cli: bool = True
    """Whether ``phi1 <section words>`` is its command (and ``pipeline.launch`` can run it
    in a subprocess); False for ``corpus``, which has no command of its own."""

    @property
    def words(self) -> list[str]:
        return list(self.section)

    def output(self, name: str, **fields: Any) -> str:
        """The declared output ``name``, relative to the stage folder."""
        return self.outputs[name].format(**fields)

    def summary_files(self, folder: Path) -> list[tuple[str | None, Path]]:
        """``(key, path)`` of each summary under ``folder``: key None for a summary of the
        whole stage, the subfolder's name for a pattern with a folder part."""
        if self.summary is None:
            return []
        keyed = "/" in self.summary
        return [(p.parent.name if keyed else None, p) for p in sorted(folder.glob(self.summary))]


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
    base_step: int | None = None
    """The pretraining step that is phi-1-base (the paper: 24000 of 36000): finetuning
    starts from that step's model and ``eval_base`` scores it. ``pretrain.log.keep_steps``
    must list it (the trainer then keeps it as ``pretrain/kept/step-NNNNNN``); None: the
    last step (``pretrain/final``)."""
    report: bool = True
    """Write ``DIR/report.html`` and ``DIR/report.json`` at the end."""
    weights: dict[str, float] = field(default_factory=dict)
    """Pretraining mixture by packed dataset (``{code: 0.8, textbooks: 0.2}``): pretrain on
    exactly these datasets, sampled by these weights; each must have been packed. Empty: every
    packed dataset of code and textbooks, in proportion to its size."""

    def __post_init__(self) -> None:
        if not isinstance(self.weights, dict):
            raise Phi1Error("pipeline.weights must be a mapping: {code: 0.8, textbooks: 0.2}")
        for name, weight in self.weights.items():
            if name not in PRETRAIN_DATA:
                raise Phi1Error(
                    f"pipeline.weights: no dataset {name!r}; pretraining reads "
                    f"{', '.join(PRETRAIN_DATA)}"
                )
            if not isinstance(weight, (int, float)) or not weight >= 0:
                raise Phi1Error(f"pipeline.weights.{name} must be >= 0, got {weight}")
        if self.weights and sum(self.weights.values()) <= 0:
            raise Phi1Error("pipeline.weights: at least one weight must be positive")


PRETRAIN_DATA = ("code", "textbooks")  # the packed datasets pretraining reads, in this order


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
    cache: Path | None = None
    """A shared stage cache: each stage's folder lives there, named by its key, and
    ``root/<stage>`` links to it (``phi1 ablate``: runs with the same stages share them)."""
    folders: dict[str, Path] = field(default_factory=dict)
    """Stage -> its folder, where it is not ``root/<stage>`` (in the cache)."""

    def dir(self, stage: str) -> Path:
        return self.folders.get(stage, self.root / stage)

    def out(self, stage: str, name: str, **fields: Any) -> Path:
        """The path of a stage's declared output (:attr:`Stage.outputs`)."""
        return self.dir(stage) / stage_named(stage).output(name, **fields)

    def has_records(self, path: Path) -> bool:
        return self.planning or has_records(path)

    def need(self, *stages: str) -> None:
        missing = [s for s in stages if s not in self.ran]
        if missing:
            raise Skip(f"needs {', '.join(missing)}, which did not run")


def has_records(path: Path) -> bool:
    """Whether a JSONL file, or any JSONL file under a folder, has a non-blank line."""
    files = sorted(path.rglob("*.jsonl")) if path.is_dir() else [path] if path.exists() else []
    for f in files:
        with f.open("rb") as fh:
            if any(line.strip() for line in fh):
                return True
    return False


# --- the wiring: the paths that join the stages -----------------------------------------------


def _wire_corpus(c: Context) -> list[dict]:
    return [{"out": str(c.dir("corpus"))}]


def _corpus_source(c: Context) -> str:
    c.need("corpus")
    return f"jsonl:{c.out('corpus', 'documents')}"


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
    """The filtered corpus; without a filter, the corpus itself (the paper's unfiltered
    arm: deduplicated, not filtered)."""
    source = f"jsonl:{c.out('filter', 'kept')}" if "filter" in c.ran else _corpus_source(c)
    return [{"inputs": [source], "out": str(c.dir("dedup"))}]


def _wire_textbooks(c: Context) -> list[dict]:
    return [{"out": str(c.dir("textbooks"))}]


def _wire_exercises(c: Context) -> list[dict]:
    return [{"out": str(c.dir("exercises"))}]


def _wire_decontam(c: Context) -> list[dict]:
    c.need("exercises")
    return [{"dataset": str(c.out("exercises", "records")), "out": str(c.dir("decontam"))}]


def pack_inputs(c: Context) -> dict[str, str]:
    """Dataset name -> the file packed for it: the most processed version that exists.

    Code: deduplicated, else filtered, else the raw corpus (the paper's unfiltered
    ablation). Exercises: the decontaminated copy at ``pipeline.prune_tau``, else as
    generated.
    """
    out: dict[str, str] = {}
    for stage, name in (("dedup", "kept"), ("filter", "kept"), ("corpus", "documents")):
        if stage in c.ran:
            out["code"] = str(c.out(stage, name))
            break
    if "textbooks" in c.ran:
        out["textbooks"] = str(c.out("textbooks", "records"))
    if "decontam" in c.ran:
        out["exercises"] = str(c.out("decontam", "pruned", tau=c.settings.prune_tau))
    elif "exercises" in c.ran:
        out["exercises"] = str(c.out("exercises", "records"))
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
        print(f"         pack: {', '.join(empty)} hold no records; not packed", flush=True)
    if not calls:
        raise Skip(f"nothing to pack: {', '.join(empty)} hold no records")
    return calls


def _packed(c: Context, name: str) -> bool:
    """Whether dataset ``name`` was packed: its summary (``index.json``) is there."""
    return c.planning or name in dict(stage_named("pack").summary_files(c.dir("pack")))


def _wire_pretrain(c: Context) -> list[dict]:
    c.need("pack")
    weights = c.settings.weights
    if weights:
        missing = [n for n in weights if not _packed(c, n)]
        if missing:
            raise Phi1Error(
                f"pipeline.weights names {', '.join(missing)}, which was not packed (no "
                "records, or no section for the stage that makes it)"
            )
        names = [n for n in PRETRAIN_DATA if n in weights]
    else:
        names = [n for n in PRETRAIN_DATA if _packed(c, n)]
    if not names:
        raise Skip("no pretraining data: neither code nor textbooks were packed")
    data: dict[str, Any] = {"paths": [str(c.dir("pack") / n) for n in names]}
    if weights:
        data["weights"] = [float(weights[n]) for n in names]
    return [{"out": str(c.dir("pretrain")), "data": data, "resume": "auto"}]


def base_model(c: Context) -> str:
    """phi-1-base: the pretraining run's model at ``pipeline.base_step`` (kept by the
    trainer), else its final model."""
    step = c.settings.base_step
    if step is None:
        return str(c.out("pretrain", "model"))
    kept = c.out("pretrain", "kept", step=step)
    if not c.planning and not (kept / "config.json").exists():
        raise Phi1Error(
            f"pipeline.base_step {step}: pretrain kept no model at that step ({kept} is "
            f"missing); list it in pretrain.log.keep_steps ([{step}]) and run the pretrain "
            "stage again (--from pretrain)"
        )
    return str(kept)


def _wire_finetune(c: Context) -> list[dict]:
    c.need("pack", "pretrain")
    if not _packed(c, "exercises"):
        raise Skip("no finetuning data: no exercises were packed")
    # the run folder (its final model) unless a base step is named, as before base_step
    init = str(c.dir("pretrain")) if c.settings.base_step is None else base_model(c)
    return [
        {
            "init": init,
            "out": str(c.dir("finetune")),
            "data": {"paths": [str(c.dir("pack") / "exercises")]},
            "resume": "auto",
        }
    ]


def evaluated_model(c: Context) -> str:
    """The model the evaluation stages read: phi-1 (finetuned), else phi-1-base."""
    if "finetune" in c.ran:
        return str(c.out("finetune", "model"))
    if "pretrain" in c.ran:
        return base_model(c)
    raise Skip("needs a model: neither pretrain nor finetune ran")


def _wire_humaneval(c: Context) -> list[dict]:
    """One evaluation per model, in ``humaneval/<stage>/``: phi-1, and phi-1-base too when
    ``pipeline.eval_base`` is set (the paper reports both); phi-1-base is pretraining's
    model at ``pipeline.base_step`` when one is named."""
    stages = [s for s in ("finetune", "pretrain") if s in c.ran]
    if not stages:
        raise Skip("needs a model: neither pretrain nor finetune ran")
    if not c.settings.eval_base:
        stages = stages[:1]
    return [
        {
            "llm": {"model": base_model(c) if s == "pretrain" else str(c.out(s, "model"))},
            "out": str(c.dir("humaneval") / s),
        }
        for s in stages
    ]


def _wire_graded(c: Context) -> list[dict]:
    return [{"solver": {"model": evaluated_model(c)}, "out": str(c.dir("graded"))}]


# --- the table --------------------------------------------------------------------------------

TRAINER = ("phi1.model.checkpoint",)
TRAINED = {"model": "final", "metrics": "metrics.jsonl", "kept": "kept/step-{step:06d}"}
# the kept models (log.keep_steps) count in the digest: finetuning may start from one
TRAINED_FILES = ("final/*", "?kept/*")

STAGES: tuple[Stage, ...] = (
    Stage("corpus", ("corpus",), "phi1.data.corpus:collect_corpus", _wire_corpus,
          ("documents/*.jsonl",), done=("corpus.json",), summary="corpus.json",
          outputs={"documents": "documents"}, cli=False),
    Stage("annotate", ("annotate",), "phi1.data.commands:annotate", _wire_annotate,
          ("sample.jsonl", "?part-*.jsonl"), reads=("corpus",), summary="annotate.json",
          outputs={"labelled": "part-*.jsonl", "rejects": "rejects-*.jsonl"}),
    Stage("classifier", ("classifier", "train"), "phi1.data.commands:classifier_train",
          _wire_classifier, ("model.joblib",), done=("classifier.json",), reads=("annotate",),
          summary="classifier.json"),
    Stage("filter", ("filter",), "phi1.data.commands:filter_corpus", _wire_filter,
          ("?kept/*.jsonl",), done=("summary.json",), reads=("corpus", "classifier"),
          summary="summary.json", outputs={"kept": "kept", "scored": "scored/*.jsonl"}),
    Stage("dedup", ("dedup",), "phi1.data.commands:dedup", _wire_dedup, ("kept.jsonl",),
          done=("summary.json",), reads=("corpus", "filter"), summary="summary.json",
          outputs={"kept": "kept.jsonl"}),
    Stage("textbooks", ("synth", "textbooks"), "phi1.synth.commands:textbooks",
          _wire_textbooks, ("textbooks.jsonl",), done=("summary.json",), summary="summary.json",
          outputs={"records": "textbooks.jsonl"}),
    Stage("exercises", ("synth", "exercises"), "phi1.synth.commands:exercises",
          _wire_exercises, ("exercises.jsonl",), done=("summary.json",), summary="summary.json",
          outputs={"records": "exercises.jsonl"}),
    Stage("decontam", ("decontam", "run"), "phi1.data.commands:decontam_run",
          _wire_decontam, ("pruned/*.jsonl",), done=("report.json",), reads=("exercises",),
          summary="report.json",
          outputs={"pruned": "pruned/tau{tau:g}.jsonl", "neighbours": "neighbours.jsonl"}),
    Stage("pack", ("pack",), "phi1.data.commands:pack", _wire_pack, ("*/index.json",),
          reads=("corpus", "filter", "dedup", "textbooks", "exercises", "decontam"),
          summary="*/index.json"),
    Stage("pretrain", ("pretrain",), "phi1.train.commands:pretrain", _wire_pretrain,
          TRAINED_FILES, done=("final/config.json", "summary.json"), reads=("pack",),
          modules=TRAINER, summary="summary.json", outputs=TRAINED),
    Stage("finetune", ("finetune",), "phi1.train.commands:finetune", _wire_finetune,
          TRAINED_FILES, done=("final/config.json", "summary.json"), reads=("pack", "pretrain"),
          modules=TRAINER, summary="summary.json", outputs=TRAINED),
    Stage("humaneval", ("eval", "humaneval"), "phi1.eval.commands:humaneval", _wire_humaneval,
          ("*/samples.jsonl",), done=("*/results.json",), reads=("pretrain", "finetune"),
          summary="*/results.json", outputs={"results": "*/results.jsonl"}),
    Stage("graded", ("eval", "graded"), "phi1.eval.commands:graded", _wire_graded,
          ("judge-*/grades.jsonl",), done=("executions.jsonl",), reads=("pretrain", "finetune"),
          modules=("phi1.eval.generation",), summary="judge-*/summary.json",
          outputs={"grades": "judge-*/grades.jsonl"}),
)  # fmt: skip
STAGE_NAMES = tuple(s.name for s in STAGES)


def stage_named(name: str) -> Stage:
    """The stage called ``name``."""
    for stage in STAGES:
        if stage.name == name:
            return stage
    raise KeyError(f"no stage {name!r}; stages: {', '.join(STAGE_NAMES)}")
