"""CodeExercises: a function signature + docstring to complete, and its solution body.

Diversity comes from constrained function names (:mod:`phi1.synth.names`: a seeded,
distinct name per job, an operation on a kind of data it fits, or a user list) and a
difficulty, drawn with ``random.Random(f"{seed}:exercise:{index}")`` and recorded in
``meta``. A topic leaf is drawn and recorded too, but the default prompt does not show it
(``meta.topic_shown``: false; ``phi1 synth stats`` then counts no topic coverage): the name
says what the function does, and a topic beside it that the name does not fit made the
teacher contradict itself (a template may still use ``${topic}``).

**The teacher writes the exercise** (``statements/``, one request each): one ```python
block that defines the asked-for function with a docstring (and usually a body). The block
must parse, define that function with a docstring, and split into ``prompt`` (imports +
signature + docstring) and the body; an example whose call runs over several lines
without doctest's ``...`` prefix gets the prefix (:func:`fix_doctest_continuations`).

**It is kept when candidate solutions agree** (``check: agreement``, the default;
:mod:`phi1.synth.agreement`): ``candidates`` (k) solutions, the teacher's own body and
k - 1 sampled ones (the reply prefilled with the exercise, its examples taken out so
that the prose alone must fix the behaviour, so only a body is written, the k - 1 decoded
together where the backend can), and test inputs asked for separately
(``samples/``); every candidate runs on the docstring's, the solver's and
mutated inputs in the sandbox, and the exercise is kept, with a solution from the largest
group of candidates that agree on every input, when that group holds at least ``agree``
(m) of the k, and (``examples_needed``) gives the teacher's own output on that share of
the docstring's examples. Its docstring examples are then rewritten from the agreed outputs
and run once more. The candidates and inputs come from the solver (``phi1 synth exercises
--solver.model``); by default teacher and solver are both Qwen2.5-Coder-1.5B-Instruct, one
loaded model.
``meta.agreement`` records k, m, the group sizes, the inputs by source and the agreed
tests. The older rules remain, off by default: ``check: examples`` keeps an exercise whose
solution passes its own doctest examples (none: rejected), ``check: lenient`` also keeps one
without examples if it parses and has a body.

Duplicates by syntax tree with the names taken out (:func:`renamed_ast_dump`: function,
argument and local names replaced by position, docstring dropped) are removed. Every
reject is kept with its reason.

Layout of ``out``: ``statements/`` and ``samples/`` (runner shards, rejects, manifests:
resumable), ``checks.jsonl`` (each exercise's verdict, kept so a re-run repeats none),
``rejects-check.jsonl``, ``exercises.jsonl`` (final records), ``rejects-dedup.jsonl``,
``summary.json``.
"""

from __future__ import annotations

import ast
import codeop
import doctest
import random
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.io import sha256_json, write_jsonl
from phi1.llm.base import LLM, Completion
from phi1.llm.prompts import check_template, load_templates, shows_topic
from phi1.llm.runner import Job, Reject, RunnerSettings, read_records, read_rejects, run_jobs
from phi1.synth import checks
from phi1.synth.checks import doctest_program, short_detail
from phi1.synth.dataset import (
    add_usage,
    chat_job,
    completion_meta,
    finalize,
    model_name,
    run_fingerprint,
)
from phi1.synth.names import check_space, function_names, name_space
from phi1.synth.topics import leaves
from phi1.synth.verify import (
    CHECKING,
    SAMPLING,
    agreement_summary,
    sample_candidates,
    verify_exercises,
)

FIELDS = {"name", "topic", "difficulty", "examples"}
CHECKS = ("agreement", "examples", "lenient")


@dataclass
class ExerciseSettings:
    """What to generate and what to keep; recipes fill this as ``exercise: {...}``."""

    n: int = 50
    """Exercises to ask for (a re-run with a larger n extends the same run)."""
    seed: int = 0
    """Seeds every draw (name order, topic, difficulty, sampling seeds, mutations)."""
    names_file: str | None = None
    """Function names to use, one per line, instead of the generated ones."""
    names: str = "coherent"
    """The generated names (:mod:`phi1.synth.names`): ``coherent`` (an operation on a kind
    of data it fits, about 2,700 names) or ``combinatorial`` (any verb, qualifier and noun,
    67,000 names, the first generator: most do not fit together)."""
    difficulties: tuple[str, ...] = ("easy", "medium", "hard")
    """Difficulty labels, drawn uniformly."""
    examples: int = 3
    """Doctest examples asked for in each docstring (and written from the agreed outputs)."""
    max_tokens: int = 700
    """Most tokens per exercise; one cut here is rejected as truncated."""
    temperature: float = 0.5
    """Sampling temperature of the exercise (0 = greedy); sampling is seeded per job."""
    top_p: float = 0.95
    check: str = "agreement"
    """What keeps an exercise: ``agreement`` (candidate solutions run on shared inputs and
    at least ``agree`` of ``candidates`` give the same outputs), ``examples`` (the solution
    passes its own doctest examples; none: rejected) or ``lenient`` (as ``examples``, but
    an exercise without examples is kept if it parses and has a body)."""
    candidates: int = 5
    """k: candidate solutions per exercise (the teacher's own body, if it wrote one, and
    sampled ones)."""
    agree: int = 4
    """m: candidates that must agree on every input for the exercise to be kept (their group
    also has to be the largest). A larger m trades the keep rate for correctness. With the
    1.5B model as teacher and solver and the other defaults (examples/synth/hand-check.md, 80
    asked, two readers): 3 of 5 keeps 69% at 75-78% correct, 4 of 5 61% at 84-88%, 5 of 5
    51% at 85-88%, hence 4 (on 40 other names, examples/synth/seed-1: 4 of 5 keeps 72% at
    66-76%, 5 of 5 50% at 70-80%). With the 0.5B teacher (examples/synth/teacher-0.5b): 3
    of 5 keeps 62% at 74-78%, 4 of 5 46% at 76%, 5 of 5 35% at 89%; with the first prompt
    and solver, the exercises only a group of exactly 2 kept were 26% correct."""
    examples_needed: float = 0.0
    """Share of the teacher's own docstring examples (those with a literal output) on which
    the agreed group must give the teacher's output; 0 asks for none, 1 for every one (and
    an exercise without such an example is rejected). It checks the prose, not only the
    code: the teacher worked its examples out from the prose, the candidates read it. On the
    hand-checked samples it does not pick out the correct ones (the 1.5B teacher at 4 of 5:
    83% correct where every example agreed, 81% where one did not), hence 0."""
    solver_sees_examples: bool = False
    """Whether the sampled candidates are asked with the teacher's docstring examples. Off:
    they read the exercise with its examples taken out, so agreement checks that the prose
    alone fixes the behaviour (the teacher often miscomputes its examples, and candidates
    shown them follow them over the prose); the examples are written from the agreed
    outputs either way."""
    solution_temperature: float = 0.8
    """Sampling temperature of the candidate solutions (seeded per exercise)."""
    solution_tokens: int = 300
    """Most tokens of one candidate body."""
    inputs: int = 8
    """Test inputs asked of the teacher per exercise (written as calls)."""
    mutations: int = 12
    """Inputs mutated from the docstring's and the teacher's (type-aware, EvalPlus-style)."""
    min_inputs: int = 3
    """Inputs where the candidates return that an exercise needs to be judged."""
    input_timeout: float = 1.0
    """Seconds one candidate may take on one input."""
    timeout: float = 5.0
    """Seconds a solution may take to pass its docstring examples in the sandbox."""
    templates: str | None = None
    """YAML file overriding prompt templates by name (see phi1.llm.prompts)."""

    def __post_init__(self) -> None:
        if self.check not in CHECKS:
            raise Phi1Error(
                f"exercise.check must be one of {', '.join(CHECKS)}, got {self.check!r}"
            )
        check_space(self.names)
        if not 0.0 <= self.examples_needed <= 1.0:
            raise Phi1Error(
                f"exercise.examples_needed must be between 0 and 1, got {self.examples_needed}"
            )
        if not 1 <= self.agree <= self.candidates:
            raise Phi1Error(
                f"exercise.agree must be between 1 and exercise.candidates ({self.candidates}), "
                f"got {self.agree}"
            )


def exercise_fingerprint(settings: ExerciseSettings, llm: LLM, templates: dict) -> dict:
    leave_out = ("names_file", "names", *SAMPLING, *CHECKING)
    if settings.check == "agreement":
        leave_out += ("check",)
    fp = run_fingerprint("exercise", "exercise.function", settings, llm, templates,
                         leave_out=leave_out)  # fmt: skip
    fp["difficulties"] = list(settings.difficulties)
    fp["names_file"] = None if settings.names_file is None else str(settings.names_file)
    # the coherent space itself, so that a changed list of names is another run; runs made
    # with a names file or the first generator, before the setting existed, keep their key
    if settings.names_file is None and settings.names != "combinatorial":
        fp["names"] = f"{settings.names}:{sha256_json(name_space(settings.names))[:16]}"
    return fp


def exercise_jobs(settings: ExerciseSettings, templates: dict[str, str]) -> list[Job]:
    for name in ("exercise.system", "exercise.function"):
        check_template(templates, name, FIELDS)
    if not settings.difficulties:
        raise Phi1Error("exercise.difficulties must not be empty")
    names = function_names(settings.n, settings.seed, settings.names_file, settings.names)
    source = "generated" if settings.names == "combinatorial" else settings.names
    topics = leaves()
    shown = shows_topic(templates, "exercise.system", "exercise.function")
    jobs = []
    for i, name in enumerate(names):
        rng = random.Random(f"{settings.seed}:exercise:{i}")
        topic = rng.choice(topics)
        difficulty = rng.choice(settings.difficulties)
        sample_seed = rng.randrange(2**31)
        fields = {
            "name": name,
            "topic": topic.leaf,
            "difficulty": difficulty,
            "examples": settings.examples,
        }
        meta = {
            "function_name": name,
            "name_source": str(settings.names_file or source),
            "topic": topic.leaf,
            "subject": topic.subject,
            "area": topic.area,
            "topic_shown": shown,  # drawn either way; the default prompt does not show it
            "difficulty": difficulty,
        }
        # stop: the end of the one block asked for; prose follows
        job = chat_job("exercise", i, settings, templates, user="exercise.function",
                       fields=fields, meta=meta, sample_seed=sample_seed,
                       stop=("\n```\n",))  # fmt: skip
        jobs.append(job)
    return jobs


def complete_prefix(text: str) -> str | None:
    """The longest run of whole lines at the start of the reply's first (possibly unclosed)
    Python block that parses, or None."""
    match = re.search(r"^[ \t]*```(?:python|py|python3)?[ \t]*\n", text, re.M | re.I)
    if match is None:
        return None
    body = text[match.end() :]
    close = re.search(r"^[ \t]*```", body, re.M)
    lines = (body[: close.start()] if close else body).splitlines()
    for end in range(len(lines), 0, -1):
        code = "\n".join(lines[:end]) + "\n"
        if checks.parses(code) is None:
            return code
    return None


def _ends_with_def(code: str, name: str) -> bool:
    last = ast.parse(code).body[-1:]
    return bool(last) and isinstance(last[0], ast.FunctionDef) and last[0].name == name


@dataclass
class Split:
    prompt: str
    completion: str
    examples: int
    repaired: bool = False
    """Some example lines got the doctest "..." prefix they lacked."""
    salvaged: str = ""
    """Why the reply had to be cut to its whole function ("length", "stop"), if it did."""


def _incomplete(source: str) -> bool:
    """True when ``source`` is the start of a statement that goes on (an open bracket)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return codeop.compile_command(source, "<doctest>", "single") is None
        except (SyntaxError, ValueError, OverflowError):
            return False


def fix_doctest_continuations(code: str) -> str:
    """Give doctest's ``... `` prefix to the lines that continue a ``>>>`` example.

    ``>>> f([1,`` followed by ``        2])`` is one call to a reader but a syntax error and
    a wrong expected output to doctest. Each following line joins the example (prefixed,
    its indentation kept relative to the ``>>>``) while the example's source is still open;
    a blank line, another ``>>>`` or an existing ``...`` line ends the repair. Lines that
    are not doctest examples are left alone.
    """
    lines = code.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        body = line.lstrip()
        if not body.startswith(">>> "):
            continue
        indent = line[: len(line) - len(body)]
        source = body[4:]
        while i < len(lines) and _incomplete(source):
            nxt = lines[i]
            rest = nxt.lstrip()
            if not rest or rest.startswith((">>>", "...")):
                break
            rel = nxt[len(indent) :] if nxt.startswith(indent) else rest
            out.append(f"{indent}... {rel}")
            source += "\n" + rel
            i += 1
    return "\n".join(out)


def split_exercise(text: str, name: str, *, body_required: bool = True) -> Split | str:
    """Cut a model's answer into prompt and completion, or return why it cannot be.

    Without ``body_required`` a function with no body (or only ``pass``) is an exercise
    with an empty completion: its solutions come from elsewhere."""
    blocks = checks.python_blocks(text)
    if blocks:
        code = blocks[0]
    elif checks.parses(text) is None and f"def {name}" in text:
        code = text
    else:
        return "no_code_block"
    code = code.expandtabs(4)
    fixed = fix_doctest_continuations(code)
    repaired, code = fixed != code, fixed
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        return f"code_does_not_parse: line {e.lineno}: {e.msg}"
    fns = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    fn = next((f for f in fns if f.name == name), None)
    if fn is None:
        found = ", ".join(f.name for f in fns) or "none"
        return f"wrong_function_name: defines {found}"
    docstring = ast.get_docstring(fn)
    if not docstring:
        return "no_docstring"
    body = fn.body[1:]
    if not body or all(_is_placeholder(s) for s in body):
        if body_required:
            return "empty_solution"
        body = []
    if body and body[0].lineno <= fn.body[0].end_lineno:  # type: ignore[operator]
        return "unsplittable: the body starts on the docstring's line"
    lines = code.splitlines()
    imports = [
        ast.get_source_segment(code, node)
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom) and node.lineno < fn.lineno
    ]
    start = min([fn.lineno] + [d.lineno for d in fn.decorator_list]) - 1
    header = "\n".join(lines[start : fn.body[0].end_lineno]) + "\n"
    prompt = ("\n".join(i for i in imports if i) + "\n\n\n" if imports else "") + header
    completion = "\n".join(lines[fn.body[0].end_lineno : fn.end_lineno]).rstrip() + "\n"
    completion = completion if body else ""
    for what, source in (("prompt", prompt), ("solution", prompt + completion)):
        error = checks.parses(source)
        if error:
            return f"{what}_does_not_parse: {error}"
    try:
        examples = len(doctest.DocTestParser().get_examples(docstring))
    except ValueError as e:  # malformed doctest (a continuation line without "...")
        return f"bad_examples: {e}"
    return Split(prompt, completion, examples, repaired)


def _is_placeholder(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Pass):
        return True
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)


def renamed_ast_dump(source: str) -> str:
    """A dump of the code with the function, argument and local names replaced by
    position and docstrings dropped: equal for solutions that differ only in naming."""
    tree = ast.parse(source)
    names: dict[str, str] = {}

    class Rename(ast.NodeTransformer):
        def _name(self, old: str) -> str:
            return names.setdefault(old, f"v{len(names)}")

        def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
            node.name = self._name(node.name)
            if ast.get_docstring(node) is not None:
                node.body = node.body[1:] or [ast.Pass()]
            node.returns = None
            return self.generic_visit(node)

        visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815

        def visit_arg(self, node: ast.arg) -> ast.AST:
            node.arg = self._name(node.arg)
            node.annotation = None
            return node

        def visit_Name(self, node: ast.Name) -> ast.AST:
            if node.id in names or isinstance(node.ctx, ast.Store):
                node.id = self._name(node.id)
            return node

    return ast.dump(Rename().visit(tree), annotate_fields=False, include_attributes=False)


class _Validator:
    """Runs solutions against their examples in one long-lived sandbox worker."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self._box = None

    def run(self, program: str):
        if self._box is None:
            from phi1.sandbox.execute import Limits, Sandbox

            self._box = Sandbox(1, Limits(timeout=self.timeout))
        return self._box.run([program])[0]

    def close(self) -> None:
        if self._box is not None:
            self._box.close()
            self._box = None


def _split_reply(completion: Completion, name: str, body_required: bool) -> Split | str:
    """The exercise in the teacher's reply, salvaging a whole function from a reply cut at
    the token limit or at the stop string; or why there is none."""
    text, reason = completion.text, completion.finish_reasons[0]
    split = split_exercise(text, name, body_required=body_required)
    if isinstance(split, str) and (reason == "length" or checks.unclosed_fence(text)):
        # Small models often go on after the function (tests, prints) until the token
        # limit, or stop at the stop string before the closing fence. The function
        # itself may be whole: keep the longest prefix of the block that parses.
        code = complete_prefix(text)
        if code and reason == "length" and _ends_with_def(code, name):
            code = None  # cut off inside the function, or right after it: not known whole
        salvaged = split_exercise(code, name, body_required=body_required) if code else None
        if isinstance(salvaged, Split):
            salvaged.salvaged = reason
            return salvaged
        if reason == "length":
            return "truncated"
    return split


def make_postprocess(settings: ExerciseSettings, model: str, validator: _Validator | None):
    """The statement pass's check: the exercise parses and splits; under ``examples`` and
    ``lenient`` its solution also passes its own examples (``validator``)."""

    def postprocess(job: Job, completion: Completion) -> dict[str, Any] | Reject:
        name = job.meta["function_name"]
        meta = completion_meta(job, completion, model)
        raw = {"raw": completion.text, "meta": meta}
        if checks.is_refusal(completion.text):
            return Reject("refusal", raw)
        split = _split_reply(completion, name, body_required=validator is not None)
        if isinstance(split, str):
            reason, _, detail = split.partition(": ")
            return Reject(reason, raw, detail)
        if split.salvaged:
            meta["salvaged"] = split.salvaged
        record = {
            "prompt": split.prompt,
            "completion": split.completion,
            "text": split.prompt + split.completion,
            "meta": {**meta, "examples": split.examples},
        }
        if split.repaired:
            record["meta"]["examples_repaired"] = True
        if validator is None:
            return record
        if split.examples == 0 and settings.check == "examples":
            return Reject("no_examples", record)
        verdict = validator.run(doctest_program(record["text"], name))
        record["meta"]["validation"] = verdict.status
        if verdict.status == "failed":
            return Reject("examples_fail", record, short_detail(verdict.detail))
        if verdict.status == "timeout":
            return Reject("timeout", record, short_detail(verdict.detail))
        if verdict.status != "passed":
            return Reject("solution_error", record, short_detail(verdict.detail))
        return record

    return postprocess


def generate_exercises(
    llm: LLM,
    out: str | Path,
    settings: ExerciseSettings,
    runner: RunnerSettings,
    solver: LLM | None = None,
) -> dict[str, Any]:
    """Generate (or resume), verify, deduplicate; return the summary written to ``out``.

    ``llm`` (the teacher) writes the exercises; ``solver`` (here, default: the teacher;
    ``phi1 synth exercises`` passes its ``--solver``, the 1.5B model by default) the other
    candidate solutions and the test inputs of the agreement check."""
    out = Path(out)
    templates = load_templates(settings.templates)
    jobs = exercise_jobs(settings, templates)
    agreement = settings.check == "agreement"
    validator = None if agreement else _Validator(settings.timeout)
    try:
        result = run_jobs(
            jobs,
            llm,
            out / "statements",
            postprocess=make_postprocess(settings, model_name(llm), validator),
            settings=runner,
            fingerprint=exercise_fingerprint(settings, llm, templates),
            desc="exercises",
        )
    finally:
        if validator is not None:
            validator.close()
    records, rejects = read_records(out / "statements"), read_rejects(out / "statements")
    usage = [result.usage]
    extra = None
    if agreement:
        wanted = {j.id for j in jobs}
        records = [r for r in records if r["id"] in wanted]
        solver = solver or llm
        samples = sample_candidates(solver, out, records, settings, templates, runner)
        usage.append(samples.usage)
        records, failed = verify_exercises(out, records, settings, progress=runner.progress)
        write_jsonl(out / "rejects-check.jsonl", failed)
        rejects += failed
        models = {"teacher": model_name(llm), "solver": model_name(solver)}

        def summarize(kept: list[dict[str, Any]]) -> dict[str, Any]:  # once duplicates go
            return {"agreement": agreement_summary(kept, settings), "models": models}

        extra = summarize
        for r in records:
            r["meta"]["solver"] = model_name(solver)
    return finalize(
        out,
        "exercises.jsonl",
        [j.id for j in jobs],
        add_usage(usage),
        records=records,
        rejects=rejects,
        duplicate_key=lambda r: renamed_ast_dump(r["text"]),
        extra=extra,
    )
