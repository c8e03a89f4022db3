"""Training settings: small dataclasses whose field docstrings become the flags' help.

``phi1 pretrain --train.lr 3e-4`` sets :attr:`TrainSettings.lr`; a recipe's ``pretrain:``
section fills the same fields. Defaults are the paper's pretraining values (shared/PAPER.md);
:class:`FinetuneSettings` carries the finetuning ones. Where the paper is silent (Adam betas
and eps, gradient clipping, the final learning rate), the choice is marked here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class DataSettings:
    """What to train on."""

    paths: list[str] = field(default_factory=list)
    """Packed token directories written by ``phi1 pack`` (e.g. filtered code, textbooks)."""
    weights: list[float] | None = None
    """Sampling weight per path; None: in proportion to size (plain concatenation)."""
    block_size: int = 2048
    """Tokens per training sequence (the paper's 2048)."""
    val_fraction: float = 0.005
    """Share of each dataset's sequences held out for validation loss."""


@dataclass
class TrainSettings:
    """Optimisation (defaults: the paper's pretraining of phi-1-base)."""

    steps: int = 36000
    """Optimizer steps."""
    global_batch: int = 1024
    """Sequences per optimizer step over all processes (1024 x 2048 tokens in the paper)."""
    micro_batch: int | None = None
    """Sequences per process per forward pass; None: global_batch / processes (no
    accumulation). Gradient accumulation fills the rest of the global batch."""
    lr: float = 1e-3
    """Peak learning rate."""
    min_lr: float = 0.0
    """Learning rate at the last step (linear decay; not stated in the paper)."""
    warmup_steps: int = 750
    """Linear warmup steps from 0 to lr."""
    weight_decay: float = 0.1
    """AdamW weight decay, applied to >= 2-D tensors only."""
    beta1: float = 0.9
    """AdamW beta1 (not stated in the paper)."""
    beta2: float = 0.95
    """AdamW beta2 (not stated in the paper)."""
    eps: float = 1e-8
    """AdamW epsilon."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this (0: off; not stated in the paper)."""
    dropout: float = 0.1
    """Attention and residual dropout (0.1 in the paper)."""
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """fp32, bf16 autocast, or fp16 with loss scaling (the paper's); auto: bf16 on a GPU
    that supports it, else fp32."""
    compile: bool = False
    """torch.compile each block (with activation checkpointing too: the checkpointed block
    is one graph)."""
    activation_checkpointing: bool = False
    """Recompute each block's activations in the backward pass (less memory, ~30% slower)."""
    parallel: Literal["auto", "ddp", "fsdp"] = "auto"
    """With several processes: DDP (replicated), or FSDP2 (sharded parameters, gradients
    and optimizer state); auto: fsdp on GPUs, ddp on CPUs."""
    seed: int = 1337
    """Seed of the initial weights, the data order and dropout."""
    device: str | None = None
    """cpu or cuda; None: cuda when available."""


@dataclass
class FinetuneSettings(TrainSettings):
    """Optimisation (defaults: the paper's finetuning of phi-1 on CodeExercises)."""

    steps: int = 6000
    """Optimizer steps."""
    global_batch: int = 256
    """Sequences per optimizer step over all processes (256 x 2048 tokens in the paper)."""
    lr: float = 1e-4
    """Peak learning rate."""
    warmup_steps: int = 50
    """Linear warmup steps from 0 to lr."""
    weight_decay: float = 0.01
    """AdamW weight decay, applied to >= 2-D tensors only."""


@dataclass
class LogSettings:
    """Logging, validation and checkpoints."""

    log_interval: int = 10
    """Steps between metric lines (metrics.jsonl, TensorBoard)."""
    eval_interval: int = 500
    """Steps between validation losses (0: only at the end)."""
    eval_sequences: int = 128
    """Held-out sequences per dataset for each validation loss."""
    benchmarks: list[str] = field(default_factory=list)
    """Benchmarks whose reference solutions' loss given the prompt is measured at step 0 and
    at every validation: ``val_loss/<name>`` (nats/token) and ``val_bpb/<name>`` (bits/byte)
    in metrics.jsonl. humaneval, graded, mbpp:FILE or a HumanEval-format FILE."""
    save_interval: int = 1000
    """Steps between checkpoints (the last step is always saved)."""
    keep_last: int = 3
    """Checkpoints kept; older ones are deleted (not those of ``keep_steps``)."""
    keep_steps: list[int] = field(default_factory=list)
    """Steps whose checkpoints are always saved and never deleted; each one's model is also
    copied to OUT/kept/step-NNNNNN (the paper's phi-1-base is step 24000 of 36000)."""
    tensorboard: bool = True
    """Write TensorBoard events under OUT/tensorboard."""
    progress: bool = True
    """Show a progress bar."""
    peak_flops: float | None = None
    """The device's peak FLOP/s for MFU; None: looked up (GPU) or estimated (CPU)."""
