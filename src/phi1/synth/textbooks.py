"""Synthetic textbook sections: topic x audience x style -> prose interleaved with code.

Each job draws a topic leaf (:mod:`phi1.synth.topics`), an audience and a style with its own
``random.Random(f"{seed}:textbook:{index}")``, so job ``i`` is the same whatever the run's
size, and records every draw in ``meta``. A completion becomes a record only if it passes
the checks (not truncated, no refusal, chat boilerplate stripped, fences closed, every
Python block parses, enough code, length bounds, not degenerate repetition); otherwise it
is a reject with its reason. Then the code of every section runs in the sandbox
(``run_code``): all its Python blocks in order in one namespace, as a reader typing them
into one session would, a console block (``>>>`` prompts) through doctest so that the
outputs it shows must be the ones Python prints (:func:`phi1.synth.checks.section_program`).

The rule for a section whose code fails: **the section is rejected** (``code_fails``,
with the block and the error), never patched by dropping the block. The prose around a
block explains it and often its output, so a section without it would describe code that
is not there; the teacher is asked for code that runs, and a rejected section costs one
more request. Near-duplicates are then removed with MinHash
(:func:`phi1.synth.dataset.finalize`).

Layout of ``out``: ``generated/`` (the runner's shards, rejects and manifest: resumable),
``code-checks.jsonl`` (each section's verdict, kept so a re-run repeats none),
``rejects-code.jsonl``, ``textbooks.jsonl`` (the final records), ``rejects-dedup.jsonl``,
``summary.json`` (``code_runs``: sections whose code ran, of those checked).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phi1.io import sha256_text, write_jsonl
from phi1.llm.base import LLM, Completion
from phi1.llm.prompts import check_template, load_templates
from phi1.llm.runner import Job, Reject, RunnerSettings, read_records, read_rejects, run_jobs
from phi1.synth import checks
from phi1.synth.dataset import (
    cached_checks,
    chat_job,
    completion_meta,
    finalize,
    model_name,
    run_fingerprint,
)
from phi1.synth.topics import AUDIENCES, STYLES, draw, leaves

FIELDS = {"leaf", "subject", "area", "audience", "style", "words"}


@dataclass
class TextbookSettings:
    """What to generate and what to keep; recipes fill this as ``textbook: {...}``."""

    n: int = 20
    """Sections to ask for (a re-run with a larger n extends the same run)."""
    seed: int = 0
    """Seeds every draw (topic, audience, style, sampling seed)."""
    words: int = 500
    """Target length given to the model."""
    max_tokens: int = 1200
    """Most tokens per section; a section cut here is rejected as truncated."""
    temperature: float = 0.7
    """Sampling temperature (0 = greedy); sampling is seeded per job."""
    top_p: float = 0.95
    min_words: int = 120
    """Shorter sections are rejected."""
    max_words: int = 2500
    """Longer sections are rejected."""
    min_code_blocks: int = 1
    """Python blocks a section must have (prose interleaved with code)."""
    min_compression: float = 0.2
    """zlib ratio below which a section counts as degenerate repetition."""
    dedup_threshold: float = 0.7
    """MinHash Jaccard similarity at which a later section is a near-duplicate."""
    templates: str | None = None
    """YAML file overriding prompt templates by name (see phi1.llm.prompts)."""
    run_code: bool = True
    """Run each section's code blocks in order in the sandbox; reject a section whose code
    raises or whose console block shows an output Python does not print."""
    code_timeout: float = 10.0
    """Seconds all the code of one section may take."""


CHECK_ONLY = ("run_code", "code_timeout")
"""Settings that decide what is kept after generation, not what is generated."""


def textbook_fingerprint(settings: TextbookSettings, llm: LLM, templates: dict) -> dict:
    """What fixes each job's content: a run directory accepts only this configuration."""
    return run_fingerprint(
        "textbook", "textbook.section", settings, llm, templates, leave_out=CHECK_ONLY
    )


def textbook_jobs(settings: TextbookSettings, templates: dict[str, str]) -> list[Job]:
    for name in ("textbook.system", "textbook.section"):
        check_template(templates, name, FIELDS)
    topics = leaves()
    jobs = []
    for i in range(settings.n):
        rng = random.Random(f"{settings.seed}:textbook:{i}")
        topic, audience, style = draw(rng, topics, AUDIENCES, STYLES)
        sample_seed = rng.randrange(2**31)
        fields = {
            "leaf": topic.leaf,
            "subject": topic.subject,
            "area": topic.area,
            "audience": audience,
            "style": style,
            "words": settings.words,
        }
        meta = {
            "topic": topic.leaf,
            "subject": topic.subject,
            "area": topic.area,
            "audience": audience,
            "style": style,
        }
        job = chat_job("textbook", i, settings, templates, user="textbook.section",
                       fields=fields, meta=meta, sample_seed=sample_seed)  # fmt: skip
        jobs.append(job)
    return jobs


def check_section(text: str, finish_reason: str, settings: TextbookSettings) -> tuple[str, str]:
    """``(cleaned text, "")`` when the section passes, else ``(text, reason: detail)``."""
    if finish_reason == "length":
        return text, "truncated"
    if checks.is_refusal(text):
        return text, "refusal"
    text = checks.strip_boilerplate(text)
    if checks.unclosed_fence(text):
        return text, "unclosed_code_block"
    words = checks.word_count(text)
    if words < settings.min_words:
        return text, f"too_short: {words} words"
    if words > settings.max_words:
        return text, f"too_long: {words} words"
    blocks = checks.python_blocks(text)
    if len(blocks) < settings.min_code_blocks:
        return text, f"no_code: {len(blocks)} python blocks"
    for k, block in enumerate(blocks):
        error = checks.parses(block, console=True)
        if error:
            return text, f"code_does_not_parse: block {k}, {error}"
    ratio = checks.compression_ratio(text)
    if ratio < settings.min_compression:
        return text, f"repetitive: compression ratio {ratio:.3f}"
    return text, ""


def make_postprocess(settings: TextbookSettings, model: str):
    def postprocess(job: Job, completion: Completion) -> dict[str, Any] | Reject:
        text, problem = check_section(completion.text, completion.finish_reasons[0], settings)
        meta = completion_meta(job, completion, model)
        record = {"text": text, "meta": meta}
        if problem:
            reason, _, detail = problem.partition(": ")
            return Reject(reason, record, detail)
        meta["code_blocks"] = len(checks.python_blocks(text))
        return record

    return postprocess


def generate_textbooks(
    llm: LLM, out: str | Path, settings: TextbookSettings, runner: RunnerSettings
) -> dict[str, Any]:
    """Generate (or resume), check, deduplicate; return the summary written to ``out``."""
    out = Path(out)
    templates = load_templates(settings.templates)
    jobs = textbook_jobs(settings, templates)
    result = run_jobs(
        jobs,
        llm,
        out / "generated",
        postprocess=make_postprocess(settings, model_name(llm)),
        settings=runner,
        fingerprint=textbook_fingerprint(settings, llm, templates),
        desc="textbooks",
    )
    records, rejects = read_records(out / "generated"), read_rejects(out / "generated")
    extra = {}
    if settings.run_code:
        records, failed = check_code(out, records, settings, progress=runner.progress)
        write_jsonl(out / "rejects-code.jsonl", failed)
        rejects += failed
        extra["code_runs"] = {"checked": len(records) + len(failed), "run": len(records)}
    return finalize(
        out,
        "textbooks.jsonl",
        [j.id for j in jobs],
        result.usage,
        records=records,
        rejects=rejects,
        threshold=settings.dedup_threshold,
        extra=extra,
    )


def run_sections(texts: list[str], box: Any) -> list[dict[str, Any]]:
    """Each section's code run in order in the sandbox ``box`` (a
    :class:`phi1.sandbox.execute.Sandbox`): ``{"runs", "detail", "seconds", "blocks"}`` per
    text (a text without Python blocks runs trivially)."""
    results = box.run([checks.section_program(checks.python_blocks(t)) for t in texts])
    return [
        {
            "runs": r.passed,
            "detail": "" if r.passed else _block_error(r.status, r.detail),
            "seconds": round(r.duration, 3),
            "blocks": len(checks.python_blocks(t)),
        }
        for t, r in zip(texts, results, strict=True)
    ]


def _block_error(status: str, detail: str) -> str:
    detail = (detail or "").removeprefix("AssertionError: ").strip()
    return detail[:500] if status == "failed" else f"{status}: {detail}"[:500]


def check_code(
    out: Path, records: list[dict[str, Any]], settings: TextbookSettings, *, progress: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(records whose code runs, rejects)``; verdicts kept in ``out/code-checks.jsonl``."""
    from phi1.sandbox.execute import Limits, Sandbox

    with Sandbox(None, Limits(timeout=settings.code_timeout)) as box:
        verdicts = cached_checks(
            out / "code-checks.jsonl",
            [(r["id"], r["text"]) for r in records],
            {
                "check": "section-code",
                "timeout": settings.code_timeout,
                "harness": sha256_text(checks.section_program([])),
            },  # fmt: skip
            lambda texts: run_sections(texts, box),
            progress=progress,
            desc="sections' code run",
        )
    kept, failed = [], []
    for record in records:
        verdict = verdicts[record["id"]]
        if verdict["runs"]:
            record["meta"]["code_runs"] = True
            kept.append(record)
        else:
            failed.append({"id": record["id"], "reason": "code_fails",
                           "detail": verdict["detail"], "record": record})  # fmt: skip
    return kept, failed
