"""The second pass of exercises verified by agreement, and the check that keeps them.

:func:`sample_candidates` asks, for every exercise the teacher wrote, the candidate
solutions not written with it (one request with ``n`` of them: llama.cpp decodes them
together; the reply is prefilled with the exercise, so only a body is written) and the
teacher's test inputs (one request), through the resumable runner into ``out/samples/``.
:func:`verify_exercises` then runs every candidate on every input in the sandbox, groups
them (:mod:`phi1.synth.agreement`), rewrites the examples of those kept from the agreed
outputs and runs them once more; each exercise's verdict is kept in ``out/checks.jsonl``,
so a re-run checks only what is new.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from phi1.io import sha256_text
from phi1.llm.base import LLM, Completion, GenParams, Request
from phi1.llm.prompts import check_template, render, template_hash
from phi1.llm.runner import Job, RunnerSettings, read_records, run_jobs
from phi1.synth import agreement
from phi1.synth.checks import doctest_program, short_detail
from phi1.synth.dataset import cached_checks, model_name

SAMPLING = ("candidates", "solver_sees_examples", "solution_temperature", "solution_tokens",
            "inputs")  # fmt: skip
"""Settings of the second pass (candidates and inputs), not of the exercise itself."""
CHECKING = ("agree", "examples_needed", "mutations", "min_inputs", "input_timeout", "timeout")
"""Settings that decide what is kept, not what is generated."""

SOLUTION_STOPS = ("\n```", "\nif __name__", "\nprint(", "\nassert ", "\n# Test", "\n# Example")
"""Where a candidate's body is over: back at the left margin with a fence, a test or a
print (each string starts a line, so an indented print inside the body does not stop it)."""


def sample_candidates(
    llm: LLM,
    out: Path,
    records: list[dict[str, Any]],
    settings: Any,
    templates: dict[str, str],
    runner: RunnerSettings,
) -> Any:
    """The second pass (``out/samples/``): for each exercise, the candidate solutions not
    written with it (one request with ``n`` of them, the reply prefilled with the
    exercise) and the teacher's test inputs (one request)."""
    for name in ("exercise.solution", "exercise.inputs"):
        check_template(templates, name, {"name", "prompt", "inputs"})
    system = render(templates, "exercise.system")

    def job(r: dict, kind: str, template: str, params: GenParams, prefill: str,
            prompt: str | None = None) -> Job:  # fmt: skip
        fields = {"name": r["meta"]["function_name"], "prompt": prompt or r["prompt"],
                  "inputs": settings.inputs}  # fmt: skip
        messages = [{"role": "system", "content": system},
                    {"role": "user", "content": render(templates, template, **fields)}]  # fmt: skip
        request = Request(messages=messages, params=params, prefill=prefill)
        return Job(f"{r['id']}.{kind}", request, {"exercise": r["id"], "kind": kind})

    def shown(r: dict) -> str:
        """The exercise the candidates complete: without its examples unless asked."""
        if settings.solver_sees_examples:
            return r["prompt"]
        return (
            agreement.rewrite_examples(r["prompt"], r["meta"]["function_name"], []) or r["prompt"]
        )

    jobs = []
    for r in records:
        rng = random.Random(f"{settings.seed}:exercise-samples:{r['meta']['index']}")
        n = settings.candidates - (1 if r["completion"].strip() else 0)
        solutions = GenParams(max_tokens=settings.solution_tokens, n=max(n, 1),
                              temperature=settings.solution_temperature, top_p=settings.top_p,
                              stop=SOLUTION_STOPS, seed=rng.randrange(2**31))  # fmt: skip
        inputs = GenParams(max_tokens=24 * settings.inputs + 32, temperature=0.0,
                           stop=("\n```",), seed=rng.randrange(2**31))  # fmt: skip
        if n >= 1:
            exercise = shown(r)
            jobs.append(job(r, "solutions", "exercise.solution", solutions,
                            "```python\n" + exercise, prompt=exercise))  # fmt: skip
        # the reply starts with the first call, so that the teacher writes calls
        call = f"```python\n{r['meta']['function_name']}("
        jobs.append(job(r, "inputs", "exercise.inputs", inputs, call))
    sampling = {k: getattr(settings, k) for k in ("seed", "top_p", *SAMPLING)}
    if sampling["solver_sees_examples"]:  # as before the setting existed: same key
        del sampling["solver_sees_examples"]
    fingerprint = {
        "settings": sampling,
        "templates": template_hash(
            templates, "exercise.system", "exercise.solution", "exercise.inputs"
        ),  # fmt: skip
        "llm": model_name(llm),
    }
    return run_jobs(jobs, llm, out / "samples", postprocess=_samples_record, settings=runner,
                    fingerprint=fingerprint, desc="candidates and inputs")  # fmt: skip


def _samples_record(job: Job, completion: Completion) -> dict[str, Any]:
    return {
        "text": completion.text,
        "texts": completion.texts,
        "finish_reasons": completion.finish_reasons,
        "meta": {**job.meta, "completion_tokens": completion.completion_tokens},
    }


def verify_exercises(
    out: Path, records: list[dict[str, Any]], settings: Any, *, progress: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(kept records, rejects)``: each exercise's candidates run on its inputs, grouped
    by agreement (:mod:`phi1.synth.agreement`); verdicts kept in ``out/checks.jsonl``."""
    samples = {r["id"]: r for r in read_records(out / "samples")}
    items = []
    for r in records:
        solutions = samples.get(f"{r['id']}.solutions", {}).get("texts", [])
        reply = samples.get(f"{r['id']}.inputs", {}).get("text", "")
        calls = f"{r['meta']['function_name']}(" + reply  # the prefill began the first call
        items.append((r["id"], {"prompt": r["prompt"], "own": r["completion"],
                                "name": r["meta"]["function_name"], "id": r["id"],
                                "solutions": solutions, "inputs": calls}))  # fmt: skip
    fingerprint = {k: getattr(settings, k) for k in ("seed", "examples", "candidates", *CHECKING)}
    # the code that decides is part of the key: a changed rule checks everything again
    fingerprint["code"] = sha256_text(Path(agreement.__file__).read_text() + _SOURCE)
    verdicts = cached_checks(
        out / "checks.jsonl",
        items,
        {"check": "agreement", **fingerprint},
        lambda batch: [_verdict(*v) for v in _agreement_batch(batch, settings)],
        batch=16,
        progress=progress,
        desc="exercises verified",
    )
    kept, failed = [], []
    for r in records:
        v = verdicts[r["id"]]
        r["meta"]["agreement"] = v["agreement"]
        if v["kept"]:
            r.update(prompt=v["prompt"], completion=v["completion"])
            r["text"] = v["prompt"] + v["completion"]
            kept.append(r)
        else:
            failed.append({"id": r["id"], "reason": v["reason"], "detail": v["detail"],
                           "record": r})  # fmt: skip
    return kept, failed


def _verdict(item: dict[str, Any], choice: Any, extra: dict[str, Any]) -> dict[str, Any]:
    return {"kept": choice.kept, "reason": choice.reason, "detail": choice.detail, **extra}


def _agreement_batch(batch: list[dict[str, Any]], settings: Any) -> list[tuple]:
    """Run every exercise of ``batch``'s candidates on its inputs; group; rewrite the
    examples of those kept and run them once more. One ``(item, Choice, fields)`` each."""

    prepared = {}
    for k, item in enumerate(batch):
        name, prompt = item["name"], item["prompt"]
        texts = ([item["own"]] if item["own"].strip() else []) + item["solutions"]
        bodies = [agreement.candidate_body(t, prompt, name) for t in texts[: settings.candidates]]
        calls = agreement.teacher_calls(item["inputs"], name)
        inputs = agreement.exercise_inputs(item["id"], prompt, name, calls,
                                    mutations=settings.mutations, seed=settings.seed)  # fmt: skip
        prepared[str(k)] = (prompt, name, bodies, inputs)
    runnable = {k: (p, n, [b for b in bodies if b is not None], i)
                for k, (p, n, bodies, i) in prepared.items()}  # fmt: skip
    ran = agreement.run_candidates(runnable, settings.input_timeout)
    out = []
    for k, item in enumerate(batch):
        prompt, name, bodies, inputs = prepared[str(k)]
        answers, runs = [], iter(ran[str(k)])
        answers = [next(runs) if b is not None else "does not parse" for b in bodies]
        answers += ["missing"] * (settings.candidates - len(answers))
        written = agreement.teacher_examples(prompt, name)
        choice = agreement.choose(answers, inputs, written, settings.agree, settings.min_inputs,
                                  settings.examples_needed)  # fmt: skip
        extra = {"agreement": _agreement_meta(settings, choice, inputs, answers, bodies)}
        if choice.kept:
            winner = choice.group[0]
            tests = agreement.pick_examples(
                inputs, answers[winner], choice.domain, settings.examples
            )
            new_prompt = agreement.rewrite_examples(prompt, name, tests)
            if new_prompt is None:
                choice.kept, choice.reason = False, "docstring_not_rewritable"
            else:
                extra.update(prompt=new_prompt, completion=bodies[winner])
        out.append((item, choice, extra))
    _recheck_examples(out, settings)
    return out


def _agreement_meta(
    settings: Any, choice: Any, inputs: Any, answers: list, bodies: list
) -> dict[str, Any]:
    """What ``meta.agreement`` records: k, m, the groups, the inputs and the agreed tests."""
    from phi1.sandbox.literals import to_source

    winner = choice.group[0] if choice.group else None
    tests = []
    if winner is not None:
        for j in choice.domain:
            status, value = answers[winner][j][0], answers[winner][j][1]
            said = {"ok": value, "raised": f"raises {value}"}.get(status, status)  # unstable
            tests.append([to_source(inputs.args[j]), said])
    return {
        "k": settings.candidates,
        "m": settings.agree,
        "groups": choice.groups,
        "chosen": winner,
        "candidates_parsed": sum(b is not None for b in bodies),
        "inputs": {**inputs.counts(), "domain": len(choice.domain)},
        "examples_agree": f"{choice.examples_agree} of {choice.examples_checked}",
        "tests": tests,
    }


RECHECK_HASH_SEEDS = (5, 6)
"""The hash seeds the rewritten examples run under, other than the candidates'
(:data:`phi1.synth.agreement.HASH_SEEDS`): an example that shows a set of strings in the
order one seed gave fails under another, and a check gives the same verdict every time."""


def _recheck_examples(out: list[tuple], settings: Any) -> None:
    """Run the rewritten docstring examples of the kept exercises with their solution,
    once under each of :data:`RECHECK_HASH_SEEDS`."""
    from phi1.sandbox.execute import execute

    kept = [(item, choice, extra) for item, choice, extra in out if choice.kept]
    programs = [doctest_program(e["prompt"] + e["completion"], item["name"])
                for item, _, e in kept]  # fmt: skip
    for seed in RECHECK_HASH_SEEDS:
        results = execute(programs, timeout=settings.timeout, hash_seed=seed)
        for (_, choice, _), result in zip(kept, results, strict=True):
            if choice.kept and not result.passed:
                choice.kept, choice.reason = False, "rewritten_examples_fail"
                choice.detail = f"PYTHONHASHSEED={seed}: {short_detail(result.detail)}"


def agreement_summary(records: list[dict[str, Any]], settings: Any) -> dict:
    """The summary's view of the kept exercises' agreement."""
    groups = [r["meta"]["agreement"]["groups"][0] for r in records if r["meta"].get("agreement")]
    return {
        "k": settings.candidates,
        "m": settings.agree,
        "kept_group_sizes": {str(g): groups.count(g) for g in sorted(set(groups))},
    }


_SOURCE = Path(__file__).read_text()
