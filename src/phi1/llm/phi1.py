"""phi1 checkpoints behind the LLM interface, generated with phi1's batched KV cache.

``load_llm("phi1:DIR")``, or a plain directory that holds a ``model_type: phi`` checkpoint
with the codegen-350M-mono tokenizer (:func:`is_phi1_checkpoint`). A phi1 model is a base
model: it continues plain prompts and has no chat template.

Consecutive requests with the same parameters are decoded together, up to ``batch_size``
sequences at a time (:func:`phi1.model.generate.complete`: packed prefill, finished rows
leave the batch). Sample ``j`` of a request draws from its own generator, seeded from
``(params.seed, j)``, so an answer does not depend on the requests decoded beside it (up
to the float rounding of different batch shapes). The model sits on the GPU when there is
one and keeps its stored dtype.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.io import read_json, sha256_file
from phi1.llm.base import BatchedLLM, Completion, Request


def is_phi1_checkpoint(directory: str | os.PathLike) -> bool:
    """Whether ``directory`` holds a phi1 checkpoint: ``model_type: phi`` and the
    codegen-350M-mono tokenizer (any other model directory is transformers')."""
    directory = Path(directory)
    config = directory / "config.json"
    if not config.is_file() or read_json(config).get("model_type") != "phi":
        return False
    if not (directory / "tokenizer.json").is_file():
        return False
    from phi1.model.tokenizer import is_codegen_tokenizer

    return is_codegen_tokenizer(directory)


class Phi1LLM(BatchedLLM):
    """A phi1 checkpoint directory, loaded when the backend is built.

    Args:
        path: the checkpoint directory (``phi1 init``, training's ``final/``, ``phi1
            convert``).
        batch_size: most sequences decoded at once (a sampling request counts ``n``).
    """

    def __init__(self, path: str | os.PathLike, *, batch_size: int = 64) -> None:
        import torch

        from phi1.model.checkpoint import load_checkpoint
        from phi1.model.tokenizer import load_tokenizer

        super().__init__(batch_size)
        self.directory = Path(path)
        self.tokenizer = load_tokenizer(self.directory)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = load_checkpoint(self.directory, device=device)

    def identity(self) -> dict[str, Any]:
        weights = self.directory / "model.safetensors"
        return {
            "backend": "phi1",
            "path": str(self.directory),
            "sha256": sha256_file(weights) if weights.is_file() else None,
        }

    def batch_key(self, request: Request) -> Any:
        if request.is_chat:
            raise Phi1Error(
                f"{self.directory}: a phi1 checkpoint has no chat template; ask with plain "
                "prompts (phi1 eval: --sampling.chat false)"
            )
        return request.params.with_(seed=0)  # one call serves requests that differ in seed

    def generate(self, requests: list[Request]) -> list[Completion]:
        from phi1.model.generate import complete

        p = requests[0].params
        sampling = p.temperature > 0
        rows = complete(
            self.model,
            [r.prompt or "" for r in requests],
            tokenizer=self.tokenizer,
            n=p.n,
            max_new_tokens=p.max_tokens,
            temperature=p.temperature,
            top_p=p.top_p,
            stop=p.stop,
            seeds=[r.params.seed for r in requests],
            batch_size=len(requests) * (p.n if sampling else 1),
        )
        return [
            Completion(
                [c.text for c in row],
                ["length" if c.finish_reason == "length" else "stop" for c in row],
                prompt_tokens=row[0].prompt_tokens,
                completion_tokens=sum(len(c.token_ids) for c in (row if sampling else row[:1])),
            )
            for row in rows
        ]
