"""``phi1 report``: the page of a real (cheap) run, opened in headless Chromium; sections for
stages that did not run; the JSON summary against the run's own files; bad folders."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from phi1.cli import main
from phi1.errors import Phi1Error
from phi1.pipeline import STAGE_NAMES
from phi1.report.browser import check_report, find_chromium
from phi1.report.commands import run
from phi1.report.html import build_report

EDUCATIONAL = Path(__file__).resolve().parents[1] / "assets" / "quality_sanity" / "educational"
TINY_HE = Path(__file__).resolve().parents[1] / "assets" / "eval" / "tiny_humaneval.jsonl"
RAN = ("corpus", "pack", "pretrain")


@pytest.fixture(scope="module")
def cheap_run(tmp_path_factory) -> Path:
    """corpus -> pack -> 2 steps of the debug model, through ``phi1 run`` (which ends by
    drawing the report)."""
    root = tmp_path_factory.mktemp("report")
    recipe = {
        "corpus": {"inputs": [f"educational={EDUCATIONAL}"]},
        "pack": {"pack": {"workers": 1}},
        "pretrain": {
            "model": "debug",
            "data": {"block_size": 32, "val_fraction": 0.1},
            "train": {"steps": 2, "global_batch": 4, "lr": 3e-3, "warmup_steps": 1,
                      "precision": "fp32", "device": "cpu"},
            "log": {"log_interval": 1, "eval_interval": 1, "eval_sequences": 2,
                    "save_interval": 2, "keep_last": 1, "tensorboard": False, "progress": False,
                    "benchmarks": [str(TINY_HE)]},
        },
    }  # fmt: skip
    path = root / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    run(recipe=str(path), out=str(root / "run"))
    return root / "run"


def _png(data: bytes):
    import matplotlib.image

    return matplotlib.image.imread(io.BytesIO(data), format="png")


def test_report_renders_in_chromium(cheap_run):
    if find_chromium() is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium; CI installs it)")
    html = cheap_run / "report.html"
    seen = check_report(html)
    assert seen.console_errors == []
    assert seen.requests == []  # nothing fetched: the page is self-contained
    captions = {p["alt"] for p in seen.plots}
    assert {"Tokens per dataset, by source", "Training and validation loss"} <= captions
    image = _png(seen.screenshot)  # (H, W, channels), floats in [0, 1]
    height, width = image.shape[:2]
    assert (width, height) == seen.page_size
    assert image[..., :3].std() > 0.05  # not a blank page
    for plot in seen.plots:
        assert plot["complete"] and min(plot["natural"]) > 0, plot
        x, y, w, h = (round(v) for v in plot["box"])
        assert w > 100 and h > 50, plot
        crop = image[y : y + h, x : x + w, :3]
        # drawn: more than a flat box (axes, bars, lines, text in several shades)
        assert crop.std() > 0.05 and len({tuple(px) for px in crop.reshape(-1, 3)[::7]}) > 8


def test_sections_say_which_stages_did_not_run(cheap_run):
    text = (cheap_run / "report.html").read_text()
    for stage in ("annotate", "classifier", "filter", "textbooks", "exercises", "decontam",
                  "finetune", "humaneval", "graded"):  # fmt: skip
        assert f"{stage} did not run: no section in the recipe" in text, stage
    summary = json.loads((cheap_run / "report.json").read_text())
    assert summary["errors"] == []
    pipeline_state = json.loads((cheap_run / "pipeline.json").read_text())
    for stage in STAGE_NAMES:
        want = pipeline_state["stages"][stage]["status"]
        assert summary["stages"][stage]["status"] == want, stage
    assert [s for s in STAGE_NAMES if summary["stages"][s]["status"] == "done"] == list(RAN)


def test_summary_numbers_come_from_the_run(cheap_run):
    summary = json.loads((cheap_run / "report.json").read_text())
    index = json.loads((cheap_run / "pack" / "code" / "index.json").read_text())
    assert summary["tokens"]["code"] == {k: v["tokens"] for k, v in index["sources"].items()}
    rows = [json.loads(line) for line in (cheap_run / "pretrain" / "metrics.jsonl").open()]
    losses = [r["loss"] for r in rows if "loss" in r]
    vals = [r["val_loss"] for r in rows if "val_loss" in r]
    assert summary["training"]["pretrain"] == {
        "steps": len(losses), "loss": losses[-1], "val_loss": vals[-1]
    }  # fmt: skip
    # the early-signal loss: the initial model (step 0) and phi-1-base (the last step)
    bench = [r for r in rows if "val_loss/tiny_humaneval" in r]
    early = summary["early_signal"]["tiny_humaneval"]
    assert list(early) == ["initial model", "phi-1-base"]  # no finetune in this run
    for model, row in (("initial model", bench[0]), ("phi-1-base", bench[-1])):
        assert early[model] == {"step": row["step"], "loss": row["val_loss/tiny_humaneval"],
                                "bpb": row["val_bpb/tiny_humaneval"], "pass@1": None}  # fmt: skip
    assert early["initial model"]["step"] == 0 and early["phi-1-base"]["step"] == 2
    corpus = json.loads((cheap_run / "corpus" / "corpus.json").read_text())
    assert (
        summary["corpus"]["documents"] == corpus["documents"] == len(list(EDUCATIONAL.glob("*.py")))
    )


def test_page_is_one_self_contained_file(cheap_run):
    text = (cheap_run / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)
    assert "url(" not in text and "<script" not in text and "<link" not in text
    images = re.findall(r'<img [^>]*src="([^"]+)"', text)
    assert images and all(src.startswith("data:image/svg+xml;base64,") for src in images)


def test_a_broken_file_spoils_only_its_section(cheap_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(cheap_run, copy)
    (copy / "pack" / "code" / "index.json").write_text("{not json")
    path = build_report(copy)
    summary = json.loads(path.with_suffix(".json").read_text())
    assert len(summary["errors"]) == 1 and "index.json" in summary["errors"][0]
    text = path.read_text()
    assert "This section could not be drawn" in text
    assert "Training and validation loss" in text  # the other sections are all there


def test_cli_and_bad_folders(cheap_run, tmp_path, capsys):
    out = tmp_path / "elsewhere" / "r.html"
    assert main(["report", str(cheap_run), "--out", str(out)]) == 0
    assert f"report: {out}" in capsys.readouterr().out
    assert out.exists() and out.with_suffix(".json").exists()
    assert main(["report", str(tmp_path / "nope")]) == 1
    assert "no such run folder" in capsys.readouterr().err
    with pytest.raises(Phi1Error, match="not a phi1 run folder"):
        build_report(tmp_path / "elsewhere")
