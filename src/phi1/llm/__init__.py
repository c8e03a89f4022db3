"""LLM backends behind one interface (OpenAI-compatible HTTP, in-process llama.cpp, phi1 and
transformers checkpoints) and the local GGUF model registry.

``load_llm(spec)`` is the one way in: a registry name (``qwen2.5-coder-0.5b-instruct``), a
GGUF file (``gguf:PATH`` or a path ending in ``.gguf``), comma-separated OpenAI-compatible
base URLs (``http://host:8000/v1,http://host2:8000/v1``), a phi1 checkpoint (``phi1:DIR``)
or a transformers model (``hf:DIR``). A plain directory is a phi1 checkpoint when it holds
one with the codegen tokenizer (:func:`phi1.llm.phi1.is_phi1_checkpoint`), else
transformers'.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
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
    "spec_kind",
]


def spec_kind(spec: str) -> str:
    """Which backend a spec names: ``http``, ``gguf``, ``registry``, ``phi1`` or ``hf``."""
    spec = spec.strip()
    if spec.startswith(("http://", "https://")):
        return "http"
    if spec.startswith("phi1:"):
        return "phi1"
    if spec.startswith("hf:"):
        return "hf"
    if spec.startswith("gguf:") or spec.endswith(".gguf"):
        return "gguf"
    if Path(spec).is_dir():
        from phi1.llm.phi1 import is_phi1_checkpoint

        return "phi1" if is_phi1_checkpoint(spec) else "hf"
    return "registry"


def load_llm(spec: str, **options: Any) -> LLM:
    """Build the backend ``spec`` names; ``options`` go to its constructor.

    llama.cpp options: ``n_ctx``, ``n_threads``, ``top_k``, ``min_p``. HTTP options:
    ``model``, ``api_key_env``, ``concurrency``, ``timeout``, ``max_retries``,
    ``backoff``, ``price_per_million`` ((input, output)). phi1 and transformers
    checkpoints: ``batch_size``. A registry model that is not fetched yet is fetched first
    (see ``phi1 models fetch``).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise Phi1Error(
            "LLM spec is empty; give a model name, gguf:PATH, a checkpoint DIR or an http(s):// URL"
        )
    spec = spec.strip()
    kind = spec_kind(spec)
    if kind == "http":
        from phi1.llm.openai_http import OpenAIHTTPLLM

        urls = [u.strip() for u in spec.split(",") if u.strip()]
        return _build(OpenAIHTTPLLM, spec, urls, options)
    if kind == "phi1":
        from phi1.llm.phi1 import Phi1LLM

        return _build(Phi1LLM, spec, spec.removeprefix("phi1:"), options)
    if kind == "hf":
        from phi1.llm.hf import TransformersLLM

        return _build(TransformersLLM, spec, spec.removeprefix("hf:"), options)

    from phi1.llm.llamacpp import LlamaCppLLM

    if kind == "gguf":
        return _build(LlamaCppLLM, spec, spec.removeprefix("gguf:"), options)

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
    """A registry name (``phi1 models list``), ``gguf:PATH``, comma-separated
    OpenAI-compatible base URLs (``http://host:8000/v1,http://host2:8000/v1``), or a
    checkpoint directory (``phi1:DIR``, ``hf:DIR``, or a plain DIR)."""
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
    batch_size: int = 64
    """phi1 and transformers checkpoints: most sequences decoded at once."""

    def is_http(self) -> bool:
        return spec_kind(self.model) == "http"

    def load(self) -> LLM:
        """The backend, built with the options of its kind."""
        kind = spec_kind(self.model)
        if kind == "http":
            return load_llm(
                self.model,
                model=self.served_model,
                concurrency=self.concurrency,
                timeout=self.timeout,
                max_retries=self.max_retries,
                api_key_env=self.api_key_env,
                price_per_million=self.price_per_million,
            )
        if kind in ("phi1", "hf"):
            return load_llm(self.model, batch_size=self.batch_size)
        return load_llm(self.model, n_ctx=self.n_ctx, n_threads=self.n_threads)
