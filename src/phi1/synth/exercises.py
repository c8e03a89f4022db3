"""CodeExercises: a function signature + docstring to complete, and its solution body.

Diversity comes from constrained function names (:mod:`phi1.synth.names`: a seeded,
distinct, plausible name per job, or a user list) plus a topic leaf and a difficulty drawn
with ``random.Random(f"{seed}:exercise:{index}")`` and recorded in ``meta``.

Validation of each completion: the one ```python block defines the asked-for function with
a docstring and a non-empty body; ``prompt`` (imports + signature + docstring) and
``prompt + completion`` both parse; the docstring has doctest examples (unless
``require_examples`` is off) and the solution passes them in the sandbox
(:mod:`phi1.sandbox.execute`) within ``timeout`` seconds. An example whose call runs over
several lines without doctest's ``...`` prefix (small models write them so) gets the prefix
(:func:`fix_doctest_continuations`; ``meta.examples_repaired``), so that it is run rather
than misread. Duplicates by syntax tree with the names taken out (:func:`renamed_ast_dump`:
function, argument and local names replaced by position, docstring dropped) are removed.
Every reject is kept with its reason.

Layout of ``out``: ``generated/`` (runner shards, rejects, manifest: resumable),
``exercises.jsonl`` (final records), ``rejects-dedup.jsonl``, ``summary.json``.
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
from phi1.llm.base import LLM, Completion
from phi1.llm.prompts import check_template, load_templates
from phi1.llm.runner import Job, Reject, RunnerSettings, run_jobs
from phi1.synth import checks
from phi1.synth.dataset import chat_job, completion_meta, finalize, model_name, run_fingerprint
from phi1.synth.names import function_names
from phi1.synth.topics import leaves

FIELDS = {"name", "topic", "difficulty", "examples"}


@dataclass
class ExerciseSettings:
    """What to generate and what to keep; recipes fill this as ``exercise: {...}``."""

    n: int = 50
    """Exercises to ask for (a re-run with a larger n extends the same run)."""
    seed: int = 0
    """Seeds every draw (name order, topic, difficulty, sampling seed)."""
    names_file: str | None = None
    """Function names to use, one per line, instead of the generated ones."""
    difficulties: tuple[str, ...] = ("easy", "medium", "hard")
    """Difficulty labels, drawn uniformly."""
    examples: int = 3
    """Doctest examples asked for in each docstring."""
    max_tokens: int = 700
    """Most tokens per exercise; one cut here is rejected as truncated."""
    temperature: float = 0.5
    """Sampling temperature (0 = greedy); sampling is seeded per job."""
    top_p: float = 0.95
    require_examples: bool = True
    """Reject exercises whose docstring has no doctest example (nothing to check)."""
    timeout: float = 5.0
    """Seconds the solution may take to pass its examples in the sandbox."""
    templates: str | None = None
    """YAML file overriding prompt templates by name (see phi1.llm.prompts)."""


def exercise_fingerprint(settings: ExerciseSettings, llm: LLM, templates: dict) -> dict:
    fp = run_fingerprint(
        "exercise", "exercise.function", settings, llm, templates, leave_out=("names_file",)
    )
    fp["difficulties"] = list(settings.difficulties)
    fp["names_file"] = None if settings.names_file is None else str(settings.names_file)
    return fp


def exercise_jobs(settings: ExerciseSettings, templates: dict[str, str]) -> list[Job]:
    for name in ("exercise.system", "exercise.function"):
        check_template(templates, name, FIELDS)
    if not settings.difficulties:
        raise Phi1Error("exercise.difficulties must not be empty")
    names = function_names(settings.n, settings.seed, settings.names_file)
    topics = leaves()
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
            "name_source": str(settings.names_file or "generated"),
            "topic": topic.leaf,
            "subject": topic.subject,
            "area": topic.area,
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


def split_exercise(text: str, name: str) -> Split | str:
    """Cut a model's answer into prompt and completion, or return why it cannot be."""
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
        return "empty_solution"
    if body[0].lineno <= fn.body[0].end_lineno:  # type: ignore[operator]
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


def doctest_program(source: str, name: str) -> str:
    """``source`` followed by a run of ``name``'s docstring examples that fails loudly."""
    return f"""{source}

import doctest as _doctest
_out = []
_runner = _doctest.DocTestRunner(
    optionflags=_doctest.ELLIPSIS | _doctest.NORMALIZE_WHITESPACE, verbose=False
)
for _test in _doctest.DocTestFinder(recurse=False).find({name}, {name!r}, globs=dict(globals())):
    _runner.run(_test, out=_out.append)
assert _runner.failures == 0, (
    f"{{_runner.failures}} of {{_runner.tries}} examples fail: " + "".join(_out)[-600:]
)
"""


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


def make_postprocess(settings: ExerciseSettings, model: str, validator: _Validator):
    def postprocess(job: Job, completion: Completion) -> dict[str, Any] | Reject:
        name = job.meta["function_name"]
        meta = completion_meta(job, completion, model)
        raw = {"raw": completion.text, "meta": meta}
        if checks.is_refusal(completion.text):
            return Reject("refusal", raw)
        split = split_exercise(completion.text, name)
        if isinstance(split, str) and (
            completion.finish_reasons[0] == "length" or checks.unclosed_fence(completion.text)
        ):
            # Small models often go on after the function (tests, prints) until the token
            # limit, or stop at the stop string before the closing fence. The function
            # itself may be whole: keep the longest prefix of the block that parses.
            code = complete_prefix(completion.text)
            if code and completion.finish_reasons[0] == "length" and _ends_with_def(code, name):
                code = None  # cut off inside the function, or right after it: not known whole
            split = split_exercise(code, name) if code else None
            if not isinstance(split, Split):
                if completion.finish_reasons[0] == "length":
                    return Reject("truncated", raw)
                split = split_exercise(completion.text, name)
            else:
                meta["salvaged"] = completion.finish_reasons[0]
        if isinstance(split, str):
            reason, _, detail = split.partition(": ")
            return Reject(reason, raw, detail)
        record = {
            "prompt": split.prompt,
            "completion": split.completion,
            "text": split.prompt + split.completion,
            "meta": {**meta, "examples": split.examples},
        }
        if split.repaired:
            record["meta"]["examples_repaired"] = True
        if split.examples == 0 and settings.require_examples:
            return Reject("no_examples", record)
        verdict = validator.run(doctest_program(record["text"], name))
        record["meta"]["validation"] = verdict.status
        if verdict.status == "failed":
            return Reject("examples_fail", record, _short(verdict.detail))
        if verdict.status == "timeout":
            return Reject("timeout", record, _short(verdict.detail))
        if verdict.status != "passed":
            return Reject("solution_error", record, _short(verdict.detail))
        return record

    return postprocess


def _short(text: str, n: int = 400) -> str:
    text = re.sub(r"\s+\n", "\n", text or "").strip()
    return text if len(text) <= n else text[: n - 3] + "..."


def generate_exercises(
    llm: LLM, out: str | Path, settings: ExerciseSettings, runner: RunnerSettings
) -> dict[str, Any]:
    """Generate (or resume), validate, deduplicate; return the summary written to ``out``."""
    out = Path(out)
    templates = load_templates(settings.templates)
    jobs = exercise_jobs(settings, templates)
    validator = _Validator(settings.timeout)
    try:
        result = run_jobs(
            jobs,
            llm,
            out / "generated",
            postprocess=make_postprocess(settings, model_name(llm), validator),
            settings=runner,
            fingerprint=exercise_fingerprint(settings, llm, templates),
            desc="exercises",
        )
    finally:
        validator.close()
    return finalize(
        out,
        "exercises.jsonl",
        [j.id for j in jobs],
        result.usage,
        duplicate_key=lambda r: renamed_ast_dump(r["text"]),
    )
