"""``phi1 ablate --recipe FILE --out DIR``: what data does to a model, measured the way data
teams measure it: one small model per data variant, the same model, initial weights and
token budget for all, compared on an early-signal loss.

A recipe's ``ablate:`` section names the model preset, the token budget, the seeds (two or
more), the early-signal benchmarks and the variants::

    ablate:
      model: tiny
      tokens: 1_000_000
      seeds: [0, 1]
      benchmarks: [humaneval]
      baseline: random
      variants:
        raw: {filter: null}                                   # deduplicated, unfiltered
        top: {filter: {filter: {top_fraction: 0.5}}}
        bottom: {filter: {filter: {bottom_fraction: 0.5}}}
        random: {filter: {filter: {random_fraction: 0.5}}}
        top+textbooks:
          filter: {filter: {top_fraction: 0.5}}
          synth: {textbooks: {...}}
          pipeline: {weights: {code: 0.8, textbooks: 0.2}}

The rest of the recipe is the base every variant starts from. A variant is a set of
overrides of its sections, merged key by key (JSON merge patch: a mapping merges, ``null``
removes the section or key); it changes the data, never the training (``pretrain:`` is the
ablation's: ``ablate.model``, ``ablate.tokens`` and ``ablate.seeds`` set its preset, steps and
seed). A variant may add a finetune (``finetune:``, with the exercises' stages).

Each (variant, seed) is a ``phi1 run`` folder, ``DIR/runs/<variant>/seed-<seed>/``, whose
stages live in one shared stage cache, ``DIR/stages/<stage>-<key>/`` (the engine's ``cache``):
a stage's key is its section, the digests of its inputs and its wired paths, so stages that
variants share (the corpus, the judge's labels, the classifier, the embeddings) run once,
and so does the pretraining of two variants with the same data. Every run trains the preset
from the seed's initial weights on exactly ``steps x global_batch x block_size`` tokens (a
smaller dataset repeats; its epochs are recorded). The data stages of every variant run
first, so a variant without data fails before any training.

Resumable like ``phi1 run``: after an interrupt or ``kill -9`` the same command skips the
finished runs (their stages are unchanged) and the interrupted one resumes from its last
checkpoint. ``DIR/ablation.json`` holds the early-signal curves, the final losses (mean and
spread over seeds), pass@k where evaluated, tokens, epochs, and each variant against the
baseline in words; it is rewritten after every run. The page is drawn above this layer
(``phi1.report.ablation``), which ``phi1 ablate`` calls at the end.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.io import atomic_write_json, read_json
from phi1.model.config import PRESETS
from phi1.pipeline.attempt import say
from phi1.pipeline.engine import lock, outcome, plan, run_config, sigterm_as_interrupt
from phi1.pipeline.recipe import (
    bind,
    check_sections,
    load_recipe,
    pipeline_settings,
    resolve,
)
from phi1.pipeline.results import aggregate, collect_run, compare, packed_summaries, unit
from phi1.pipeline.state import now

RESULT = "ablation.json"
RUNS, CACHE = "runs", "stages"
FORMAT_VERSION = 1
DATA_ONLY = ("pretrain", "finetune", "eval")  # sections left out of a variant's data run
PRETRAIN = "phi1.train.commands:pretrain"
# Keys of the training sections that belong to the ablation, and the field that sets them.
OWNED = {
    "pretrain": {"model": "ablate.model", "init": "ablate.model (ablations train from scratch)",
                 "train.steps": "ablate.tokens", "train.seed": "ablate.seeds"},
    "finetune": {"train.seed": "ablate.seeds"},
}  # fmt: skip


@dataclass
class AblateSettings:
    """The recipe's ``ablate:`` section."""

    tokens: int
    """Pretraining tokens per run (rounded down to whole steps of global_batch x
    block_size)."""
    model: str = "tiny"
    """The model preset every variant trains."""
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    """Training seeds (initial weights, data order); two or more."""
    benchmarks: list[str] = field(default_factory=lambda: ["humaneval"])
    """Early-signal benchmarks (``log.benchmarks``: humaneval, graded, mbpp:FILE or a
    HumanEval-format FILE): the loss of their reference solutions, measured at step 0 and
    every ``log.eval_interval``. The first is the one compared. Empty:
    each run's held-out ``val_loss`` instead (its own data: not comparable across variants)."""
    baseline: str | None = None
    """The variant the others are compared with (default: ``random``, else the first)."""
    variants: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    """Name -> overrides of the recipe's sections (``null``: none)."""


def read_settings(section: Any, source: str) -> AblateSettings:
    """The ``ablate:`` section, checked: one error naming the first bad field."""
    where = f"{source}: ablate"
    if not isinstance(section, dict):
        raise Phi1Error(f"{where}: the recipe has no ablate: section (a mapping)")
    names = [f.name for f in fields(AblateSettings)]
    for key in section:
        if key not in names:
            raise Phi1Error(f"{where}: unknown key {key!r}; keys: {', '.join(names)}")
    if "tokens" not in section:
        raise Phi1Error(f"{where}.tokens is required (the pretraining budget per run)")
    s = AblateSettings(**section)
    tokens = s.tokens
    if isinstance(tokens, bool) or not isinstance(tokens, (int, float)) or tokens != int(tokens):
        raise Phi1Error(f"{where}.tokens must be a whole number of tokens, got {tokens!r}")
    if tokens <= 0:
        raise Phi1Error(f"{where}.tokens must be positive, got {tokens}: a budget of 0 trains "
                        "nothing")  # fmt: skip
    s.tokens = int(tokens)
    seeds = s.seeds
    if (
        not isinstance(seeds, list)
        or len(seeds) < 2
        or len(set(map(str, seeds))) < len(seeds)
        or not all(isinstance(x, int) and not isinstance(x, bool) for x in seeds)
    ):
        raise Phi1Error(f"{where}.seeds must list two or more distinct integers (the spread "
                        f"over seeds is the yardstick), got {seeds!r}")  # fmt: skip
    if s.model not in PRESETS:
        raise Phi1Error(f"{where}.model: unknown preset {s.model!r}; presets: "
                        f"{', '.join(PRESETS)}")  # fmt: skip
    if not isinstance(s.variants, dict) or len(s.variants) < 2:
        raise Phi1Error(f"{where}.variants must name two or more variants, got {s.variants!r}")
    for name, overrides in s.variants.items():
        _check_variant(str(name), overrides, f"{where}.variants.{name}")
    s.variants = {str(k): v for k, v in s.variants.items()}
    if s.baseline is None:
        s.baseline = "random" if "random" in s.variants else next(iter(s.variants))
    elif s.baseline not in s.variants:
        raise Phi1Error(f"{where}.baseline: no variant {s.baseline!r}; variants: "
                        f"{', '.join(s.variants)}")  # fmt: skip
    return s


def benchmark_names(benchmarks: Any, where: str) -> list[str]:
    """The names the benchmarks log under (``val_loss/<name>``), each checked the way
    training loads it (:func:`phi1.sandbox.problems.load_benchmark`, then
    :func:`phi1.model.score.reference_set`), so a benchmark training could not score fails
    here, before anything runs: unknown, without reference solutions, or named twice."""
    from phi1.model.score import reference_set
    from phi1.sandbox.problems import load_benchmark

    if not isinstance(benchmarks, list) or not all(isinstance(b, str) for b in benchmarks):
        raise Phi1Error(f"{where}.benchmarks must be a list of names, got {benchmarks!r}")
    names: list[str] = []
    for spec in benchmarks:
        try:
            name, problems = load_benchmark(spec)
            reference_set(name, problems)
        except Phi1Error as e:
            raise Phi1Error(f"{where}.benchmarks: {e}") from None
        if name in names:
            raise Phi1Error(f"{where}.benchmarks: {spec!r} would log as val_loss/{name}, "
                            "like another benchmark")  # fmt: skip
        names.append(name)
    return names


def _check_variant(name: str, overrides: Any, where: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", name):
        raise Phi1Error(f"{where}: a variant's name is a folder name (letters, digits, "
                        "_ . + -)")  # fmt: skip
    if overrides is None:
        return
    if not isinstance(overrides, dict):
        raise Phi1Error(f"{where} must be a mapping of sections to override (or null)")
    for key in ("ablate", "pretrain"):
        if key in overrides:
            raise Phi1Error(
                f"{where}.{key}: a variant changes the data, not the training: the model, "
                "budget and seeds are ablate.model, ablate.tokens and ablate.seeds (set a "
                "mixture with pipeline.weights)"
            )
    check_sections(overrides, where)


def merge_patch(base: Any, patch: Any) -> Any:
    """``patch`` applied to ``base`` (JSON merge patch, RFC 7386): mappings merge key by key,
    ``None`` removes a key, anything else replaces. Neither argument is changed."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _dig(table: dict, dotted: str) -> bool:
    """Whether ``table`` sets the dotted key."""
    value: Any = table
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return True


def metric_keys(names: list[str]) -> list[str]:
    """The metrics.jsonl keys of the early signal, the compared one first: nats per token
    and bits per byte of each benchmark's reference solutions (``names``: as
    :func:`benchmark_names` gives them); ``val_loss`` without one."""
    if not names:
        return ["val_loss"]
    return [f"{kind}/{n}" for n in names for kind in ("val_loss", "val_bpb")]


# --- the plan: every variant's recipe, checked before anything runs ------------------------


@dataclass
class Ablation:
    """An ablation resolved from its recipe: the settings, the budget in steps, and each
    variant's recipe per seed."""

    source: str
    root: Path
    recipe: dict[str, Any]
    settings: AblateSettings
    steps: int = 0
    per_step: int = 0
    metrics: list[str] = field(default_factory=list)
    """The early-signal keys in metrics.jsonl, the compared one first."""

    @classmethod
    def load(cls, recipe: str | Path, out: str | Path) -> Ablation:
        source = str(recipe)
        config = load_recipe(recipe)
        settings = read_settings(config.get("ablate"), source)
        names = benchmark_names(settings.benchmarks, f"{source}: ablate")
        ablation = cls(source, Path(out), config, settings, metrics=metric_keys(names))
        ablation.check()
        return ablation

    @property
    def base(self) -> dict[str, Any]:
        return {k: v for k, v in self.recipe.items() if k != "ablate"}

    def folder(self, variant: str, seed: int) -> Path:
        return self.root / RUNS / variant / f"seed-{seed}"

    def where(self, variant: str) -> str:
        return f"{self.source}: ablate.variants.{variant}"

    def config(self, variant: str, seed: int) -> dict[str, Any]:
        """The variant's recipe for one seed: the base with its overrides, and the
        ablation's training (preset, steps, seed, early-signal benchmarks)."""
        s = self.settings
        config = merge_patch(self.base, s.variants[variant] or {})
        if "filter" in config and not _dig(config, "filter.filter.embed_cache"):
            # top, bottom and random score the same corpus: embed it once for all of them
            config["filter"] = merge_patch(config["filter"] or {}, {"filter": {
                "embed_cache": str(self.root / CACHE / "filter-embeddings")}})  # fmt: skip
        logged = {"log": {"benchmarks": list(s.benchmarks)}} if s.benchmarks else {}
        config["pretrain"] = merge_patch(config.get("pretrain") or {}, {
            "model": s.model, "train": {"steps": self.steps, "seed": seed}, **logged})  # fmt: skip
        if "finetune" in config:
            config["finetune"] = merge_patch(config["finetune"] or {},
                                             {"train": {"seed": seed}, **logged})  # fmt: skip
        return config

    def check(self) -> None:
        """Every error a recipe can hold, before anything runs: the training sections, the
        budget, each variant's sections against their stages' functions."""
        for section, owned in OWNED.items():
            for name, overrides in [(None, {}), *self.settings.variants.items()]:
                table = merge_patch(self.base, overrides or {}).get(section) or {}
                for dotted, owner in owned.items():
                    if _dig(table, dotted):
                        at = f"ablate.variants.{name}.{section}" if name else section
                        raise Phi1Error(f"{self.source}: {at}.{dotted} is set by {owner}; "
                                        "remove it")  # fmt: skip
        self._check_budget()
        for variant in self.settings.variants:
            config = self.config(variant, self.settings.seeds[0])
            where = self.where(variant)
            if "corpus" not in config and not _dig(config, "synth.textbooks"):
                raise Phi1Error(f"{where} has no data: no corpus: or synth: textbooks: section")
            if "pack" not in config:
                raise Phi1Error(f"{where}: the recipe needs a pack: section (the tokens trained)")
            plan(config, pipeline_settings(config, where), self.folder(variant, 0), where)

    def _check_budget(self) -> None:
        pretrain = resolve(PRETRAIN)
        if pretrain is None:
            raise Phi1Error("ablate: phi1.train is not in this phi1")
        section = self.config(next(iter(self.settings.variants)), 0)["pretrain"]
        bound = bind(pretrain, section, f"{self.source}: pretrain")
        self.per_step = bound["train"].global_batch * bound["data"].block_size
        self.steps = self.settings.tokens // self.per_step  # never more than asked
        if self.steps < 1:
            raise Phi1Error(
                f"{self.source}: ablate.tokens {self.settings.tokens:,} is less than one step "
                f"(train.global_batch x data.block_size = {self.per_step:,} tokens)"
            )


# --- running ----------------------------------------------------------------------------------


def run_ablation(
    recipe: str | None = None,
    out: str | None = None,
    *,
    on_end: Callable[[Path], None] | None = None,
) -> dict[str, Any]:
    """Run every variant of the recipe's ablation into ``out``; return ablation.json's
    content. ``on_end(out)`` is called when it ends (done or failed, not interrupted)."""
    if recipe is None:
        raise Phi1Error("ablate: --recipe FILE is required (recipes/ablation-tiny.yaml)")
    if out is None:
        raise Phi1Error("ablate: --out DIR is required")
    ablation = Ablation.load(recipe, out)
    root = ablation.root
    result = _new_result(ablation)
    with lock(root), sigterm_as_interrupt():
        # A variant without data fails here, before training, and leaves the record of
        # the last ablation in this folder as it was.
        _data(ablation)
        try:
            with outcome(result, "ablate", "runs"):
                _train(ablation, result)
        finally:
            result["finished"] = now()
            _write(ablation, result)
            if on_end is not None and result["status"] != "interrupted":
                on_end(root)
    for line in result["comparisons"]:
        say(f"ablate: {line['text']}")
    say(f"ablate: done; {root / RESULT}")
    return result


def _data(ablation: Ablation) -> None:
    """Every variant's data stages, before any training: a variant without data fails here."""
    variants = list(ablation.settings.variants)
    for i, variant in enumerate(variants, 1):
        seed = ablation.settings.seeds[0]
        config = {k: v for k, v in ablation.config(variant, seed).items() if k not in DATA_ONLY}
        say(f"ablate: data of variant {variant} ({i}/{len(variants)})")
        folder = ablation.folder(variant, seed)
        where = ablation.where(variant)
        try:
            run_config(config, folder, source=where, cache=ablation.root / CACHE)
        except Phi1Error as e:
            raise Phi1Error(f"ablate: variant {variant}: {e}") from None
        _check_data(ablation.config(variant, seed), folder, where)


def _check_data(config: dict[str, Any], folder: Path, where: str) -> None:
    packed = {k: v for k, v in packed_summaries(folder).items() if v.get("tokens")}
    weights = (config.get("pipeline") or {}).get("weights") or {}
    wanted = list(weights) or ["code", "textbooks"]
    if not any(name in packed for name in wanted):
        raise Phi1Error(
            f"{where} has no data: nothing of {', '.join(wanted)} was packed (see the stage "
            f"logs under {folder}); finished variants are kept"
        )
    missing = [name for name in weights if name not in packed]
    if missing:
        raise Phi1Error(f"{where}: pipeline.weights names {', '.join(missing)}, which holds "
                        "no records")  # fmt: skip
    if "finetune" in config and "exercises" not in packed:
        raise Phi1Error(f"{where} asks for a finetune but no exercises were packed")


def _train(ablation: Ablation, result: dict[str, Any]) -> None:
    s = ablation.settings
    runs = [(v, seed) for v in s.variants for seed in s.seeds]
    for i, (variant, seed) in enumerate(runs, 1):
        folder = ablation.folder(variant, seed)
        say(f"ablate: [{i}/{len(runs)}] variant {variant}, seed {seed}: {folder}")
        try:
            outcome = run_config(
                ablation.config(variant, seed),
                folder,
                source=ablation.where(variant),
                cache=ablation.root / CACHE,
            )
        except Phi1Error as e:
            raise Phi1Error(f"ablate: variant {variant}, seed {seed}: {e}") from None
        stages = outcome.get("stages", {})
        fresh = any(v.get("status") == "done" for v in stages.values())
        say(f"ablate: variant {variant}, seed {seed}: " + ("done" if fresh else "unchanged"))
        result["variants"][variant]["runs"][str(seed)] = collect_run(
            folder, ablation.root, ablation.metrics
        )
        _write(ablation, result)


# --- results ----------------------------------------------------------------------------------


def _new_result(ablation: Ablation) -> dict[str, Any]:
    s = ablation.settings
    keys = ablation.metrics
    started = None
    try:
        started = read_json(ablation.root / RESULT).get("started")
    except Phi1Error:  # none yet, or torn: this run starts the record afresh
        pass
    return {
        "format": FORMAT_VERSION,
        "recipe": ablation.source,
        "status": "running",
        "started": started or now(),
        "finished": None,
        "settings": {
            "model": s.model,
            "tokens_asked": s.tokens,
            "tokens": ablation.steps * ablation.per_step,
            "steps": ablation.steps,
            "tokens_per_step": ablation.per_step,
            "seeds": s.seeds,
            "benchmarks": s.benchmarks,
            "baseline": s.baseline,
            "metric": keys[0],
            "metrics": keys,
            "unit": unit(keys[0]),
        },  # fmt: skip
        "variants": {v: {"overrides": o or {}, "runs": {}} for v, o in s.variants.items()},
        "comparisons": [],
    }


def _write(ablation: Ablation, result: dict[str, Any]) -> None:
    keys = result["settings"]["metrics"]
    for entry in result["variants"].values():
        entry.update(aggregate(entry["runs"], keys))
    result["comparisons"] = compare(result, ablation.settings.baseline or "", keys[0])
    atomic_write_json(ablation.root / RESULT, result)
