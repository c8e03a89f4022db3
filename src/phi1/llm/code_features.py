"""Hand-made features of Python code's shape (the ``code`` embedder of
:mod:`phi1.llm.embed`, which also puts two embedders side by side: ``A+B``).

:func:`code_features` reads a text with Python's own tokenizer (up to the first token it
cannot read: a window cut in the middle of a string still gives its features) and gives
:data:`FEATURES`: shares of lines, tokens and characters that tell a documented algorithm
from a table, a configuration or API glue (docstring and comment shares, functions with a
docstring, literal-table lines, imports, control flow, private names...). Each is a share
in [0, 1] or squashed into it; the row is not L2-normalised (``unit = False``). No model,
thousands of files per second.
"""

from __future__ import annotations

import io
import math
import re
import tokenize

import numpy as np

FEATURES = (
    "comment_lines",  # nonblank lines that are only a comment
    "docstring_chars",  # characters in docstrings (a string that is a whole statement)
    "string_chars",  # characters in other string literals
    "number_tokens",  # numbers among the code tokens
    "literal_lines",  # lines of literals and punctuation only: table rows
    "trailing_comma_lines",  # lines ending in a comma: entries of a table or call
    "indented_lines",  # lines inside a block
    "def_density",  # def statements per nonblank line (x 5, capped at 1)
    "documented_defs",  # defs and classes whose body starts with a docstring
    "class_density",  # class statements per nonblank line (x 10, capped)
    "import_lines",  # import and from-import lines
    "control_lines",  # lines opening with if/for/while/return/try/with/...
    "constant_lines",  # top-level UPPER_CASE = ... lines
    "self_lines",  # lines that use self.
    "decorator_lines",  # lines starting with @
    "private_names",  # names starting with an underscore, among names
    "keyword_names",  # Python keywords among names
    "name_length",  # mean identifier length / 20
    "line_length",  # mean nonblank line length / 100
    "long_lines",  # lines over 100 characters
    "max_depth",  # deepest indentation level / 8
    "tokens_per_line",  # code tokens per nonblank line / 20
    "examples",  # prints, doctests, a __main__ block, asserts: code that shows itself run
    "non_ascii",  # non-ASCII characters
    "size",  # log(1 + characters) / log(1 + 100000)
    "readable",  # share of the text the tokenizer read before an error
)
VERSION = 1

_CONTROL = re.compile(
    r"\s*(if|elif|else|for|while|return|yield|try|except|finally|with|break|continue|raise)\b"
)
_CONSTANT = re.compile(r"[A-Z][A-Z0-9_]*\s*(:[^=]+)?=[^=]")
_EXAMPLE = re.compile(r"^\s*(print\(|>>> |assert |if __name__ == )", re.MULTILINE)
_KEYWORDS = frozenset(
    "False None True and as assert async await break class continue def del elif else except "
    "finally for from global if import in is lambda nonlocal not or pass raise return try "
    "while with yield".split()
)
_STATEMENT_START = {tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.NL}


def code_features(text: str) -> np.ndarray:
    """:data:`FEATURES` of one text, float64 in [0, 1]."""
    lines = text.splitlines()
    nonblank = [ln for ln in lines if ln.strip()]
    n = max(len(nonblank), 1)
    chars = max(len(text), 1)
    toks, read_upto = _tokens(text)
    code = [t for t in toks if t.type in (tokenize.NAME, tokenize.NUMBER, tokenize.OP,
                                          tokenize.STRING)]  # fmt: skip
    names = [t.string for t in toks if t.type == tokenize.NAME]
    doc_chars, str_chars, documented, blocks, doc_rows = _strings_and_docs(toks)
    name_lines = {t.start[0] for t in toks if t.type == tokenize.NAME and t.string not in
                  ("True", "False", "None")}  # fmt: skip
    code_lines = {t.start[0] for t in code}
    literal = sum(1 for i in code_lines if i not in name_lines and i not in doc_rows)
    depth = max((len(ln) - len(ln.lstrip(" "))) // 4 for ln in nonblank) if nonblank else 0
    values = [
        sum(ln.lstrip().startswith("#") for ln in nonblank) / n,
        doc_chars / chars,
        str_chars / chars,
        sum(t.type == tokenize.NUMBER for t in code) / max(len(code), 1),
        literal / n,
        sum(ln.rstrip().endswith(",") for ln in nonblank) / n,
        sum(ln[:1] in (" ", "\t") for ln in nonblank) / n,
        min(5 * sum(ln.lstrip().startswith(("def ", "async def ")) for ln in nonblank) / n, 1.0),
        documented / blocks if blocks else 0.0,
        min(10 * sum(ln.lstrip().startswith("class ") for ln in nonblank) / n, 1.0),
        sum(ln.lstrip().startswith(("import ", "from ")) for ln in nonblank) / n,
        sum(bool(_CONTROL.match(ln)) for ln in nonblank) / n,
        sum(bool(_CONSTANT.match(ln)) for ln in nonblank) / n,
        sum("self." in ln for ln in nonblank) / n,
        sum(ln.lstrip().startswith("@") for ln in nonblank) / n,
        sum(x.startswith("_") for x in names) / max(len(names), 1),
        sum(x in _KEYWORDS for x in names) / max(len(names), 1),
        min(np.mean([len(x) for x in names]) / 20, 1.0) if names else 0.0,
        min(np.mean([len(ln) for ln in nonblank]) / 100, 1.0) if nonblank else 0.0,
        sum(len(ln) > 100 for ln in nonblank) / n,
        min(depth / 8, 1.0),
        min(len(code) / n / 20, 1.0),
        min(len(_EXAMPLE.findall(text)) / 5, 1.0),
        sum(ord(c) > 127 for c in text) / chars,
        math.log1p(len(text)) / math.log1p(100_000),
        read_upto / chars,
    ]
    return np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)


def _tokens(text: str) -> tuple[list[tokenize.TokenInfo], int]:
    """The tokens Python's tokenizer reads, up to its first error, and how many characters
    of ``text`` they cover."""
    out: list[tokenize.TokenInfo] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            out.append(tok)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    if not out:
        return out, 0
    lines = text.splitlines(keepends=True)
    row, col = out[-1].end
    return out, min(sum(len(ln) for ln in lines[: row - 1]) + col, len(text))


def _strings_and_docs(toks: list[tokenize.TokenInfo]) -> tuple[int, int, int, int, set[int]]:
    """(docstring chars, other string chars, defs/classes with a docstring, defs/classes,
    the rows where docstrings start)."""
    doc = other = documented = blocks = 0
    rows: set[int] = set()
    prev = tokenize.NEWLINE
    awaiting = False  # inside a def/class header, or just after it: its docstring may follow
    for tok in toks:
        if (
            tok.type == tokenize.NAME
            and tok.string in ("def", "class")
            and prev in (_STATEMENT_START | {tokenize.OP})
        ):
            blocks += 1
            awaiting = True
        elif tok.type == tokenize.STRING:
            if prev in _STATEMENT_START:
                doc += len(tok.string)
                rows.add(tok.start[0])
                documented += awaiting
            else:
                other += len(tok.string)
            awaiting = False
        elif tok.type not in (tokenize.NEWLINE, tokenize.INDENT, tokenize.NL, tokenize.COMMENT):
            if prev in _STATEMENT_START and awaiting and tok.type != tokenize.OP:
                awaiting = False
        if tok.type not in (tokenize.COMMENT,):
            prev = tok.type
    return doc, other, min(documented, blocks), blocks, rows
