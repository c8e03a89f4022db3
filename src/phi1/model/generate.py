"""Batched generation with a KV cache: greedy or temperature/top-p sampling, stop strings.

Two levels:

- :func:`generate_ids`: token-id prompts -> new ids. Prompts of different lengths are
  left-padded in the cache (an attention mask hides the pads; rotary positions start at 0
  for every row), but the prompts are prefilled packed end to end in one row (each seeing
  only itself), so pads cost no compute; the cache is pre-allocated for the whole run,
  only the last position goes through lm_head, identical prompts are prefilled once and
  fanned out, and finished rows leave the batch so they cost nothing more.
- :func:`complete`: text prompts -> ``n`` :class:`Continuation` each, cut before the first
  stop string (checked on the decoded text, so a stop that spans tokens is found).

Every sample has its own ``torch.Generator``, seeded from ``(seed, prompt index, sample
index)``: a sample does not change with the batch size or with the other prompts of the
call (up to the float rounding of the logits, which different batch shapes round
differently). Greedy decoding takes the first maximum (as transformers does).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from phi1.errors import Phi1Error
from phi1.model.model import KVCache

if TYPE_CHECKING:
    from phi1.model.model import Phi
    from phi1.model.tokenizer import Tokenizer


@dataclass
class Continuation:
    """One continuation: its text (cut before a stop string), ids, and why it ended."""

    text: str
    token_ids: list[int] = field(default_factory=list)
    finish_reason: str = "length"
    """"stop" (a stop string), "eos" (the end-of-text token) or "length" (max_new_tokens)."""
    prompt_tokens: int = 0
    """Tokens of the prompt it continues."""


def sample_seed(seed: int, prompt_index: int, sample_index: int) -> int:
    """The generator seed of one sample: independent of batching and of other prompts."""
    digest = hashlib.sha256(f"{seed}:{prompt_index}:{sample_index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def next_tokens(
    logits: torch.Tensor,
    *,
    temperature: float = 0.0,
    top_p: float = 1.0,
    generators: Sequence[torch.Generator] | None = None,
) -> torch.Tensor:
    """Pick one token per row of ``logits`` (B, V): argmax, or a seeded top-p sample."""
    if temperature <= 0.0:
        return logits.argmax(dim=-1)
    if generators is None or len(generators) != logits.size(0):
        raise ValueError("sampling needs one torch.Generator per row")
    probs = torch.softmax(logits.float() / temperature, dim=-1)  # (B, V)
    order = None
    if top_p < 1.0:
        # the nucleus of a trained model is a few tokens: look in the top 256 before sorting all
        k = min(256, probs.size(-1))
        top, order = probs.topk(k, dim=-1)
        if k < probs.size(-1) and bool((top.sum(-1) >= top_p).all()):
            probs = top
        else:
            probs, order = probs.sort(dim=-1, descending=True)
        # drop a token when the ones before it already reach top_p (the first always stays)
        probs = probs.masked_fill(probs.cumsum(-1) - probs > top_p, 0.0)
    cdf = probs.double().cumsum(dim=-1)  # (B, V)
    u = torch.cat([torch.rand(1, generator=g, dtype=torch.float64) for g in generators])
    u = u.to(cdf.device)[:, None] * cdf[:, -1:]  # (B, 1), uniform in [0, total mass)
    choice = (cdf <= u).sum(dim=-1)  # inverse CDF: the first token whose cdf passes u
    # rounding can put u at the total mass; never step past the last token with mass
    last = probs.size(-1) - 1 - (probs > 0).flip(-1).int().argmax(dim=-1)
    choice = torch.minimum(choice, last)
    if order is not None:
        return order.gather(-1, choice[:, None]).squeeze(-1)
    return choice


@torch.no_grad()
def generate_ids(
    model: Phi,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seeds: Sequence[int] | None = None,
    eos_id: int | None = None,
    should_stop: Callable[[int, list[int]], bool] | None = None,
) -> list[tuple[list[int], str]]:
    """New token ids for each prompt, and the finish reason ("eos", "stop", "length").

    ``seeds`` (one per prompt) seed the sampling generators; ``eos_id`` defaults to the
    model's eos token (pass -1 to never stop on it); ``should_stop(row, ids)`` is asked after
    each token of a row and ends it with "stop".
    """
    _check_arguments(model, prompts, max_new_tokens, top_p)
    if not prompts:
        return []
    if max_new_tokens == 0:
        return [([], "length") for _ in prompts]
    generators = None
    if temperature > 0.0:
        if seeds is None or len(seeds) != len(prompts):
            raise ValueError("sampling needs one seed per prompt")
        generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
    rows, logits = _Rows.prefill(model, prompts, max_new_tokens)
    eos = model.config.eos_token_id if eos_id is None else eos_id
    out: list[list[int]] = [[] for _ in prompts]
    reasons = ["length"] * len(prompts)
    active = list(range(len(prompts)))  # prompt index of each batch row
    for step in range(max_new_tokens):
        tok = next_tokens(
            logits,
            temperature=temperature,
            top_p=top_p,
            generators=None if generators is None else [generators[r] for r in active],
        )
        keep: list[int] = []
        for row, (r, t) in enumerate(zip(active, tok.tolist(), strict=True)):
            if t == eos:
                reasons[r] = "eos"
                continue
            out[r].append(t)
            if should_stop is not None and should_stop(r, out[r]):
                reasons[r] = "stop"
                continue
            keep.append(row)
        if not keep or step == max_new_tokens - 1:
            break
        if len(keep) != len(active):
            tok = rows.keep(keep, tok)
            active = [active[k] for k in keep]
        logits = rows.step(model, tok, step)
    return [(o, r) for o, r in zip(out, reasons, strict=True)]


def _check_arguments(
    model: Phi, prompts: Sequence[Sequence[int]], max_new_tokens: int, top_p: float
) -> None:
    if max_new_tokens < 0:
        raise Phi1Error(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if not 0.0 < top_p <= 1.0:
        raise Phi1Error(f"top_p must be in (0, 1], got {top_p}")
    if not prompts:
        return
    if min(len(p) for p in prompts) == 0:
        raise Phi1Error("an empty prompt: give at least one token")
    longest = max(len(p) for p in prompts)
    if longest + max_new_tokens > model.config.block_size:
        raise Phi1Error(
            f"a prompt of {longest} tokens + {max_new_tokens} new tokens exceeds the model's "
            f"context of {model.config.block_size}"
        )


class _Rows:
    """The batch being decoded: its KV cache, attention mask and next rotary positions.

    Prompts of different lengths are left-padded in the cache (the mask hides the pads);
    ``padded`` is False when every prompt has the same length, and then no mask is needed.
    """

    def __init__(self, cache: KVCache, mask: torch.Tensor, lens: Sequence[int], Tp: int):
        self.cache, self.mask, self.Tp = cache, mask, Tp
        self.padded = min(lens) != Tp
        self.next_pos = torch.tensor(lens, device=mask.device)  # (B,) position of the next token

    @classmethod
    def prefill(
        cls, model: Phi, prompts: Sequence[Sequence[int]], max_new_tokens: int
    ) -> tuple[_Rows, torch.Tensor]:
        """The rows after their prompts, and the logits (B, V) of each row's next token.

        Each distinct prompt is prefilled once, then its cache is fanned out to its rows."""
        device = model.embed_tokens.weight.device
        dtype = model.embed_tokens.weight.dtype
        distinct: dict[tuple[int, ...], int] = {}
        inverse = [distinct.setdefault(tuple(p), len(distinct)) for p in prompts]
        uniq = list(distinct)
        lens = [len(p) for p in uniq]
        Tp, total = max(lens), max(lens) + max_new_tokens
        mask = torch.zeros((len(uniq), total), dtype=torch.long)
        for i, n in enumerate(lens):
            mask[i, Tp - n : Tp] = 1
        cache = KVCache(model.config, len(uniq), total, device=device, dtype=dtype)
        if min(lens) != Tp:
            h_last = _prefill_padded(model, uniq, cache, Tp)
        else:
            idx = torch.tensor(uniq, dtype=torch.long, device=device)  # (U, Tp)
            h_last = model.hidden_states(idx, kv_cache=cache)[:, -1]
        logits = model.lm_head(h_last)  # (U, V)
        rows = cls(cache, mask.to(device), lens, Tp)
        if len(uniq) != len(prompts):
            logits = rows.keep(inverse, logits)
        return rows, logits

    def keep(self, keep: Sequence[int], tensor: torch.Tensor) -> torch.Tensor:
        """Keep (or repeat) these rows; ``tensor`` (B, ...) is selected alike and returned."""
        rows = torch.tensor(keep, device=self.mask.device)
        self.cache.select(rows)
        self.mask, self.next_pos = self.mask[rows], self.next_pos[rows]
        return tensor[rows]

    def step(self, model: Phi, tok: torch.Tensor, step: int) -> torch.Tensor:
        """Feed each row its new token ``tok`` (B,); the logits (B, V) of the next one."""
        past = self.Tp + step
        if self.padded:
            self.mask[:, past] = 1
            h = model.hidden_states(
                tok[:, None],
                kv_cache=self.cache,
                position_ids=self.next_pos[:, None],
                attention_mask=self.mask[:, : past + 1],
            )
        else:
            h = model.hidden_states(tok[:, None], kv_cache=self.cache)
        self.next_pos += 1
        return model.lm_head(h[:, -1])


def _prefill_padded(
    model: Phi, prompts: Sequence[tuple[int, ...]], cache: KVCache, Tp: int
) -> torch.Tensor:
    """Prefill prompts of several lengths into ``cache``, left-padded to ``Tp``; the hidden
    state (U, C) of each prompt's last token.

    No work goes into pad positions (prompt lengths vary by a factor of several): the
    prompts are packed end to end into rows of up to PACKED_PREFILL tokens, each attending
    only to itself, and their keys and values are moved into the batch cache, left-padded.
    One long row makes larger matrix products than one per prompt."""
    device, dtype = cache.k.device, cache.k.dtype
    last = []
    for group in _pack(lens=[len(p) for p in prompts], budget=PACKED_PREFILL):
        h, one = _prefill_packed(model, [prompts[i] for i in group], device, dtype)
        start = 0
        for i in group:
            n = len(prompts[i])
            cache.k[:, i, :, Tp - n : Tp] = one.k[:, 0, :, start : start + n]
            cache.v[:, i, :, Tp - n : Tp] = one.v[:, 0, :, start : start + n]
            last.append(h[0, start + n - 1])  # groups are consecutive: prompt order
            start += n
    cache.pos = Tp
    return torch.stack(last)  # (U, C)


PACKED_PREFILL = 1024
"""Most prompt tokens prefilled together in one packed row (a longer prompt goes alone)."""


def _pack(lens: Sequence[int], budget: int) -> list[list[int]]:
    """Consecutive prompt indices in groups of at most ``budget`` tokens (or one prompt)."""
    groups: list[list[int]] = []
    total = 0
    for i, n in enumerate(lens):
        if groups and total + n <= budget:
            groups[-1].append(i)
            total += n
        else:
            groups.append([i])
            total = n
    return groups


def packed_layout(
    lengths: Sequence[int], width: int | None = None, *, device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotary positions (S,) and attention mask (S, S) of sequences packed end to end in one
    row of ``width`` tokens (default: their total): each sequence sees only its own earlier
    tokens, and its positions start at 0. What follows the last sequence (padding) is one
    more sequence, so no query is left with nothing to attend to.

    Pass them as ``position_ids=positions[None]`` and ``attention_mask=mask[None, None]``
    (or stacked, one per row of a batch).
    """
    lens = [int(n) for n in lengths]
    total = sum(lens)
    S = total if width is None else int(width)
    if S < total:
        raise ValueError(f"{total} tokens do not fit a row of {S}")
    if S > total:
        lens.append(S - total)
    sizes = torch.tensor(lens, dtype=torch.long)
    segment = torch.repeat_interleave(torch.arange(len(lens)), sizes).to(device)  # (S,)
    starts = torch.repeat_interleave(sizes.cumsum(0) - sizes, sizes).to(device)
    positions = torch.arange(S, device=device) - starts  # (S,)
    causal = torch.ones(S, S, dtype=torch.bool, device=device).tril()
    return positions, (segment[:, None] == segment[None, :]) & causal


def _prefill_packed(
    model: Phi, prompts: Sequence[Sequence[int]], device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, KVCache]:
    """Run ``prompts`` end to end as one row, each seeing only its own earlier tokens and
    each with rotary positions from 0: the hidden states (1, S, C) and the row's cache."""
    idx = torch.tensor([[t for p in prompts for t in p]], device=device)
    positions, mask = packed_layout([len(p) for p in prompts], device=device)
    one = KVCache(model.config, 1, idx.size(1), device=device, dtype=dtype)
    h = model.hidden_states(
        idx, kv_cache=one, position_ids=positions[None], attention_mask=mask[None, None]
    )
    return h, one


def complete(
    model: Phi,
    prompts: Sequence[str],
    *,
    tokenizer: Tokenizer | None = None,
    n: int = 1,
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    top_p: float = 1.0,
    stop: Sequence[str] = (),
    seed: int = 0,
    seeds: Sequence[int] | None = None,
    batch_size: int = 16,
) -> list[list[Continuation]]:
    """``n`` continuations of each text prompt, each cut before the first stop string.

    Greedy (temperature 0) gives one continuation, copied ``n`` times. Rows are batched
    ``batch_size`` at a time, longest prompts first. Sample ``j`` of prompt ``i`` draws from
    ``sample_seed(seed, i, j)``; with ``seeds`` (one per prompt) from ``sample_seed(seeds[i],
    0, j)`` instead: each prompt then samples as it would alone, whatever shares its call.
    """
    from phi1.model.tokenizer import get_tokenizer

    tok = tokenizer or get_tokenizer()
    if isinstance(prompts, str):
        raise TypeError("complete takes a list of prompts, not one string")
    if n < 1 or batch_size < 1:
        raise Phi1Error(f"n and batch_size must be >= 1, got n={n}, batch_size={batch_size}")
    if seeds is not None and len(seeds) != len(prompts):
        raise Phi1Error(f"{len(seeds)} seeds for {len(prompts)} prompts")
    stops = [s for s in stop if s]
    longest_stop = max((len(s) for s in stops), default=0)
    encoded = tok.encode_batch(list(prompts)) if prompts else []
    per_prompt = 1 if temperature <= 0.0 else n
    rows = [(i, j) for i in range(len(prompts)) for j in range(per_prompt)]
    rows.sort(key=lambda r: -len(encoded[r[0]]))
    results: dict[tuple[int, int], Continuation] = {}
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        checked = [0] * len(chunk)  # characters already searched for stop strings

        def stopped(row: int, ids: list[int], chunk: list = chunk, checked: list = checked) -> bool:
            if not stops:
                return False
            text = tok.decode(ids)
            lo = max(0, checked[row] - longest_stop - 2)  # a cut character may complete later
            checked[row] = len(text)
            return any(s in text[lo:] for s in stops)

        got = generate_ids(
            model,
            [encoded[i] for i, _ in chunk],
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            seeds=[
                sample_seed(seed, i, j) if seeds is None else sample_seed(seeds[i], 0, j)
                for i, j in chunk
            ],
            eos_id=tok.eot_id,
            should_stop=stopped if stops else None,
        )
        for (i, j), (ids, reason) in zip(chunk, got, strict=True):
            text = tok.decode(ids)
            cut = min((k for k in (text.find(s) for s in stops) if k >= 0), default=-1)
            if cut >= 0:
                text, reason = text[:cut], "stop"
            results[i, j] = Continuation(text, ids, reason, prompt_tokens=len(encoded[i]))
    return [
        [Continuation(**vars(results[i, j if per_prompt > 1 else 0])) for j in range(n)]
        for i in range(len(prompts))
    ]
