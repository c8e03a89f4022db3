"""The topic tree of Python and computer-science fundamentals, audiences and styles.

phi-1's textbooks drew their diversity from constraints on topic and target audience; the
paper does not publish its list, so this is ours: areas > subjects > leaves (the leaves are
what a section is about). Every draw is made by a seeded ``random.Random`` per job and the
drawn values are written into the record's ``meta``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from phi1.io import sha256_json

TREE: dict[str, dict[str, list[str]]] = {
    "Python basics": {
        "values and variables": [
            "assignment and names",
            "integers and floats",
            "integer division and modulo",
            "operator precedence",
            "augmented assignment",
            "None and truthiness",
        ],
        "strings": [
            "string indexing and slicing",
            "string methods",
            "f-strings and formatting",
            "escape sequences and raw strings",
            "splitting and joining strings",
            "immutability of strings",
            "unicode and encodings",
        ],
        "control flow": [
            "if, elif and else",
            "while loops",
            "for loops over ranges",
            "break and continue",
            "nested loops",
            "the for-else clause",
            "boolean operators and short-circuiting",
            "conditional expressions",
        ],
        "input and output": [
            "printing values",
            "reading input safely",
            "reading and writing text files",
            "the with statement for files",
            "working with CSV files",
            "JSON serialization",
        ],
        "errors": [
            "reading tracebacks",
            "try and except",
            "raising exceptions",
            "custom exception classes",
            "finally and cleanup",
            "assertions as sanity checks",
        ],
    },
    "functions": {
        "defining functions": [
            "parameters and return values",
            "default arguments",
            "keyword arguments",
            "*args and **kwargs",
            "docstrings",
            "pure functions and side effects",
        ],
        "scope": [
            "local and global scope",
            "closures",
            "the nonlocal statement",
            "name shadowing pitfalls",
        ],
        "higher-order functions": [
            "functions as values",
            "lambda expressions",
            "map and filter",
            "sorting with key functions",
            "functools.reduce",
            "decorators",
            "functools.partial",
        ],
        "recursion": [
            "base case and recursive case",
            "recursion on lists",
            "recursion on trees",
            "memoization",
            "recursion depth and iteration",
            "mutual recursion",
        ],
    },
    "data structures": {
        "lists": [
            "creating and indexing lists",
            "list methods",
            "list slicing and copying",
            "list comprehensions",
            "nested lists",
            "aliasing and mutation",
        ],
        "tuples and sets": [
            "tuples and unpacking",
            "named tuples",
            "set operations",
            "frozensets",
            "membership testing cost",
        ],
        "dictionaries": [
            "dictionary basics",
            "iterating over dictionaries",
            "dict comprehensions",
            "counting with dictionaries",
            "defaultdict and Counter",
            "nested dictionaries",
            "dictionaries as lookup tables",
        ],
        "stacks and queues": [
            "stacks with lists",
            "queues with collections.deque",
            "priority queues with heapq",
            "balanced brackets with a stack",
            "monotonic stacks",
        ],
        "linked structures": [
            "singly linked lists",
            "doubly linked lists",
            "reversing a linked list",
            "detecting cycles",
            "binary trees",
            "binary search trees",
            "tree traversals",
            "tries",
        ],
        "hashing": [
            "how hash tables work",
            "collisions and load factor",
            "hashable objects",
            "designing hash keys",
        ],
    },
    "algorithms": {
        "searching": [
            "linear search",
            "binary search",
            "binary search on the answer",
            "searching in rotated arrays",
            "two-pointer technique",
            "sliding windows",
        ],
        "sorting": [
            "bubble sort",
            "insertion sort",
            "selection sort",
            "merge sort",
            "quicksort",
            "counting sort",
            "stability of sorting",
            "sorting custom objects",
        ],
        "complexity": [
            "big-O notation",
            "counting operations",
            "time versus space trade-offs",
            "amortized analysis",
            "best, worst and average case",
        ],
        "dynamic programming": [
            "overlapping subproblems",
            "Fibonacci with tabulation",
            "coin change",
            "longest common subsequence",
            "knapsack problems",
            "edit distance",
            "grid path counting",
        ],
        "greedy algorithms": [
            "interval scheduling",
            "making change greedily",
            "when greedy fails",
            "activity selection",
            "Huffman coding",
        ],
        "graphs": [
            "graph representations",
            "breadth-first search",
            "depth-first search",
            "shortest paths with Dijkstra",
            "topological sorting",
            "connected components",
            "union-find",
            "minimum spanning trees",
            "cycle detection in graphs",
        ],
        "backtracking": [
            "generating permutations",
            "generating subsets",
            "the N-queens puzzle",
            "sudoku solving",
            "pruning the search",
        ],
    },
    "object-oriented programming": {
        "classes": [
            "classes and instances",
            "the __init__ method",
            "instance and class attributes",
            "methods and self",
            "properties",
            "class methods and static methods",
        ],
        "special methods": [
            "__repr__ and __str__",
            "comparison methods",
            "__len__ and __getitem__",
            "operator overloading",
            "context managers with __enter__ and __exit__",
            "making objects iterable",
        ],
        "design": [
            "inheritance",
            "composition over inheritance",
            "polymorphism and duck typing",
            "abstract base classes",
            "encapsulation",
            "dataclasses",
            "immutability in classes",
        ],
    },
    "iteration and generators": {
        "iterators": [
            "the iterator protocol",
            "iter and next",
            "enumerate and zip",
            "itertools.chain and islice",
            "itertools.groupby",
            "itertools combinatorics",
        ],
        "generators": [
            "generator functions",
            "generator expressions",
            "lazy evaluation",
            "pipelines of generators",
            "yield from",
            "infinite sequences",
        ],
    },
    "mathematics in code": {
        "number theory": [
            "divisibility and remainders",
            "greatest common divisor",
            "prime testing",
            "the sieve of Eratosthenes",
            "modular exponentiation",
            "digit manipulation",
            "base conversion",
        ],
        "combinatorics": [
            "counting principles",
            "factorials and binomial coefficients",
            "Pascal's triangle",
            "permutations with repetition",
        ],
        "numerics": [
            "floating point precision",
            "rounding",
            "the decimal and fractions modules",
            "numerical integration",
            "Newton's method",
            "random numbers and simulation",
        ],
        "geometry and matrices": [
            "points and distances",
            "matrix representation with lists",
            "matrix multiplication",
            "transposing and rotating grids",
            "polygon area",
            "bounding boxes",
        ],
        "statistics": [
            "mean, median and mode",
            "variance and standard deviation",
            "histograms",
            "moving averages",
            "percentiles",
        ],
    },
    "text processing": {
        "parsing": [
            "tokenizing text",
            "parsing numbers from strings",
            "simple expression parsers",
            "parsing key-value formats",
            "validating input formats",
        ],
        "regular expressions": [
            "regex basics",
            "groups and captures",
            "regex substitution",
            "when not to use regex",
        ],
        "string algorithms": [
            "palindromes",
            "anagrams",
            "run-length encoding",
            "Caesar and substitution ciphers",
            "string matching",
            "counting words",
            "text wrapping and justification",
        ],
    },
    "software engineering": {
        "testing": [
            "writing unit tests",
            "assert-based testing",
            "doctests",
            "edge cases",
            "test-driven development",
            "property-based thinking",
        ],
        "code quality": [
            "naming things",
            "refactoring long functions",
            "avoiding repetition",
            "type hints",
            "reading other people's code",
            "comments that explain why",
        ],
        "debugging": [
            "debugging with print",
            "using a debugger",
            "off-by-one errors",
            "mutable default arguments",
            "integer overflow and big numbers in Python",
        ],
        "modules and packages": [
            "importing modules",
            "writing your own module",
            "the standard library tour",
            "virtual environments",
            "the __name__ == '__main__' idiom",
        ],
    },
    "systems and concurrency": {
        "files and the operating system": [
            "paths with pathlib",
            "walking directories",
            "environment variables",
            "running subprocesses",
            "command-line arguments",
        ],
        "concurrency": [
            "threads and the GIL",
            "processes with multiprocessing",
            "race conditions and locks",
            "asyncio basics",
            "producer-consumer queues",
        ],
        "performance": [
            "timing code",
            "profiling",
            "choosing the right data structure",
            "caching results",
            "vectorizing with built-ins",
        ],
    },
    "data and the real world": {
        "working with data": [
            "cleaning messy data",
            "grouping and aggregating records",
            "joining two datasets",
            "sorting records by several keys",
            "date and time handling",
            "reading log files",
        ],
        "simulations and games": [
            "simulating dice and cards",
            "cellular automata",
            "tic-tac-toe logic",
            "bank account simulation",
            "inventory management",
            "queue simulations",
        ],
        "state machines": [
            "finite state machines",
            "traffic light controllers",
            "parsing with states",
            "vending machine logic",
        ],
    },
    "computer science foundations": {
        "representation": [
            "binary numbers",
            "bitwise operators",
            "two's complement",
            "characters and ASCII",
            "bit masks and flags",
        ],
        "abstraction": [
            "abstract data types",
            "interfaces and contracts",
            "invariants",
            "preconditions and postconditions",
        ],
        "computation": [
            "algorithms versus programs",
            "correctness proofs with loop invariants",
            "decidability in simple terms",
            "recursion versus iteration",
        ],
    },
}

AUDIENCES: tuple[str, ...] = (
    "a high-school student who has just written their first programs",
    "a first-year computer science undergraduate",
    "a self-taught programmer who knows the basics of Python",
    "a data analyst moving from spreadsheets to Python",
    "a mathematics student learning to program",
    "a coding bootcamp student preparing for interviews",
    "an experienced programmer coming from Java or C",
    "a curious hobbyist who learns best from small examples",
)

STYLES: tuple[str, ...] = (
    "a textbook section: a clear explanation followed by worked examples",
    "a step-by-step tutorial that builds one program gradually",
    "a problem-first lesson: pose a concrete problem, then develop the solution",
    "a comparison of two approaches, with the trade-offs made explicit",
    "a lesson built around common mistakes and how to fix them",
    "lecture notes with short definitions, examples and a short exercise with its solution",
)


@dataclass(frozen=True)
class Topic:
    area: str
    subject: str
    leaf: str


def leaves() -> list[Topic]:
    """Every leaf of the tree, in a fixed order."""
    return [
        Topic(area, subject, leaf)
        for area, subjects in TREE.items()
        for subject, items in subjects.items()
        for leaf in items
    ]


def tree_identity() -> str:
    """A hash of the tree, audiences and styles (part of a run's fingerprint)."""
    return sha256_json({"tree": TREE, "audiences": AUDIENCES, "styles": STYLES})[:16]


def draw(rng: random.Random, topics: list[Topic], *choices: tuple[str, ...]) -> tuple:
    """One uniform draw of a topic and one item from each of ``choices``."""
    return (rng.choice(topics), *(rng.choice(c) for c in choices))
