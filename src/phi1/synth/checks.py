"""Checks on model-written text: code blocks, refusals, chat boilerplate, repetition.

Each check returns ``None`` (keep) or a short reason (drop), datatrove-style; the stage
turns a reason into a :class:`~phi1.llm.runner.Reject` kept for audit.
"""

from __future__ import annotations

import ast
import re
import textwrap
import zlib
from dataclasses import dataclass

FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.M | re.S)
PYTHON_TAGS = {"python", "py", "python3", ""}

REFUSAL = re.compile(
    r"\b(I'?m sorry|I am sorry|I apologi[sz]e|I can(?:no|')t (?:help|assist|provide|write|"
    r"do that)|I am unable to|I'm unable to|as an AI\b|as a language model|"
    r"I don't have (?:the ability|access))",
    re.I,
)
# Chat-assistant framing that does not belong in a textbook: dropped from the start/end.
LEAD_IN = re.compile(
    r"^\s*(?:sure|certainly|of course|absolutely|great|okay|ok)\b[^\n]*\n+"
    r"|^\s*(?:here(?:'s| is) (?:a|an|the|your)\b[^\n]*:)\s*\n+",
    re.I,
)
SIGN_OFF = re.compile(
    r"\n+[^\n]*\b(?:I hope this (?:helps|section)|let me know if|feel free to (?:ask|reach)|"
    r"happy coding|if you have any (?:more |further )?questions)\b[^\n]*\s*$",
    re.I,
)


@dataclass
class CodeBlock:
    lang: str
    code: str


def code_blocks(text: str) -> list[CodeBlock]:
    """Fenced code blocks in order (language tag lower-cased, '' when none).

    A block inside a markdown list item carries the item's indentation on every line; it
    is removed (``textwrap.dedent``) so the code is judged as written."""
    return [
        CodeBlock(m.group(1).lower(), textwrap.dedent(m.group(2))) for m in FENCE.finditer(text)
    ]


def python_blocks(text: str) -> list[str]:
    return [b.code for b in code_blocks(text) if b.lang in PYTHON_TAGS]


def unclosed_fence(text: str) -> bool:
    return len(re.findall(r"^[ \t]*```", text, re.M)) % 2 == 1


def strip_doctest_prompts(code: str) -> str:
    """A console-style block (first line ``>>> x``, then output lines) as the source it runs.

    Only a block that starts with a prompt is console-style: ``>>>`` inside a docstring of
    ordinary source stays as it is."""
    if not is_console(code):
        return code
    lines = []
    for line in code.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(">>> ") or stripped == ">>>":
            lines.append(stripped[4:])
        elif stripped.startswith("... ") or stripped == "...":
            lines.append(stripped[4:])
    return "\n".join(lines)


def is_console(code: str) -> bool:
    """A console-style block: its first non-blank line is a ``>>>`` prompt."""
    first = next((line for line in code.splitlines() if line.strip()), "")
    return first.lstrip().startswith(">>>")


# Runs a section's blocks in order in one namespace, as a reader typing them into one Python
# session would: a script block is exec'd; a console block (``>>>`` prompts) is run by
# doctest in the same namespace, so the outputs it shows must be the ones Python prints.
# The first block that raises (or shows a wrong output) fails the program with its index.
_SECTION_HARNESS = """
import doctest as _phi1_doctest

_phi1_ns = {"__name__": "__phi1_section__"}
for _phi1_k, (_phi1_console, _phi1_src) in enumerate(_PHI1_BLOCKS):
    if _phi1_console:
        _phi1_test = _phi1_doctest.DocTestParser().get_doctest(
            _phi1_src, _phi1_ns, f"block {_phi1_k}", None, 0
        )
        _phi1_out = []
        _phi1_runner = _phi1_doctest.DocTestRunner(
            optionflags=_phi1_doctest.ELLIPSIS | _phi1_doctest.NORMALIZE_WHITESPACE,
            verbose=False,
        )
        _phi1_runner.run(_phi1_test, out=_phi1_out.append, clear_globs=False)
        if _phi1_runner.failures:
            _phi1_lines = [  # doctest's report without its rules and traceback frames
                _l.strip() for _l in "".join(_phi1_out).splitlines()
                if _l.strip() and not _l.startswith("*") and "Traceback" not in _l
                and not _l.strip().startswith(("File ", "exec(compile", "^", "Line "))
            ]
            raise AssertionError(
                f"block {_phi1_k}: console output differs: " + " | ".join(_phi1_lines)[:400]
            )
    else:
        try:
            exec(compile(_phi1_src, f"<block {_phi1_k}>", "exec"), _phi1_ns)
        except (Exception, SystemExit) as _phi1_e:
            raise AssertionError(
                f"block {_phi1_k}: {type(_phi1_e).__name__}: {_phi1_e}"[:500]
            ) from None
"""


def section_program(blocks: list[str]) -> str:
    """One program that runs ``blocks`` (Python code blocks of a section) in order in one
    namespace and fails with ``AssertionError: block K: ...`` at the first that raises or,
    for a console block, shows an output Python does not print."""
    listed = ",\n".join(f"    ({is_console(b)!r}, {b!r})" for b in blocks)
    return f"_PHI1_BLOCKS = [\n{listed}\n]\n{_SECTION_HARNESS}"


def parses(code: str, *, console: bool = False) -> str | None:
    """None when ``code`` is valid Python, else the syntax error as 'line N: message'.

    ``console``: accept a console transcript (``>>>`` prompts and their output)."""
    try:
        ast.parse(strip_doctest_prompts(code) if console else code)
    except SyntaxError as e:
        return f"line {e.lineno}: {e.msg}"
    except ValueError as e:  # null bytes
        return str(e)
    return None


def is_refusal(text: str) -> bool:
    """An assistant declining or talking about itself, in the first few lines."""
    head = "\n".join(text.strip().splitlines()[:3])
    return bool(REFUSAL.search(head))


def strip_boilerplate(text: str) -> str:
    """Drop a chat lead-in ("Sure! Here's...:") and a sign-off ("I hope this helps")."""
    text = LEAD_IN.sub("", text, count=1)
    previous = None
    while previous != text:
        previous = text
        text = SIGN_OFF.sub("", text)
    return text.strip()


def compression_ratio(text: str) -> float:
    """zlib size / raw size: degenerate loops of repeated lines compress far below 0.2."""
    raw = text.encode("utf-8")
    return len(zlib.compress(raw, 6)) / max(len(raw), 1)


def word_count(text: str) -> int:
    return len(text.split())


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


def short_detail(text: str, n: int = 400) -> str:
    """A sandbox's detail or output cut to ``n`` characters for a reject's ``detail``."""
    text = re.sub(r"\s+\n", "\n", text or "").strip()
    return text if len(text) <= n else text[: n - 3] + "..."
