"""The one LLM interface every stage talks to: generation parameters, completions, usage.

A backend implements :meth:`LLM.stream`, which takes requests (a chat conversation or a
plain prompt, each with its :class:`GenParams`) and yields ``(index, Completion)`` pairs as
they finish, in any order. ``chat`` and ``complete`` are that stream collected in input
order. The resumable runner (:mod:`phi1.llm.runner`) consumes the stream directly, so a
fleet of HTTP servers stays busy while finished records are written.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from phi1.errors import Phi1Error

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": str}
Conversation = list[Message]


@dataclass(frozen=True)
class GenParams:
    """Sampling settings for one request. ``temperature=0`` is greedy decoding."""

    max_tokens: int = 256
    """Most new tokens per sample."""
    temperature: float = 0.0
    """0 = greedy (deterministic); above 0 samples."""
    top_p: float = 1.0
    """Nucleus sampling mass."""
    n: int = 1
    """Samples per request."""
    stop: tuple[str, ...] = ()
    """Strings that end a sample (not included in the text)."""
    seed: int = 0
    """Sampling seed; sample ``i`` of a request uses ``seed + i`` (llama.cpp decodes the
    ``n`` samples of a request together, so with ``n > 1`` a sample also depends on ``n``)."""

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        elif not isinstance(self.stop, tuple):
            object.__setattr__(self, "stop", tuple(self.stop))
        if self.max_tokens < 1:
            raise Phi1Error(f"GenParams.max_tokens must be >= 1, got {self.max_tokens}")
        if self.n < 1:
            raise Phi1Error(f"GenParams.n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise Phi1Error(f"GenParams.temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise Phi1Error(f"GenParams.top_p must be in (0, 1], got {self.top_p}")

    def with_(self, **changes: Any) -> GenParams:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d


@dataclass
class Completion:
    """The answer to one request: ``n`` texts and why each ended ("stop" or "length")."""

    texts: list[str]
    finish_reasons: list[str]
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def text(self) -> str:
        """The first sample (the only one when ``n == 1``)."""
        return self.texts[0]


@dataclass(frozen=True)
class Request:
    """One generation request: exactly one of ``messages`` (chat) or ``prompt`` (completion)."""

    messages: Conversation | None = None
    prompt: str | None = None
    params: GenParams = field(default_factory=GenParams)
    prefill: str = ""
    """The start of the assistant's reply to ``messages``: the model continues it, and the
    completion's texts are what follows it (a function's signature and docstring, so that
    only its body is written). llama.cpp continues it exactly; an OpenAI-compatible server
    gets it as a final assistant message with vLLM's ``continue_final_message``."""

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise Phi1Error("a Request needs exactly one of messages= or prompt=")
        if self.prefill and self.messages is None:
            raise Phi1Error("Request.prefill continues a chat reply: it needs messages=")

    @property
    def is_chat(self) -> bool:
        return self.messages is not None


@dataclass
class Usage:
    """What a backend has spent so far; the runner shows it and writes it to manifests."""

    requests: int = 0
    """Requests answered."""
    retries: int = 0
    """Attempts repeated after a 429, 5xx, timeout, dropped connection or malformed body."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    """In the currency of the configured prices; None when no price is set."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def add(self, completion: Completion, prices: tuple[float, float] | None = None) -> None:
        with self._lock:
            self.requests += 1
            self.prompt_tokens += completion.prompt_tokens
            self.completion_tokens += completion.completion_tokens
            if prices is not None:
                cost = (
                    completion.prompt_tokens * prices[0] + completion.completion_tokens * prices[1]
                ) / 1e6
                self.cost = (self.cost or 0.0) + cost

    def add_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": self.cost,
        }


class LLM(ABC):
    """A text generator behind one interface. Build one with :func:`phi1.llm.load_llm`."""

    def __init__(self) -> None:
        self.usage = Usage()

    @abstractmethod
    def stream(self, requests: Iterable[Request]) -> Iterator[tuple[int, Completion]]:
        """Yield ``(index into requests, Completion)`` as requests finish, in any order.

        Requests are read lazily, so a long iterable is fine. A request that cannot be
        answered (after retries, where the backend retries) raises :class:`Phi1Error`; the
        pairs yielded before it stay valid.
        """

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """What produced the text, for manifests and record metadata (name, hash or URLs)."""

    @property
    def instruct(self) -> bool:
        """Whether this is an instruct model, best asked as a chat (a benchmark asks so unless
        told otherwise). Base models continue a prompt; each backend says which it holds."""
        return False

    def chat(
        self, conversations: Sequence[Conversation], params: GenParams | None = None
    ) -> list[Completion]:
        """Answer each conversation (a list of ``{"role", "content"}`` messages)."""
        params = params or GenParams()
        return self._collect([Request(messages=list(c), params=params) for c in conversations])

    def complete(self, prompts: Sequence[str], params: GenParams | None = None) -> list[Completion]:
        """Continue each prompt as plain text (no chat template)."""
        params = params or GenParams()
        return self._collect([Request(prompt=p, params=params) for p in prompts])

    def _collect(self, requests: list[Request]) -> list[Completion]:
        out: list[Completion | None] = [None] * len(requests)
        for i, completion in self.stream(requests):
            out[i] = completion
        return out  # type: ignore[return-value]

    def close(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release what the backend holds (sessions, model memory)."""

    def __enter__(self) -> LLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_messages(messages: Conversation, where: str = "conversation") -> None:
    """One clear error for a malformed conversation instead of a template traceback."""
    if not isinstance(messages, list) or not messages:
        raise Phi1Error(f"{where}: expected a non-empty list of messages")
    for j, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("content"), str):
            raise Phi1Error(f"{where}: message {j} needs a string 'content'")
        if m.get("role") not in ("system", "user", "assistant"):
            raise Phi1Error(
                f"{where}: message {j} has role {m.get('role')!r}; "
                "expected system, user or assistant"
            )


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to the first of the ``stop`` strings (all of it when none occurs)."""
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return text[: min(cuts)] if cuts else text


class BatchedLLM(LLM):
    """A model that runs in this process and decodes many sequences per call (phi1 and
    transformers checkpoints): consecutive requests that share a :meth:`batch_key` are
    generated together, up to ``batch_size`` sequences (a sampling request counts ``n``, a
    greedy one 1: its copies cost nothing), or one request alone. Requests are read lazily.
    """

    def __init__(self, batch_size: int) -> None:
        super().__init__()
        if batch_size < 1:
            raise Phi1Error(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size

    @abstractmethod
    def batch_key(self, request: Request) -> Any:
        """Requests with equal keys may share one call (raise for one the model cannot take)."""

    @abstractmethod
    def generate(self, requests: list[Request]) -> list[Completion]:
        """The completions of requests that share a batch key, in order."""

    def stream(self, requests: Iterable[Request]) -> Iterator[tuple[int, Completion]]:
        for batch in self._batches(requests):
            indices = [i for i, _ in batch]
            for i, completion in zip(indices, self.generate([r for _, r in batch]), strict=True):
                self.usage.add(completion)
                yield i, completion

    def _batches(self, requests: Iterable[Request]) -> Iterator[list[tuple[int, Request]]]:
        batch: list[tuple[int, Request]] = []
        rows, batch_key = 0, None
        for i, request in enumerate(requests):
            key = self.batch_key(request)
            n = request.params.n if request.params.temperature > 0 else 1
            if batch and (key != batch_key or rows + n > self.batch_size):
                yield batch
                batch, rows = [], 0
            batch.append((i, request))
            rows, batch_key = rows + n, key
            if rows >= self.batch_size:
                yield batch
                batch, rows = [], 0
        if batch:
            yield batch
