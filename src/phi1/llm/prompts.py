"""Every prompt the synthetic-data stages send, as named templates, in one place.

One templating mechanism: :class:`string.Template` (``$field`` / ``${field}``), which leaves
the braces of Python code alone. A recipe may override any template by name from a YAML
file (``templates: my_prompts.yaml``); a template that names a field the stage does not
provide, or an unknown template name, is refused before anything is generated.
The template name and a hash of its text go into every record's ``meta``.
"""

from __future__ import annotations

import os
import string
from collections.abc import Mapping

from phi1.errors import Phi1Error
from phi1.io import read_yaml, sha256_text

_REFERENCE_GUIDED = """\
Here is a Python problem, given as a function's signature and docstring, with a reference
solution that is correct:

```python
${reference}
```

A student wrote this solution to the same problem:

```python
${program}
```
${outputs}
Compare the student's code with the docstring and the reference. Code written differently
that gives the same result on every input the docstring allows is fully right; a rule of
the docstring the code breaks, or an edge case it gets wrong, makes it wrong."""
"""The reference-guided judge's prompt (MT-Bench) up to what it is asked to write: the problem
with its correct reference solution, then the student's function and, when run, the outputs
of both; the same problem's solutions share everything before the student's function."""

TEMPLATES: dict[str, str] = {
    "textbook.system": (
        "You are an expert computer science teacher who writes clear, correct and "
        "engaging textbooks about programming in Python."
    ),
    "textbook.section": """\
Write one section of a Python programming textbook.

Topic: ${leaf} (part of "${subject}" in the chapter "${area}").
Reader: ${audience}.
Style: ${style}.

Requirements:
- Start with a markdown heading (## ...) that names the section.
- Interleave short explanations with small, complete Python code examples in ```python
  blocks. The blocks run in order as one program, the way a reader types them into one
  Python session: a later block may use what an earlier one defined, and every block must
  run without an error. No input(), files, network or placeholders; to show an error,
  catch it with try/except and print it. A block written as a console session (lines
  starting with >>>) must show exactly the output Python prints.
- Explain why the code works, not only what it does. Reason step by step.
- About ${words} words. Do not greet the reader, do not mention these instructions, and do
  not end with an offer of further help.""",
    "exercise.system": (
        "You are an expert Python teacher who writes programming exercises with correct, "
        "tested reference solutions."
    ),
    # the name says what the function does (phi1.synth.names): no topic beside it, since a
    # topic the name does not fit (wrap_line about monotonic stacks) made the 0.5B teacher
    # write prose that contradicts itself (examples/synth/README.md); a template may still
    # use ${topic}
    "exercise.function": """\
Write one Python exercise of ${difficulty} difficulty: a single function named `${name}`
that does what its name says.

Reply with exactly one ```python block that contains, in this order:
1. any imports the solution needs (standard library only);
2. the function signature `def ${name}(...)` with type hints;
3. a docstring that states the task in plain words, as one clear rule with no special
   cases the name does not suggest: what the function returns, and what it returns for
   an empty input if it accepts one; and ${examples} examples in doctest form (a line
   starting with >>> and holding one whole call, then the exact expected output);
4. the solution body.

Nothing else: no other functions, no tests, no prints, no text outside the block.""",
    # phi1 synth exercises, verified by agreement (phi1.synth.exercises): the candidate
    # solutions (the reply is prefilled with the exercise, so only the body is written) and
    # the teacher's test inputs
    "exercise.solution": """\
Complete the Python function `${name}` below: write its body so that it does exactly what
its docstring says, for every input the docstring allows. Standard library only. Reply with
the whole function in one ```python block.

```python
${prompt}```""",
    "exercise.inputs": """\
Here is a Python function without its body:

```python
${prompt}```

Write ${inputs} different calls of `${name}` that together test it well: typical cases and
edge cases (empty input, zero, a single element, ties, boundaries), each with arguments of
the types and values the docstring allows. Reply with one ```python block that holds only
the calls, one per line, with literal arguments: no outputs, no asserts, no prints, no
variables.""",
    # phi1 eval graded (phi1.eval.graded): the judge's rubric and its follow-up turn
    "graded.system": (
        "You are an experienced programming teacher. You grade how well a student's code "
        "shows that they understood a problem."
    ),
    "graded.rubric": """\
A student was given the signature and docstring of the Python function below and wrote its
body. The problem is deliberately unusual, so a memorized answer cannot help: what matters
is whether the code follows the rules the docstring states.

```python
${program}
```

Write a short evaluation of the understanding the code shows, in at most five sentences:
which rules of the problem it gets right, which it gets wrong or ignores, and whether it
handles the edge cases the docstring mentions. Do not rewrite the code. Then, on the last
line, give a grade from 0 (no understanding) to 10 (complete understanding) in exactly this
form:
Grade: <number>""",
    "graded.reference": _REFERENCE_GUIDED
    + """ Write a
short evaluation, in at most four sentences, naming any input where the student's code
and the reference differ. Then, on the last line, grade the student's code from 0 (wrong)
to 10 (right) in exactly this form:
Grade: <number>""",
    "graded.reference_grade": _REFERENCE_GUIDED
    + """ Grade the
student's code from 0 (wrong) to 10 (right). Answer with the grade only, in this form:
Grade: <number>""",
    "graded.follow_up": """\
Your answer does not end with a grade. Reply with one line only, in this form:
Grade: <a whole number from 0 to 10>""",
    # phi1 eval humaneval / mbpp (phi1.eval.generation): how instruct models are asked
    "eval.humaneval": """\
Complete the following Python function. Reply with the whole function, signature included,
in one ```python code block.

```python
${prompt}
```""",
    "eval.mbpp": """\
${task}

Write the Python function this asks for; it must pass the test above. Reply with the code
in one ```python code block.""",
}

# phi1 annotate (phi1.data.annotate): the judge's chat, one entry per template name. Fields:
# $code, $kind and $question (the paper's question, ANNOTATION_QUESTION). "examples" are
# worked (code, answer) pairs that become earlier chat turns: they come before the document,
# so a llama.cpp judge evaluates them once and pays only for each document's own tokens.
ANNOTATION_QUESTION = (
    "Determine its educational value for a student whose goal is to learn basic coding concepts."
)
_VERDICT_USER = "```python\n${code}\n```\n\n${question} Answer high or low."
ANNOTATION_TEMPLATES: dict[str, dict] = {
    # For judges that follow instructions (an API model, a larger local model).
    "educational_value": {
        "system": "You are a careful teacher who reviews code for a beginners' programming course.",
        "user": (
            "Here is ${kind}:\n\n```python\n${code}\n```\n\n${question}\n"
            "Answer in exactly this format:\n"
            "Educational value: high or low\n"
            "Score: a whole number from 0 (none) to 10 (an excellent lesson)\n"
            "Reason: one sentence."
        ),
    },
    # phi1's first template for small local judges: two worked examples, then the verdict,
    # read out by next-token probability (--annotate.method logprob).
    "educational_value_fewshot": {
        "user": _VERDICT_USER,
        "examples": [
            (
                "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', "
                "'NAME': 'db.sqlite3'}}\nALLOWED_HOSTS = ['*']\nDEBUG = True",
                "Educational value: low",
            ),
            (
                'def count_vowels(word):\n    """Count the vowels in a word."""\n    total = 0\n'
                "    for letter in word.lower():\n        if letter in 'aeiou':\n"
                "            total += 1\n    return total",
                "Educational value: high",
            ),
        ],
    },
    # What the two kinds look like, then four worked examples in the shapes of a real
    # corpus (API glue, a registry table, a documented algorithm, a small class), none of
    # them like the files of tests/assets/quality_sanity.
    "educational_value_rubric": {
        "system": (
            "You are a careful teacher who reviews code for a beginners' programming course. "
            "Code has high educational value when a student can learn basic coding concepts "
            "from it on its own: clear, self-contained logic (loops, conditions, functions, "
            "classes, algorithms, data structures) explained by docstrings or comments. It has "
            "low educational value when it is configuration, generated code, data tables, "
            "long lists of constants or imports, or glue code that only makes sense inside a "
            "large project."
        ),
        "user": _VERDICT_USER,
        "examples": [
            (
                "from ._base import BaseResource, RequestOptions\n"
                "from ._types import NOT_GIVEN, NotGiven\n\n"
                '__all__ = ["Batches"]\n\n\n'
                "class Batches(BaseResource):\n"
                "    def create(self, *, file_id: str, endpoint: str,\n"
                "               timeout: float | NotGiven = NOT_GIVEN):\n"
                '        return self._post("/batches", body={"file_id": file_id, '
                '"endpoint": endpoint},\n'
                "                          options=RequestOptions(timeout=timeout))\n\n"
                "    def retrieve(self, batch_id: str):\n"
                '        return self._get(f"/batches/{batch_id}")',
                "Educational value: low",
            ),
            (
                '"""Transposing a matrix: rows become columns.\n\n'
                "A matrix is a list of rows. Element (i, j) of the result is element (j, i) of\n"
                'the input, so each new row is built from one column of the old matrix.\n"""\n\n\n'
                "def transpose(matrix):\n"
                '    """Return the transpose of a matrix given as a list of equal-length rows."""\n'
                "    rows, cols = len(matrix), len(matrix[0])\n"
                "    result = []\n"
                "    for j in range(cols):\n"
                "        result.append([matrix[i][j] for i in range(rows)])\n"
                "    return result\n\n\n"
                "print(transpose([[1, 2, 3], [4, 5, 6]]))  # [[1, 4], [2, 5], [3, 6]]",
                "Educational value: high",
            ),
            (
                "from collections import OrderedDict\n\n"
                "MODEL_NAMES = OrderedDict(\n    [\n"
                '        ("albert", "AlbertModel"),\n        ("bart", "BartModel"),\n'
                '        ("bert", "BertModel"),\n        ("bloom", "BloomModel"),\n'
                '        ("deberta", "DebertaModel"),\n        ("gpt2", "GPT2Model"),\n'
                "    ]\n)\n"
                'MODEL_FOR_PRETRAINING = {"albert": "AlbertForPreTraining", '
                '"bert": "BertForPreTraining"}',
                "Educational value: low",
            ),
            (
                "class BankAccount:\n"
                '    """A bank account that refuses to go below zero."""\n\n'
                "    def __init__(self, owner, balance=0):\n"
                "        self.owner = owner\n"
                "        self.balance = balance\n\n"
                "    def deposit(self, amount):\n"
                '        """Add money; the amount must be positive."""\n'
                "        if amount <= 0:\n"
                '            raise ValueError("deposit must be positive")\n'
                "        self.balance += amount\n\n"
                "    def withdraw(self, amount):\n"
                '        """Take money out, unless that would overdraw the account."""\n'
                "        if amount > self.balance:\n"
                "            return False\n"
                "        self.balance -= amount\n"
                "        return True\n\n\n"
                'account = BankAccount("Ada", 100)\n'
                "print(account.withdraw(30), account.balance)  # True 70",
                "Educational value: high",
            ),
        ],
    },
}


# The code-LLM embedder's "ask" pooling (phi1.llm.embed, ``NAME@ask``): each window is set
# as ``$code`` in the rubric judge's chat (its worked examples left out), the reply is
# started, and the window's embedding is the last token's state: the one the model would
# answer high or low from.
EMBED_ASK: dict[str, str] = {
    "system": ANNOTATION_TEMPLATES["educational_value_rubric"]["system"],
    "user": _VERDICT_USER.replace("${question}", ANNOTATION_QUESTION),
    "reply_start": "Educational value:",
}


def template_fields(text: str) -> set[str]:
    """The ``$field`` names a template uses."""
    names = set()
    for _, named, braced, _ in string.Template.pattern.findall(text):
        if named or braced:
            names.add(named or braced)
    return names


TOPIC_FIELDS = frozenset({"topic", "leaf"})
"""The fields that show a record's drawn topic (exercises' ``${topic}``, textbooks' ``${leaf}``)."""


def shows_topic(templates: Mapping[str, str], *names: str) -> bool:
    """Whether the named templates show the model its drawn topic."""
    return any(template_fields(templates[n]) & TOPIC_FIELDS for n in names)


def load_templates(path: str | os.PathLike | None) -> dict[str, str]:
    """The built-in templates, overridden by name from a YAML mapping file when given."""
    templates = dict(TEMPLATES)
    if path is None:
        return templates
    overrides = read_yaml(path) or {}
    if not isinstance(overrides, dict):
        raise Phi1Error(f"{path}: expected a mapping of template name -> text")
    for name, text in overrides.items():
        if name not in TEMPLATES:
            raise Phi1Error(
                f"{path}: unknown template {name!r}; known: {', '.join(sorted(TEMPLATES))}"
            )
        if not isinstance(text, str):
            raise Phi1Error(f"{path}: template {name!r} must be a string")
        templates[name] = text
    return templates


def check_template(templates: Mapping[str, str], name: str, fields: set[str]) -> None:
    """Refuse a template that uses a field outside ``fields`` (or does not parse)."""
    if name not in templates:
        raise Phi1Error(f"unknown template {name!r}; known: {', '.join(sorted(templates))}")
    text = templates[name]
    try:
        used = template_fields(text)
        string.Template(text).substitute({f: "" for f in used})
    except ValueError as e:
        raise Phi1Error(f"template {name!r}: {e} (write a literal $ as $$)") from None
    missing = sorted(used - fields)
    if missing:
        raise Phi1Error(
            f"template {name!r} uses field(s) {', '.join('$' + m for m in missing)} that "
            f"this stage does not provide; available: {', '.join(sorted(fields))}"
        )


def render(templates: Mapping[str, str], name: str, /, **fields: object) -> str:
    """Fill template ``name``; a missing field raises :class:`Phi1Error` naming it."""
    try:
        return string.Template(templates[name]).substitute(fields)
    except KeyError as e:
        if name not in templates:
            raise Phi1Error(f"unknown template {name!r}") from None
        raise Phi1Error(f"template {name!r}: missing field {e.args[0]!r}") from None


def template_hash(templates: Mapping[str, str], *names: str) -> str:
    """A short hash of the named templates' texts (recorded in meta and fingerprints)."""
    return sha256_text("\n\0".join(templates[n] for n in names))[:12]
