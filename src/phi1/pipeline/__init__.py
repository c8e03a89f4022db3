"""``phi1 run --recipe FILE --out DIR``: the whole recipe, stage by stage.

The stages, in order, each writing under ``DIR/<stage>/``::

    corpus      collect the code corpus          phi1.data.corpus.collect_corpus
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

The package, bottom up: ``stages`` (the stage table and its wiring), ``state`` (manifests,
digests, summaries: what the report reads), ``recipe`` (loading and checking recipes, the
table of renamed keys; cli.py uses it too), ``engine`` (plan, run a stage, lock,
supersede, launch). The ``phi1 run`` command itself, which ends by drawing the report,
lives above both in ``phi1.report.commands``.
"""

from phi1.pipeline.engine import check_recipe, plan, run, run_stage
from phi1.pipeline.recipe import (
    RENAMED,
    bind,
    check_flags,
    check_keys,
    function_parser,
    load_recipe,
    pipeline_settings,
    resolve,
    section_of,
)
from phi1.pipeline.stages import (
    STAGE_NAMES,
    STAGES,
    Context,
    PipelineSettings,
    Skip,
    Stage,
    evaluated_model,
    has_records,
    pack_inputs,
    stage_named,
)
from phi1.pipeline.state import (
    MANIFEST,
    STATE,
    SUPERSEDED,
    artifact_files,
    counts,
    digest,
    missing_outputs,
    outputs,
    read_manifest,
    read_state,
    stage_manifests,
    summaries,
    summary,
)

__all__ = [
    "MANIFEST",
    "RENAMED",
    "STAGES",
    "STAGE_NAMES",
    "STATE",
    "SUPERSEDED",
    "Context",
    "PipelineSettings",
    "Skip",
    "Stage",
    "artifact_files",
    "bind",
    "check_flags",
    "check_keys",
    "check_recipe",
    "counts",
    "digest",
    "evaluated_model",
    "function_parser",
    "has_records",
    "load_recipe",
    "missing_outputs",
    "outputs",
    "pack_inputs",
    "pipeline_settings",
    "plan",
    "read_manifest",
    "read_state",
    "resolve",
    "run",
    "run_stage",
    "section_of",
    "stage_manifests",
    "stage_named",
    "summaries",
    "summary",
]
