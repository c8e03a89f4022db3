"""Any transformers causal LM directory behind the LLM interface (``AutoModelForCausalLM``).

``load_llm("hf:DIR")``, or a plain model directory that is not a phi1 checkpoint. Chat
requests are rendered with the tokenizer's own chat template (a model without one takes
plain prompts only); the model is an instruct model when its tokenizer has a template.

Consecutive requests with the same parameters are decoded together (left-padded), up to
``batch_size`` sequences at a time. transformers samples from the global torch generator,
so a sampling request is decoded alone, after ``torch.manual_seed(params.seed)``: its
samples then depend on its seed only. Greedy requests share a call whatever their seeds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.llm.base import (
    BatchedLLM,
    Completion,
    GenParams,
    Request,
    check_messages,
    cut_at_stop,
)


class TransformersLLM(BatchedLLM):
    """A transformers model directory, loaded when the backend is built.

    Args:
        path: the model directory (weights, config and tokenizer files).
        batch_size: most sequences decoded at once (a sampling request counts ``n``).
    """

    def __init__(self, path: str | os.PathLike, *, batch_size: int = 64) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        super().__init__(batch_size)
        self.directory = Path(path)
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

    @property
    def instruct(self) -> bool:
        """An instruct model: its tokenizer has a chat template."""
        return bool(getattr(self.tokenizer, "chat_template", None))

    def identity(self) -> dict[str, Any]:
        return {"backend": "transformers", "path": str(self.directory)}

    def batch_key(self, request: Request) -> Any:
        params = request.params
        if params.temperature == 0:
            params = params.with_(seed=0)  # greedy: the seed changes nothing
        return request.is_chat, params

    def _text(self, request: Request) -> str:
        if not request.is_chat:
            return request.prompt or ""
        if not self.instruct:
            raise Phi1Error(f"{self.directory}: the tokenizer has no chat template")
        check_messages(request.messages)  # type: ignore[arg-type]
        return self.tokenizer.apply_chat_template(
            list(request.messages), add_generation_prompt=True, tokenize=False
        )

    def generate(self, requests: list[Request]) -> list[Completion]:
        import torch

        tok, p, chat = self.tokenizer, requests[0].params, requests[0].is_chat
        texts = [self._text(r) for r in requests]
        batch = tok(texts, return_tensors="pt", padding=True, add_special_tokens=not chat)
        batch = {k: v.to(self.device) for k, v in batch.items()}
        sampling = p.temperature > 0
        torch.manual_seed(p.seed)
        kwargs: dict[str, Any] = {"do_sample": sampling, "max_new_tokens": p.max_tokens}
        if sampling:
            kwargs.update(temperature=p.temperature, top_p=p.top_p, num_return_sequences=p.n)
        if p.stop:
            kwargs.update(stop_strings=list(p.stop), tokenizer=tok)
        with torch.no_grad():
            out = self.model.generate(**batch, pad_token_id=tok.pad_token_id, **kwargs)
        new = out[:, batch["input_ids"].shape[1] :]  # (rows, T_new): n rows a request
        prompt_tokens = batch["attention_mask"].sum(dim=1).tolist()
        per = p.n if sampling else 1
        return [
            self._completion(new[k * per : (k + 1) * per], p, prompt_tokens[k])
            for k in range(len(requests))
        ]

    def _completion(self, new: Any, p: GenParams, prompt_tokens: int) -> Completion:
        """One request's completion from its rows of new token ids (one row when greedy:
        copied ``n`` times). A row that ends before ``max_tokens`` or at a stop string
        finished with "stop"."""
        tok = self.tokenizer
        raws = tok.batch_decode(new, skip_special_tokens=True)
        used = (new != tok.pad_token_id).sum(dim=1).tolist()
        texts = [cut_at_stop(raw, p.stop) for raw in raws]
        reasons = [
            "stop" if text != raw or n < p.max_tokens else "length"
            for text, raw, n in zip(texts, raws, used, strict=True)
        ]
        copies = 1 if len(texts) == p.n else p.n
        return Completion(texts * copies, reasons * copies, prompt_tokens, sum(used))
