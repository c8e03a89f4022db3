"""The classifier (forest on real MiniLM embeddings) and the datatrove filter pipelines,
trained and run on the hand-made sanity set."""

from __future__ import annotations

import json
import pickle
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from phi1.data.classifier import ClassifierSettings, QualityClassifier, train_classifier
from phi1.data.filter import (
    FilterSettings,
    QualityFilter,
    QualityScorer,
    RecordWriter,
    run_filter,
    scores_by_id,
    to_document,
)
from phi1.data.readers import read_source
from phi1.errors import Phi1Error
from phi1.llm.embed import load_embedder

SANITY = Path(__file__).parents[1] / "assets" / "quality_sanity"
# The mechanics on hand labels: a small forest on MiniLM embeddings of whole files.
SETTINGS = ClassifierSettings(
    embedder="minilm", model="forest", window="file", label_rule="judge", max_chunks=1,
    n_estimators=60, test_size=0.25, seed=0,
)  # fmt: skip


def _write_annotations(folder: Path, records: list[dict], label_of) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "sample.jsonl").open("w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    with (folder / "part-000-00000.jsonl").open("w") as f:
        for r in records:
            f.write(json.dumps({"id": r["id"], "label": label_of(r), "score": None,
                                "rationale": "hand label", "meta": {}}) + "\n")  # fmt: skip
    return folder


def _hand_label(record: dict) -> str:
    return "high" if record["meta"]["path"].startswith("educational/") else "low"


@pytest.fixture(scope="module")
def sanity_records() -> list[dict]:
    return list(read_source(f"sanity=dir:{SANITY}"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, sanity_records) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("quality")
    ann = _write_annotations(root / "ann", sanity_records, _hand_label)
    report = train_classifier(ann, root / "clf", SETTINGS)
    return root / "clf", report


def test_classifier_reports_metrics_and_saves_identity(trained, sanity_records):
    folder, report = trained
    assert len(sanity_records) == 40
    m = report["metrics"]
    for key in ("precision", "recall", "f1", "roc_auc", "accuracy"):
        assert 0.0 <= m[key] <= 1.0
    cm = np.array(m["confusion_matrix"]["rows_true_cols_pred"])
    assert cm.shape == (2, 2) and cm.sum() == report["n_test"] == 10
    assert cm.sum(axis=1).tolist() == [5, 5]  # stratified split
    assert "ROC-AUC" in report["text"] and "confusion matrix" in report["text"]
    meta = json.loads((folder / "classifier.json").read_text())
    assert meta["embedder"] == load_embedder("minilm", max_chunks=1).identity()
    assert meta["label_counts"] == {"low": 20, "high": 20}


def test_classifier_ranks_the_labelled_kinds_apart(trained, sanity_records):
    clf = QualityClassifier.load(trained[0])
    # Training cached the 40 embeddings (sorted by id); scoring texts embeds them afresh.
    cache = np.load(trained[0] / "embeddings.npz")
    by_id = {r["id"]: r for r in sanity_records}
    records = [by_id[str(i)] for i in cache["ids"]]
    scores = clf.score_embeddings(cache["X"])
    assert scores.shape == (40,) and ((scores >= 0) & (scores <= 1)).all()
    some, texts = [0, 17, 39], [records[i]["text"] for i in (0, 17, 39)]
    np.testing.assert_allclose(clf.embedder().embed(texts), cache["X"][some], atol=1e-5)
    # (a tree whose split falls within float noise of a value may vote the other way)
    np.testing.assert_allclose(clf.score(texts), scores[some], atol=0.05)
    edu = np.array([_hand_label(r) == "high" for r in records])
    assert scores[edu].mean() > scores[~edu].mean() + 0.3


def test_classifier_refuses_another_embedder(trained):
    clf = QualityClassifier.load(trained[0])
    other = load_embedder("minilm", max_chunks=4)
    with pytest.raises(Phi1Error, match="built with embedder"):
        clf.check_embedder(other)
    with pytest.raises(Phi1Error, match="built with embedder"):
        clf.score(["x = 1"], embedder=other)
    with pytest.raises(Phi1Error, match="384-dim"):
        clf.score_embeddings(np.zeros((2, 16), dtype=np.float32))


def test_retraining_reuses_embeddings_and_catches_tampering(trained, tmp_path):
    folder, _ = trained
    copy = tmp_path / "clf"
    shutil.copytree(folder, copy)
    cache = copy / "embeddings.npz"
    before = cache.stat().st_mtime_ns
    ann = Path(json.loads((folder / "classifier.json").read_text())["annotations"])
    report = train_classifier(
        ann, copy, ClassifierSettings(**{**SETTINGS.__dict__, "n_estimators": 7})
    )
    assert cache.stat().st_mtime_ns == before and report["settings"]["n_estimators"] == 7
    (copy / "model.joblib").write_bytes((copy / "model.joblib").read_bytes() + b"\0")
    with pytest.raises(Phi1Error, match="sha256"):
        QualityClassifier.load(copy)
    with pytest.raises(Phi1Error, match="not a classifier directory"):
        QualityClassifier.load(tmp_path)


def test_labels_of_one_class_or_none_are_one_clear_error(tmp_path, sanity_records):
    one = _write_annotations(tmp_path / "one", sanity_records[:6], lambda r: "low")
    with pytest.raises(Phi1Error, match="both classes"):
        train_classifier(one, tmp_path / "c1", SETTINGS)
    lone = _write_annotations(tmp_path / "lone", sanity_records[:6],
                              lambda r: "high" if r is sanity_records[0] else "low")  # fmt: skip
    with pytest.raises(Phi1Error, match="at least 2 of each"):
        train_classifier(lone, tmp_path / "c2", SETTINGS)
    empty = _write_annotations(tmp_path / "empty", [], _hand_label)
    with pytest.raises(Phi1Error, match="no annotations"):
        train_classifier(empty, tmp_path / "c3", SETTINGS)


def _lines(folder: Path) -> list[dict]:
    return [
        json.loads(x) for p in sorted(folder.glob("*.jsonl")) for x in p.read_text().splitlines()
    ]


@pytest.mark.slow
def test_filter_counts_rejects_report_and_rethreshold(trained, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(SANITY, corpus)
    (corpus / "blob.py").write_bytes(b"\x00binary")
    (corpus / "latin.py").write_bytes("x = '\xe9'\n".encode("latin-1"))
    out = tmp_path / "out"
    source = f"sanity=dir:{corpus}"
    summary = run_filter([source], trained[0], out, FilterSettings(tasks=3))
    kept, rejects = _lines(out / "kept"), _lines(out / "rejects")
    assert summary["documents"] == 40 == len(kept) + len(rejects)
    assert summary["kept"] == len(kept) and summary["dropped"] == len(rejects)
    assert summary["reader_skipped"] == {"binary": 1, "non-utf8": 1}
    assert summary["dropped_reasons"] == {"low-quality": len(rejects)}
    assert all(r["meta"]["quality"]["score"] >= 0.5 for r in kept)
    assert all(r["reason"] == "low-quality" and r["score"] < 0.5 for r in rejects)
    assert all(r["record"]["text"] and "filter_reason" not in r["record"]["meta"] for r in rejects)
    report = (out / "report.md").read_text()
    assert "Highest-scored" in report and "Lowest-scored" in report
    scores = scores_by_id(out)
    best = max(scores, key=scores.get)
    assert report.index(best) < report.index("Lowest-scored")
    # Another run over the same sources and tasks takes the embeddings from the cache.
    from phi1.data.filter import _stats

    cached = FilterSettings(tasks=3, embed_cache=str(out / "embeddings"))
    again = run_filter([source], trained[0], tmp_path / "out2", cached)
    counters = _stats(tmp_path / "out2" / "logs" / "score")
    assert counters["from_cache"] == 40 and counters.get("embedded", 0) == 0
    assert scores_by_id(tmp_path / "out2") == scores_by_id(out) and again["kept"] == len(kept)
    # A new cut reuses the scores: the scoring tasks are not run again.
    scored_mtime = (out / "scored" / "00000.jsonl").stat().st_mtime_ns
    top = run_filter([source], trained[0], out, FilterSettings(tasks=3, top_fraction=0.25))
    assert top["kept"] == 10 == len(_lines(out / "kept"))
    assert len(_lines(out / "rejects")) == 30
    assert (out / "scored" / "00000.jsonl").stat().st_mtime_ns == scored_mtime
    # A task lost to a kill is redone on the next run; the others are kept.
    (out / "kept" / "00001.jsonl").unlink()
    for log in (out / "logs").glob("filter-*/completions/00001"):
        log.unlink()
    again = run_filter([source], trained[0], out, FilterSettings(tasks=3, top_fraction=0.25))
    assert again["kept"] == 10 == len(_lines(out / "kept"))
    # Back to the first cut: kept/ must hold that cut again, not the last one.
    back = run_filter([source], trained[0], out, FilterSettings(tasks=3))
    assert back["kept"] == summary["kept"] == len(_lines(out / "kept"))
    with pytest.raises(Phi1Error, match="use a new --out"):
        run_filter([source], trained[0], out, FilterSettings(tasks=4))


def test_filter_bad_input_errors(trained, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(Phi1Error, match="corpus is empty"):
        run_filter(
            [f"dir:{tmp_path / 'empty'}"], trained[0], tmp_path / "o1", FilterSettings(tasks=1)
        )
    with pytest.raises(Phi1Error, match="not both"):
        FilterSettings(threshold=0.5, top_fraction=0.1)
    with pytest.raises(Phi1Error, match="no such file"):
        run_filter([str(tmp_path / "nope")], trained[0], tmp_path / "o2")


def test_steps_follow_the_datatrove_contract(trained, sanity_records, tmp_path):
    scorer = QualityScorer(str(trained[0]), batch_size=4)
    docs = [to_document(r) for r in sanity_records[:6]]
    scored = list(scorer.run(iter(docs)))
    assert len(scored) == 6 and all("quality" in d.metadata for d in scored)
    assert scorer.stats["scored"].total == 6
    assert len(pickle.dumps(scorer)) < 10_000  # the forest and embedder did not travel
    values = [d.metadata["quality"]["score"] for d in scored]
    threshold = sorted(values)[3]
    expected = sum(v >= threshold for v in values)
    rejects = RecordWriter(str(tmp_path / "rej"), rejects=True)
    flt = QualityFilter(threshold, exclusion_writer=rejects)
    kept = list(flt.run(iter(scored), rank=0, world_size=1))
    assert len(kept) == expected and flt.stats["dropped_low-quality"].total == 6 - expected
    assert len(_lines(tmp_path / "rej")) == 6 - expected


def test_label_rule_top_fraction_relabels_by_judge_score(tmp_path, sanity_records, trained):
    from phi1.data.classifier import apply_label_rule

    rows = [
        {"id": r["id"], "label": "high", "score": float(i)} for i, r in enumerate(sanity_records)
    ]
    y, cut = apply_label_rule(rows, "top:0.25", where="x")
    assert y.sum() == 10 and cut == 30.0 and y[-10:].all()
    ones = _write_annotations(tmp_path / "ones", sanity_records, lambda r: "high")
    with pytest.raises(Phi1Error, match="both classes"):
        train_classifier(ones, tmp_path / "c", SETTINGS)
    with pytest.raises(Phi1Error, match="needs a score"):
        train_classifier(ones, tmp_path / "c", replace(SETTINGS, label_rule="top:0.5"))
    with pytest.raises(Phi1Error, match="label_rule"):
        ClassifierSettings(label_rule="top:2")
    # A judge that says "high" to everything but scores the educational files higher.
    graded = tmp_path / "graded"
    _write_annotations(graded, sanity_records, lambda r: "high")
    rows = [json.loads(x) for x in (graded / "part-000-00000.jsonl").read_text().splitlines()]
    with (graded / "part-000-00000.jsonl").open("w") as f:
        for row, r in zip(rows, sanity_records, strict=True):
            row["score"] = 7.0 if _hand_label(r) == "high" else 6.0
            f.write(json.dumps(row) + "\n")
    shutil.copytree(trained[0], tmp_path / "clf")  # same documents: embeddings reused
    settings = ClassifierSettings(**{**SETTINGS.__dict__, "label_rule": "top:0.5"})
    report = train_classifier(graded, tmp_path / "clf", settings)
    assert report["label_counts"] == {"low": 20, "high": 20} and report["label_score_cut"] == 7.0


# -- the judge's view, and bad classifier files -------------------------------------------

BANNERS = {
    "apache": "# Copyright 2024 The Example Authors.\n#\n# Licensed under the Apache License, "
    'Version 2.0 (the "License");\n# you may not use this file except in compliance.\n\n',
    "protoc": "# Generated by the protocol buffer compiler.  DO NOT EDIT!\n# source: x.proto\n",
    "openapi": '"""File generated from our OpenAPI spec by Stainless."""\n\n',
}


def _judged(folder: Path, records: list[dict], max_chars: int) -> Path:
    """Hand labels as if a logprob judge had rated each file's view (annotate.json)."""
    _write_annotations(folder, records, _hand_label)
    settings = {"max_chars": max_chars, "strip_banners": True, "method": "logprob"}
    (folder / "annotate.json").write_text(json.dumps({"settings": settings}))
    return folder


def test_the_classifier_embeds_the_judges_view_and_ignores_banners(tmp_path, sanity_records):
    from phi1.data.annotate import quality_view

    ann = _judged(tmp_path / "ann", sanity_records, 600)
    s = replace(SETTINGS, embedder="hash+code", window="judge", model="logistic")
    report = train_classifier(ann, tmp_path / "clf", s)
    assert report["view"] == {"max_chars": 600, "strip_banners": True, "version": 1}
    assert "first 600 characters, leading license/generated banners skipped" in report["text"]
    clf = QualityClassifier.load(tmp_path / "clf")
    texts = [r["text"] for r in sanity_records[:6]]
    views = [quality_view(t, 600) for t in texts]
    np.testing.assert_allclose(clf.embed(texts), clf.embedder().embed(views), atol=1e-6)
    for banner in BANNERS.values():
        moved = clf.score([banner + t for t in texts]) - clf.score(texts)
        assert np.abs(moved).max() < 1e-6
    whole = train_classifier(ann, tmp_path / "whole", replace(s, window="file"))
    assert whole["view"] is None and clf.embedding_key != QualityClassifier.load(
        tmp_path / "whole").embedding_key  # fmt: skip


@pytest.mark.parametrize("model", ["forest", "logistic", "boosted"])
def test_every_model_kind_trains_and_scores(tmp_path, sanity_records, model):
    ann = _judged(tmp_path / "ann", sanity_records, 1000)
    report = train_classifier(ann, tmp_path / "c", replace(SETTINGS, embedder="code", model=model,
                                                           window="judge"))  # fmt: skip
    clf = QualityClassifier.load(tmp_path / "c")
    scores = clf.score([r["text"] for r in sanity_records])
    assert scores.shape == (40,) and ((scores >= 0) & (scores <= 1)).all()
    assert report["settings"]["model"] == model and report["metrics"]["roc_auc"] is not None
    with pytest.raises(Phi1Error, match="model must be"):
        ClassifierSettings(model="svm")


def _cli_error(capsys, *argv: str) -> str:
    from phi1.cli import main

    assert main(list(argv)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_a_missing_or_damaged_classifier_is_one_clear_error(trained, tmp_path, capsys):
    good = trained[0]
    source = f"sanity=dir:{SANITY}"

    def damaged(name: str, change) -> Path:
        folder = tmp_path / name
        shutil.copytree(good, folder)
        change(folder)
        return folder

    def filter_error(folder: Path) -> str:
        return _cli_error(capsys, "filter", "--inputs", source, "--classifier", str(folder),
                          "--out", str(tmp_path / "out" / folder.name))  # fmt: skip

    assert "not a classifier directory" in filter_error(tmp_path / "nowhere")
    gone = damaged("gone", lambda f: (f / "model.joblib").unlink())
    assert "not a classifier directory" in filter_error(gone)
    torn = damaged("torn", lambda f: (f / "classifier.json").write_text('{"kind": "phi1-qu'))
    assert f"{torn / 'classifier.json'}:1: invalid JSON" in filter_error(torn)

    def garbage_model(folder: Path) -> None:  # damaged, with a hash that matches the damage
        from phi1.io import sha256_file

        (folder / "model.joblib").write_bytes(b"not a pickle")
        meta = json.loads((folder / "classifier.json").read_text())
        meta["model_sha256"] = sha256_file(folder / "model.joblib")
        (folder / "classifier.json").write_text(json.dumps(meta))

    assert "cannot load the model" in filter_error(damaged("garbage", garbage_model))

    def no_embedder(folder: Path) -> None:
        meta = json.loads((folder / "classifier.json").read_text())
        del meta["embedder"]
        (folder / "classifier.json").write_text(json.dumps(meta))

    assert "damaged, no embedder" in filter_error(damaged("noemb", no_embedder))


def test_filter_and_train_refuse_another_embedder(trained, tmp_path, capsys, sanity_records):
    def other(folder: Path) -> None:  # as if trained with 2 windows per file
        meta = json.loads((folder / "classifier.json").read_text())
        meta["embedder"] = load_embedder("minilm", max_chunks=2).identity()
        (folder / "classifier.json").write_text(json.dumps(meta))

    folder = tmp_path / "other"
    shutil.copytree(trained[0], folder)
    other(folder)
    err = _cli_error(capsys, "filter", "--inputs", f"sanity=dir:{SANITY}", "--classifier",
                     str(folder), "--out", str(tmp_path / "out"))  # fmt: skip
    assert "built with embedder" in err and "max_chunks: 2 != 1" in err
    assert not (tmp_path / "out" / "scored").exists()  # refused before any work
    # Retraining with another embedder never takes the first one's cached embeddings.
    ann = Path(json.loads((trained[0] / "classifier.json").read_text())["annotations"])
    copy = tmp_path / "retrain"
    shutil.copytree(trained[0], copy)
    report = train_classifier(ann, copy, replace(SETTINGS, embedder="hash"))
    cached = np.load(copy / "embeddings.npz")
    assert cached["X"].shape[1] == 512 and report["embedder"]["name"] == "hash"
    flags = ["--classifier.embedder", "word2vec", "--classifier.label_rule", "judge",
             "--classifier.window", "file"]  # fmt: skip
    err = _cli_error(capsys, "classifier", "train", str(ann), "--out", str(tmp_path / "x"), *flags)
    assert "unknown embedder" in err


# -- the committed default classifier (examples/quality/classifier) ------------------------

DEFAULT = Path(__file__).parents[2] / "examples" / "quality" / "classifier"


@pytest.fixture(scope="module")
def default_classifier() -> QualityClassifier:
    return QualityClassifier.load(DEFAULT)


@pytest.fixture(scope="module")
def default_scores(default_classifier, sanity_records) -> dict[str, np.ndarray]:
    """The sanity set's scores, and its educational files' with each banner prepended, from
    one call (a view that skips the banner is embedded once: the default embeds ~1 file/s)."""
    texts = [r["text"] for r in sanity_records]
    edu = [t for t, r in zip(texts, sanity_records, strict=True) if _hand_label(r) == "high"]
    names = sorted(BANNERS)
    scores = default_classifier.score(texts + [BANNERS[b] + t for b in names for t in edu])
    out = {"sanity": scores[: len(texts)]}
    for k, b in enumerate(names):
        start = len(texts) + k * len(edu)
        out[b] = scores[start : start + len(edu)]
    return out


@pytest.fixture(scope="module")
def default_sanity_scores(default_scores) -> np.ndarray:
    return default_scores["sanity"]


def _default_sanity_auc(default_sanity_scores, sanity_records) -> float:
    from sklearn.metrics import roc_auc_score

    edu = np.array([_hand_label(r) == "high" for r in sanity_records])
    return float(roc_auc_score(edu, default_sanity_scores))


def test_the_default_classifier_is_the_default_and_ranks_above_chance(
    default_classifier, default_sanity_scores, sanity_records
):
    meta = default_classifier.meta
    assert meta["settings"] == {**meta["settings"], **ClassifierSettings().__dict__}
    judge = json.loads((DEFAULT.parent / "judge.json").read_text())
    assert judge["judge"]["model"] == meta["judge"]["model"]
    assert judge["judge"]["view"] == meta["view"]  # it embeds what its judge rated
    assert _default_sanity_auc(default_sanity_scores, sanity_records) > 0.6


# Issue 16's targets for the committed classifier (logistic regression on Qwen2.5-Coder-0.5B's
# state after the judge's question, 1,000 labels of the 1.5B judge): the sanity set at 0.85
# and at no less than its judge's figure minus 0.05; 0.80 held out against the judge.
def test_the_default_classifier_ranks_the_sanity_set_as_well_as_its_judge(
    default_classifier, default_sanity_scores, sanity_records
):
    meta = default_classifier.meta
    auc = _default_sanity_auc(default_sanity_scores, sanity_records)
    judge = json.loads((DEFAULT.parent / "judge.json").read_text())
    print(f"default classifier sanity ROC-AUC {auc:.3f}; its judge's {judge['sanity_roc_auc']}")
    assert auc >= 0.85 and auc >= judge["sanity_roc_auc"] - 0.05
    assert meta["metrics"]["roc_auc"] >= 0.80  # held out, against the judge's labels


def test_each_distinct_view_is_embedded_once():
    from phi1.data.classifier import embed_unique

    emb = load_embedder("hash")
    seen: list[list[str]] = []
    plain = emb.embed

    def recording(texts, batch_size=32):
        seen.append(list(texts))
        return plain(texts, batch_size=batch_size)

    emb.embed = recording
    views = ["def f(): pass", "x = 1", "def f(): pass", "x = 1", "y = 2"]
    X = embed_unique(emb, views, 32)
    assert seen == [["def f(): pass", "x = 1", "y = 2"]]
    np.testing.assert_array_equal(X, plain(views))


@pytest.mark.parametrize("banner", sorted(BANNERS))
def test_a_license_or_generated_banner_does_not_move_the_score(
    banner, default_scores, sanity_records
):
    edu = [i for i, r in enumerate(sanity_records) if _hand_label(r) == "high"]
    moved = np.abs(default_scores[banner] - default_scores["sanity"][edu])
    assert moved.max() < 0.1, [sanity_records[i]["id"] for i in np.argsort(-moved)[:3]]


# -- bottom and random cuts: the control arms of an ablation ---------------------------------


def _scores(n: int) -> list[tuple[str, float, str, str]]:
    """n documents with tied scores in pairs (0.0, 0.0, 0.1, 0.1, ...)."""
    return [(f"d{i:03d}", round((i // 2) / n, 6), "s", f"d{i}") for i in range(n)]


def test_fraction_cuts_keep_exactly_k_and_the_right_ones():
    from phi1.data.filter import draw, select

    scores = _scores(40)
    by_score = sorted(scores, key=lambda r: (r[1], r[0]))
    for rule in ("top", "bottom", "random"):
        cut = select(scores, FilterSettings(**{f"{rule}_fraction": 0.25}))
        kept = {r[0] for r in scores if cut.keeps(r[0], r[1])}
        assert len(kept) == 10, rule  # exactly round(0.25 * 40), ties included
        if rule == "top":
            assert min(r[1] for r in scores if r[0] in kept) >= max(
                r[1] for r in scores if r[0] not in kept
            )
        if rule == "bottom":
            assert {r[0] for r in by_score[:10]} == kept and cut.threshold == by_score[9][1]
        if rule == "random":
            assert cut.threshold is None
            draws = sorted(scores, key=lambda r: -draw(0, r[0]))
            assert kept == {r[0] for r in draws[:10]}
    # the draw ignores the scores and follows the seed
    flipped = [(i, 1 - s, src, p) for i, s, src, p in scores]
    one = select(scores, FilterSettings(random_fraction=0.25, seed=1))
    assert {r[0] for r in scores if one.keeps(r[0], r[1])} == {
        r[0] for r in flipped if one.keeps(r[0], r[1])
    }
    zero = select(scores, FilterSettings(random_fraction=0.25))
    assert {r[0] for r in scores if zero.keeps(*r[:2])} != {
        r[0] for r in scores if one.keeps(*r[:2])
    }
    with pytest.raises(Phi1Error, match="top_fraction and bottom_fraction"):
        FilterSettings(top_fraction=0.5, bottom_fraction=0.5)
    with pytest.raises(Phi1Error, match="random_fraction must be in"):
        FilterSettings(random_fraction=0)


@pytest.mark.slow
def test_bottom_and_random_cuts_reuse_the_scores(trained, tmp_path):
    out, source = tmp_path / "out", f"sanity=dir:{SANITY}"
    top = run_filter([source], trained[0], out, FilterSettings(tasks=2, top_fraction=0.25))
    scored_mtime = (out / "scored" / "00000.jsonl").stat().st_mtime_ns
    scores = scores_by_id(out)
    ranked = sorted(scores, key=lambda i: (scores[i], i))
    bottom = run_filter([source], trained[0], out, FilterSettings(tasks=2, bottom_fraction=0.25))
    kept = {r["id"] for r in _lines(out / "kept")}
    assert bottom["kept"] == top["kept"] == 10 and kept == set(ranked[:10])
    assert bottom["rule"] == "bottom" and bottom["threshold"] == scores[ranked[9]]
    assert {r["reason"] for r in _lines(out / "rejects")} == {"not-in-bottom"}
    assert bottom["dropped_reasons"] == {"not-in-bottom": 30}
    assert "bottom 25%" in bottom["text"]
    drawn = run_filter([source], trained[0], out, FilterSettings(tasks=2, random_fraction=0.25))
    random_kept = {r["id"] for r in _lines(out / "kept")}
    assert drawn["kept"] == 10 and drawn["threshold"] is None and drawn["seed"] == 0
    assert {r["reason"] for r in _lines(out / "rejects")} == {"not-drawn"}
    assert "a random draw" in (out / "report.md").read_text()
    assert (out / "scored" / "00000.jsonl").stat().st_mtime_ns == scored_mtime
    again = run_filter([source], trained[0], out, FilterSettings(tasks=2, random_fraction=0.25))
    assert {r["id"] for r in _lines(out / "kept")} == random_kept and again["kept"] == 10
