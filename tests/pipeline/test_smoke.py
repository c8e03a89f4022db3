"""The ``smoke`` recipe end to end, as CI runs it: every stage, real models (Qwen2.5-Coder-0.5B
and SmolLM2 through llama.cpp, the debug model trained and evaluated), the report in
headless Chromium, and a re-run that finds nothing to do."""

from __future__ import annotations

import json
import time

import pytest
from pipeline_helpers import REPO, manifest, spawn, state

from phi1.pipeline import STAGE_NAMES
from phi1.report.browser import check_report, find_chromium

pytestmark = [pytest.mark.slow, pytest.mark.llm]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("smoke")
    out, log = root / "run", root / "log.txt"
    t0 = time.monotonic()
    proc = spawn("run", "--recipe", REPO / "recipes" / "smoke.yaml", "--out", out, log=log)
    rc = proc.wait(timeout=1800)
    return {"out": out, "rc": rc, "log": log.read_text(), "seconds": time.monotonic() - t0}


def test_every_stage_runs_and_records_a_manifest(smoke):
    out = smoke["out"]
    assert smoke["rc"] == 0, smoke["log"][-4000:]
    print(f"smoke recipe: {smoke['seconds']:.0f} s")
    stages = state(out)["stages"]
    assert [s for s in STAGE_NAMES if stages[s]["status"] != "done"] == []
    for stage in STAGE_NAMES:
        m = manifest(out, stage)
        assert m["status"] == "done" and m["digest"] and m["artifacts"], stage
        assert m["attempts"][-1]["seconds"] >= 0
        for name in m["artifacts"]:
            assert (out / stage / name).is_file(), (stage, name)
    # the data flows: each stage's inputs are the digests its producers recorded
    assert manifest(out, "filter")["inputs"] == {
        "corpus": manifest(out, "corpus")["digest"],
        "classifier": manifest(out, "classifier")["digest"],
    }
    finetune = manifest(out, "finetune")
    assert finetune["args"][0]["init"] == str(out / "pretrain")
    assert finetune["args"][0]["data"]["paths"] == [str(out / "pack" / "exercises")]
    packed = {p.parent.name for p in (out / "pack").glob("*/index.json")}
    assert packed == {"code", "textbooks", "exercises"}
    assert f"report: {out / 'report.html'}" in smoke["log"]


def test_report_covers_every_stage(smoke):
    summary = json.loads((smoke["out"] / "report.json").read_text())
    assert summary["errors"] == []
    assert set(summary["corpus"]["labels"]) <= {"high", "low", "unparseable"}
    assert summary["classifier"]["threshold"] is not None
    assert {"filter", "dedup", "textbooks", "exercises"} <= set(summary["kept_dropped"])
    assert summary["coverage"]["textbooks"]["sections"] >= 1
    assert summary["coverage"]["exercises"]["exercises"] >= 1
    assert set(summary["tokens"]) == {"code", "textbooks", "exercises"}
    assert set(summary["training"]) == {"pretrain", "finetune"}
    assert "pass@1" in summary["humaneval"]["finetune"]["pass@k"]
    assert summary["contamination"]["records"] == summary["coverage"]["exercises"]["exercises"]
    assert "table3" in summary["contamination"]
    assert list(summary["graded"]) == ["smollm2-135m-instruct"]


def test_report_renders_in_chromium(smoke):
    if find_chromium() is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium; CI installs it)")
    seen = check_report(smoke["out"] / "report.html")
    assert seen.console_errors == [] and seen.requests == []
    captions = {p["alt"] for p in seen.plots}
    assert {
        "Judge's labels by source",
        "Classifier scores by source",
        "Kept and dropped by stage and reason",
        "Tokens per dataset, by source",
        "Training and validation loss",
        "The judge's grade per problem",
    } <= captions
    for plot in seen.plots:
        assert plot["complete"] and min(plot["natural"]) > 0 and min(plot["box"][2:]) > 0


def test_rerun_finds_nothing_to_do(smoke, tmp_path):
    log = tmp_path / "log.txt"
    proc = spawn("run", "--recipe", REPO / "recipes" / "smoke.yaml", "--out", smoke["out"],
                 log=log)  # fmt: skip
    assert proc.wait(timeout=600) == 0, log.read_text()
    lines = [line for line in log.read_text().splitlines() if line.startswith("[")]
    assert len(lines) == len(STAGE_NAMES) and all("unchanged since" in x for x in lines), lines
    for stage in STAGE_NAMES:
        assert len(manifest(smoke["out"], stage)["attempts"]) == 1
