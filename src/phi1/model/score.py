"""The log-likelihood of reference text given its context: the early-signal loss.

For each (context ids, target ids) pair, the negative log-likelihood in nats of the target
tokens, each predicted from the context and the target tokens before it; the context is
not scored. Two implementations of the same number:

- :func:`sequence_nll` for phi1 models (plain, or wrapped by DDP / FSDP2): the sequences are
  packed end to end into rows (first fit, longest first), each attending only to itself
  with rotary positions from 0 (:func:`phi1.model.generate.packed_layout`, the model's own
  ``position_ids`` and boolean-mask inputs), and only the scored positions go through
  lm_head (the model's ``logits_at``). Under torchrun every rank scores its share of the
  batches and makes the same number of forward calls (FSDP2 gathers parameters inside each
  one); the caller sums the partial results over ranks.
- :func:`hf_sequence_nll` for any transformers causal LM: right-padded batches of
  sequences of similar length, the logits of the scored positions gathered.

A sequence longer than the model's context is scored in windows: the target in pieces of at
most half the context, each piece after as much of the text before it as fits, so every
target token is scored once and with at least half a context before it.

:class:`ReferenceSet` turns benchmark problems (``phi1.sandbox.problems``) into such pairs:
the prompt is the context, the reference solution the target; per problem it gives nats
per token and bits per byte (of the UTF-8 solution: comparable across tokenizers).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from phi1.errors import Phi1Error
from phi1.model.generate import packed_layout

ROW_TOKENS = 1024
"""Tokens per packed row: a packed row attends over all of its width (masked), so shorter
rows waste less attention; a longer sequence gets a row of its own."""
BATCH_TOKENS = 4096
"""Tokens per forward call."""

Pair = tuple[Sequence[int], Sequence[int]]


@dataclass(frozen=True)
class _Piece:
    """One forward window of a pair: ``ids``, scored from index ``first`` (>= 1) on."""

    pair: int
    ids: tuple[int, ...]
    first: int


def _pieces(pairs: Sequence[Pair], context: int) -> list[_Piece]:
    """Every pair as one window, or several where it is longer than ``context`` tokens."""
    out = []
    for i, (ctx, tgt) in enumerate(pairs):
        if not ctx:
            raise Phi1Error(f"sequence {i}: an empty context (its first token follows nothing)")
        ids = (*ctx, *tgt)
        if len(ids) <= context:
            out.append(_Piece(i, ids, len(ctx)))
            continue
        step = max(1, context // 2)
        for start in range(len(ctx), len(ids), step):
            end = min(start + step, len(ids))
            begin = max(0, end - context)
            out.append(_Piece(i, ids[begin:end], start - begin))
    return out


def _rows(pieces: list[_Piece], width: int) -> list[list[_Piece]]:
    """First-fit decreasing: pieces into rows of ``width`` tokens, in a deterministic order."""
    rows: list[list[_Piece]] = []
    room: list[int] = []
    for piece in sorted(pieces, key=lambda p: (-len(p.ids), p.pair, p.first)):
        n = len(piece.ids)
        for r, free in enumerate(room):
            if n <= free:
                rows[r].append(piece)
                room[r] -= n
                break
        else:
            rows.append([piece])
            room.append(width - n)
    return rows


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "module", model)  # DDP keeps the model as .module


@torch.no_grad()
def sequence_nll(
    model: torch.nn.Module,
    pairs: Sequence[Pair],
    *,
    row_tokens: int = ROW_TOKENS,
    batch_tokens: int = BATCH_TOKENS,
    rank: int = 0,
    world_size: int = 1,
) -> torch.Tensor:
    """The NLL in nats of each pair's target given its context, summed over its tokens:
    float64 (P,) on the model's device. With ``world_size`` > 1 only this rank's share of
    the batches is scored (the rest is 0): sum the results over ranks."""
    config = _unwrap(model).config
    device = next(model.parameters()).device
    pieces = _pieces(pairs, config.block_size)
    total = torch.zeros(len(pairs), dtype=torch.float64, device=device)
    if not pieces:
        return total
    width = max(min(row_tokens, config.block_size), max(len(p.ids) for p in pieces))
    rows = _rows(pieces, width)
    per_call = max(1, batch_tokens // width)
    batches = [rows[i : i + per_call] for i in range(0, len(rows), per_call)]
    mine = batches[rank::world_size]
    calls = math.ceil(len(batches) / world_size)
    for k in range(calls):
        if k < len(mine):
            owner, nll = _packed_nll(model, mine[k], width, device)
            total.index_add_(0, owner, nll)
        else:  # FSDP2 gathers parameters in every call: keep in step with the other ranks
            _packed_nll(model, batches[0], width, device)
    return total


def _packed_nll(
    model: torch.nn.Module, rows: list[list[_Piece]], width: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward call over ``rows``: the pair index and NLL (float64) of each scored token."""
    B = len(rows)
    idx = torch.zeros(B, width, dtype=torch.long)
    target = torch.zeros(B, width, dtype=torch.long)
    owner = torch.zeros(B, width, dtype=torch.long)
    scored = torch.zeros(B, width, dtype=torch.bool)
    layouts = []
    for b, row in enumerate(rows):
        at = 0
        for p in row:
            n = len(p.ids)
            idx[b, at : at + n] = torch.tensor(p.ids)
            # the logits at position j predict token j + 1
            target[b, at + p.first - 1 : at + n - 1] = idx[b, at + p.first : at + n]
            scored[b, at + p.first - 1 : at + n - 1] = True
            owner[b, at : at + n] = p.pair
            at += n
        layouts.append(packed_layout([len(p.ids) for p in row], width, device=device))
    positions = torch.stack([pos for pos, _ in layouts])  # (B, S)
    mask = torch.stack([m for _, m in layouts])[:, None]  # (B, 1, S, S)
    scored = scored.to(device)
    logits = model(
        idx.to(device), position_ids=positions, attention_mask=mask, logits_at=scored
    )  # (N, V)
    nll = F.cross_entropy(logits.float(), target.to(device)[scored], reduction="none")
    return owner.to(device)[scored], nll.double()


@torch.no_grad()
def hf_sequence_nll(
    model: Any, pairs: Sequence[Pair], *, batch_tokens: int = BATCH_TOKENS, pad_id: int = 0
) -> torch.Tensor:
    """:func:`sequence_nll` for a transformers causal LM: right-padded batches of at most
    ``batch_tokens`` tokens (padding included), sequences of similar length together."""
    device = next(model.parameters()).device
    context = getattr(model.config, "max_position_embeddings", None) or 1 << 30
    pieces = sorted(_pieces(pairs, context), key=lambda p: (-len(p.ids), p.pair, p.first))
    total = torch.zeros(len(pairs), dtype=torch.float64, device=device)
    start = 0
    while start < len(pieces):
        width = len(pieces[start].ids)  # the longest of the batch: sorted longest first
        batch = pieces[start : start + max(1, batch_tokens // width)]
        start += len(batch)
        idx = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attn = torch.zeros(len(batch), width, dtype=torch.long)
        for b, p in enumerate(batch):
            idx[b, : len(p.ids)] = torch.tensor(p.ids)
            attn[b, : len(p.ids)] = 1
        logits = model(input_ids=idx.to(device), attention_mask=attn.to(device)).logits
        for b, p in enumerate(batch):
            n = len(p.ids)
            lp = logits[b, p.first - 1 : n - 1].float()  # (n - first, V)
            nll = F.cross_entropy(lp, idx[b, p.first : n].to(device), reduction="sum")
            total[p.pair] += nll.double()
    return total


# --- benchmark problems as scoring inputs ----------------------------------------------------


@dataclass
class ReferenceSet:
    """A benchmark's problems with a reference solution, tokenized for scoring."""

    name: str
    task_ids: list[str]
    pairs: list[tuple[list[int], list[int]]]
    """(prompt ids, solution ids) per problem."""
    nbytes: list[int]
    """UTF-8 bytes of each solution."""
    missing: list[str]
    """Problems without a reference solution (not scored)."""

    def per_problem(self, nll: torch.Tensor) -> list[dict[str, Any]]:
        """One row per problem: task id, tokens, bytes, NLL (nats), nats/token, bits/byte."""
        rows = []
        for task_id, (_, tgt), nbytes, value in zip(
            self.task_ids, self.pairs, self.nbytes, nll.tolist(), strict=True
        ):
            rows.append({
                "task_id": task_id,
                "tokens": len(tgt),
                "bytes": nbytes,
                "nll": value,
                "nats_per_token": value / len(tgt),
                "bits_per_byte": value / math.log(2) / nbytes,
            })  # fmt: skip
        return rows

    def metrics(self, nll: torch.Tensor) -> dict[str, float]:
        """The training rows: ``val_loss/<name>`` (mean nats/token over the problems) and
        ``val_bpb/<name>`` (mean bits/byte)."""
        rows = self.per_problem(nll)
        return {
            f"val_loss/{self.name}": sum(r["nats_per_token"] for r in rows) / len(rows),
            f"val_bpb/{self.name}": sum(r["bits_per_byte"] for r in rows) / len(rows),
        }


def reference_set(name: str, problems: Mapping[str, Any], tokenizer: Any = None) -> ReferenceSet:
    """The problems (``phi1.sandbox.problems.Problem``) that have a reference solution, with
    prompt and solution tokenized apart (as generation sees them: the prompt's tokens, then
    new ones). ``tokenizer``: phi1's (default) or a transformers tokenizer. A benchmark with
    no reference solution at all is an error naming it."""
    have = {t: p for t, p in problems.items() if p.canonical_solution}
    missing = [t for t in problems if t not in have]
    if not have:
        raise Phi1Error(
            f"benchmark {name!r}: none of its {len(problems)} problems has a reference "
            "solution (canonical_solution; MBPP's code); its loss cannot be measured"
        )
    encode_prompts, encode_solutions = _encoders(tokenizer)
    prompts = encode_prompts([p.prompt for p in have.values()])
    solutions = encode_solutions([p.canonical_solution for p in have.values()])
    for task_id, ctx in zip(have, prompts, strict=True):
        if not ctx:
            raise Phi1Error(f"benchmark {name!r}, {task_id}: an empty prompt")
    return ReferenceSet(
        name,
        list(have),
        [(list(c), list(s)) for c, s in zip(prompts, solutions, strict=True)],
        [len(p.canonical_solution.encode("utf-8")) for p in have.values()],
        missing,
    )


def _encoders(tokenizer: Any) -> tuple[Callable, Callable]:
    """(encode prompts, encode solutions) for phi1's tokenizer or a transformers one; the
    prompt gets the tokenizer's special prefix (a BOS) where it adds one, the solution not."""
    if tokenizer is None:
        from phi1.model.tokenizer import get_tokenizer

        tokenizer = get_tokenizer()
    if hasattr(tokenizer, "encode_batch") and hasattr(tokenizer, "eot_id"):  # phi1's
        return tokenizer.encode_batch, tokenizer.encode_batch

    def encode(special: bool) -> Callable:
        return lambda texts: tokenizer(list(texts), add_special_tokens=special)["input_ids"]

    return encode(True), encode(False)
