"""Training checkpoints: the model in the Hugging Face layout, plus everything to resume.

``OUT/checkpoints/step-000100/`` holds what ``phi1.model.checkpoint.save_checkpoint`` writes
(config.json, model.safetensors, tokenizer files: loadable by transformers) and beside it
``optimizer.pt`` (the full AdamW state), ``training_state.pt`` (step, data position, per-rank
RNG states, loss scaler) and ``run.json`` (the resolved settings). A checkpoint is written
to ``.tmp-step-000100`` and renamed when complete, so a kill mid-write never leaves a half
checkpoint under a step name; the oldest are deleted beyond ``keep_last``, except the steps
in ``keep_steps``.

Every rank takes part in gathering full (unsharded) state from FSDP2 or DDP, which lands on
rank 0 only (``cpu_offload``); rank 0 writes, and the others wait in a barrier with a
timeout of hours (:func:`phi1.train.parallelize.barrier`), not NCCL's 10 minutes. On resume
rank 0 alone reads ``optimizer.pt`` (memory-mapped) and broadcasts it tensor by tensor; each
rank keeps its shard, so the full optimizer state (10 GB for phi-1) is never in every rank's
memory. Why not sharded ``torch.distributed.checkpoint`` files: every checkpoint stays one
Hugging Face directory that finetuning, evaluation and transformers load as it is, and that
resumes on any number of processes; writing phi-1's 16 GB from one rank takes seconds to
minutes every 1,000 steps (hours of training), well under 1% of the run.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_optimizer_state_dict,
)

from phi1.errors import Phi1Error
from phi1.io import atomic_write_json, fsync_dir
from phi1.train.parallelize import Dist, barrier

STATE_FILE = "training_state.pt"
OPTIMIZER_FILE = "optimizer.pt"
TRAINING_FILES = (STATE_FILE, OPTIMIZER_FILE)
"""What a checkpoint holds beyond the model (left out of ``final/`` and kept models)."""
_STEP_DIR = re.compile(r"^step-(\d+)$")
_FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def step_dir(root: Path, step: int) -> Path:
    return root / f"step-{step:06d}"


def list_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``root``, oldest first."""
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _STEP_DIR.match(p.name)
        if m and (p / STATE_FILE).exists():
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(root: Path) -> Path | None:
    found = list_checkpoints(root)
    return found[-1][1] if found else None


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def save(
    root: Path,
    step: int,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    d: Dist,
    state: dict[str, Any],
    run: dict[str, Any],
    keep_last: int,
    keep_steps: tuple[int, ...] | list[int] = (),
) -> Path:
    """Write checkpoint ``step`` atomically (collective: every rank calls it); return its dir.

    ``model`` is the unwrapped module (FSDP2 shards it in place; not the DDP wrapper).
    ``state`` holds the caller's resumable state (data position, scaler, counters).
    """
    model_sd = get_model_state_dict(model, options=_FULL)
    optim_sd = get_optimizer_state_dict(model, optimizer, options=_FULL)
    rngs: list[Any] = [None] * d.world_size
    if d.enabled:
        dist.all_gather_object(rngs, rng_state())
    else:
        rngs[0] = rng_state()
    final = step_dir(root, step)
    if d.is_main:
        tmp = root / f".tmp-{final.name}"
        shutil.rmtree(tmp, ignore_errors=True)
        save_model(model.config, model_sd, tmp)
        torch.save(optim_sd, tmp / OPTIMIZER_FILE)
        torch.save({"step": step, "rng": rngs, **state}, tmp / STATE_FILE)
        atomic_write_json(tmp / "run.json", run)
        fsync_dir(tmp)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        fsync_dir(root)
        _rotate(root, keep_last, keep_steps)
    barrier(d)
    return final


def _rotate(root: Path, keep_last: int, keep_steps: tuple[int, ...] | list[int]) -> None:
    """Delete all but the newest ``keep_last`` checkpoints, never one of ``keep_steps``."""
    rotating = [p for step, p in list_checkpoints(root) if step not in keep_steps]
    for old in rotating[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


def save_model(config: Any, state_dict: dict[str, torch.Tensor], path: Path) -> None:
    """Write a full state dict in the Hugging Face layout, tokenizer files included.

    The tokenizer files are the same for every checkpoint: they are written once under
    ``.tokenizer`` beside the checkpoints and copied (building them takes seconds).
    """
    from phi1.model.checkpoint import save_state_dict
    from phi1.model.tokenizer import get_tokenizer

    save_state_dict(config, state_dict, path, tokenizer=False)
    cache = path.parent / ".tokenizer"
    if not cache.is_dir():
        tmp = path.parent / ".tmp-tokenizer"
        shutil.rmtree(tmp, ignore_errors=True)
        get_tokenizer().save(tmp)
        tmp.rename(cache)
    for file in cache.iterdir():
        shutil.copyfile(file, path / file.name)


def load_model_state(path: Path) -> tuple[Any, dict[str, torch.Tensor]]:
    """(config, state dict) of a Hugging Face layout checkpoint, on the CPU, fp32."""
    from phi1.model.checkpoint import load_state_dict

    return load_state_dict(path, dtype=torch.float32)


def load_state(path: Path) -> dict[str, Any]:
    """The training state of checkpoint ``path`` (no optimizer: see :func:`load_optimizer`);
    a damaged file raises naming it."""
    return _load(path, STATE_FILE, weights_only=False)


def _load(path: Path, name: str, **kwargs: Any) -> Any:
    file = path / name
    try:
        return torch.load(file, map_location="cpu", **kwargs)
    except FileNotFoundError:
        raise Phi1Error(f"{file}: missing; {path} is not a complete training checkpoint") from None
    except Exception as e:  # torch raises RuntimeError / EOFError / pickle errors
        raise Phi1Error(
            f"{file}: truncated or damaged checkpoint ({type(e).__name__}: {e})"
        ) from None


def load_optimizer(
    model: nn.Module, optimizer: torch.optim.Optimizer, path: Path, state: dict, d: Dist
) -> None:
    """Load checkpoint ``path``'s optimizer state into ``optimizer`` (sharded again under
    FSDP2; ``state`` is its :func:`load_state`).

    Rank 0 alone reads ``optimizer.pt``, memory-mapped (pages are read as they are sent,
    not all up front); with several processes it broadcasts the state tensor by tensor and
    each rank keeps what it holds (its shard under FSDP2, all of it under DDP). A checkpoint
    written before ``optimizer.pt`` existed carries the state in ``training_state.pt``,
    which every rank has read already.
    """
    if "optimizer" in state:
        optim_sd, broadcast = state["optimizer"], False
    else:
        optim_sd = _load(path, OPTIMIZER_FILE, mmap=True, weights_only=True) if d.is_main else {}
        broadcast = d.enabled
    set_optimizer_state_dict(
        model,
        optimizer,
        optim_sd,
        options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=broadcast),
    )
