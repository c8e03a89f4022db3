"""``phi1 decontam run`` and ``phi1 decontam table`` end to end, with the default (hash) embedder.

The acceptance test hides renamed, reformatted, re-documented copies of 10 HumanEval
canonical solutions (tests/assets/decontam/planted/) among 1,000 generated exercises
(tests/assets/decontam/exercises.py) and a few malformed records.
"""

from __future__ import annotations

import importlib.util
import json
import pickle
import random
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from phi1.cli import main
from phi1.data.commands import decontam_run, decontam_table
from phi1.data.decontam.score import (
    BenchmarkIndex,
    DecontamSettings,
    NeighbourSearch,
    RecordScore,
    judge,
    load_benchmark,
    score_text,
)
from phi1.errors import Phi1Error
from phi1.io import read_jsonl, write_jsonl

ASSETS = Path(__file__).parent.parent / "assets" / "decontam"
TAUS = [0.95, 0.9, 0.85, 0.8]


def _generator():
    """tests/assets/decontam/exercises.py, imported by path (it is a fixture, not a package)."""
    name = "decontam_exercises"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ASSETS / "exercises.py")
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def planted() -> list[dict]:
    """The hand-written copies; ``meta.source`` names the HumanEval problem each copies."""
    out = []
    for path in sorted((ASSETS / "planted").glob("he*.py.txt")):
        number = int(path.name[2:5])
        out.append(
            {"id": f"planted-{number}", "text": path.read_text(), "meta": {"copies": number}}
        )
    return out


BAD = [
    {"id": "bad-no-text", "meta": {}},
    {
        "id": "bad-prompt-only",
        "prompt": "def f(x):\n    '''Twice.'''\n",
        "completion": "    return 2 * x\n",
    },  # fmt: skip
    {"id": "bad-syntax", "text": "def broken(:\n    return [\n"},
    {"text": "def anonymous(a):\n    return a\n"},
    {"id": "bad-book", "text": "Prose.\n```python\nx = [1, 2]\n```\nthen\n```python\ndef (\n```\n"},
]


def _dataset(n_generated: int, seed: int = 0) -> list[dict]:
    rows = _generator().generate(n_generated, seed)
    rng = random.Random(seed)
    for row in planted() + BAD:
        rows.insert(rng.randrange(len(rows) + 1), row)
    return rows


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    """One real run (defaults: the hash embedder, 2 workers) shared by several tests."""
    tmp = tmp_path_factory.mktemp("planted")
    rows = _dataset(1000)
    write_jsonl(tmp / "data.jsonl", rows)
    report = decontam_run(str(tmp / "data.jsonl"), str(tmp / "out"), DecontamSettings(workers=2))
    return tmp, rows, report


@pytest.mark.slow
def test_planted_copies_are_flagged_and_unrelated_exercises_are_not(planted_run):
    tmp, rows, report = planted_run
    rejects = {r["id"]: r for r in read_jsonl(tmp / "out" / "rejects.jsonl")}
    for copy in planted():
        assert copy["id"] in rejects, f"{copy['id']} was not flagged"
        assert 0.9 in rejects[copy["id"]]["taus"]
        assert f"with HumanEval/{copy['meta']['copies']}" in rejects[copy["id"]]["reason"]
    generated = [r["id"] for r in rows if r.get("id", "").startswith("gen-")]
    false_pos = [i for i in generated if i in rejects and 0.9 in rejects[i]["taus"]]
    assert len(generated) == 1000
    assert len(false_pos) <= 0.01 * len(generated), false_pos

    pruned = list(read_jsonl(tmp / "out" / "pruned" / "tau0.9.jsonl"))
    removed_at_09 = {i for i, r in rejects.items() if 0.9 in r["taus"]}
    assert len(pruned) == len(rows) - len(removed_at_09) == len(rows) - report["removed"]["0.9"]
    kept_ids = [r.get("id") for r in pruned]
    assert not removed_at_09 & set(kept_ids)
    assert "bad-no-text" in kept_ids  # nothing to score is kept, not silently dropped
    for tau in TAUS:  # pruning is monotone in tau
        n = sum(1 for _ in read_jsonl(tmp / "out" / "pruned" / f"tau{tau:g}.jsonl"))
        assert n == len(rows) - sum(1 for r in rejects.values() if tau in r["taus"])


@pytest.mark.slow
def test_every_problem_gets_its_neighbours_with_each_score(planted_run):
    tmp, rows, report = planted_run
    neighbours = {r["task_id"]: r for r in read_jsonl(tmp / "out" / "neighbours.jsonl")}
    assert len(neighbours) == 164 == report["benchmark"]["problems"]
    for row in neighbours.values():
        distances = [n["distance"] for n in row["nearest"]]
        assert len(row["nearest"]) == 10 and distances == sorted(distances)
        for n in row["nearest"]:
            assert rows[n["index"]].get("id", f"#{n['index']}") == n["id"]
            assert {"ast", "ngram_doc", "ngram_text"} <= set(n)
    for copy in planted():
        row = neighbours[f"HumanEval/{copy['meta']['copies']}"]
        assert row["max_ast"] >= 0.9 and row["top_ast"][0]["id"] == copy["id"]
        assert row["similar"]["0.9"] >= 1
    assert report["similar_problems"]["0.9"] >= 10


@pytest.mark.slow
def test_bad_records_are_counted_and_scored_by_text(planted_run):
    tmp, rows, report = planted_run
    notes = report["notes"]
    assert notes["no 'text' field (nor prompt + completion): kept unscored"] == 1
    assert notes["no 'text' field: scored prompt + completion"] == 1
    assert notes["no 'id' field: named by its position (#N)"] == 1
    assert notes["some code blocks do not parse: the others are AST-scored"] == 1
    assert notes["no parseable Python: scored by n-grams and embedding only"] == 1
    scores = {s["id"]: s for s in read_jsonl(tmp / "out" / "scores.jsonl")}
    assert scores["bad-syntax"]["ast"] is None and scores["bad-syntax"]["distance"] is not None
    assert "does not parse" in scores["bad-syntax"]["note"]
    assert scores["bad-prompt-only"]["ast"] is not None
    anonymous = rows.index(BAD[3])
    assert f"#{anonymous}" in scores
    assert report["records"] == len(rows) and report["scored"] == len(rows) - 1


@pytest.mark.slow
def test_a_rerun_reuses_the_embedding_cache(planted_run, tmp_path):
    tmp, rows, _ = planted_run
    shutil.copytree(tmp / "out" / "cache", tmp_path / "cache")
    cache = sorted((tmp_path / "cache").glob("emb_*.npy"))
    before = [p.stat().st_mtime_ns for p in cache]
    # The record embeddings do not depend on the benchmark: a small one keeps this quick.
    small = DecontamSettings(benchmark=str(_small_humaneval(tmp_path)), workers=1)
    report = decontam_run(str(tmp / "data.jsonl"), str(tmp_path), small)
    assert [p.stat().st_mtime_ns for p in cache] == before  # read, not embedded again
    assert report["records"] == len(rows) and report["benchmark"]["problems"] == 3
    rejects = {r["id"] for r in read_jsonl(tmp_path / "rejects.jsonl")}
    assert {"planted-0", "planted-5", "planted-10"} <= rejects


def _small_humaneval(tmp_path: Path) -> Path:
    """HumanEval/0, /5 and /10 as a problems file of their own."""
    path = tmp_path / "three.jsonl"
    keep = {"HumanEval/0", "HumanEval/5", "HumanEval/10"}
    write_jsonl(path, [p.to_dict() for p in load_benchmark("humaneval") if p.task_id in keep])
    return path


@pytest.mark.slow
def test_table3_splits_problems_and_reports_solved_share(planted_run, tmp_path, capsys):
    tmp, _, _ = planted_run
    neighbours = list(read_jsonl(tmp / "out" / "neighbours.jsonl"))
    rng = random.Random(3)
    he_rows, status_rows = [], []
    for row in neighbours:
        for s in range(2):
            ok = rng.random() < 0.5
            he_rows.append(
                {"task_id": row["task_id"], "completion": "", "result": "x", "passed": ok}
            )
            status = "passed" if ok else "failed"
            status_rows.append({"task_id": row["task_id"], "sample": s, "status": status})
    write_jsonl(tmp_path / "he_results.jsonl", he_rows)
    write_jsonl(tmp_path / "status.jsonl", status_rows[:-2])  # one problem without results
    table = decontam_table(
        str(tmp / "out"), [str(tmp_path / "he_results.jsonl"), str(tmp_path / "status.jsonl")]
    )
    printed = capsys.readouterr().out
    assert "similar" in printed and "non-similar" in printed and "he_results" in printed
    share: dict[str, list[bool]] = {}
    for r in he_rows:
        share.setdefault(r["task_id"], []).append(r["passed"])
    for tau in TAUS:
        split = table["taus"][str(tau)]
        similar = [r["task_id"] for r in neighbours if (r["max_ast"] or 0) >= tau]
        assert split["similar"]["problems"] == len(similar) >= 10
        assert split["non-similar"]["problems"] == 164 - len(similar)
        expected = 100 * np.mean([np.mean(share[t]) for t in similar])
        assert split["similar"]["solved"]["he_results"] == pytest.approx(expected, abs=0.05)
        total = 100 * np.mean([np.mean(v) for v in share.values()])
        assert split["total"]["solved"]["he_results"] == pytest.approx(total, abs=0.05)
    assert table["missing"] == {"status": 1}


def test_table3_rejects_foreign_or_malformed_results(tmp_path):
    run = tmp_path / "run"
    write_jsonl(run / "neighbours.jsonl", [{"task_id": "HumanEval/0", "max_ast": 0.95}])
    (run / "report.json").write_text(json.dumps({"settings": {"taus": [0.9]}}))
    write_jsonl(tmp_path / "other.jsonl", [{"task_id": "Mbpp/3", "passed": True}])
    with pytest.raises(Phi1Error, match="not in the run's benchmark"):
        decontam_table(str(run), [str(tmp_path / "other.jsonl")])
    write_jsonl(tmp_path / "bad.jsonl", [{"task_id": "HumanEval/0", "completion": ""}])
    with pytest.raises(Phi1Error, match="bad.jsonl: result 1: no 'passed'"):
        decontam_table(str(run), [str(tmp_path / "bad.jsonl")])
    write_jsonl(tmp_path / "ok.jsonl", [{"task_id": "HumanEval/0", "passed": True}])
    table = decontam_table(str(run), [str(tmp_path / "ok.jsonl")])
    assert table["taus"]["0.9"]["similar"] == {"problems": 1, "solved": {"ok": 100.0}}
    assert main(["decontam", "table", str(run), str(tmp_path / "ok.jsonl")]) == 0
    assert main(["decontam", "table", str(tmp_path), str(tmp_path / "ok.jsonl")]) == 1


def test_table3_counts_only_the_problems_evaluated(tmp_path, capsys):
    """An evaluation run with --limit covers a few problems: the table counts those."""
    run = tmp_path / "run"
    ids = [f"HumanEval/{i}" for i in range(6)]
    write_jsonl(
        run / "neighbours.jsonl",
        [{"task_id": t, "max_ast": 0.95 if i % 2 else 0.1} for i, t in enumerate(ids)],
    )
    (run / "report.json").write_text(json.dumps({"settings": {"taus": [0.9]}}))
    write_jsonl(tmp_path / "limited.jsonl", [{"task_id": t, "passed": True} for t in ids[:3]])
    table = decontam_table(str(run), [str(tmp_path / "limited.jsonl")])
    split = table["taus"]["0.9"]
    assert split["similar"]["problems"] == 1 and split["non-similar"]["problems"] == 2
    assert split["total"] == {"problems": 3, "solved": {"limited": 100.0}}
    assert table["not_evaluated"] == 3 and table["missing"] == {}
    assert "3 problems of the benchmark have no result in any column" in capsys.readouterr().out


# --- without embeddings (fast): the AST against every problem -------------------------------


def test_workers_give_the_same_results_as_one_process(tmp_path):
    write_jsonl(tmp_path / "data.jsonl", _dataset(300, seed=1))
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        settings = DecontamSettings(embedder="none", workers=workers)
        report = decontam_run(str(tmp_path / "data.jsonl"), str(out), settings)
        outs.append((out, report))
    (a, ra), (b, rb) = outs
    for name in ("scores.jsonl", "rejects.jsonl", "neighbours.jsonl", "pruned/tau0.9.jsonl"):
        assert (a / name).read_text() == (b / name).read_text(), name
    assert ra["removed"] == rb["removed"] and ra["removed"]["0.9"] >= 10
    assert ra["embedder"] is None


def test_docstring_ngram_rule(tmp_path):
    he0 = load_benchmark("humaneval")[0]
    doc = he0.prompt.split('"""')[1]
    quoting = {"id": "quotes-he0", "text": f'def unrelated(a):\n    """{doc}"""\n    return a\n'}
    rows = [quoting, {"id": "plain", "text": "def g(x):\n    '''Double it.'''\n    return 2 * x\n"}]
    write_jsonl(tmp_path / "data.jsonl", rows)
    on = decontam_run(
        str(tmp_path / "data.jsonl"), str(tmp_path / "on"), DecontamSettings(embedder="none")
    )
    rejects = list(read_jsonl(tmp_path / "on" / "rejects.jsonl"))
    assert [r["id"] for r in rejects] == ["quotes-he0"] and on["removed"]["0.95"] == 1
    assert "shared docstring 13-grams with HumanEval/0" in rejects[0]["reason"]
    off = DecontamSettings(embedder="none", ngram_rule="off")
    report = decontam_run(str(tmp_path / "data.jsonl"), str(tmp_path / "off"), off)
    assert report["removed"]["0.8"] == 0
    scores = {s["id"]: s for s in read_jsonl(tmp_path / "off" / "scores.jsonl")}
    assert scores["quotes-he0"]["ngram_doc"] > 0 and scores["plain"]["ngram_doc"] == 0
    he0_row = next(read_jsonl(tmp_path / "off" / "neighbours.jsonl"))
    assert he0_row["ngram_doc"]["id"] == "quotes-he0"


def test_mbpp_benchmark_and_cli(tmp_path, capsys):
    copy = (
        "def wordy(text, n):\n    '''How many words exceed n letters?'''\n    c = 0\n"
        "    for w in text.split():\n        if len(w) > n:\n            c += 1\n    return c\n"
    )
    rows = _generator().generate(30, 5) + [{"id": "copy-901", "text": copy}]
    write_jsonl(tmp_path / "data.jsonl", rows)
    argv = ["decontam", "run", str(tmp_path / "data.jsonl"), "--out", str(tmp_path / "out"),
            "--decontam.benchmark", f"mbpp:{ASSETS / 'mbpp_small.jsonl'}",
            "--decontam.embedder", "none", "--decontam.taus", "[0.9]"]  # fmt: skip
    assert main(argv) == 0
    assert "tau 0.9: removed 1 of 31 records" in capsys.readouterr().out
    (reject,) = read_jsonl(tmp_path / "out" / "rejects.jsonl")
    assert reject["id"] == "copy-901" and "Mbpp/901" in reject["reason"]
    assert main(["decontam", "run", str(tmp_path / "data.jsonl")]) == 1
    assert "needs --out" in capsys.readouterr().err
    assert main(["decontam", "run", str(tmp_path / "missing.jsonl"), "--out", "x"]) == 1
    assert "missing.jsonl: no such file" in capsys.readouterr().err
    bad = ["decontam", "run", str(tmp_path / "data.jsonl"), "--out", str(tmp_path / "o2"),
           "--decontam.embedder", "none", "--decontam.taus", "[1.5]"]  # fmt: skip
    assert main(bad) == 1
    assert "decontam.taus" in capsys.readouterr().err


def test_invalid_json_names_the_line(tmp_path):
    (tmp_path / "data.jsonl").write_text('{"id": "a", "text": "x = 1"}\n{not json}\n')
    with pytest.raises(Phi1Error, match=r"data.jsonl:2: invalid JSON"):
        decontam_run(
            str(tmp_path / "data.jsonl"), str(tmp_path / "out"), DecontamSettings(embedder="none")
        )


# --- the scoring core ------------------------------------------------------------------------


def test_every_humaneval_solution_matches_itself_exactly():
    index = BenchmarkIndex.build(load_benchmark("humaneval"), 13)
    assert all(index.units) and len(index) == 164
    for p, text in enumerate(index.texts):
        score = score_text(index, text, [p])
        assert score.ast[p] == 1.0
        assert score.ngram_text[p] == index.text_grams[p]


def test_judge_applies_each_rule_at_each_tau():
    ids = ["P/0", "P/1"]
    score = RecordScore(ast={0: 0.86, 1: 0.5}, ngram_doc={}, ngram_text={1: 3})
    verdict = judge(score, (1, 0.2), DecontamSettings(), ids)
    assert [bool(verdict[t]) for t in TAUS] == [False, False, True, True]
    assert verdict[0.85] == ["AST match 0.860 >= 0.85 with P/0"]
    both = DecontamSettings(embedding_threshold=0.25, ngram_rule="text", ngram_min_shared=3)
    verdict = judge(score, (1, 0.2), both, ids)
    assert verdict[0.95] == [
        "embedding distance 0.200 <= 0.25 to P/1",
        "3 shared text 13-grams with P/1",
    ]
    assert len(verdict[0.8]) == 3
    with pytest.raises(Phi1Error, match="embedding_threshold needs an embedder"):
        DecontamSettings(embedder="none", embedding_threshold=0.1).check()


def test_neighbour_search_matches_brute_force_over_chunks():
    rng = np.random.default_rng(0)
    problems = rng.normal(size=(7, 16)).astype(np.float32)
    problems /= np.linalg.norm(problems, axis=1, keepdims=True)
    records = rng.normal(size=(53, 16)).astype(np.float32)
    records /= np.linalg.norm(records, axis=1, keepdims=True)
    valid = np.ones(53, dtype=bool)
    valid[[4, 30]] = False
    search = NeighbourSearch(problems, m=3, k=5)
    for start in range(0, 53, 10):
        search.add(records[start : start + 10], valid[start : start + 10])
    nb = search.result()
    sims = records @ problems.T
    nearest = np.argsort(-sims, axis=1, kind="stable")[:, :3]
    assert (nb.rec_problems[valid] == nearest[valid]).all()  # rows without text: no neighbours
    masked = np.where(valid[:, None], sims, -np.inf)
    assert (nb.prob_records == np.argsort(-masked.T, axis=1, kind="stable")[:, :5]).all()
    assert np.allclose(nb.prob_sims, np.sort(masked.T, axis=1)[:, ::-1][:, :5])


# --- the datatrove step ----------------------------------------------------------------------


def test_datatrove_filter_drops_copies_and_annotates_every_document(tmp_path):
    import pyarrow.parquet as pq
    from datatrove.data import Document
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.writers import ParquetWriter

    from phi1.data.decontam.steps import DecontamFilter

    copies = [r for r in planted() if r["meta"]["copies"] in (0, 5, 10)]
    rows = _generator().generate(20, 7) + copies
    step = DecontamFilter(
        DecontamSettings(benchmark=str(_small_humaneval(tmp_path))),  # hash embedder, 3 problems
        tau=0.9,
        exclusion_writer=ParquetWriter(str(tmp_path / "removed")),
        batch_size=8,
    )
    pipeline = [
        [Document(text=r["text"], id=r["id"]) for r in rows],
        step,
        ParquetWriter(str(tmp_path / "kept")),
    ]
    LocalPipelineExecutor(pipeline, tasks=1, logging_dir=str(tmp_path / "logs")).run()

    def read(folder: str) -> list[dict]:
        files = sorted((tmp_path / folder).glob("*.parquet"))
        return [doc for f in files for doc in pq.read_table(f).to_pylist()]

    removed, kept = read("removed"), read("kept")
    assert sorted(d["id"] for d in removed) == sorted(r["id"] for r in copies)
    assert len(kept) == 20
    for doc in removed:
        meta = doc["metadata"]
        assert meta["filter_reason"] == "ast" and meta["decontam"]["ast"] >= 0.9
        assert meta["decontam"]["nearest"].startswith("HumanEval/")
    assert all(0 <= d["metadata"]["decontam"]["distance"] <= 2 for d in kept)
    restored = pickle.loads(pickle.dumps(step))  # the loaded model stays behind
    assert restored._state is None and restored.settings == step.settings


def test_datatrove_filter_annotates_only_without_tau():
    from datatrove.data import Document

    from phi1.data.decontam.steps import DecontamFilter

    docs = [Document(text=r["text"], id=r["id"]) for r in planted()[:3]]
    docs.append(Document(text="def broken(:\n", id="bad"))
    step = DecontamFilter(DecontamSettings(embedder="none"), tau=None, batch_size=2)
    assert len(list(step.run(iter(docs)))) == 4
    assert all(d.metadata["decontam"]["ast"] == 1.0 for d in docs[:3])
    assert docs[3].metadata["decontam"]["ast"] is None
    assert "does not parse" in docs[3].metadata["decontam"]["note"]


def test_a_recipe_section_fills_the_settings(tmp_path):
    write_jsonl(tmp_path / "data.jsonl", _generator().generate(5, 9))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "decontam:\n  run:\n    decontam:\n      embedder: none\n      taus: [0.9, 0.7]\n"
        "      ngram_n: 8\n"
    )
    argv = ["decontam", "run", str(tmp_path / "data.jsonl"), "--recipe", str(recipe),
            "--out", str(tmp_path / "out"), "--decontam.ngram_rule", "off"]  # fmt: skip
    assert main(argv) == 0
    settings = json.loads((tmp_path / "out" / "report.json").read_text())["settings"]
    assert settings["taus"] == [0.9, 0.7] and settings["ngram_n"] == 8
    assert settings["ngram_rule"] == "off" and settings["embedder"] == "none"
    assert sorted(p.name for p in (tmp_path / "out" / "pruned").iterdir()) == [
        "tau0.7.jsonl",
        "tau0.9.jsonl",
    ]
