"""In-process llama.cpp over a GGUF file (``llama-cpp-python``): the embedded default backend.

Chat prompts are rendered with the GGUF's own chat template (``tokenizer.chat_template``,
the same Jinja the model was trained with: ChatML for Qwen2.5 and SmolLM2), never a
guessed built-in format. Generation ends at the model's end-of-generation tokens
(``<|im_end|>``, ``<|endoftext|>``: llama.cpp's EOG set) or a user stop string.

One llama.cpp context answers one request at a time; requests are served in order under a
lock. The model loads on first use, so an unused backend costs nothing and pickles.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.llm.base import LLM, Completion, Request, check_messages


def default_threads() -> int:
    """``$PHI1_LLAMA_THREADS``, else the cores idle now (>= 1).

    "Now" is a quarter-second sample of /proc/stat, not the load average: the load average
    remembers the last minute, so a stage that just used every core (``phi1 run`` filtering
    before writing textbooks) would leave the next one a single thread on an idle machine.
    More threads than idle cores makes llama.cpp many times slower, not a little."""
    env = os.environ.get("PHI1_LLAMA_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise Phi1Error(f"PHI1_LLAMA_THREADS={env!r}: expected a whole number") from None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    idle = _idle_cores(cores)
    if idle is None:
        try:
            idle = cores - os.getloadavg()[0]
        except OSError:
            idle = cores
    return max(1, min(cores, round(idle)))


def _idle_cores(cores: int, interval: float = 0.25) -> float | None:
    """Cores' worth of idle time over ``interval`` seconds (Linux /proc/stat), or None."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return sum(fields[:8]), fields[3] + fields[4]  # total (no guest time), idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(interval)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    online = os.cpu_count() or cores  # /proc/stat counts every online CPU
    return min(cores, (idle1 - idle0) / (total1 - total0) * online)


class LlamaCppLLM(LLM):
    """A GGUF model run in this process.

    Args:
        path: the GGUF file.
        name: a display name (the registry name when loaded by name).
        sha256: the file's hash when known (registry models), for :meth:`identity`.
        n_ctx: context window in tokens (prompt + completion).
        n_threads: CPU threads; default: the cores that are idle now (``$PHI1_LLAMA_THREADS``
            overrides). llama.cpp's threads wait on each other by spinning, so asking for
            more threads than idle cores is many times slower, not a little.
        top_k: top-k cut applied when sampling (0 = off, as the OpenAI API).
        min_p: min-p cut applied when sampling (0 = off, as the OpenAI API).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        name: str | None = None,
        sha256: str | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        top_k: int = 0,
        min_p: float = 0.0,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        if not self.path.is_file():
            raise Phi1Error(f"{self.path}: no such GGUF file")
        self.name = name or self.path.stem
        self.sha256 = sha256
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.top_k = top_k
        self.min_p = min_p
        self._llama: Any = None
        self._template: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_llama"] = state["_template"] = None
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def llama(self) -> Any:
        """The underlying ``llama_cpp.Llama``, loaded on first use."""
        if self._llama is None:
            from llama_cpp import Llama

            try:
                self._llama = Llama(
                    model_path=str(self.path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as e:
                raise Phi1Error(f"{self.path}: llama.cpp could not load it ({e})") from None
        return self._llama

    def identity(self) -> dict[str, Any]:
        return {
            "backend": "llama.cpp",
            "name": self.name,
            "path": str(self.path),
            "sha256": self.sha256,
        }

    @property
    def instruct(self) -> bool:
        """By name: a model named ``*instruct*``, ``*chat*`` or ``*-it*`` is an instruct model."""
        return any(word in self.name.lower() for word in ("instruct", "chat", "-it"))

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        """The prompt text the GGUF's chat template makes of ``messages``."""
        check_messages(messages)
        if self._template is None:
            source = self.llama.metadata.get("tokenizer.chat_template")
            if not source:
                raise Phi1Error(
                    f"{self.path}: the GGUF has no chat template; use complete() for plain text"
                )
            from jinja2.ext import loopcontrols
            from jinja2.sandbox import ImmutableSandboxedEnvironment

            # The settings Hugging Face renders chat templates with.
            env = ImmutableSandboxedEnvironment(
                trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
            )
            self._template = env.from_string(source)
        llama = self.llama

        def raise_exception(message: str) -> None:
            raise Phi1Error(f"{self.name}: chat template refused the conversation: {message}")

        def token_text(token: int) -> str:
            return llama._model.token_get_text(token) if token >= 0 else ""

        return self._template.render(
            messages=messages,
            add_generation_prompt=True,
            bos_token=token_text(llama.token_bos()),
            eos_token=token_text(llama.token_eos()),
            raise_exception=raise_exception,
        )

    def tokenize(self, text: str) -> list[int]:
        """Token ids as the model sees ``text`` (special tokens parsed, BOS as the GGUF says)."""
        llama = self.llama
        add_bos = bool(llama._model.add_bos_token())
        tokens = llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
        bos = llama.token_bos()
        if len(tokens) >= 2 and tokens[0] == bos and tokens[1] == bos:
            tokens = tokens[1:]  # the template wrote BOS itself
        return tokens

    def stream(self, requests: Iterable[Request]) -> Iterator[tuple[int, Completion]]:
        for i, request in enumerate(requests):
            with self._lock:
                completion = self._generate(request)
            self.usage.add(completion)
            yield i, completion

    def _generate(self, request: Request) -> Completion:
        text = (
            self.render_chat(request.messages) if request.is_chat else request.prompt  # type: ignore[arg-type]
        )
        tokens = self.tokenize(text or "")
        p = request.params
        if len(tokens) >= self.n_ctx:
            raise Phi1Error(
                f"{self.name}: prompt of {len(tokens)} tokens does not fit the context window "
                f"(n_ctx={self.n_ctx}); raise n_ctx or shorten the prompt"
            )
        texts, reasons, completion_tokens = [], [], 0
        # llama-cpp-python reuses the KV cache of a shared prefix with the previous request
        # and then evaluates the prompt in other batches, which changes the logits slightly
        # and can flip a greedy choice: the answer would depend on what ran before (a
        # resumed run would differ from an uninterrupted one). Start every request afresh.
        self.llama.reset()
        for k in range(p.n):
            out = self.llama.create_completion(
                prompt=tokens,
                max_tokens=p.max_tokens,
                temperature=p.temperature,
                top_p=p.top_p,
                top_k=self.top_k,
                min_p=self.min_p,
                stop=list(p.stop),
                seed=p.seed + k,
                repeat_penalty=1.0,
            )
            choice = out["choices"][0]
            texts.append(choice["text"])
            reasons.append(choice["finish_reason"] or "stop")
            completion_tokens += out["usage"]["completion_tokens"]
        return Completion(texts, reasons, len(tokens), completion_tokens)

    def close(self) -> None:
        if self._llama is not None:
            self._llama.close()
            self._llama = None
