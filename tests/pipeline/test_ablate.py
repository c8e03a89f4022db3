"""``phi1 ablate`` on a cheap recipe: shared stages run once, the record and the page, a
re-run skips finished runs, kill -9 resumes to the numbers of an uninterrupted run, and bad
input is one error naming it with nothing finished lost."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import time
from pathlib import Path

import pytest
from ablate_helpers import ablation_recipe, finals, record
from pipeline_helpers import spawn, write_recipe
from test_base_step import Teacher

from phi1.cli import main
from phi1.llm.testserver import serve
from phi1.report.browser import check_report, find_chromium


def _phi1(*args: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


def _three_variants() -> dict:
    """edu, boiler, and edu-again: edu's data with another pipeline setting (same stages)."""
    recipe = ablation_recipe()
    recipe["ablate"]["variants"]["edu-again"] = {"pipeline": {"report": False}}
    return recipe


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path, str]:
    """A finished three-variant ablation: (recipe, folder, what it printed)."""
    root = tmp_path_factory.mktemp("ablate")
    recipe = write_recipe(root / "r.yaml", _three_variants())
    rc, out, err = _phi1("ablate", "--recipe", recipe, "--out", root / "out")
    assert rc == 0, err
    return recipe, root / "out", out


def _links(run: Path) -> dict[str, str]:
    return {p.name: os.readlink(p) for p in run.iterdir() if p.is_symlink()}


@pytest.mark.slow  # eight short trainings of the debug model
def test_shared_stages_run_once_and_the_record_holds_every_run(finished):
    _, out, printed = finished
    r = record(out)
    assert r["status"] == "done"
    s = r["settings"]
    assert (s["steps"], s["tokens_per_step"], s["tokens"]) == (8, 128, 1024)
    folders = sorted(p.name.rsplit("-", 1)[0] for p in (out / "stages").iterdir())
    # two corpora and two packs; a pretraining per distinct data and seed: edu-again has
    # edu's stages, so it trains nothing of its own
    assert folders == ["corpus"] * 2 + ["pack"] * 2 + ["pretrain"] * 4
    for seed in (0, 1):
        same = out / "runs" / "edu" / f"seed-{seed}", out / "runs" / "edu-again" / f"seed-{seed}"
        assert _links(same[0]) == _links(same[1]) and set(_links(same[0])) == {
            "corpus", "pack", "pretrain"
        }  # fmt: skip
    assert printed.count("running: phi1 pretrain") == 4
    f = finals(out)
    assert f["edu"] == f["edu-again"] and f["edu"] != f["boiler"]
    for variant, entry in r["variants"].items():
        for seed, run in entry["runs"].items():
            curve = run["curves"][s["metric"]]
            assert [x for x, _ in curve] == [256, 512, 768, 1024], (variant, seed)
            assert run["tokens"] == 1024 and run["epochs"]["pretrain"]["code"] > 0
        final = entry["final"][s["metric"]]
        assert final["n"] == 2 and final["std"] > 0
        assert final["mean"] == pytest.approx(sum(f[variant].values()) / 2)
    texts = {c["variant"]: c["text"] for c in r["comparisons"]}
    assert s["baseline"] == "edu" and set(texts) == {"boiler", "edu-again"}
    assert "seed spread" in texts["boiler"] and "same val_loss as edu" in texts["edu-again"]


@pytest.mark.slow
def test_the_page_shows_the_plot_table_and_comparisons(finished):
    _, out, _ = finished
    html, table = (out / "report.html").read_text(), (out / "ablation.md").read_text()
    assert (out / "early-signal.svg").read_bytes().startswith(b"<?xml")
    for variant in ("edu (baseline)", "boiler", "edu-again"):
        assert f"| {variant} |" in table
    for c in record(out)["comparisons"]:
        assert c["text"] in table and c["text"] in html
    (out / "report.html").unlink()  # phi1 report draws an ablation folder's page again
    rc, printed, _ = _phi1("report", out)
    assert rc == 0 and f"report: {out / 'report.html'}" in printed
    assert (out / "report.html").read_text() == html
    elsewhere = out.parent / "pages" / "ablation.html"  # --out into a folder not yet made
    rc, _, err = _phi1("report", out, "--out", elsewhere)
    assert rc == 0 and elsewhere.read_text() == html, err
    assert (elsewhere.parent / "early-signal.svg").read_bytes() == (
        out / "early-signal.svg"
    ).read_bytes()
    if find_chromium() is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium; CI installs it)")
    seen = check_report(out / "report.html")
    assert seen.console_errors == [] and seen.requests == []
    (plot,) = seen.plots
    assert plot["complete"] and plot["alt"].startswith("Early-signal loss against tokens")


@pytest.mark.slow
def test_a_rerun_skips_finished_runs(finished):
    recipe, out, _ = finished
    before = finals(out)
    rc, printed, err = _phi1("ablate", "--recipe", recipe, "--out", out)
    assert rc == 0, err
    assert "running:" not in printed
    assert printed.count(": unchanged\n") == 6  # 3 variants x 2 seeds
    assert finals(out) == before


@pytest.mark.slow
def test_a_variant_without_data_fails_and_keeps_finished_work(finished, tmp_path):
    recipe, out, _ = finished
    kept = (out / "ablation.json").read_bytes()
    (tmp_path / "empty").mkdir()
    bad = _three_variants()
    bad["ablate"]["variants"]["nothing"] = {"corpus": {"inputs": [str(tmp_path / "empty")]}}
    rc, printed, err = _phi1("ablate", "--recipe", write_recipe(tmp_path / "bad.yaml", bad),
                             "--out", out)  # fmt: skip
    assert rc == 1 and "running: phi1 pretrain" not in printed
    assert err.count("phi1: error:") == 1 and "variant nothing: stage corpus failed" in err
    assert "no documents" in err
    assert (out / "ablation.json").read_bytes() == kept  # the record of the finished runs
    weights = _three_variants()
    weights["ablate"]["variants"]["mix"] = {"pipeline": {"weights": {"textbooks": 1}}}
    rc, _, err = _phi1("ablate", "--recipe", write_recipe(tmp_path / "w.yaml", weights),
                       "--out", out)  # fmt: skip
    assert rc == 1 and "ablate.variants.mix has no data: nothing of textbooks" in err
    rc, printed, err = _phi1("ablate", "--recipe", recipe, "--out", out)
    assert rc == 0 and "running:" not in printed, err


BAD = [
    ({"variants": {"edu": {"filtr": {}}, "boiler": None}},
     "ablate.variants.edu: unknown section 'filtr'"),
    ({"variants": {"edu": None, "boiler": {"corpus": {"inputz": ["x"]}}}},
     "ablate.variants.boiler: corpus: unknown key 'inputz'"),
    ({"variants": {"edu": None, "boiler": {"corpus": None}}},
     "ablate.variants.boiler has no data: no corpus: or synth: textbooks: section"),
    ({"tokens": 0}, "ablate.tokens must be positive, got 0"),
    ({"tokens": 100}, "ablate.tokens 100 is less than one step"),
    ({"benchmarks": ["humaneva"]}, "ablate.benchmarks: unknown benchmark 'humaneva'"),
    ({"benchmarks": ["mbpp"]}, "ablate.benchmarks: benchmark 'mbpp': phi1's own MBPP"),
    ({"benchmarks": ["humaneval", "humaneval"]}, "would log as val_loss/humaneval, like another"),
    ({"seeds": [3]}, "ablate.seeds must list two or more distinct integers"),
    ({"baseline": "nope"}, "ablate.baseline: no variant 'nope'"),
    ({"tokenz": 5}, "ablate: unknown key 'tokenz'"),
    ({"model": "huge"}, "ablate.model: unknown preset 'huge'"),
    ({"variants": {"edu": None, "big": {"pretrain": {"model": "tiny"}}}},
     "ablate.variants.big.pretrain: a variant changes the data, not the training"),
    ({"variants": {"edu": None, "a b": None}}, "a variant's name is a folder name"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), BAD, ids=[m[:30] for _, m in BAD])
def test_bad_input_is_one_error_naming_it(tmp_path, change, message):
    recipe = ablation_recipe()
    recipe["ablate"].update(change)
    path = write_recipe(tmp_path / "r.yaml", recipe)
    out = tmp_path / "out"
    out.mkdir()
    (out / "ablation.json").write_text('{"finished": "earlier"}')  # an earlier ablation's
    rc, _, err = _phi1("ablate", "--recipe", path, "--out", out)
    assert rc == 1 and err.count("\n") == 1 and message in err, err
    assert str(path) in err  # nothing ran, and the earlier record is as it was
    assert [p.name for p in out.iterdir()] == ["ablation.json"]
    assert (out / "ablation.json").read_text() == '{"finished": "earlier"}'


def test_the_training_is_the_ablations(tmp_path):
    recipe = ablation_recipe()
    recipe["pretrain"]["model"] = "tiny"
    rc, _, err = _phi1("ablate", "--recipe", write_recipe(tmp_path / "r.yaml", recipe), "--out",
                       tmp_path / "out")  # fmt: skip
    assert rc == 1 and "pretrain.model is set by ablate.model; remove it" in err
    recipe = ablation_recipe()
    recipe["finetune"] = {"train": {"seed": 3}}
    rc, _, err = _phi1("ablate", "--recipe", write_recipe(tmp_path / "r.yaml", recipe), "--out",
                       tmp_path / "out")  # fmt: skip
    assert rc == 1 and "finetune.train.seed is set by ablate.seeds" in err


def _wait_for(path_glob: tuple[Path, str], proc, timeout: float = 240.0) -> None:
    folder, pattern = path_glob
    t0 = time.monotonic()
    while not list(folder.glob(pattern)):
        assert proc.poll() is None, "the ablation ended before the checkpoint appeared"
        assert time.monotonic() - t0 < timeout, f"no {pattern} under {folder}"
        time.sleep(0.05)


@pytest.mark.slow  # two ablations of 4 x 24 steps of the debug model
def test_kill9_resumes_and_ends_where_an_uninterrupted_run_ends(tmp_path):
    recipe = write_recipe(
        tmp_path / "r.yaml", ablation_recipe(tokens=24 * 128, save_interval=6, eval_interval=12)
    )
    rc, _, err = _phi1("ablate", "--recipe", recipe, "--out", tmp_path / "whole")
    assert rc == 0, err
    out = tmp_path / "cut"
    proc = spawn("ablate", "--recipe", recipe, "--out", out, log=tmp_path / "cut.log")
    # the third run (boiler, seed 0) has saved a checkpoint: kill it there
    third = out / "runs" / "boiler" / "seed-0"
    _wait_for((third, "pretrain/checkpoints/step-*/training_state.pt"), proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (third / "pretrain" / "summary.json").exists()
    rc, printed, err = _phi1("ablate", "--recipe", recipe, "--out", out)
    assert rc == 0, err
    runs = printed.split("ablate: [")[1:]
    assert [r.count("running: phi1 pretrain") for r in runs] == [0, 0, 0, 1]
    assert "unchanged" in runs[0] and "unchanged" in runs[1]
    assert "pretrain   resuming (the last attempt did not finish)" in runs[2]
    assert "resumed from" in runs[2]
    assert finals(out) == finals(tmp_path / "whole")
    curves = {v: e["curves"] for v, e in record(out)["variants"].items()}
    assert curves == {v: e["curves"] for v, e in record(tmp_path / "whole")["variants"].items()}


@pytest.mark.slow  # exercises from a scripted teacher over HTTP, 4 pretrainings, 2 finetunes
def test_a_variant_may_add_a_finetune_on_top_of_a_shared_pretraining(tmp_path):
    recipe = ablation_recipe(tokens=4 * 128)
    finetune = {k: v for k, v in recipe["pretrain"].items()}
    finetune["train"] = {**finetune["train"], "steps": 2, "lr": 1e-3}
    with serve(Teacher()) as server:
        recipe["ablate"]["variants"]["edu+exercises"] = {
            "synth": {"exercises": {"llm": {"model": server.url}, "runner": {"progress": False},
                                    # one scripted exercise per name, checked by its
                                    # examples (agreement is tested in tests/synth)
                                    "exercise": {"n": 8, "examples": 1, "check": "examples",
                                                 "difficulties": ["easy"]}}},
            "finetune": finetune,
        }  # fmt: skip
        rc, printed, err = _phi1("ablate", "--recipe", write_recipe(tmp_path / "r.yaml", recipe),
                                 "--out", tmp_path / "out")  # fmt: skip
    assert rc == 0, err + printed[-3000:]
    out = tmp_path / "out"
    # edu+exercises pretrains on edu's data: the same pretraining, finetuned on top
    assert len(list((out / "stages").glob("pretrain-*"))) == 4
    assert len(list((out / "stages").glob("finetune-*"))) == 2
    for seed in (0, 1):
        a, b = (out / "runs" / v / f"seed-{seed}" / "pretrain" for v in ("edu", "edu+exercises"))
        assert a.resolve() == b.resolve()
        run_json = json.loads((out / "runs" / "edu+exercises" / f"seed-{seed}" / "finetune"
                               / "run.json").read_text())  # fmt: skip
        assert run_json["train"]["seed"] == seed
    r = record(out)
    ft, edu = r["variants"]["edu+exercises"], r["variants"]["edu"]
    assert ft["tokens"] == edu["tokens"] + 2 * 128
    for seed, run in ft["runs"].items():
        xs = [x for x, _ in run["curves"]["val_loss"]]
        assert xs[: len(edu["runs"][seed]["curves"]["val_loss"])] == [
            x for x, _ in edu["runs"][seed]["curves"]["val_loss"]
        ]
        assert xs[-1] == 4 * 128 + 2 * 128 and run["epochs"]["finetune"]["exercises"] > 0
    assert {c["variant"] for c in r["comparisons"]} == {"boiler", "edu+exercises"}
