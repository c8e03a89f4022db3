"""A local model read out by probability instead of generation: next-token log-probabilities.

A judge's one sampled answer ("high", "Grade: 8") throws away what it knows: a small model
answers the same to nearly everything, while the probabilities behind that answer still
rank its inputs (G-Eval: the probability-weighted grade separates far better than the
sampled one). :class:`TokenProbe` evaluates a prompt on a llama.cpp model
(:class:`phi1.llm.llamacpp.LlamaCppLLM`) and reads the distribution over the next token:

- :meth:`TokenProbe.logits` after a list of tokens, with a **kept prefix**: the part every
  prompt shares (worked examples, a problem and its reference solution) is evaluated once
  and its KV cache reused while the next prompt starts with it. The prefix is always
  evaluated alone and the rest in one call, so a result does not depend on what was read
  before it (a resumed run agrees with an uninterrupted one);
- :meth:`TokenProbe.option_probs`: the probability of each of several short answers
  written after a prompt ("high"/"low"; the grades "0" to "10"), each answer's tokens as
  the tokenizer writes them there. An answer that is a prefix of another ("1" of "10")
  gets only the mass that does not go on into the longer one.

Used by ``phi1 annotate --annotate.method logprob`` (P(high) against P(low)) and by the
graded judge (the expected grade over 0-10). HTTP backends give no logits here: their
callers read the written answer instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from phi1.errors import Phi1Error


def supports_logprobs(llm: Any) -> bool:
    """Whether ``llm`` is a local llama.cpp model this module can read."""
    return all(hasattr(llm, a) for a in ("llama", "render_chat", "tokenize"))


def logsumexp(values: Sequence[float]) -> float:
    """log(sum(exp(v))) without overflow."""
    m = max(values)
    if m == -math.inf:
        return m
    return m + math.log(math.fsum(math.exp(v - m) for v in values))


class TokenProbe:
    """Next-token log-probabilities of a local llama.cpp model (``what`` names the caller in
    the error raised for any other backend)."""

    def __init__(self, llm: Any, what: str = "reading probabilities") -> None:
        if not supports_logprobs(llm):
            raise Phi1Error(
                f"{what} needs a local llama.cpp model (a registry name or gguf:PATH); "
                "an HTTP or checkpoint backend gives no next-token probabilities here"
            )
        self.llm = llm

    @property
    def n_ctx(self) -> int:
        return int(self.llm.llama.n_ctx())

    def chat_tokens(self, messages: list[dict[str, str]], reply_start: str = "") -> list[int]:
        """The tokens of ``messages`` rendered by the model's chat template, then the start
        of the assistant's reply."""
        return self.llm.tokenize(self.llm.render_chat(messages) + reply_start)

    def prefix_tokens(self, text: str) -> list[int]:
        """Tokens of a text that a longer prompt starts with, less the last two (the text
        that follows may merge with them into other tokens)."""
        return self.llm.tokenize(text)[:-2] if text else []

    def logprobs(self, tokens: list[int], prefix: list[int] = ()) -> Any:
        """log P(next token) after ``tokens`` (a float64 array over the vocabulary).

        ``prefix``: a start that ``tokens`` shares with other prompts; its evaluation is
        kept and reused. Ignored when ``tokens`` does not start with it."""
        import numpy as np

        llama = self.llm.llama
        if len(tokens) >= self.n_ctx:
            raise Phi1Error(
                f"a prompt of {len(tokens)} tokens does not fit the context of "
                f"{self.n_ctx}; raise n_ctx or shorten the prompt"
            )
        prefix = list(prefix)
        if tokens[: len(prefix)] != prefix:
            prefix = []
        cached = (
            llama.n_tokens >= len(prefix) > 0 and list(llama.input_ids[: len(prefix)]) == prefix
        )
        if not cached:
            llama.reset()
            if prefix:
                llama.eval(prefix)  # evaluated alone, always: the same state every time
        llama.n_tokens = len(prefix)
        rest = tokens[len(prefix) :]
        if not rest:  # the logits of the prefix's last token: evaluate it again alone
            llama.n_tokens = len(prefix) - 1
            rest = prefix[-1:]
        llama.eval(rest)
        return self._last_logprobs(np)

    def step(self, token: int, at: int) -> Any:
        """log P(next token) after the last call's first ``at`` tokens and ``token`` (what
        was evaluated after position ``at`` is dropped)."""
        import numpy as np

        self.llm.llama.n_tokens = at
        self.llm.llama.eval([token])
        return self._last_logprobs(np)

    def _last_logprobs(self, np: Any) -> Any:
        llama = self.llm.llama
        logits = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),))
        x = logits.astype(np.float64)
        return x - logsumexp_array(x)

    def first_token_ids(self, words: Sequence[str]) -> list[int]:
        """The first token of each word written alone (``" high"``, ``" High"``), deduplicated."""
        llama = self.llm.llama
        ids = {llama.tokenize(w.encode(), add_bos=False, special=False)[0] for w in words}
        return sorted(ids)

    def option_tails(self, text: str, options: Sequence[str]) -> tuple[list[int], list[list[int]]]:
        """How the tokenizer writes each option after ``text``: ``(the context's tokens,
        each option's tokens after it)``.

        The context is ``text``'s tokens up to where any option changes them (an option
        may merge with the text's last token), then whatever every option starts with:
        ``"Grade:"`` then ``" 7"`` is ``[" ", "7"]`` for Qwen (a digit is a token of its
        own), so the space joins the context and the options are ``[["7"], ...]``."""
        base = self.llm.tokenize(text)
        fulls = [self.llm.tokenize(text + option) for option in options]
        n = min(_common(base, full) for full in fulls)
        tails = [full[n:] for full in fulls]
        shared = _common_prefix(tails)
        while shared and any(len(t) <= shared for t in tails):
            shared -= 1
        return base[:n] + tails[0][:shared], [t[shared:] for t in tails]

    def option_probs(
        self, tokens: list[int], tails: list[list[int]], prefix: list[int] = ()
    ) -> tuple[list[float], float]:
        """``(P(option) normalised over the options, the mass they held)`` after ``tokens``.

        Options of one token are read from one distribution; an option of two tokens
        (``"1","0"``) needs its first token evaluated once more. An option whose tokens
        begin another's keeps only the mass that ends there."""
        first = self.logprobs(tokens, prefix)
        raw = [0.0] * len(tails)
        by_first: dict[int, list[int]] = {}
        for i, tail in enumerate(tails):
            if not tail or len(tail) > 2:
                raise Phi1Error(f"option {i} is {len(tail)} tokens; 1 or 2 are read")
            by_first.setdefault(tail[0], []).append(i)
        for head, members in by_first.items():
            p_head = math.exp(first[head])
            longer = [i for i in members if len(tails[i]) == 2]
            if longer:
                second = self.step(head, at=len(tokens))
                going_on = 0.0
                for i in longer:
                    raw[i] = p_head * math.exp(second[tails[i][1]])
                    going_on += math.exp(second[tails[i][1]])
                for i in members:
                    if len(tails[i]) == 1:
                        raw[i] = p_head * max(0.0, 1.0 - going_on)
            else:
                for i in members:
                    raw[i] = p_head
        mass = math.fsum(raw)
        if mass <= 0:
            return [1.0 / len(tails)] * len(tails), 0.0
        return [r / mass for r in raw], mass


def logsumexp_array(x: Any) -> float:
    """:func:`logsumexp` of a numpy array."""
    import numpy as np

    m = float(np.max(x))
    return m + float(np.log(np.exp(np.asarray(x, dtype=np.float64) - m).sum()))


def _common(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _common_prefix(tails: list[list[int]]) -> int:
    n = min(len(t) for t in tails)
    for k in range(n):
        if len({t[k] for t in tails}) > 1:
            return k
    return n
