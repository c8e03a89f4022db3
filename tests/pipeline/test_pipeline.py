"""``phi1 run`` on a cheap recipe: manifests, skipping unchanged stages, --from, changed
sections, failures, bad recipes, stages that have not landed, subprocess launch, and
resuming after SIGINT and kill -9."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import sys
import time

import pytest
from pipeline_helpers import EDUCATIONAL, cheap_recipe, manifest, spawn, state, write_recipe

from phi1 import pipeline
from phi1.io import sha256_file
from phi1.pipeline import stages


def _lines(out: str, word: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("[") and word in line]


def _stage_line(out: str, stage: str) -> str:
    return " | ".join(line for line in out.splitlines() if f"] {stage} " in line)


@pytest.mark.slow  # five runs of a cheap recipe
def test_manifests_rerun_from_and_changed_sections(tmp_path, run_phi1):
    recipe, run = write_recipe(tmp_path / "r.yaml", cheap_recipe()), tmp_path / "run"
    rc, out, err = run_phi1("run", "--recipe", recipe, "--out", run)
    assert rc == 0, err
    ran = ["corpus", "pack", "pretrain"]
    for stage in ran:
        assert "done in" in _stage_line(out, stage)
    # every stage without a section says so, and nothing is made up for it
    for stage in set(pipeline.STAGE_NAMES) - set(ran) - {"finetune", "humaneval", "graded"}:
        assert "skipped: no section in the recipe" in _stage_line(out, stage)
        assert not (run / stage).exists()
    assert "skipped: needs" in _stage_line(out, "humaneval") or "no section" in _stage_line(
        out, "humaneval"
    )

    # the manifest: inputs are the digests of what the stage read; its own digest covers
    # its artifacts (recomputed here from the files)
    corpus, pack, pretrain = (manifest(run, s) for s in ran)
    assert pack["inputs"] == {"corpus": corpus["digest"]}
    assert pretrain["inputs"] == {"pack": pack["digest"]}
    assert pack["section"] == {"pack": {"workers": 1}}
    assert pack["args"][0]["out"] == str(run / "pack" / "code")
    artifacts = next(s for s in pipeline.STAGES if s.name == "pretrain").artifacts
    digest, files = pipeline.digest(run / "pretrain", artifacts)
    assert digest == pretrain["digest"] and "final/model.safetensors" in files
    assert files["final/model.safetensors"]["sha256"] == sha256_file(
        run / "pretrain" / "final" / "model.safetensors"
    )
    index = json.loads((run / "pack" / "code" / "index.json").read_text())
    assert pack["counts"]["code"]["tokens"] == index["tokens"]
    assert corpus["counts"]["documents"] == len(list(EDUCATIONAL.glob("*.py")))
    assert [a["status"] for a in pretrain["attempts"]] == ["done"]
    assert pretrain["seconds"] > 0 and pretrain["attempts"][0]["ended"]
    assert state(run)["status"] == "done"
    assert (run / "report.html").exists() and (run / "report.json").exists()

    # unchanged: nothing runs again
    rc, out, _ = run_phi1("run", "--recipe", recipe, "--out", run)
    assert rc == 0 and len(_lines(out, "unchanged since")) == 3
    assert len(manifest(run, "pretrain")["attempts"]) == 1

    # --from pack: pack and everything after it again, corpus untouched, old folders kept
    rc, out, _ = run_phi1("run", "--recipe", recipe, "--out", run, "--from", "pack")
    assert rc == 0
    assert "unchanged" in _stage_line(out, "corpus")
    assert "--from: redoing it" in _stage_line(out, "pack")
    assert "--from: redoing it" in _stage_line(out, "pretrain")
    kept = sorted(p.name.rsplit("-", 2)[0] for p in (run / "superseded").iterdir())
    assert kept == ["pack", "pretrain"]
    # the same input gives the same tokens, so the digest is reproducible
    assert manifest(run, "pack")["digest"] == pack["digest"]

    # a changed section redoes that stage only
    changed = cheap_recipe()
    changed["pretrain"]["train"]["lr"] = 1e-3
    write_recipe(recipe, changed)
    rc, out, _ = run_phi1("run", "--recipe", recipe, "--out", run)
    assert rc == 0
    assert "unchanged" in _stage_line(out, "corpus") and "unchanged" in _stage_line(out, "pack")
    assert "its section or inputs changed" in _stage_line(out, "pretrain")
    assert manifest(run, "pretrain")["section"]["train"]["lr"] == 1e-3


def test_failure_names_the_stage_and_keeps_finished_ones(tmp_path, run_phi1):
    bad = cheap_recipe()
    bad["pretrain"]["model"] = "no-such-preset"
    recipe, run = write_recipe(tmp_path / "r.yaml", bad), tmp_path / "run"
    rc, out, err = run_phi1("run", "--recipe", recipe, "--out", run)
    assert rc == 1
    assert "stage pretrain failed" in err and "no-such-preset" in err
    assert manifest(run, "corpus")["status"] == "done"
    assert manifest(run, "pack")["status"] == "done"
    failed = manifest(run, "pretrain")
    assert failed["status"] == "failed" and "no-such-preset" in failed["attempts"][-1]["error"]
    assert state(run)["status"] == "failed"
    # the report is still written, and says what failed
    assert "failed" in (run / "report.html").read_text()

    write_recipe(recipe, cheap_recipe())
    rc, out, err = run_phi1("run", "--recipe", recipe, "--out", run)
    assert rc == 0, err
    assert "unchanged" in _stage_line(out, "corpus") and "unchanged" in _stage_line(out, "pack")
    assert "done in" in _stage_line(out, "pretrain")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pretrian": {}}, "unknown section 'pretrian'"),
        ({"synth": {"textbook": {}}}, "unknown section synth.textbook"),
        ({"pack": {"shard_mbs": 1}}, "shard_mbs"),
        ({"pack": {"out": "elsewhere"}}, "pack.out is set by phi1 run"),
        ({"annotate": {"inputs": ["x.jsonl"]}}, "annotate.inputs is set by phi1 run"),
        ({"pipeline": {"launch": {"nope": "python"}}}, "pipeline.launch names no stage 'nope'"),
        ({"pipeline": {"prune_tau": 0.85}, "synth": {"exercises": {}},
          "decontam": {"run": {"decontam": {"taus": [0.9]}}}}, "prune_tau 0.85 is not one of"),
        ({"finetune": {"train": {"stepz": 3}}}, "stepz"),
    ],
)  # fmt: skip
def test_bad_recipes_fail_before_any_stage_runs(tmp_path, run_phi1, change, message):
    recipe = {**cheap_recipe(), **change}
    path, run = write_recipe(tmp_path / "r.yaml", recipe), tmp_path / "run"
    rc, out, err = run_phi1("run", "--recipe", path, "--out", run)
    assert rc == 1 and message in err
    assert str(path) in err or "recipe" in err
    assert not (run / "corpus").exists()  # a typo in a late section costs nothing


def test_bad_arguments(tmp_path, run_phi1):
    path = write_recipe(tmp_path / "r.yaml", cheap_recipe())
    rc, _, err = run_phi1("run", "--recipe", path, "--out", tmp_path / "x", "--from", "train")
    assert rc == 1 and "--from 'train': no such stage" in err
    rc, _, err = run_phi1("run", "--recipe", tmp_path / "missing.yaml", "--out", tmp_path / "x")
    assert rc == 1 and "missing.yaml" in err
    rc, _, err = run_phi1("run", "--recipe", path)
    assert rc == 1 and "--out DIR is required" in err
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    rc, _, err = run_phi1("run", "--recipe", tmp_path / "list.yaml", "--out", tmp_path / "x")
    assert rc == 1 and "a recipe is a mapping" in err


def test_a_stage_whose_module_has_not_landed_is_skipped(tmp_path, run_phi1, monkeypatch):
    table = tuple(
        dataclasses.replace(s, modules=("phi1.not_landed_yet",)) if s.name == "pretrain" else s
        for s in pipeline.STAGES
    )
    monkeypatch.setattr(stages, "STAGES", table)
    recipe = write_recipe(tmp_path / "r.yaml", cheap_recipe(finetune={}))
    rc, out, err = run_phi1("run", "--recipe", recipe, "--out", tmp_path / "run")
    assert rc == 0, err
    assert "skipped: phi1.not_landed_yet not in phi1 yet" in _stage_line(out, "pretrain")
    assert "skipped: needs pack, pretrain" in _stage_line(out, "finetune") or (
        "skipped: needs pretrain" in _stage_line(out, "finetune")
    )
    assert not (tmp_path / "run" / "pretrain").exists()
    report = (tmp_path / "run" / "report.html").read_text()
    assert "pretrain did not run: phi1.not_landed_yet not in phi1 yet" in report


def test_report_false_draws_no_report(tmp_path, run_phi1):
    recipe = {"corpus": cheap_recipe()["corpus"], "pipeline": {"report": False}}
    path, run = write_recipe(tmp_path / "r.yaml", recipe), tmp_path / "run"
    rc, out, err = run_phi1("run", "--recipe", path, "--out", run)
    assert rc == 0, err
    assert manifest(run, "corpus")["status"] == "done"
    assert "report:" not in out and not (run / "report.html").exists()


def test_launch_runs_a_stage_in_a_subprocess(tmp_path, run_phi1):
    recipe = cheap_recipe(pipeline={"launch": {"pack": sys.executable}})
    recipe.pop("pretrain")
    path, run = write_recipe(tmp_path / "r.yaml", recipe), tmp_path / "run"
    rc, out, err = run_phi1("run", "--recipe", path, "--out", run)
    assert rc == 0, err
    assert f"launch: {sys.executable} -m phi1.cli pack --config" in out
    assert manifest(run, "pack")["status"] == "done"
    assert (run / "pack" / "code" / "index.json").exists()


def _wait_for(predicate, proc, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "timed out waiting for the run to get there"
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "kill-9"])
def test_interrupted_run_resumes_in_the_stage_it_was_in(tmp_path, sig):
    steps = 16
    path = write_recipe(tmp_path / "r.yaml", cheap_recipe(steps=steps, save_interval=2))
    run, log = tmp_path / "run", tmp_path / "log.txt"
    proc = spawn("run", "--recipe", path, "--out", run, log=log)
    checkpoints = run / "pretrain" / "checkpoints"
    _wait_for(lambda: any(checkpoints.glob("step-*/*.json")), proc)
    os.killpg(proc.pid, sig)
    rc = proc.wait(timeout=120)
    first = log.read_text()
    if sig == signal.SIGINT:
        assert rc == 130, first
        assert "pretrain   interrupted after" in first
        assert "re-run the same command to resume" in first
        assert manifest(run, "pretrain")["status"] == "interrupted"
    else:
        assert rc == -signal.SIGKILL
        assert manifest(run, "pretrain")["status"] == "running"  # it never got to say
    assert manifest(run, "pack")["status"] == "done"
    assert not (run / "pretrain" / "final").exists()

    log.write_text("")
    proc = spawn("run", "--recipe", path, "--out", run, log=log)
    assert proc.wait(timeout=600) == 0, log.read_text()
    second = log.read_text()
    assert "unchanged" in _stage_line(second, "corpus")
    assert "unchanged" in _stage_line(second, "pack")
    assert "resuming (the last attempt did not finish)" in _stage_line(second, "pretrain")
    resumed = re.search(r"resumed from \S*step-(\d+)", second)
    assert resumed and int(resumed.group(1)) >= 2, second  # a checkpoint, not a fresh start
    done = manifest(run, "pretrain")
    assert [a["status"] for a in done["attempts"]] == [
        "interrupted" if sig == signal.SIGINT else "killed",
        "done",
    ]
    rows = [json.loads(line) for line in (run / "pretrain" / "metrics.jsonl").open()]
    assert [r["step"] for r in rows if "loss" in r] == list(range(1, steps + 1))


@pytest.mark.slow
@pytest.mark.llm
def test_generation_stage_killed_resumes_with_its_finished_records(tmp_path):
    """kill -9 in the middle of an LLM stage: the re-run keeps every flushed record."""
    n = 6
    recipe = cheap_recipe(
        synth={
            "textbooks": {
                "llm": {"model": "smollm2-135m-instruct", "n_ctx": 1024},
                "textbook": {"n": n, "words": 60, "max_tokens": 96, "min_words": 10},
                "runner": {"flush_every": 1, "progress": False},
            }
        }
    )
    recipe.pop("pretrain")
    path = write_recipe(tmp_path / "r.yaml", recipe)
    run, log = tmp_path / "run", tmp_path / "log.txt"
    generated = run / "textbooks" / "generated"

    def finished() -> int:
        files = [*generated.glob("part-*.jsonl"), *generated.glob("rejects-*.jsonl")]
        return sum(1 for f in files for line in f.open() if line.strip())

    proc = spawn("run", "--recipe", path, "--out", run, log=log)
    _wait_for(lambda: finished() >= 2, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    before = finished()
    assert 2 <= before < n
    assert manifest(run, "textbooks")["status"] == "running"

    log.write_text("")
    proc = spawn("run", "--recipe", path, "--out", run, log=log)
    assert proc.wait(timeout=600) == 0, log.read_text()
    second = log.read_text()
    assert "unchanged" in _stage_line(second, "corpus")
    assert "resuming (the last attempt did not finish)" in _stage_line(second, "textbooks")
    last = json.loads((generated / "manifest.json").read_text())["runs"][-1]
    assert last["skipped"] == before  # nothing finished was asked again
    assert last["skipped"] + last["written"] + last["rejected"] == n
    assert [a["status"] for a in manifest(run, "textbooks")["attempts"]] == ["killed", "done"]
