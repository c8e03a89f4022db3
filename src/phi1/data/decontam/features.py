"""What a record or a benchmark problem looks like to the contamination checks.

Three views of one text, each cheap and deterministic, each a pure function:

- **words and n-grams**: lowercased runs of letters and digits (punctuation, underscores and
  whitespace are separators), so ``has_close_elements(numbers)`` and "has close elements
  numbers" give the same words; n-grams are tuples of n consecutive words.
- **docstrings** of the Python code in the text (module, class and function docstrings), or
  the triple-quoted strings when the code does not parse.
- **normalized AST token strings**: the code's syntax tree in pre-order, one token per node,
  with user identifiers (variables, parameters, functions, classes) reduced to their node
  kind and literals reduced to their type, so renaming, reformatting, comments and reworded
  docstrings leave it unchanged. Builtin names (``len``, ``sorted``) and attribute names
  (``.append``, ``.split``) are kept: they are the API a solution uses, and a renamed copy
  keeps them. Docstrings are dropped from the tree: nearly every exercise and every problem
  has one, so it says nothing about similarity there (the n-gram and embedding checks read
  them). Each token is one character of a Python string, so the string edit distance runs at
  C speed (rapidfuzz's bit-parallel Levenshtein).

The AST match rate of two token strings is ``1 - levenshtein(a, b) / max(len(a), len(b))``,
the paper's "match rate" (section 5).
"""

from __future__ import annotations

import ast
import builtins
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

_WORD = re.compile(r"[^\W_]+")
# ```python ... ``` (or an unlabelled fence) in textbook prose
_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
_TRIPLE = re.compile(r'("""|\'\'\')(.*?)\1', re.DOTALL)
_DOC_OWNERS = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_BUILTINS = frozenset(n for n in dir(builtins) if not n.startswith("_"))


def _fixed_vocabulary() -> dict[str, str]:
    """Tokens with their own code point: AST node kinds, literal types, builtin names."""
    kinds = sorted(
        n
        for n in dir(ast)
        if isinstance(getattr(ast, n), type) and issubclass(getattr(ast, n), ast.AST)
    )
    literals = ["lit:" + t for t in ("str", "bytes", "int", "float", "complex", "bool")]
    literals += ["lit:NoneType", "lit:ellipsis"]
    tokens = kinds + literals + sorted("b:" + n for n in _BUILTINS)
    return {tok: chr(0x100 + i) for i, tok in enumerate(tokens)}


_VOCAB = _fixed_vocabulary()


def _char(token: str) -> str:
    """One code point per token; open-vocabulary tokens (attribute names) are hashed into the
    supplementary planes, where no fixed token lives (a collision merges two rare names)."""
    ch = _VOCAB.get(token)
    if ch is None:
        ch = chr(0x10000 + zlib.crc32(token.encode("utf-8", "surrogatepass")) % 0x100000)
    return ch


# --- words and n-grams -------------------------------------------------------------------


def normalize_words(text: str) -> list[str]:
    """Lowercased runs of letters and digits; everything else separates words."""
    return _WORD.findall(text.lower())


def ngrams(words: Sequence[str], n: int) -> set[tuple[str, ...]]:
    """The set of n-grams (tuples of ``n`` consecutive words); empty when there are fewer."""
    if n < 1:
        raise ValueError(f"n-gram size must be >= 1, got {n}")
    return set(zip(*(words[i:] for i in range(n)), strict=False))


def text_ngrams(texts: Iterable[str], n: int) -> set[tuple[str, ...]]:
    """N-grams of several texts, none spanning two of them (two docstrings, say)."""
    out: set[tuple[str, ...]] = set()
    for text in texts:
        out |= ngrams(normalize_words(text), n)
    return out


# --- code, docstrings, AST ----------------------------------------------------------------


def _parse(code: str) -> ast.Module:
    # ast.parse raises SyntaxError for bad code, ValueError for NUL bytes, RecursionError
    # or MemoryError for absurdly deep nesting: all mean "does not parse" here.
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        line = getattr(e, "lineno", None)
        where = f" (line {line})" if line else ""
        raise SyntaxError(f"{type(e).__name__}: {getattr(e, 'msg', None) or e}{where}") from None


@dataclass
class ParsedCode:
    """The Python found in a text: parsed modules, and why the rest (if any) was not parsed."""

    trees: list[ast.Module] = field(default_factory=list)
    problem: str | None = None
    """Why the text (or one of its fenced blocks) did not parse; None when all of it did."""


def parse_code(text: str) -> ParsedCode:
    """Parse a record's text as Python: the whole text, else each fenced block in it.

    Exercises and code files are Python as a whole; textbook sections are prose with
    fenced blocks. A text with neither gives no trees and the parser's complaint.
    """
    try:
        return ParsedCode([_parse(text)])
    except SyntaxError as whole:
        blocks = _FENCE.findall(text)
        if not blocks:
            return ParsedCode([], f"code does not parse: {whole}")
    out = ParsedCode()
    for i, block in enumerate(blocks):
        try:
            out.trees.append(_parse(block))
        except SyntaxError as e:
            out.problem = out.problem or f"code block {i + 1} does not parse: {e}"
    return out


def docstrings(parsed: ParsedCode, text: str) -> list[str]:
    """Module, class and function docstrings; the triple-quoted strings when nothing parsed."""
    if not parsed.trees:
        return [m.group(2) for m in _TRIPLE.finditer(text)]
    out = []
    for tree in parsed.trees:
        for node in ast.walk(tree):
            if isinstance(node, _DOC_OWNERS):
                doc = ast.get_docstring(node, clean=True)
                if doc:
                    out.append(doc)
    return out


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _token(node: ast.AST) -> str | None:
    if isinstance(node, (ast.Module, ast.expr_context)):
        return None
    if isinstance(node, ast.Name):
        return "b:" + node.id if node.id in _BUILTINS else "Name"
    if isinstance(node, ast.Attribute):
        return "." + node.attr
    if isinstance(node, ast.Constant):
        return "lit:" + type(node.value).__name__
    return type(node).__name__


def ast_tokens(tree: ast.AST) -> list[str]:
    """The normalized pre-order token list of a tree (see the module docstring)."""
    out: list[str] = []
    stack = [tree]
    while stack:  # explicit stack: deep trees must not hit the recursion limit
        node = stack.pop()
        tok = _token(node)
        if tok is not None:
            out.append(tok)
        children = list(ast.iter_child_nodes(node))
        if isinstance(node, _DOC_OWNERS) and node.body and _is_docstring(node.body[0]):
            doc = node.body[0]
            children = [c for c in children if c is not doc]
        stack.extend(reversed(children))
    return out


def encode_tokens(tokens: Iterable[str]) -> str:
    """Token list -> string with one character per token (what the edit distance reads)."""
    return "".join(_char(t) for t in tokens)


def ast_token_string(code: str) -> str:
    """The normalized AST token string of one piece of code, one character per token (what
    :func:`match_rate` compares); raises SyntaxError if it does not parse."""
    return encode_tokens(ast_tokens(_parse(code)))


def ast_units(parsed: ParsedCode, *, max_units: int = 64) -> list[str]:
    """Encoded AST strings to compare against a problem: each parsed module, and each of its
    top-level functions and classes when it has several (a file or textbook section holding a
    copied solution among other code). Empty modules give nothing; at most ``max_units``."""
    units: list[str] = []
    for tree in parsed.trees:
        whole = encode_tokens(ast_tokens(tree))
        if whole:
            units.append(whole)
        defs = [s for s in tree.body if isinstance(s, _DEFS)]
        if len(defs) > 1:
            units.extend(encode_tokens(ast_tokens(d)) for d in defs)
    return units[:max_units]


def match_rate(a: str, b: str) -> float:
    """``1 - edit distance / longer length`` of two encoded AST strings (1.0: identical)."""
    if not a or not b:
        return 0.0
    return float(Levenshtein.normalized_similarity(a, b))


def match_rates(
    problem_units: Sequence[str], units: Sequence[str], *, cutoff: float | None = None
) -> np.ndarray:
    """For each problem AST string, its highest match rate with any of a record's units
    (float64, shape ``(len(problem_units),)``). All pairs run in C (rapidfuzz's cdist); with
    ``cutoff``, rates below it come back as 0.0 and pairs whose lengths alone rule them out
    are skipped."""
    if not units or not problem_units:
        return np.zeros(len(problem_units))
    rates = process.cdist(
        units,
        problem_units,
        scorer=Levenshtein.normalized_similarity,
        score_cutoff=cutoff,
        dtype=np.float64,  # a rate of exactly tau must not round below tau
    )  # (units, problems)
    best = rates.max(axis=0)
    best[[not u for u in problem_units]] = 0.0  # an empty problem string matches nothing
    return best
