"""Textbooks end to end: scripted answers over real HTTP, then the real SmolLM2; stats."""

import json
import re

import pytest
from synth_helpers import TEXTBOOK_SECTION

from phi1.cli import main as cli
from phi1.llm import load_llm
from phi1.llm.base import Completion
from phi1.llm.prompts import TEMPLATES
from phi1.llm.runner import RunnerSettings, read_records, read_rejects
from phi1.llm.testserver import serve
from phi1.synth.stats import compute_stats, distinct_n
from phi1.synth.textbooks import TextbookSettings, generate_textbooks, textbook_jobs

QUIET = RunnerSettings(progress=False)


def section_about(topic: str) -> str:
    body = TEXTBOOK_SECTION.replace("Counting words with a dictionary", topic.capitalize())
    return body + f"\nThis idea, {topic}, comes back often in later sections."


def scripted(request):
    """Job k (from its topic) answered with a script: good, near-copy, refusal, cut off..."""
    user = request.messages[-1]["content"]
    topic = re.search(r"Topic: (.*?) \(part of", user).group(1)
    seed = request.params.seed
    kind = seed % 5
    if kind == 0:
        return Completion(["I'm sorry, but I can't write that."], ["stop"], 5, 9)
    if kind == 1:
        return Completion([section_about(topic)[:200]], ["length"], 5, 60)
    if kind == 2:
        broken = section_about(topic).replace("def count_words(text):", "def count_words(:")
        return Completion([broken], ["stop"], 5, 200)
    # kinds 3 and 4: good sections, all near-copies of each other (one base text)
    text = f"Sure! Here is the section:\n\n{section_about('words')} It is example {seed}."
    return Completion([text], ["stop"], 5, 200)


def test_checks_dedup_meta_and_stats_over_http(tmp_path):
    settings = TextbookSettings(n=40, min_words=50, seed=3)
    with serve(scripted) as server:
        llm = load_llm(server.url)
        summary = generate_textbooks(llm, tmp_path, settings, QUIET)
        llm.close()
    seeds = [j.request.params.seed % 5 for j in textbook_jobs(settings, TEMPLATES)]
    expected = {
        "refusal": seeds.count(0),
        "truncated": seeds.count(1),
        "code_does_not_parse": seeds.count(2),
        "near_duplicate": seeds.count(3) + seeds.count(4) - 1,
    }
    expected = {k: v for k, v in expected.items() if v}
    assert summary["reasons"] == expected and summary["kept"] == 1
    (kept,) = [json.loads(line) for line in open(tmp_path / "textbooks.jsonl")]
    assert not kept["text"].startswith("Sure")  # chat lead-in stripped
    meta = kept["meta"]
    for field in ("topic", "subject", "area", "audience", "style", "template", "seed", "rng"):
        assert meta[field] is not None, field
    assert meta["seed"] == 3 and meta["code_blocks"] == 2 and meta["model"] == "phi1-test"
    dups = [json.loads(line) for line in open(tmp_path / "rejects-dedup.jsonl")]
    assert all(d["detail"] == f"duplicate of {kept['id']}" for d in dups)
    # A bigger n extends the run: the first 40 jobs are not asked again.
    with serve(scripted) as server:
        llm = load_llm(server.url)
        settings.n = 45
        bigger = generate_textbooks(llm, tmp_path, settings, QUIET)
        llm.close()
    assert server.counts["answered"] == 5 and bigger["asked"] == 45
    stats = compute_stats(tmp_path, embed=True)  # one text: no pair to embed
    assert stats["records"] == 1 and stats["kind"] == "textbooks"
    assert stats["reject_reasons"] == bigger["reasons"]
    assert stats["tokens"]["total"] > 100
    assert "similarity" not in stats  # one text: no pair to compare


def test_stats_numbers_on_a_runner_directory(tmp_path):
    texts = ["a b c d", "a b c e", "the cat sat", "def f(): pass"]
    meta = {"topic": "palindromes"}
    rows = [{"id": f"r{i}", "text": t, "meta": meta} for i, t in enumerate(texts)]
    (tmp_path / "part-000-00000.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    stats = compute_stats(tmp_path, embed=True)
    assert stats["records"] == 4 and stats["coverage"]["topics_used"] == 1
    assert stats["distinct_n"]["1"] == pytest.approx(distinct_n(texts, 1), abs=1e-4)
    sim = stats["similarity"]
    assert sim["texts"] == 4 and sum(sim["pairwise_histogram"].values()) == 6
    assert -1.0 <= sim["pairwise"]["min"] <= sim["pairwise"]["max"] <= 1.0
    assert (tmp_path / "stats.json").exists() is False  # compute only; the command writes
    assert distinct_n(["a a a a"], 1) == 0.25 and distinct_n(["a b", "c d"], 2) == 1.0


@pytest.mark.llm
def test_real_model_every_job_ends_as_record_or_reject(tmp_path, smollm2):
    settings = TextbookSettings(n=2, max_tokens=24, temperature=0.0)
    summary = generate_textbooks(smollm2, tmp_path, settings, QUIET)
    ids = {r["id"] for r in read_records(tmp_path / "generated")}
    ids |= {r["id"] for r in read_rejects(tmp_path / "generated")}
    assert ids == {"textbook-0000000", "textbook-0000001"}
    assert summary["kept"] + summary["rejected"] == 2
    rejects = read_rejects(tmp_path / "generated")
    assert all(r["record"]["meta"]["model"] == "smollm2-135m-instruct" for r in rejects)
    cut = [r for r in rejects if r["record"]["meta"]["finish_reason"] == "length"]
    assert all(r["reason"] == "truncated" for r in cut)


def test_cli_bad_input_is_one_clear_line(tmp_path, capsys):
    assert cli(["synth", "textbooks"]) == 1
    assert "--out DIR is required" in capsys.readouterr().err
    recipe = tmp_path / "r.yaml"
    recipe.write_text("synth: {textbooks: {textbook: {n: 2, colour: blue}}}\n")
    assert cli(["synth", "textbooks", "--recipe", str(recipe), "--out", str(tmp_path)]) == 1
    assert "unknown key 'textbook.colour'" in capsys.readouterr().err
    templates = tmp_path / "t.yaml"
    templates.write_text("textbook.section: 'Write about $leaf for $reader'\n")
    code = cli(["synth", "textbooks", "--out", str(tmp_path / "o"), "--llm.model",
                "http://127.0.0.1:9/v1", "--textbook.templates", str(templates)])  # fmt: skip
    assert code == 1
    assert "uses field(s) $reader" in capsys.readouterr().err
    assert cli(["synth", "stats", str(tmp_path / "nothing")]) == 1
    assert "no such directory" in capsys.readouterr().err


RAISES = TEXTBOOK_SECTION.replace("    return counts", "    return counts[text]")
WRONG_OUTPUT = TEXTBOOK_SECTION.replace("{'a': 2, 'b': 1}", "{'a': 3, 'b': 1}")
NEEDS_INPUT = TEXTBOOK_SECTION.replace("    counts = {}", "    counts = {}\n    input()")


def test_a_section_whose_code_fails_is_rejected_and_stats_count_what_runs(tmp_path):
    """Blocks run in order in one namespace (the console block uses the function the block
    before it defined); a raise, a console output Python does not print, or input() fails
    the section."""
    texts = {0: TEXTBOOK_SECTION, 1: RAISES, 2: WRONG_OUTPUT, 3: NEEDS_INPUT}

    def answer(request):
        k = request.params.seed % 4
        topic = re.search(r"Topic: (.*?) \(part of", request.messages[-1]["content"]).group(1)
        text = texts[k].replace("Counting words with a dictionary", topic) + f" ({topic})"
        return Completion([text], ["stop"], 5, 200)

    settings = TextbookSettings(n=12, min_words=50, seed=1, dedup_threshold=1.0)
    seeds = [j.request.params.seed % 4 for j in textbook_jobs(settings, TEMPLATES)]
    with serve(answer) as server:
        llm = load_llm(server.url)
        summary = generate_textbooks(llm, tmp_path, settings, QUIET)
        llm.close()
    failing = sum(k != 0 for k in seeds)
    assert summary["reasons"].get("code_fails", 0) == failing
    assert summary["code_runs"] == {"checked": 12, "run": 12 - failing}
    details = {r["detail"] for r in map(json.loads, open(tmp_path / "rejects-code.jsonl"))}
    expected = {1: "block 1: console output differs", 2: "block 1: console output differs",
                3: "block 1: console output differs"}  # fmt: skip
    assert all(any(d.startswith(expected[k]) for d in details) for k in set(seeds) - {0})
    assert any("KeyError" in d for d in details) == (1 in seeds)
    kept = [json.loads(line) for line in open(tmp_path / "textbooks.jsonl")]
    assert len(kept) == 12 - failing and all(r["meta"]["code_runs"] for r in kept)
    stats = compute_stats(tmp_path, embed=False)
    assert stats["code_runs"]["share"] == 1.0 and stats["code_runs"]["run"] == len(kept)
    assert stats["code_runs"]["share_when_made"] == round((12 - failing) / 12, 4)
