"""Distinct, plausible function names: the constraint that gives CodeExercises diversity.

phi-1 made its exercises diverse by constraining function names. Names here are
``verb_noun`` or ``verb_qualifier_noun`` (``count_vowels``, ``find_longest_word``), drawn
without repetition from a seeded shuffle of the whole space (about 67,000 names), so the
first N names of a seed never change when N grows: a resumed or extended run asks for the
same exercises. A user list (one name per line) replaces the generator.
"""

from __future__ import annotations

import keyword
import os
import random
import re

VERBS = (
    "count", "find", "sum", "merge", "filter", "sort", "group", "reverse", "validate", "parse",
    "format", "compute", "normalize", "rotate", "flatten", "split", "compress", "encode",
    "decode", "rank", "score", "balance", "match", "detect", "extract", "remove", "replace",
    "convert", "check", "build", "generate", "simulate", "schedule", "partition",
    "deduplicate", "summarize", "transpose", "interleave", "shift", "clamp",
)  # fmt: skip
QUALIFIERS = (
    "longest", "shortest", "unique", "duplicate", "sorted", "nested", "consecutive",
    "missing", "even", "odd", "weighted", "common", "largest", "smallest", "first", "last",
    "adjacent", "overlapping", "valid", "rare",
)  # fmt: skip
NOUNS = (
    "vowels", "words", "digits", "primes", "intervals", "matrix", "pairs", "palindromes",
    "anagrams", "brackets", "timestamps", "scores", "temperatures", "coordinates", "paths",
    "inventory", "orders", "students", "grades", "sentences", "tokens", "numbers", "fractions",
    "polynomials", "dates", "emails", "passwords", "urls", "files", "records", "transactions",
    "prices", "votes", "rainfall", "heights", "tasks", "meetings", "flights", "routes",
    "edges", "nodes", "trees", "graph", "grid", "islands", "ranges", "segments", "substrings",
    "subsequences", "subarrays", "bits", "bytes", "colors", "cards", "dice", "moves",
    "players", "teams", "books", "recipes", "ingredients", "sensors", "readings", "events",
    "logs", "versions", "tags", "keywords", "queries", "triangles", "rectangles", "circles",
    "points", "vectors", "stacks", "queues", "counters", "histogram", "frequencies",
    "permutations",
)  # fmt: skip

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def name_space() -> list[str]:
    """Every generated name, in a fixed order."""
    names = [f"{v}_{n}" for v in VERBS for n in NOUNS]
    names += [f"{v}_{q}_{n}" for v in VERBS for q in QUALIFIERS for n in NOUNS]
    return names


def function_names(n: int, seed: int, names_file: str | os.PathLike | None = None) -> list[str]:
    """The first ``n`` names of the seeded order (or of the user's file, in its order)."""
    from phi1.errors import Phi1Error

    if names_file is not None:
        names = read_names(names_file)
    else:
        names = name_space()
        random.Random(f"{seed}:function-names").shuffle(names)
    if n > len(names):
        source = names_file or "the generated name space"
        raise Phi1Error(f"{source}: {n} exercises asked for, but only {len(names)} names")
    return names[:n]


def read_names(path: str | os.PathLike) -> list[str]:
    """Distinct Python identifiers, one per line; blank lines and ``#`` comments skipped."""
    from phi1.errors import Phi1Error

    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        raise Phi1Error(f"{path}: {e.strerror}") from None
    names, seen = [], set()
    for lineno, line in enumerate(lines, 1):
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        if not _IDENT.match(name) or keyword.iskeyword(name):
            raise Phi1Error(f"{path}:{lineno}: {name!r} is not a valid Python function name")
        if name in seen:
            raise Phi1Error(f"{path}:{lineno}: duplicate name {name!r}")
        seen.add(name)
        names.append(name)
    return names
