"""Exercises verified by execution: candidate solutions that agree on shared inputs.

CodeT (Chen et al., 2022) and AlphaCode (Li et al., 2022) choose among sampled solutions by
how they behave when run: solutions that give the same outputs on the same inputs form a
group, and a large group is evidence that its behaviour is the one the problem asks for.
For one exercise (a signature and docstring written by the teacher):

1. **Inputs** (:func:`exercise_inputs`): the literal calls of the docstring's examples,
   the calls the teacher wrote when asked for inputs only (of the same argument kinds as the
   docstring's, when it has examples), and new inputs mutated from those by EvalPlus's
   type-aware mutation, kept inside the contract the seeds show
   (:func:`phi1.sandbox.plus.seed_inputs`, :func:`phi1.sandbox.plus.candidates`,
   :mod:`phi1.sandbox.mutate`: the same code that makes phi1's strict HumanEval tests).
2. **Runs** (:func:`run_candidates`): every candidate on every input in the sandbox, once
   under each of four fixed hash seeds (:data:`HASH_SEEDS`,
   :func:`phi1.sandbox.plus.run_oracle`): an answer that changes between the runs (a set
   of strings listed in hash order, a random draw) is "unstable" and agrees with nothing,
   and a check gives the same verdicts every time.
3. **Groups** (:func:`choose`): an input is in the exercise's *domain* when at least ``m``
   candidates return normally on it (a docstring rarely says what happens to input it
   does not allow, and mutation can make such input: there, candidates may differ without
   being wrong). Candidates whose answers on every domain input are equal (outputs
   compared as values, floats to 9 significant digits; an exception by its type, except
   one that says the code is broken, :data:`BROKEN`, which agrees with nothing) form a
   group (an unstable answer agrees with nothing, and its input stays in the domain).
   The largest group wins, a tie going to the group that matches more of the
   teacher's written examples, then to the earlier candidate. The exercise is kept when
   the group holds at least ``m`` of the ``k`` candidates, the domain holds at least
   ``min_inputs`` inputs, and the agreed outputs are not all one value (a constant cannot
   tell a solution from ``return C``).
4. **Examples** (:func:`rewrite_examples`): the docstring's doctest examples are replaced
   by calls from the domain with the agreed outputs (the teacher's own inputs first), so
   the exercise's examples are the ones its solution gives; the result is run once more as
   a doctest in the sandbox.
"""

from __future__ import annotations

import ast
import doctest
import math
import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

from phi1.sandbox.literals import Unrepresentable, from_source, to_source
from phi1.sandbox.problems import Problem

SOURCES = ("docstring", "teacher", "mutated")
HASH_SEEDS = (1, 2, 3, 4)
"""The hash seeds every candidate runs under. Candidates of one run share its seed, so two
that list a set of strings in hash order agree there; across four seeds two strings keep
their order one time in eight (two seeds: one in two)."""
BROKEN = frozenset({"NameError", "UnboundLocalError", "ImportError", "ModuleNotFoundError"})
"""Exceptions that say a candidate's code is broken, not that the input is refused."""


@dataclass
class Inputs:
    """One exercise's inputs, each an argument tuple, and where each came from."""

    args: list[tuple] = field(default_factory=list)
    source: list[str] = field(default_factory=list)

    def add(self, args: tuple, source: str) -> None:
        key = to_source(args)
        if all(to_source(a) != key for a in self.args):
            self.args.append(args)
            self.source.append(source)

    def counts(self) -> dict[str, int]:
        return {s: self.source.count(s) for s in SOURCES}


def candidate_body(text: str, prompt: str, name: str) -> str | None:
    """The body a candidate wrote after the prefilled exercise, or None when there is none
    that parses with ``prompt``.

    The reply continues the exercise, so the body is its lines up to the first one that is
    back at the left margin (a closing fence, a test, a print). A backend that answered
    afresh instead (a whole function in a fenced block) gives the body of that function.
    """
    if re.search(rf"^(?:async\s+)?def\s+{re.escape(name)}\s*\(", text, re.M):
        body = _body_of_function(text, name)
    else:
        lines = []
        for line in text.expandtabs(4).split("\n"):
            if line.strip() and not line[:1].isspace():
                break
            lines.append(line)
        body = "\n".join(lines).rstrip() + "\n"
    if body is None or not body.strip():
        return None
    try:
        tree = ast.parse(prompt + body)
    except SyntaxError:
        return None
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)
    if fn is None or len(fn.body) < 2 and ast.get_docstring(fn) is not None:
        return None
    return body


def _body_of_function(text: str, name: str) -> str | None:
    """The statements after the docstring of ``name`` in the reply's first Python block."""
    match = re.search(r"```[a-zA-Z0-9]*\n(.*?)(?:```|$)", text, re.S)
    code = (match.group(1) if match else text).expandtabs(4)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)
    if fn is None:
        return None
    start = fn.body[1].lineno if ast.get_docstring(fn) is not None and len(fn.body) > 1 else None
    if ast.get_docstring(fn) is None:
        start = fn.body[0].lineno
    if start is None or start == fn.lineno:
        return None
    body = "\n".join(code.split("\n")[start - 1 : fn.end_lineno])
    return textwrap.indent(textwrap.dedent(body), "    ").rstrip() + "\n"  # as the prompt's


def teacher_calls(text: str, name: str) -> str:
    """The calls of ``name`` the teacher wrote when asked for inputs, one a line, as one
    block of source (a call inside ``print(...)``, an assignment or an assert counts; a
    line that does not parse, and everything after a closing fence, is left out)."""
    keep = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("```"):
            break
        line = line.removeprefix(">>>").strip()
        try:
            tree = ast.parse(line)
        except SyntaxError:
            continue
        calls = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name
        ]
        if calls:
            keep.append(ast.get_source_segment(line, calls[0]))
    return "\n".join(keep)


def docstring_calls(prompt: str, name: str) -> str:
    """The calls of ``name`` in the docstring's doctest examples (an example over several
    lines, with doctest's ``...``, as one call), one a line."""
    try:
        tree = ast.parse(prompt)
        fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
        examples = doctest.DocTestParser().get_examples(ast.get_docstring(fn) or "")
    except (SyntaxError, StopIteration, ValueError):
        return ""
    calls = []
    for ex in examples:
        try:
            nodes = ast.walk(ast.parse(ex.source))
        except SyntaxError:
            continue
        call = next((n for n in nodes if isinstance(n, ast.Call)
                     and isinstance(n.func, ast.Name) and n.func.id == name), None)  # fmt: skip
        if call is not None:
            calls.append(ast.unparse(call))  # one line, whatever the example's layout
    return "\n".join(calls)


def exercise_inputs(
    exercise_id: str,
    prompt: str,
    name: str,
    calls: str,
    *,
    mutations: int,
    seed: int,
) -> Inputs:
    """The docstring's example inputs, the teacher's (``calls``: source lines of calls),
    then up to ``mutations`` inputs mutated from those, deterministic given ``seed``."""
    from phi1.sandbox.plus import PlusSettings, candidates, seed_inputs

    found = Inputs()
    for source, test in (("docstring", docstring_calls(prompt, name)), ("teacher", calls)):
        problem = Problem(exercise_id, prompt, name, test)
        shapes = {_shape(a) for a in found.args}  # the docstring's, when it has examples
        for args in seed_inputs(problem)[0]:
            if not shapes or _shape(args) in shapes:
                found.add(args, source)
    if found.args and mutations > 0:
        problem = Problem(exercise_id, prompt, name, calls)
        settings = PlusSettings(seed=seed, tests=mutations, candidates=mutations)
        try:
            new, _ = candidates(problem, list(found.args), settings)
        except (TypeError, ValueError, RecursionError):  # seeds of mixed shapes
            new = []
        for args in new:
            found.add(args, "mutated")
    return found


def _shape(args: tuple) -> tuple[str, ...]:
    """The kinds of an input's arguments (a number is a number, int or float): a teacher's
    input of another shape than the docstring's examples (a tuple where they pass lists, a
    string for a number) is outside the exercise, and candidates may differ on it without
    being wrong."""
    return tuple(
        "number" if isinstance(a, int | float) and not isinstance(a, bool) else type(a).__name__
        for a in args
    )


def run_candidates(
    jobs: dict[str, tuple[str, str, list[str], Inputs]], timeout: float
) -> dict[str, list[list | str]]:
    """For each ``(exercise id, (prompt, name, bodies, inputs))``: each body's answers to the
    inputs, ``[status, repr(output) or exception type, seconds]`` per input, or a string
    saying why the candidate's program did not finish."""
    from phi1.sandbox.plus import PlusSettings, run_oracle

    oracle_jobs = {}
    for exercise_id, (prompt, name, bodies, inputs) in jobs.items():
        for c, body in enumerate(bodies):
            problem = Problem(exercise_id, prompt, name, "", canonical_solution=body)
            oracle_jobs[f"{exercise_id}#{c}"] = (problem, inputs.args, None)
    settings = PlusSettings(oracle_limit=timeout)
    answers = run_oracle(oracle_jobs, settings, HASH_SEEDS) if oracle_jobs else {}
    return {
        exercise_id: [answers[f"{exercise_id}#{c}"] for c in range(len(bodies))]
        for exercise_id, (_, _, bodies, _) in jobs.items()
    }


def _canon(value: Any) -> Any:
    """A value in a form equal for equal values: floats to 9 significant digits, dicts and
    sets as sorted items (their order does not make them differ)."""
    if isinstance(value, float):
        return float(f"{value:.9g}") if math.isfinite(value) else repr(value)
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_canon(v) for v in value))
    if isinstance(value, dict):
        items = sorted(((_canon(k), _canon(v)) for k, v in value.items()), key=repr)
        return ("dict", tuple(items))
    if isinstance(value, (set, frozenset)):
        return ("set", tuple(sorted((_canon(v) for v in value), key=repr)))
    return value


def answer_key(answer: list, candidate: int) -> str:
    """What a candidate's answer to one input is compared by."""
    status, out = answer[0], answer[1]
    if status == "ok":
        try:
            return "ok:" + repr(_canon(from_source(out)))
        except Unrepresentable:
            return "ok:" + str(out)
    if status == "raised":
        # broken code (a name it never defined, an import that fails) is no behaviour a
        # docstring asks for: candidates that share it agree on nothing
        return f"broken:{candidate}" if out in BROKEN else f"raised:{out}"
    if status == "timeout":
        return "timeout"
    return f"{status}:{candidate}"  # unstable: agrees with no other candidate


@dataclass
class Choice:
    """What :func:`choose` found for one exercise."""

    kept: bool
    reason: str = ""
    detail: str = ""
    group: list[int] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    domain: list[int] = field(default_factory=list)
    examples_agree: int = 0
    examples_checked: int = 0


def teacher_examples(prompt: str, name: str) -> dict[str, Any]:
    """The teacher's written outputs of its docstring's calls, by the call's input source."""
    out: dict[str, Any] = {}
    try:
        tree = ast.parse(prompt)
        fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
        examples = doctest.DocTestParser().get_examples(ast.get_docstring(fn) or "")
    except (SyntaxError, StopIteration, ValueError):
        return out
    for ex in examples:
        try:
            call = ast.parse(ex.source.strip(), mode="eval").body
            want = from_source(ex.want.strip())
        except (SyntaxError, Unrepresentable):
            continue
        if isinstance(call, ast.Call) and getattr(call.func, "id", None) == name:
            try:
                args = tuple(ast.literal_eval(a) for a in call.args)
            except (ValueError, TypeError, SyntaxError):
                continue
            if not call.keywords:
                out[to_source(args)] = _canon(want)
    return out


def choose(
    answers: list[list | str],
    inputs: Inputs,
    written: dict[str, Any],
    m: int,
    min_inputs: int,
    examples_needed: float = 0.0,
) -> Choice:
    """Group the candidates by their answers on the domain; keep or reject the exercise.

    ``examples_needed`` > 0 also asks that the kept group give the teacher's own written
    output on at least that share of the docstring's examples (and that there be one):
    the teacher worked those out from its prose, so a group that disagrees with them read
    the prose another way, or the prose holds no one task."""
    runs = {c: a for c, a in enumerate(answers) if not isinstance(a, str)}
    n_inputs = len(inputs.args)
    # a candidate whose answer changed between runs returned too: the input stays in the
    # domain, where its unstable answer agrees with nothing
    domain = [j for j in range(n_inputs)
              if sum(runs[c][j][0] in ("ok", "unstable") for c in runs) >= m]  # fmt: skip
    groups: dict[tuple, list[int]] = {}
    for c, a in runs.items():
        groups.setdefault(tuple(answer_key(a[j], c) for j in domain), []).append(c)
    sizes = sorted((len(g) for g in groups.values()), reverse=True)
    sizes += [1] * (len(answers) - len(runs))  # candidates that did not run stand alone
    keys = [to_source(a) for a in inputs.args]

    def matches(group: list[int]) -> int:
        a = runs[group[0]]
        return sum(
            1
            for j in range(n_inputs)
            if keys[j] in written and a[j][0] == "ok" and _value(a[j][1]) == written[keys[j]]
        )

    if not groups:
        return Choice(False, "no_candidate_runs", _why_none(answers), groups=sizes)
    best = max(groups.values(), key=lambda g: (len(g), matches(g), -g[0]))
    choice = Choice(False, group=best, groups=sizes, domain=domain)
    choice.examples_agree, choice.examples_checked = matches(best), len(written)
    outputs = {runs[best[0]][j][1] for j in domain}
    if len(best) < m:
        choice.reason = "no_agreement"
        choice.detail = f"largest group {len(best)} of {len(answers)}"
    elif len(domain) < min_inputs:
        choice.reason = "too_few_inputs"
        choice.detail = f"{len(domain)} inputs where {m} candidates return, of {n_inputs}"
    elif len(domain) >= 4 and len(outputs) == 1:
        choice.reason, choice.detail = "constant_output", f"every input gives {next(iter(outputs))}"
    elif examples_needed > 0 and not written:
        choice.reason = "no_examples_to_check"
        choice.detail = "the docstring has no example call with a literal output"
    elif examples_needed > 0 and choice.examples_agree < examples_needed * choice.examples_checked:
        choice.reason = "examples_disagree"
        choice.detail = (f"the agreed group gives the docstring's output on "
                         f"{choice.examples_agree} of {choice.examples_checked} "
                         "examples")  # fmt: skip
    else:
        choice.kept = True
    return choice


def _value(source: str) -> Any:
    try:
        return _canon(from_source(source))
    except Unrepresentable:
        return object()  # equal to nothing


def _why_none(answers: list[list | str]) -> str:
    reasons = [a for a in answers if isinstance(a, str)]
    return reasons[0][:300] if reasons else "no candidate"


def pick_examples(
    inputs: Inputs, answers: list, domain: list[int], k: int
) -> list[tuple[str, str]]:
    """Up to ``k`` ``(arguments source, output repr)`` pairs from the domain for the
    docstring: the teacher's inputs first (its docstring's, then those it wrote), short
    ones, different outputs before repeated ones."""
    order = {s: i for i, s in enumerate(SOURCES)}
    pool = [j for j in domain if answers[j][0] == "ok"]
    pool.sort(key=lambda j: (order[inputs.source[j]], len(to_source(inputs.args[j])), j))
    chosen: list[int] = []
    seen: set[str] = set()
    for repeat in (False, True):
        for j in pool:
            text = to_source(inputs.args[j]) + answers[j][1]
            if j in chosen or len(text) > 120 or (answers[j][1] in seen) != repeat:
                continue
            if len(chosen) < k:
                chosen.append(j)
                seen.add(answers[j][1])
    chosen.sort(key=pool.index)
    return [(_arguments(inputs.args[j]), answers[j][1]) for j in chosen]


def _arguments(args: tuple) -> str:
    return ", ".join(to_source(a) for a in args)


def rewrite_examples(prompt: str, name: str, examples: list[tuple[str, str]]) -> str | None:
    """``prompt`` (imports, signature, docstring) with its docstring's doctest examples
    replaced by ``examples`` (``(arguments, output)`` sources); None when the docstring
    cannot be rewritten in place (it is not a plain triple-quoted string)."""
    try:
        tree = ast.parse(prompt)
    except SyntaxError:
        return None
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)
    if fn is None or not fn.body or not isinstance(fn.body[0], ast.Expr):
        return None
    if fn.body[0].lineno == fn.lineno:  # the docstring on the def line: not rewritten
        return None
    doc = ast.get_docstring(fn, clean=True)
    if doc is None or '"""' in doc:
        return None
    lines = prompt.splitlines()
    node = fn.body[0]
    indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)
    text = _strip_examples(doc)
    # doctest shows nothing for a call that returns None: such a call is printed
    calls = [f">>> print({name}({args}))\nNone" if out == "None" else f">>> {name}({args})\n{out}"
             for args, out in examples]  # fmt: skip
    if calls:
        text = f"{text}\n\nExamples:\n" + "\n".join(calls) if text else "\n".join(calls)
    escaped = text.replace("\\", "\\\\").split("\n")
    body = "\n".join((indent + line) if line else "" for line in escaped)
    new_doc = f'{indent}"""\n{body}\n{indent}"""'
    return "\n".join([*lines[: node.lineno - 1], new_doc, *lines[node.end_lineno :]]) + "\n"


_EXAMPLES_HEAD = re.compile(r"^\s*(?:examples?|example usage|usage|doctests?)\s*:?\s*$", re.I)


def _strip_examples(doc: str) -> str:
    """The docstring without its ``>>>`` examples, their outputs (doctest's reading: the
    lines up to a blank one), and the headings that only introduced them."""
    lines = doc.split("\n")
    drop = [False] * len(lines)
    in_example = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(">>>"):
            in_example = True
        elif not stripped:
            in_example = False
        drop[i] = in_example
    for i, line in enumerate(lines):  # a heading whose next text was an example
        if _EXAMPLES_HEAD.match(line):
            nxt = next((j for j in range(i + 1, len(lines)) if lines[j].strip()), None)
            drop[i] = nxt is None or drop[nxt]
    kept = [line for line, d in zip(lines, drop, strict=True) if not d]
    text = "\n".join(kept)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n").rstrip()
