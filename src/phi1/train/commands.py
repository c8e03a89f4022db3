"""``phi1 pretrain`` and ``phi1 finetune``: one trainer, two recipes.

Finetuning is pretraining with other settings (:class:`FinetuneSettings`: the paper's
batch 256, lr 1e-4, warmup 50, weight decay 0.01, 6k steps) that starts from a pretrained
model (``--init``). Both run under torchrun unchanged::

    phi1 pretrain --recipe recipes/tiny.yaml --out runs/tiny/pretrain
    torchrun --nproc-per-node 8 -m phi1.cli pretrain --recipe recipes/phi-1.yaml --out ...
"""

from __future__ import annotations

from pathlib import Path

from phi1.errors import Phi1Error
from phi1.train.settings import DataSettings, FinetuneSettings, LogSettings, TrainSettings


def _run(stage: str, out, model, init, data, train, log, resume) -> None:
    from phi1.train.trainer import TrainJob, run

    if out is None:
        raise Phi1Error(f"{stage}: --out DIR is required")
    if not data.paths:
        raise Phi1Error(f"{stage}: no training data; set --data.paths '[DIR, ...]' (phi1 pack)")
    if resume not in (None, "auto") and not Path(resume).exists():
        raise Phi1Error(f"--resume {resume}: no such checkpoint (use auto, or a step-* dir)")
    job = TrainJob(stage, Path(out), model, init, data, train, log, resume)
    summary = run(job)
    if summary:
        val = f", val loss {summary['val_loss']:.4f}" if "val_loss" in summary else ""
        print(
            f"{stage}: {summary['steps']} steps, loss {summary['loss']:.4f}{val}; "
            f"model in {summary['model']}"
        )


def pretrain(
    out: str | None = None,
    model: str = "phi-1",
    init: str | None = None,
    data: DataSettings = DataSettings(),  # noqa: B008 (jsonargparse reads the default)
    train: TrainSettings = TrainSettings(),  # noqa: B008
    log: LogSettings = LogSettings(),  # noqa: B008
    resume: str | None = None,
) -> None:
    """Pretrain a phi-1 model on packed token shards (the paper's phi-1-base stage).

    Args:
        out: Run directory (checkpoints, final model, metrics, TensorBoard, loss.png).
        model: Model preset (phi-1, phi-1-small, tiny, debug) for a fresh start.
        init: Start from this model instead of a preset (a model directory or a run).
        data: Training data.
        train: Optimisation.
        log: Logging, validation and checkpoints.
        resume: ``auto``: continue from the latest checkpoint in OUT (a fresh start if
            none); or a checkpoint directory.
    """
    _run("pretrain", out, model, init, data, train, log, resume)


def finetune(
    init: str | None = None,
    out: str | None = None,
    data: DataSettings = DataSettings(),  # noqa: B008
    train: FinetuneSettings = FinetuneSettings(),  # noqa: B008
    log: LogSettings = LogSettings(),  # noqa: B008
    resume: str | None = None,
) -> None:
    """Finetune a pretrained model (the paper's phi-1 stage, on CodeExercises).

    Args:
        init: The pretrained model: a model directory, or a pretrain run directory (its
            final/ or latest checkpoint).
        out: Run directory (checkpoints, final model, metrics, TensorBoard, loss.png).
        data: Training data.
        train: Optimisation.
        log: Logging, validation and checkpoints.
        resume: ``auto``: continue from the latest checkpoint in OUT (a fresh start if
            none); or a checkpoint directory.
    """
    if init is None:
        raise Phi1Error("finetune: --init MODEL is required (the pretrained model or run)")
    _run("finetune", out, None, init, data, train, log, resume)
