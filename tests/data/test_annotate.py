"""Annotation: the label parser against messy judge output, the stratified sample, and a
real (small) judge run through the resumable runner."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phi1.data.annotate import (
    LABEL_FIELDS,
    TEMPLATES,
    AnnotateSettings,
    VerdictProbe,
    annotate_corpus,
    load_annotations,
    parse_judgement,
    quality_view,
    render_prompt,
    stratified_sample,
    strip_banner,
    truncate,
    view_rule,
)
from phi1.errors import Phi1Error

# -- the parser ---------------------------------------------------------------------------

REASONS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=80
).filter(lambda t: not any(w in t.lower() for w in ("high", "low", "score", "value", "medium")))


def _render(label: str, score: int | None, reason: str, style: int, case: int) -> str:
    word = [label, label.upper(), label.capitalize()][case]
    score_txt = "" if score is None else str(score)
    if style == 0:  # the requested format
        lines = [f"Educational value: {word}"]
        if score is not None:
            lines.append(f"Score: {score_txt}")
        return "\n".join(lines + [f"Reason: {reason}"])
    if style == 1:  # markdown with chatter around it
        s = "" if score is None else f"\n- **Score:** {score_txt}/10"
        return f"Sure! Here is my assessment.\n\n**Educational Value:** {word}{s}\n\n" \
               f"**Reason:** {reason}\n\nLet me know if you need more."  # fmt: skip
    if style == 2:  # JSON in a code fence
        obj = {"educational_value": word, "reason": reason}
        if score is not None:
            obj["score"] = score
        return f"```json\n{json.dumps(obj)}\n```"
    if style == 3:  # prose
        s = "" if score is None else f" I would give it a score of {score_txt} out of 10."
        return f"The educational value is {word}.{s} Reason: {reason}"
    # headings and extra spaces
    s = "" if score is None else f"\n### Score :   {score_txt}"
    return f"### Educational value -  {word}{s}\nExplanation: {reason}"


@settings(max_examples=300, deadline=None)
@given(
    label=st.sampled_from(["high", "low"]),
    score=st.one_of(st.none(), st.integers(0, 10)),
    reason=REASONS,
    style=st.integers(0, 4),
    case=st.integers(0, 2),
)
def test_parser_recovers_label_and_score_from_messy_answers(label, score, reason, style, case):
    text = _render(label, score, reason, style, case)
    found = parse_judgement(text)
    assert found is not None, text
    assert found.label == label, text
    assert found.score == (None if score is None else float(score)), text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parser_never_raises_on_arbitrary_text(text):
    found = parse_judgement(text)
    if found is not None:
        assert found.label in ("high", "low")
        assert found.score is None or 0.0 <= found.score <= 10.0


@settings(max_examples=100, deadline=None)
@given(score=st.integers(0, 10), reason=REASONS)
def test_a_middle_label_or_none_is_decided_by_the_score(score, reason):
    for text in (f"Educational value: medium\nScore: {score}\nReason: {reason}",
                 f"Score: {score}/10. {reason}"):  # fmt: skip
        found = parse_judgement(text)
        assert found is not None and found.label == ("high" if score >= 5 else "low")


@pytest.mark.parametrize(
    "text, label, score",
    [
        ("This code has little educational value for beginners.", "low", None),
        ("It does not have high educational value.", "low", None),
        ("It doesn't have high educational value.", "low", None),
        ("Educational value: LOW (score 2/10) - it is only configuration.", "low", 2.0),
        ("educational_value = high\nscore = 85/100", "high", 8.5),
        ("Verdict: high", "high", None),
        ('{"label": "low", "score": "3", "rationale": "generated table"}', "low", 3.0),
    ],
)
def test_parser_on_answers_seen_from_small_judges(text, label, score):
    found = parse_judgement(text)
    assert found is not None and (found.label, found.score) == (label, score)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "Educational value: high or low\nReason: one sentence.",
        "I cannot tell.",
        "Score: 42",
        "```python\nprint('hi')\n```",
    ],  # fmt: skip
)
def test_parser_refuses_answers_without_a_verdict(text):
    assert parse_judgement(text) is None


def test_rationale_is_kept():
    found = parse_judgement("Educational value: high\nScore: 9\nReason: a clear, tested algorithm.")
    assert found is not None and found.rationale == "a clear, tested algorithm."


# -- prompts and sampling -------------------------------------------------------------------


def test_prompt_template_asks_the_papers_question():
    messages = render_prompt("educational_value", "x = 1")
    assert (
        "educational value for a student whose goal is to learn basic coding concepts"
        in (messages[-1]["content"])
    )
    assert "x = 1" in messages[-1]["content"] and set(TEMPLATES) >= {"educational_value"}
    with pytest.raises(Phi1Error, match="unknown annotation template"):
        render_prompt("nope", "x")


APACHE = """# coding=utf-8
# Copyright 2024 The Example Authors. All rights reserved.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
"""
BANNERS = {
    "apache": APACHE,
    "protoc": "# -*- coding: utf-8 -*-\n"
    "# Generated by the protocol buffer compiler.  DO NOT EDIT!\n"
    "# source: example.proto\n\n",
    "openapi": '"""File generated from our OpenAPI spec by Stainless. See CONTRIBUTING.md."""\n\n',
    "both": "#!/usr/bin/env python\n"
    + APACHE
    + '\n"""Auto-generated by tool.py; do not edit."""\n',
}


@pytest.mark.parametrize("banner", sorted(BANNERS))
def test_leading_banners_are_skipped_and_code_is_kept(banner):
    body = (
        '"""Binary search.\n\nCopyright notices later in a docstring stay."""\n'
        "# Halve the range each time.\n"
        "def find(xs, x):\n    return x in xs\n"
    )
    assert strip_banner(BANNERS[banner] + body) == body
    assert strip_banner(body) == body and strip_banner(BANNERS[banner]) == ""
    comment = "# A stack: last in, first out.\nstack = []\n"
    assert strip_banner(comment) == comment  # an ordinary first comment is code's own
    assert strip_banner("#!/usr/bin/env python\nx = 1\n") == "x = 1\n"


def test_the_view_is_the_head_of_the_code_after_its_banners():
    code = "".join(f"value_{i} = {i}\n" for i in range(200))
    view = quality_view(APACHE + code, 100)
    assert view == code[: code.rfind("\n", 0, 100)] and len(view) <= 100
    assert quality_view(APACHE + code, None) == code
    assert quality_view(APACHE + code, None, banners=False) == APACHE + code
    assert view_rule(100, True) == {"max_chars": 100, "strip_banners": True, "version": 1}


def test_worked_examples_come_before_the_document():
    from phi1.llm.prompts import ANNOTATION_TEMPLATES

    for name, t in ANNOTATION_TEMPLATES.items():
        messages = render_prompt(name, "THE FILE")
        assert [m["content"].count("THE FILE") for m in messages] == [0] * (len(messages) - 1) + [
            1
        ], name
        assert len(messages) == bool(t.get("system")) + 2 * len(t.get("examples", ())) + 1


def test_truncate_cuts_at_a_line_end():
    text = "".join(f"line {i}\n" for i in range(100))
    head, cut = truncate(text, 120)
    assert cut and head.endswith("# ... (truncated)") and len(head) < 150
    assert truncate("short", 120) == ("short", False)


def _corpus(sizes: dict[str, int]) -> list[dict]:
    return [
        {"id": f"{src}/{i}", "text": f"x = {i}", "meta": {"source": src}}
        for src, n in sizes.items()
        for i in range(n)
    ]


def test_stratified_sample_is_seeded_proportional_and_extendable():
    corpus = _corpus({"big": 900, "small": 90, "tiny": 3})
    sample, counts = stratified_sample(corpus, 100, seed=7)
    assert len(sample) == 100
    assert {s: c["sampled"] for s, c in counts.items()} == {"big": 90, "small": 9, "tiny": 1}
    shuffled = corpus[:]
    random.Random(1).shuffle(shuffled)
    again, _ = stratified_sample(shuffled, 100, seed=7)
    assert [r["id"] for r in again] == [r["id"] for r in sample]  # read order does not matter
    bigger, _ = stratified_sample(corpus, 200, seed=7)
    assert {r["id"] for r in sample} <= {r["id"] for r in bigger}
    other, _ = stratified_sample(corpus, 100, seed=8)
    assert {r["id"] for r in other} != {r["id"] for r in sample}
    assert sample[0]["meta"]["sample"]["seed"] == 7 and "key" in sample[0]["meta"]["sample"]
    assert "sample" not in corpus[0]["meta"]  # input records are not modified


def test_equal_allocation_and_small_corpora():
    corpus = _corpus({"a": 50, "b": 5, "c": 50})
    _, counts = stratified_sample(corpus, 30, allocation="equal")
    assert {s: c["sampled"] for s, c in counts.items()} == {"a": 13, "b": 5, "c": 12}
    everything, _ = stratified_sample(corpus, 1000)
    assert len(everything) == 105
    with pytest.raises(Phi1Error, match="empty"):
        stratified_sample([], 10)
    with pytest.raises(Phi1Error, match="allocation"):
        stratified_sample(corpus, 10, allocation="random")


# -- a real judge ---------------------------------------------------------------------------


@pytest.mark.llm
@pytest.mark.slow
def test_annotate_with_a_real_judge_resumes(tmp_path):
    from phi1.llm import load_llm
    from phi1.llm.runner import read_rejects

    corpus = _corpus({"a": 3, "b": 2})
    for r in corpus:
        r["text"] = f"def add_{r['id'][-1]}(a, b):\n    '''Add two numbers.'''\n    return a + b\n"
    llm = load_llm("smollm2-135m-instruct", n_threads=1)
    s = AnnotateSettings(n=4, max_tokens=24, method="generate")
    out = tmp_path / "ann"
    first = annotate_corpus(corpus, out, llm, s, judge="smollm2-135m-instruct", progress=False)
    assert first["annotated"] + first["unparseable"] == 4
    assert first["sources"] == {"a": {"documents": 3, "sampled": 2},
                                "b": {"documents": 2, "sampled": 2}}  # fmt: skip
    again = annotate_corpus(corpus, out, llm, s, judge="smollm2-135m-instruct", progress=False)
    assert again["this_run"] == {"written": 0, "rejected": 0, "skipped": 4,
                                 "seconds": again["this_run"]["seconds"]}  # fmt: skip
    for reject in read_rejects(out):
        assert reject["reason"] == "unparseable" and reject["record"]["meta"]["raw"] is not None
    if first["annotated"]:
        annotations, docs = load_annotations(out)
        assert all(a["id"] in docs and a["meta"]["judge"] == "smollm2-135m-instruct"
                   for a in annotations)  # fmt: skip


def test_load_annotations_errors(tmp_path):
    with pytest.raises(Phi1Error, match="not an annotation directory"):
        load_annotations(tmp_path / "missing")
    (tmp_path / "a").mkdir()
    with pytest.raises(Phi1Error, match="no sample.jsonl"):
        load_annotations(tmp_path / "a")


@pytest.mark.llm
@pytest.mark.slow
def test_logprob_judge_is_graded_and_independent_of_order(tmp_path):
    from phi1.llm import load_llm
    from phi1.llm.runner import read_records

    llm = load_llm("smollm2-135m-instruct", n_threads=1)
    probe = VerdictProbe(llm)
    codes = ["x = 1", "def add(a, b):\n    return a + b", "import os", "print('hi')"]
    prompts = [render_prompt("educational_value_fewshot", c) for c in codes]
    forward = [probe.p_high(m)[0] for m in prompts]
    backward = [probe.p_high(m)[0] for m in reversed(prompts)][::-1]
    assert forward == backward  # a result does not depend on what ran before
    assert all(0.0 < p < 1.0 for p in forward) and len(set(forward)) > 1
    assert probe.identity()["method"] == "logprob"
    corpus = [{"id": f"d{i}", "text": c, "meta": {"source": "s"}} for i, c in enumerate(codes)]
    settings = AnnotateSettings(n=4, template="educational_value_fewshot")  # as probed above
    summary = annotate_corpus(corpus, tmp_path / "ann", llm, settings,
                              judge="smollm2-135m-instruct", progress=False)  # fmt: skip
    assert summary["settings"]["method"] == "logprob" and summary["annotated"] == 4
    by_id = {r["id"]: r for r in read_records(tmp_path / "ann")}
    for i, p in enumerate(forward):
        record = by_id[f"d{i}"]
        assert record["meta"]["p_high"] == pytest.approx(p, abs=1e-6)
        assert record["score"] == pytest.approx(10 * p, abs=1e-3)
        assert record["label"] == ("high" if p >= 0.5 else "low")


def test_logprob_method_needs_a_local_judge():
    with pytest.raises(Phi1Error, match="local llama.cpp judge"):
        VerdictProbe(object())
    with pytest.raises(Phi1Error, match="method"):
        AnnotateSettings(method="vote")


@pytest.mark.llm
@pytest.mark.slow
def test_a_label_set_round_trips_through_the_corpus(tmp_path, capsys):
    from phi1.data.annotate import export_label_set, load_label_set
    from phi1.data.readers import read_source
    from phi1.llm import load_llm

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    bodies = ["def add(a, b):\n    return a + b\n", "X = 1\nY = 2\n", "import os\n", "pass\n"]
    for i, body in enumerate(bodies):
        (corpus / f"m{i}.py").write_text(BANNERS["apache"] + body)
    source = f"toy=dir:{corpus}"
    llm = load_llm("smollm2-135m-instruct", n_threads=1)
    ann = tmp_path / "ann"
    annotate_corpus(read_source(source), ann, llm, AnnotateSettings(n=4, max_chars=200),
                    judge="smollm2-135m-instruct", progress=False)  # fmt: skip
    labels = tmp_path / "labels.jsonl"
    assert export_label_set(ann, labels) == 4
    rows = [json.loads(line) for line in labels.read_text().splitlines()]
    assert set(rows[0]) == set(LABEL_FIELDS) and rows[0]["judge"]["template"] == (
        "educational_value_rubric") and rows[0]["judge"]["view"]["strip_banners"]  # fmt: skip
    annotations, docs = load_label_set(labels, [source])
    assert sorted(a["id"] for a in annotations) == sorted(docs) == sorted(r["id"] for r in rows)
    by_id = {a["id"]: a for a in annotations}
    assert all(by_id[r["id"]]["meta"]["p_high"] == r["p_high"] for r in rows)
    # A file changed since it was judged is left out and counted; a banner added is not a change.
    (corpus / "m0.py").write_text("def add(a, b):\n    return b + a\n")
    (corpus / "m1.py").write_text("# Copyright 2020 Someone\n" + bodies[1])
    annotations, _ = load_label_set(labels, [source])
    assert len(annotations) == 3 and "1 changed" in capsys.readouterr().out
    with pytest.raises(Phi1Error, match=r"labels.jsonl:1"):
        labels.write_text('{"id": "x"}\n')
        load_label_set(labels, [source])
