"""Distribution, applied from outside the model (as torchtitan): DDP or FSDP2, activation
checkpointing, torch.compile, mixed precision.

``torchrun`` sets RANK, WORLD_SIZE and LOCAL_RANK; :func:`init_distributed` reads them and
joins the process group (NCCL on GPUs, gloo on CPUs). Multi-node runs use torchrun's
rendezvous (``--nnodes N --rdzv-backend c10d --rdzv-endpoint HOST:PORT``); nothing here
changes. The model module is never edited: FSDP2's ``fully_shard`` shards each block and
the root in place (parameter names stay the same), DDP wraps the root, activation
checkpointing and compile replace each block's forward.
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from phi1.errors import Phi1Error


@dataclass
class Dist:
    """Where this process sits: rank, world size, and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str | None = None) -> Dist:
    """Join the process group when started by torchrun; pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    kind = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if kind.startswith("cuda"):
        if not torch.cuda.is_available():
            raise Phi1Error("train.device=cuda but no CUDA device is available")
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    elif kind == "cpu":
        dev = torch.device("cpu")
    else:
        raise Phi1Error(f"train.device must be cpu or cuda, got {device!r}")
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend, device_id=dev if dev.type == "cuda" else None)
    return Dist(rank, world, local, dev)


def close_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """The compute dtype for ``train.precision`` on this device."""
    if precision == "auto":
        ok = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if ok else torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def resolve_strategy(parallel: str, d: Dist) -> str:
    """none (one process), ddp or fsdp."""
    if not d.enabled:
        return "none"
    if parallel == "auto":
        return "fsdp" if d.device.type == "cuda" else "ddp"
    return parallel


def parallelize(
    model: nn.Module,
    d: Dist,
    *,
    strategy: str,
    dtype: torch.dtype,
    activation_checkpointing: bool = False,
    compile: bool = False,
) -> nn.Module:
    """Apply checkpointing, compile and DDP/FSDP2 to ``model``; return what to call forward on.

    FSDP2 casts parameters to ``dtype`` for compute (its MixedPrecisionPolicy, gradients
    reduced in fp32); the other strategies run under autocast (:func:`autocast`). The
    optimizer must be built after this, on the original module's parameters.
    """
    blocks = list(model.layers)
    if activation_checkpointing:
        from torch.utils.checkpoint import checkpoint

        for block in blocks:
            block.forward = functools.partial(checkpoint, block.forward, use_reentrant=False)
    if compile:
        for block in blocks:
            block.compile()
    if strategy == "none":
        return model
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        ids = [d.device.index] if d.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)
    if strategy == "fsdp":
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mesh = init_device_mesh(d.device.type, (d.world_size,))
        mp = MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32)
        for i, block in enumerate(blocks):
            # The last block's parameters are needed again at once for backward: keep them.
            fully_shard(block, mesh=mesh, mp_policy=mp, reshard_after_forward=i < len(blocks) - 1)
        fully_shard(model, mesh=mesh, mp_policy=mp)
        return model
    raise Phi1Error(f"train.parallel must be ddp or fsdp, got {strategy!r}")


def autocast(device: torch.device, dtype: torch.dtype, strategy: str):
    """Autocast for bf16/fp16 outside FSDP2 (which casts parameters itself)."""
    if dtype == torch.float32 or strategy == "fsdp":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def no_sync(model: nn.Module, last: bool):
    """Skip DDP's gradient all-reduce on all but the last micro-batch of a step."""
    if not last and hasattr(model, "no_sync"):
        return model.no_sync()
    return contextlib.nullcontext()


def all_reduce_mean(t: torch.Tensor, d: Dist) -> torch.Tensor:
    if d.enabled:
        t = t.clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= d.world_size
    return t


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()
