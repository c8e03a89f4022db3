"""The pieces ``phi1 ablate`` is built from: the stage cache (the same keys as a plain run),
dedup without a filter (the unfiltered arm), ``pipeline.weights`` (the mixture), merge
patches (variants), and the comparison in words."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from ablate_helpers import SANITY

from phi1.errors import Phi1Error
from phi1.pipeline import Context, PipelineSettings, stage_named
from phi1.pipeline.ablate import merge_patch, metric_keys
from phi1.pipeline.engine import run_config
from phi1.pipeline.recipe import pipeline_settings
from phi1.pipeline.results import aggregate, compare

DATA = {
    "corpus": {"inputs": [f"edu={SANITY / 'educational'}"]},
    "dedup": {},
    "pack": {"pack": {"workers": 1}},
}


def test_a_cached_stage_has_the_key_it_has_in_a_plain_run(tmp_path):
    run_config(DATA, tmp_path / "plain", source="data")
    cache = tmp_path / "stages"
    for name in ("a", "b"):
        state = run_config(DATA, tmp_path / name, source="data", cache=cache)
        assert {s: v["status"] for s, v in state["stages"].items() if "reason" not in v} == {
            s: "done" if name == "a" else "unchanged" for s in ("corpus", "dedup", "pack")
        }
    for stage in ("corpus", "dedup", "pack"):
        plain = json.loads((tmp_path / "plain" / stage / "stage.json").read_text())
        cached = json.loads((tmp_path / "b" / stage / "stage.json").read_text())  # via the link
        assert cached["key"] == plain["key"], stage  # (pack's index names its input's path)
        link = tmp_path / "b" / stage
        assert link.is_symlink() and not os.path.isabs(os.readlink(link))
        assert link.resolve() == (cache / f"{stage}-{plain['key'][:16]}").resolve()
    # the stages wrote in the cache, and read each other there
    pack = json.loads((cache / next(p.name for p in cache.iterdir() if p.name.startswith(
        "pack-")) / "stage.json").read_text())  # fmt: skip
    assert pack["args"][0]["inputs"].startswith(str(cache / "dedup-"))
    assert pack["args"][0]["out"].startswith(str(cache / "pack-"))


def _context(tmp_path: Path, ran: set[str], **settings) -> Context:
    return Context(tmp_path, ran, PipelineSettings(**settings))


def test_dedup_reads_the_corpus_when_there_is_no_filter(tmp_path):
    wire = stage_named("dedup").wire
    (raw,) = wire(_context(tmp_path, {"corpus"}))
    assert raw["inputs"] == [f"jsonl:{tmp_path / 'corpus' / 'documents'}"]
    (filtered,) = wire(_context(tmp_path, {"corpus", "filter"}))
    assert filtered["inputs"] == [f"jsonl:{tmp_path / 'filter' / 'kept'}"]


def test_pipeline_weights_pick_and_weigh_the_packed_datasets(tmp_path):
    for name in ("code", "textbooks"):
        (tmp_path / "pack" / name).mkdir(parents=True)
        (tmp_path / "pack" / name / "index.json").write_text("{}")
    wire = stage_named("pretrain").wire
    (plain,) = wire(_context(tmp_path, {"pack"}))
    assert plain["data"] == {"paths": [str(tmp_path / "pack" / n) for n in ("code", "textbooks")]}
    (mixed,) = wire(_context(tmp_path, {"pack"}, weights={"textbooks": 1, "code": 3}))
    assert mixed["data"]["weights"] == [3.0, 1.0]  # in the order of the paths
    (only,) = wire(_context(tmp_path, {"pack"}, weights={"textbooks": 1}))
    assert only["data"] == {"paths": [str(tmp_path / "pack" / "textbooks")], "weights": [1.0]}
    (tmp_path / "pack" / "textbooks" / "index.json").unlink()
    with pytest.raises(Phi1Error, match="pipeline.weights names textbooks, which was not packed"):
        wire(_context(tmp_path, {"pack"}, weights={"code": 1, "textbooks": 1}))
    for bad, message in (({"exercises": 1}, "no dataset 'exercises'"),
                         ({"code": -1}, "code must be >= 0"), ({"code": 0}, "positive"),
                         ([1, 2], "must be a mapping")):  # fmt: skip
        with pytest.raises(Phi1Error, match=f"r.yaml: pipeline.weights.*{message}"):
            pipeline_settings({"pipeline": {"weights": bad}}, "r.yaml")


def test_merge_patch_merges_mappings_and_null_removes():
    base = {"filter": {"filter": {"tasks": 2}}, "dedup": {}, "pack": {"pack": {"workers": 1}}}
    patch = {"filter": {"filter": {"top_fraction": 0.5}}, "dedup": None,
             "synth": {"textbooks": {"n": 2}}, "pack": {"pack": {"workers": None}}}  # fmt: skip
    assert merge_patch(base, patch) == {
        "filter": {"filter": {"tasks": 2, "top_fraction": 0.5}},
        "pack": {"pack": {}},
        "synth": {"textbooks": {"n": 2}},
    }
    assert base["filter"] == {"filter": {"tasks": 2}} and "dedup" in base  # unchanged
    assert merge_patch(base, {}) == base and merge_patch(base, {"dedup": None}) == {
        k: v for k, v in base.items() if k != "dedup"
    }


def _run(value: float) -> dict:
    return {"final": {"val_loss/humaneval": value}, "curves": {
        "val_loss/humaneval": [[0, 10.0], [100, value]]}, "tokens": 100}  # fmt: skip


def test_the_comparison_in_words_against_the_seed_spread():
    key = metric_keys(["humaneval"])[0]
    assert metric_keys(["humaneval"]) == ["val_loss/humaneval", "val_bpb/humaneval"]
    values = {"top": [2.0, 2.2], "random": [2.5, 2.6], "bottom": [2.52, 2.7]}
    result = {"variants": {}}
    for name, (a, b) in values.items():
        runs = {"0": _run(a), "1": _run(b)}
        result["variants"][name] = {"runs": runs, **aggregate(runs, [key])}
    top = result["variants"]["top"]
    assert top["final"][key]["mean"] == pytest.approx(2.1)
    assert top["final"][key]["std"] == pytest.approx(math.sqrt(0.02))  # sample std of 2 values
    assert top["curves"][key][1][:2] == [100, pytest.approx(2.1)]
    assert top["curves"][key][0] == [0, 10.0, 0.0]
    found = {c["variant"]: c for c in compare(result, "random", key)}
    spread = math.sqrt((0.02 + 0.005) / 2)  # pooled: the variances of top and random
    assert found["top"]["difference"] == pytest.approx(-0.45)
    assert found["top"]["spread"] == pytest.approx(spread)
    assert found["top"]["ratio"] == pytest.approx(0.45 / spread) and found["top"]["larger"]
    assert found["top"]["text"] == (
        f"top is 0.450 nats/token below random, {0.45 / spread:.1f}x the seed spread "
        f"({spread:.3f}): larger than the seed spread; lower on 2 of 2 seeds"
    )
    assert not found["bottom"]["larger"] and "within the seed spread" in found["bottom"]["text"]
    assert found["bottom"]["seeds_agree"] == "2/2"
    assert compare(result, "nope", key) == []
