"""Distribution, applied from outside the model (as torchtitan): DDP or FSDP2, activation
checkpointing, torch.compile, mixed precision.

``torchrun`` sets RANK, WORLD_SIZE and LOCAL_RANK; :func:`init_distributed` reads them and
joins the process group (NCCL on GPUs, gloo on CPUs). Multi-node runs use torchrun's
rendezvous (``--nnodes N --rdzv-backend c10d --rdzv-endpoint HOST:PORT``); nothing here
changes. The model module is never edited: FSDP2's ``fully_shard`` shards each block and
the root in place (parameter names stay the same), DDP wraps the root, activation
checkpointing and compile replace each block's forward.

Gradients are synchronized once per optimizer step (:func:`grad_sync`): DDP's ``no_sync``
on all but the last micro-batch, and the same for FSDP2 through
``set_requires_gradient_sync``. Ranks that wait while rank 0 writes files wait in
:func:`barrier`, on a gloo group of its own with a long timeout (:data:`WRITE_TIMEOUT`).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from phi1.errors import Phi1Error

WRITE_TIMEOUT = datetime.timedelta(hours=2)
"""How long the other ranks wait for rank 0 to write a checkpoint (or copy a model). phi-1's
checkpoint is ~16 GB (fp32 weights and two Adam moments): seconds on a local NVMe disk,
minutes on a slow network file system; NCCL's default timeout, 10 minutes, would abort the
run there, and raising it for every collective would hide real hangs for as long."""

RESHARD_AFTER_FORWARD = False
"""FSDP2 keeps each block's gathered parameters from forward to backward (ZeRO-2 style)
instead of freeing them and gathering them again for backward. For phi-1 (1.3B) on one node
of 8 GPUs the gathered copy is at most the whole model in bf16, 2.6 GB per GPU, next to
~30 GB of activations at micro-batch 8 x 2048; in exchange the backward all-gather goes:
FSDP2's traffic per micro-batch drops from three model-sized collectives to two. With
accumulation, :func:`grad_sync` also keeps them gathered between micro-batches, so a step
has one all-gather and one reduce-scatter however many micro-batches it has (the fp32
unsharded gradients it accumulates meanwhile: 5.2 GB). A model whose bf16 weights do not
fit beside its activations would want True."""


@dataclass
class Dist:
    """Where this process sits: rank, world size, and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    io_group: Any = None
    """A gloo group with :data:`WRITE_TIMEOUT`, for :func:`barrier` (several processes only)."""

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
        enable_tf32()
    elif kind == "cpu":
        dev = torch.device("cpu")
    else:
        raise Phi1Error(f"train.device must be cpu or cuda, got {device!r}")
    io_group = None
    if world > 1:
        if not dist.is_initialized():
            backend = "nccl" if dev.type == "cuda" else "gloo"
            dist.init_process_group(backend, device_id=dev if dev.type == "cuda" else None)
        io_group = dist.new_group(backend="gloo", timeout=WRITE_TIMEOUT)
    return Dist(rank, world, local, dev, io_group)


def enable_tf32() -> None:
    """TF32 tensor cores for the fp32 matmuls that remain on a GPU (fp32 runs, anything
    outside autocast): ~8x the fp32 rate, with a 10-bit mantissa to bf16's 7. Called for
    CUDA devices only (on a CPU "high" may let oneDNN use bf16 for fp32 products)."""
    torch.set_float32_matmul_precision("high")


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
    compile_backend: str | Callable = "inductor",
) -> nn.Module:
    """Apply checkpointing, compile and DDP/FSDP2 to ``model``; return what to call forward on.

    FSDP2 casts parameters to ``dtype`` for compute (its MixedPrecisionPolicy, gradients
    reduced in fp32); the other strategies run under autocast (:func:`autocast`). The
    optimizer must be built after this, on the original module's parameters.
    """
    blocks = list(model.layers)
    wrap_blocks(blocks, checkpointing=activation_checkpointing, compile=compile,
                backend=compile_backend)  # fmt: skip
    if strategy == "none":
        return model
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        ids = [d.device.index] if d.device.type == "cuda" else None
        # The only buffers are the rope tables, computed alike on every rank: nothing to send.
        return DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False)
    if strategy == "fsdp":
        return _fully_shard(model, blocks, d, dtype)
    raise Phi1Error(f"train.parallel must be ddp or fsdp, got {strategy!r}")


def wrap_blocks(
    blocks: list[nn.Module], *, checkpointing: bool, compile: bool, backend: str | Callable
) -> None:
    """Replace each block's forward by itself under activation checkpointing and/or compiled.

    As torchtitan does, compile takes a function that *calls* ``checkpoint``: dynamo then
    traces the checkpointed block into one graph (a higher-order op that recomputes it in
    backward). Compiling the module whose forward *is* ``checkpoint`` compiles nothing,
    because ``checkpoint`` itself is behind dynamo's disable. The blocks share one graph
    (their parameters are graph inputs); FSDP2's hooks, on each block's ``__call__``, stay
    outside it. Module and parameter names do not change.
    """
    for block in blocks:
        body = block.forward
        if checkpointing:
            body = functools.partial(_checkpointed, body)
        if compile:
            body = torch.compile(body, backend=backend)
        block.forward = body


def _checkpointed(forward: Callable[..., torch.Tensor], *args: Any) -> torch.Tensor:
    """``forward(*args)``, its activations recomputed in the backward pass."""
    from torch.utils.checkpoint import checkpoint

    return checkpoint(forward, *args, use_reentrant=False)


def _fully_shard(model: nn.Module, blocks: list[nn.Module], d: Dist, dtype: torch.dtype):
    """FSDP2 on each block, then the root (embedding, final norm, lm_head)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mesh = init_device_mesh(d.device.type, (d.world_size,))
    mp = MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32)
    # Blocks take their inputs as they come: the residual stream is in ``dtype`` already
    # (the embedding's output), and the rope tables must stay fp32, which FSDP2's default
    # (cast every floating input to param_dtype) would make bf16.
    block_mp = MixedPrecisionPolicy(
        param_dtype=dtype, reduce_dtype=torch.float32, cast_forward_inputs=False
    )
    for block in blocks:
        fully_shard(
            block, mesh=mesh, mp_policy=block_mp, reshard_after_forward=RESHARD_AFTER_FORWARD
        )
    fully_shard(model, mesh=mesh, mp_policy=mp, reshard_after_forward=RESHARD_AFTER_FORWARD)
    return model


def reshard(model: nn.Module) -> None:
    """Free FSDP2's gathered parameters (after validation, which has no backward to do it)."""
    from torch.distributed.fsdp import FSDPModule

    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.reshard()


def autocast(device: torch.device, dtype: torch.dtype, strategy: str):
    """Autocast for bf16/fp16 outside FSDP2 (which casts parameters itself)."""
    if dtype == torch.float32 or strategy == "fsdp":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def grad_sync(model: nn.Module, last: bool):
    """Synchronize gradients on the last micro-batch of a step only: the others accumulate
    locally. DDP: its ``no_sync`` context. FSDP2: ``set_requires_gradient_sync`` (FSDP2
    accumulates the unsharded gradients in fp32 meanwhile) and ``set_reshard_after_backward``
    (parameters stay gathered for the next micro-batch), so a step of N micro-batches has
    one reduce-scatter per block, not N."""
    if hasattr(model, "set_requires_gradient_sync"):  # FSDP2
        model.set_requires_gradient_sync(last)
        model.set_reshard_after_backward(last)
        return contextlib.nullcontext()
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
    """Wait for every rank, for up to :data:`WRITE_TIMEOUT`: where the other ranks wait
    while rank 0 writes files. A gloo barrier on the CPU, so no NCCL collective is pending
    (and timing out) meanwhile."""
    if d.enabled:
        dist.barrier(group=d.io_group)
