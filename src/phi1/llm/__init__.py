"""LLM backends behind one interface (OpenAI-compatible HTTP, in-process llama.cpp) and the
local GGUF model registry.

``load_llm(spec)`` is the one way in: a registry name (``qwen2.5-coder-0.5b-instruct``), a
GGUF file (``gguf:PATH`` or a path ending in ``.gguf``), or comma-separated
OpenAI-compatible base URLs (``http://host:8000/v1,http://host2:8000/v1``).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from phi1.errors import Phi1Error
from phi1.llm.base import LLM, Completion, Conversation, GenParams, Request, Usage

__all__ = [
    "LLM",
    "Completion",
    "Conversation",
    "GenParams",
    "LLMSettings",
    "Request",
    "Usage",
    "load_llm",
]


def load_llm(spec: str, **options: Any) -> LLM:
    """Build the backend ``spec`` names; ``options`` go to its constructor.

    llama.cpp options: ``n_ctx``, ``n_threads``, ``top_k``, ``min_p``. HTTP options:
    ``model``, ``api_key_env``, ``concurrency``, ``timeout``, ``max_retries``,
    ``backoff``, ``price_per_million`` ((input, output)). A registry model that is not
    fetched yet is fetched first (see ``phi1 models fetch``).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise Phi1Error("LLM spec is empty; give a model name, gguf:PATH or an http(s):// URL")
    spec = spec.strip()
    if spec.startswith(("http://", "https://")):
        from phi1.llm.openai_http import OpenAIHTTPLLM

        urls = [u.strip() for u in spec.split(",") if u.strip()]
        return _build(OpenAIHTTPLLM, spec, urls, options)

    from phi1.llm.llamacpp import LlamaCppLLM

    if spec.startswith("gguf:") or spec.endswith(".gguf"):
        path = spec[5:] if spec.startswith("gguf:") else spec
        return _build(LlamaCppLLM, spec, path, options)

    from phi1.llm import registry

    entry = registry.get_entry(spec)
    path = registry.fetch(spec)
    return _build(LlamaCppLLM, spec, path, {"name": entry.name, "sha256": entry.sha256, **options})


def _build(cls: type, spec: str, first: Any, options: dict[str, Any]) -> LLM:
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise Phi1Error(
            f"LLM {spec!r}: unknown option(s) {', '.join(unknown)}; "
            f"{cls.__name__} accepts {', '.join(sorted(allowed - {'path', 'base_urls'}))}"
        )
    return cls(first, **options)


@dataclass
class LLMSettings:
    """Which LLM a stage talks to; recipes fill this as ``llm: {...}``."""

    model: str = "qwen2.5-coder-0.5b-instruct"
    """A registry name (``phi1 models list``), ``gguf:PATH``, or comma-separated
    OpenAI-compatible base URLs (``http://host:8000/v1,http://host2:8000/v1``)."""
    n_ctx: int = 4096
    """llama.cpp: context window in tokens."""
    n_threads: int | None = None
    """llama.cpp: CPU threads (default: the idle cores)."""
    served_model: str | None = None
    """HTTP: the model name to request (default: the first the server lists)."""
    concurrency: int = 64
    """HTTP: most requests in flight."""
    timeout: float = 600.0
    """HTTP: seconds per attempt."""
    max_retries: int = 8
    """HTTP: attempts after the first."""
    api_key_env: str = "OPENAI_API_KEY"
    """HTTP: environment variable holding the API key."""
    price_per_million: tuple[float, float] | None = None
    """HTTP: (input, output) price per million tokens, for the cost figure."""

    def is_http(self) -> bool:
        return self.model.strip().startswith(("http://", "https://"))

    def load(self) -> LLM:
        if self.is_http():
            return load_llm(
                self.model,
                model=self.served_model,
                concurrency=self.concurrency,
                timeout=self.timeout,
                max_retries=self.max_retries,
                api_key_env=self.api_key_env,
                price_per_million=self.price_per_million,
            )
        return load_llm(self.model, n_ctx=self.n_ctx, n_threads=self.n_threads)
