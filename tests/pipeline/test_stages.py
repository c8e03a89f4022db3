"""The stage table: each stage names its command's function, and declares its files once
(summaries keyed by subfolder, named outputs) for the manifests and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phi1.cli import COMMANDS
from phi1.pipeline import (
    STAGES,
    Stage,
    counts,
    outputs,
    stage_named,
    summaries,
    summary,
)
from phi1.pipeline.stages import Context, PipelineSettings


@pytest.mark.parametrize("stage", [s for s in STAGES if s.cli], ids=lambda s: s.name)
def test_a_stage_calls_the_function_its_command_calls(stage):
    spec = COMMANDS
    for word in stage.words:
        spec = spec[word]
    assert spec == stage.func


def test_corpus_has_no_command_of_its_own():
    corpus = stage_named("corpus")
    assert not corpus.cli and corpus.func == "phi1.data.corpus:collect_corpus"
    assert "corpus" not in COMMANDS


def _write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_counts_read_the_declared_summary_keyed_by_subfolder(tmp_path):
    _write(tmp_path / "pack" / "code" / "index.json", {"tokens": 10, "shards": [1, 2]})
    _write(tmp_path / "pack" / "textbooks" / "index.json", {"tokens": 4})
    (tmp_path / "pack" / "broken").mkdir()
    (tmp_path / "pack" / "broken" / "index.json").write_text("{torn")
    assert counts(stage_named("pack"), tmp_path / "pack") == {
        "code": {"tokens": 10},
        "textbooks": {"tokens": 4},
    }
    _write(tmp_path / "dedup" / "summary.json", {"kept": 3, "dropped": {"exact": 1}})
    assert counts(stage_named("dedup"), tmp_path / "dedup") == {"kept": 3, "dropped": {"exact": 1}}
    # any stage, by its declaration alone: no stage names in the rule
    mine = Stage("mine", ("mine",), "m:f", lambda c: [], (), summary="run-*/out.json")
    _write(tmp_path / "mine" / "run-a" / "out.json", {"n": 1})
    assert counts(mine, tmp_path / "mine") == {"run-a": {"n": 1}}


def test_the_report_reads_through_the_same_declaration(tmp_path):
    _write(tmp_path / "humaneval" / "finetune" / "results.json", {"pass@k": {"pass@1": 0.5}})
    _write(tmp_path / "humaneval" / "pretrain" / "results.json", {"pass@k": {"pass@1": 0.25}})
    (tmp_path / "humaneval" / "finetune" / "results.jsonl").write_text("{}\n")
    _write(tmp_path / "decontam" / "report.json", {"records": 7})
    assert list(summaries(tmp_path, "humaneval")) == ["finetune", "pretrain"]
    assert summary(tmp_path, "decontam") == {"records": 7}
    assert summary(tmp_path, "filter") is None
    assert outputs(tmp_path, "humaneval", "results") == [
        tmp_path / "humaneval" / "finetune" / "results.jsonl"
    ]


def test_wiring_paths_come_from_the_declared_outputs(tmp_path):
    c = Context(tmp_path, {"exercises", "decontam", "dedup"}, PipelineSettings(prune_tau=0.85))
    assert c.out("decontam", "pruned", tau=0.85) == tmp_path / "decontam/pruned/tau0.85.jsonl"
    wired = stage_named("decontam").wire(c)
    assert wired == [
        {"dataset": str(tmp_path / "exercises/exercises.jsonl"), "out": str(tmp_path / "decontam")}
    ]
