"""Python values as source text and back, for test inputs and expected outputs.

:func:`to_source` writes a value built of None, bools, ints, floats (``inf``, ``nan``
included), strings, bytes, lists, tuples, dicts and sets as Python source whose text does
not depend on the process (a set's elements are written in a fixed order; ``repr`` writes
them in hash order, which changes from run to run). :func:`from_source` reads it back
without running code (``ast.literal_eval`` plus the names ``inf`` and ``nan``). Anything
else raises :class:`Unrepresentable`.
"""

from __future__ import annotations

import ast
import math
from typing import Any


class Unrepresentable(ValueError):
    """A value that has no literal source form (an object, a function, a generator)."""


def to_source(value: Any) -> str:
    """``value`` as Python source; ``from_source(to_source(v)) == v`` (nan aside)."""
    if value is None or isinstance(value, (bool, int, str, bytes)):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(to_source(x) for x in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(to_source(x) for x in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{to_source(k)}: {to_source(v)}" for k, v in value.items()) + "}"
    if isinstance(value, set):
        inner = ", ".join(sorted(to_source(x) for x in value))
        return "{" + inner + "}" if value else "set()"
    raise Unrepresentable(type(value).__name__)


class _Names(ast.NodeTransformer):
    """``inf`` and ``nan`` become constants, so that literal_eval accepts them."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in ("inf", "nan"):
            return ast.copy_location(ast.Constant(float(node.id)), node)
        return node


def from_source(text: str) -> Any:
    """The value of a literal (what :func:`to_source` or ``repr`` writes); no code runs."""
    try:
        tree = _Names().visit(ast.parse(text.strip(), mode="eval"))
        return ast.literal_eval(tree.body)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError) as e:
        raise Unrepresentable(f"not a literal: {text[:80]!r} ({e})") from None


def literal_node(node: ast.AST) -> Any:
    """The value of an expression node that is a literal, else :class:`Unrepresentable`."""
    try:
        return ast.literal_eval(_Names().visit(node))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as e:
        raise Unrepresentable(str(e)) from None
