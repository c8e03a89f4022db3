"""Training batches from packed token shards: windows, shuffling, mixing, ranks, resume.

A packed dataset (``phi1 pack``; the format and its reader are :mod:`phi1.model.tokens`) is one
token stream. Window ``j`` is the ``block_size + 1`` tokens starting at ``j * block_size``:
inputs are its first ``block_size`` tokens, targets the last ``block_size`` (the paper's
2048-token sequences sliced from the joined stream).

- A seeded permutation holds out ``val_fraction`` of each dataset's windows for validation;
  the rest are training windows.
- Each dataset is read in a fresh seeded permutation of its training windows every epoch.
- Several datasets (filtered code, textbooks) are blended by weight, deterministically: the
  next sample comes from the dataset furthest behind its share (Megatron's blending rule),
  so every prefix of the stream matches the weights as closely as whole samples allow.
- Global sample ``g`` belongs to step ``g // global_batch``; rank ``r`` of ``W`` takes the
  ``r``-th contiguous slice of each step's samples and cuts it into micro-batches. The samples
  of a step are therefore the same for any world size, so 2 processes and 1 process with 2x
  accumulation see the same batch.
- The position (samples drawn per dataset) is the whole state: :meth:`state_dict` and
  :meth:`load_state_dict` resume exactly.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import torch

from phi1.errors import Phi1Error
from phi1.model.tokens import PackedDataset


def _seed(*parts: object) -> int:
    """A 63-bit seed from any parts (stable across runs and machines, unlike hash())."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _randperm(n: int, *seed_parts: object) -> torch.Tensor:
    g = torch.Generator().manual_seed(_seed(*seed_parts))
    return torch.randperm(n, generator=g, dtype=torch.int64 if n >= 2**31 else torch.int32)


@dataclass
class _Source:
    data: PackedDataset
    train: torch.Tensor  # training window ids, in split order
    val: torch.Tensor  # held-out window ids, sorted
    weight: float


class TokenLoader:
    """Deterministic, resumable, rank-sharded batches blended from packed datasets."""

    def __init__(
        self,
        paths: list[str],
        *,
        block_size: int,
        global_batch: int,
        micro_batch: int,
        weights: list[float] | None = None,
        seed: int = 0,
        val_fraction: float = 0.0,
        rank: int = 0,
        world_size: int = 1,
    ):
        if not paths:
            raise Phi1Error("data: no datasets given (data.paths is empty)")
        if weights is not None and len(weights) != len(paths):
            raise Phi1Error(f"data.weights has {len(weights)} values for {len(paths)} data.paths")
        if weights is not None and (any(w < 0 for w in weights) or sum(weights) <= 0):
            raise Phi1Error(f"data.weights must be >= 0 with a positive sum, got {weights}")
        if not 0 <= val_fraction < 1:
            raise Phi1Error(f"data.val_fraction must be in [0, 1), got {val_fraction}")
        per_rank, rem = divmod(global_batch, world_size)
        if rem or per_rank % micro_batch:
            raise Phi1Error(
                f"train.global_batch={global_batch} must split evenly into {world_size} "
                f"process(es) x micro-batches of {micro_batch}"
            )
        self.block_size = block_size
        self.global_batch = global_batch
        self.micro_batch = micro_batch
        self.accum = per_rank // micro_batch
        self.rank, self.world_size = rank, world_size
        self.seed = seed
        self.sources: list[_Source] = []
        datasets = [PackedDataset(p) for p in paths]
        identities = {str(sorted(d.tokenizer.items())) for d in datasets}
        if len(identities) > 1:
            raise Phi1Error(f"data.paths were packed with different tokenizers: {paths}")
        for d, ds in enumerate(datasets):
            n = (ds.tokens - 1) // block_size
            if n < 1:
                raise Phi1Error(
                    f"{ds.path}: {ds.tokens} tokens, fewer than one sequence of "
                    f"block_size + 1 = {block_size + 1}"
                )
            n_val = math.ceil(n * val_fraction) if val_fraction > 0 else 0
            if n - n_val < 1:
                raise Phi1Error(
                    f"{ds.path}: {n} sequence(s) of {block_size} tokens leave none for "
                    f"training after holding out val_fraction={val_fraction}"
                )
            split = _randperm(n, seed, d, "split")
            val, _ = torch.sort(split[:n_val])
            w = float(weights[d]) if weights is not None else float(n - n_val)
            self.sources.append(_Source(ds, split[n_val:], val, w))
        total = sum(s.weight for s in self.sources)
        self.weights = [s.weight / total for s in self.sources]
        self.samples = 0  # global samples drawn so far
        self.counts = [0] * len(self.sources)  # samples drawn from each dataset
        self._perms: dict[tuple[int, int], torch.Tensor] = {}

    # -- the stream of global samples ------------------------------------------------------

    def _choose(self, n: int) -> list[tuple[int, int]]:
        """The next ``n`` global samples as (dataset, per-dataset sample number); advances."""
        out = []
        for _ in range(n):
            g = self.samples + 1
            d = max(
                range(len(self.weights)),
                key=lambda i: (self.weights[i] * g - self.counts[i], -i),
            )
            out.append((d, self.counts[d]))
            self.counts[d] += 1
            self.samples += 1
        return out

    def _window(self, d: int, k: int) -> int:
        """Window id of dataset ``d``'s ``k``-th training sample (epoch k // n)."""
        src = self.sources[d]
        n = len(src.train)
        epoch, pos = divmod(k, n)
        key = (d, epoch)
        if key not in self._perms:
            # Keep the two latest epochs per dataset: a step can straddle an epoch boundary.
            for old in [x for x in self._perms if x[0] == d and x[1] < epoch - 1]:
                del self._perms[old]
            self._perms[key] = _randperm(n, self.seed, d, "epoch", epoch)
        return int(src.train[self._perms[key][pos]])

    def _read(self, d: int, window: int) -> np.ndarray:
        return self.sources[d].data.read(window * self.block_size, self.block_size + 1)

    def next_batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's micro-batches for the next optimizer step: ``accum`` x (x, y)."""
        chosen = self._choose(self.global_batch)
        per_rank = self.global_batch // self.world_size
        mine = chosen[self.rank * per_rank : (self.rank + 1) * per_rank]
        rows = np.stack([self._read(d, self._window(d, k)) for d, k in mine])
        batch = torch.from_numpy(rows)  # (per_rank, T + 1)
        out = []
        for i in range(0, per_rank, self.micro_batch):
            chunk = batch[i : i + self.micro_batch]
            out.append((chunk[:, :-1].contiguous(), chunk[:, 1:].contiguous()))
        return out

    # -- validation --------------------------------------------------------------------------

    def val_batches(
        self, d: int, max_sequences: int
    ) -> list[tuple[torch.Tensor, torch.Tensor, int]]:
        """This rank's share of the first ``max_sequences`` held-out windows of dataset ``d``:
        (x, y, real rows). Every rank gets the same number of batches (FSDP2 needs the same
        forward calls on all ranks); a rank short of one gets a stand-in with 0 real rows.
        """
        windows = self.sources[d].val[:max_sequences].tolist()
        mine = windows[self.rank :: self.world_size]
        per_rank = -(-len(windows) // self.world_size)
        n_batches = -(-per_rank // self.micro_batch)
        out = []
        for i in range(n_batches):
            chunk = mine[i * self.micro_batch : (i + 1) * self.micro_batch]
            rows = np.stack([self._read(d, w) for w in (chunk or windows[:1])])
            t = torch.from_numpy(rows)
            out.append((t[:, :-1].contiguous(), t[:, 1:].contiguous(), len(chunk)))
        return out

    # -- accounting and resume ---------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """A short unique name per dataset (its directory name, numbered if repeated)."""
        names = [s.data.path.name or str(s.data.path) for s in self.sources]
        return [n if names.count(n) == 1 else f"{n}#{i}" for i, n in enumerate(names)]

    def epochs(self) -> dict[str, float]:
        """Passes made over each dataset's training windows so far."""
        return {
            name: self.counts[d] / len(src.train)
            for d, (name, src) in enumerate(zip(self.names, self.sources, strict=True))
        }

    def state_dict(self) -> dict:
        return {
            "samples": self.samples,
            "counts": list(self.counts),
            "datasets": [s.data.content_sha256 for s in self.sources],
            "weights": self.weights,
            "seed": self.seed,
            "block_size": self.block_size,
            "global_batch": self.global_batch,
        }

    def load_state_dict(self, state: dict) -> None:
        mine = self.state_dict()
        for key in ("datasets", "weights", "seed", "block_size", "global_batch"):
            if state.get(key) != mine[key]:
                raise Phi1Error(
                    f"cannot resume the data position: {key} changed since the checkpoint "
                    f"(was {state.get(key)}, now {mine[key]})"
                )
        self.samples = int(state["samples"])
        self.counts = [int(c) for c in state["counts"]]
        self._perms.clear()
