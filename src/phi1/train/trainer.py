"""The one training loop behind ``phi1 pretrain`` and ``phi1 finetune``.

Per optimizer step: ``accum`` micro-batches forward and backward (loss divided by ``accum``,
gradients synchronized only on the last: DDP's all-reduce, FSDP2's reduce-scatter), the
global gradient norm clipped, AdamW with the
learning rate of :func:`phi1.train.optim.lr_at`. A non-finite loss or gradient norm stops
the run before the update, so the last checkpoint is always a good one (with fp16 the loss
scaler skips overflowing steps instead, as mixed precision expects).

``OUT`` receives ``checkpoints/step-NNNNNN/`` (see :mod:`phi1.train.state`),
``final/`` (the last model alone, Hugging Face layout: what finetuning and evaluation load),
``kept/step-NNNNNN/`` (the model of each of ``log.keep_steps``, the same layout),
``metrics.jsonl``, ``tensorboard/``, ``loss.png`` and ``run.json``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from phi1.errors import Phi1Error
from phi1.io import atomic_write_json, read_json
from phi1.train import state as ckpt
from phi1.train.benchmark_loss import BenchmarkLoss
from phi1.train.loader import TokenLoader, _seed
from phi1.train.metrics import MetricsLog, plot_loss
from phi1.train.optim import lr_at, peak_flops
from phi1.train.parallelize import (
    Dist,
    all_reduce_mean,
    autocast,
    barrier,
    close_distributed,
    grad_sync,
    init_distributed,
    parallelize,
    reshard,
    resolve_precision,
    resolve_strategy,
)
from phi1.train.settings import DataSettings, LogSettings, TrainSettings


@dataclass
class TrainJob:
    """One training run: a stage name and its resolved settings."""

    stage: str
    out: Path
    model: str | None
    init: str | None
    data: DataSettings
    train: TrainSettings
    log: LogSettings
    resume: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "out": str(self.out),
            "model": self.model,
            "init": self.init,
            "data": dataclasses.asdict(self.data),
            "train": dataclasses.asdict(self.train),
            "log": dataclasses.asdict(self.log),
        }


def resolve_model_dir(path: str) -> Path:
    """A model directory from ``path``: itself, its ``final/``, or its latest checkpoint."""
    p = Path(path)
    if (p / "config.json").exists():
        return p
    if (p / "final" / "config.json").exists():
        return p / "final"
    latest = ckpt.latest_checkpoint(p / "checkpoints")
    if latest is not None:
        return latest
    raise Phi1Error(f"{p}: no model here (no config.json, final/ or checkpoints/step-*)")


def _resume_point(job: TrainJob) -> Path | None:
    root = job.out / "checkpoints"
    if job.resume is None:
        if ckpt.list_checkpoints(root):
            raise Phi1Error(
                f"{job.out} already holds checkpoints; pass --resume auto to continue "
                "that run, or choose a new --out"
            )
        return None
    if job.resume == "auto":
        return ckpt.latest_checkpoint(root)
    path = Path(job.resume)
    if not (path / ckpt.STATE_FILE).exists():
        raise Phi1Error(f"{path}: not a training checkpoint (no {ckpt.STATE_FILE})")
    return path


def _check_settings(job: TrainJob) -> None:
    t = job.train
    for name in ("steps", "global_batch"):
        if getattr(t, name) <= 0:
            raise Phi1Error(f"train.{name} must be positive, got {getattr(t, name)}")
    if t.micro_batch is not None and t.micro_batch <= 0:
        raise Phi1Error(f"train.micro_batch must be positive, got {t.micro_batch}")
    if t.warmup_steps < 0 or t.lr <= 0 or t.grad_clip < 0:
        raise Phi1Error("train.lr must be positive; warmup_steps and grad_clip must be >= 0")
    if not 0 <= t.dropout < 1:
        raise Phi1Error(f"train.dropout must be in [0, 1), got {t.dropout}")
    if job.data.block_size <= 0:
        raise Phi1Error(f"data.block_size must be positive, got {job.data.block_size}")
    if job.log.keep_last < 1:
        raise Phi1Error(f"log.keep_last must be >= 1, got {job.log.keep_last}")
    for step in job.log.keep_steps:
        if not 1 <= step <= t.steps:
            raise Phi1Error(
                f"log.keep_steps: step {step} is not in this run's 1..{t.steps} (train.steps)"
            )


def run(job: TrainJob) -> dict[str, Any]:
    """Train; return a summary (steps, last loss, val loss, tokens/s, where the model is)."""
    _check_settings(job)
    d = init_distributed(job.train.device)
    try:
        return _Trainer(job, d).fit()
    finally:
        close_distributed()


def _model_source(job: TrainJob, resume_from: Path | None) -> tuple[Any, dict | None]:
    """The model's config and weights: from the checkpoint being resumed, the init model, or
    a preset (no weights), with the run's dropout; its context must hold the data's blocks."""
    source = resume_from or (resolve_model_dir(job.init) if job.init else None)
    if source is not None:
        config, weights = ckpt.load_model_state(source)
    else:
        from phi1.model.config import ModelConfig

        config, weights = ModelConfig.from_name(job.model or "phi-1"), None
    config = config.replace(attn_pdrop=job.train.dropout, resid_pdrop=job.train.dropout)
    if job.data.block_size > config.block_size:
        raise Phi1Error(
            f"data.block_size={job.data.block_size} exceeds the model's context {config.block_size}"
        )
    return config, weights


def _build_model(config: Any, weights: dict | None, device: torch.device, seed: int):
    """The model on ``device``: ``weights``, or a seeded initialisation (the same on every
    rank, which FSDP2 relies on), drawn on the device without a CPU copy first."""
    from phi1.model.model import Phi

    with torch.device("meta"):
        model = Phi(config)
    if weights is not None:
        model.load_state_dict({k: v.to(device) for k, v in weights.items()}, assign=True)
    else:
        model.to_empty(device=device)
        model.init_weights(generator=torch.Generator(device).manual_seed(seed))
    model.reset_rope(device)
    return model.train()


class _Trainer:
    def __init__(self, job: TrainJob, d: Dist):
        self.job, self.d = job, d
        t, data = job.train, job.data
        self.out = job.out
        self.root = self.out / "checkpoints"
        resume_from = _resume_point(job)
        state = ckpt.load_state(resume_from) if resume_from else None

        config, weights = _model_source(job, resume_from)
        self.raw = _build_model(config, weights, d.device, t.seed)
        self.config = config

        micro = t.micro_batch or t.global_batch // d.world_size
        self.loader = TokenLoader(
            data.paths,
            block_size=data.block_size,
            global_batch=t.global_batch,
            micro_batch=max(micro, 1),
            weights=data.weights,
            seed=t.seed,
            val_fraction=data.val_fraction,
            rank=d.rank,
            world_size=d.world_size,
        )
        # log.benchmarks: tokenized once here, measured at step 0 and every validation
        self.benchmarks = (
            BenchmarkLoss(job.log.benchmarks, self.loader.names) if job.log.benchmarks else None
        )
        vocab = self.loader.sources[0].data.tokenizer.get("vocab_size")
        if vocab and vocab > config.vocab_size:
            raise Phi1Error(
                f"the data's tokenizer has {vocab} ids but the model embeds {config.vocab_size}"
            )

        self.dtype = resolve_precision(t.precision, d.device)
        self.strategy = resolve_strategy(t.parallel, d)
        if self.dtype == torch.float16 and self.strategy == "fsdp":
            raise Phi1Error("fp16 with FSDP2 is not supported; use bf16 or parallel=ddp")
        self.model = parallelize(
            self.raw,
            d,
            strategy=self.strategy,
            dtype=self.dtype,
            activation_checkpointing=t.activation_checkpointing,
            compile=t.compile,
        )
        self.optimizer = self.raw.configure_optimizers(
            t.weight_decay, t.lr, (t.beta1, t.beta2), t.eps, device_type=d.device.type
        )
        self.scaler = torch.amp.GradScaler(d.device.type, enabled=self.dtype == torch.float16)
        # Dropout draws from the global generator: one stream per rank.
        torch.manual_seed(_seed(t.seed, "dropout", d.rank))

        self.step = 0
        self.tokens = 0
        if state is not None:
            self._restore(state, resume_from)
        self.resumed_from = resume_from

        self.peak = job.log.peak_flops or peak_flops(
            d.device.type,
            torch.cuda.get_device_name(d.device) if d.device.type == "cuda" else None,
        )
        self.run_info = {
            **job.to_dict(),
            "model_config": config.to_dict(),
            "world_size": d.world_size,
            "strategy": self.strategy,
            "precision": str(self.dtype).split(".")[-1],
            "micro_batch": self.loader.micro_batch,
            "accum": self.loader.accum,
        }

    def _restore(self, state: dict[str, Any], path: Path) -> None:
        ckpt.load_optimizer(self.raw, self.optimizer, path, state, self.d)
        self.loader.load_state_dict(state["loader"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        rngs = state.get("rng") or []
        if len(rngs) == self.d.world_size:
            ckpt.set_rng_state(rngs[self.d.rank])
        elif self.d.is_main:
            print(f"note: {path} was written by {len(rngs)} process(es); dropout RNG reseeded")
        self.step = int(state["step"])
        self.tokens = int(state.get("tokens", 0))

    # -- the loop ----------------------------------------------------------------------------

    def fit(self) -> dict[str, Any]:
        job, d, t = self.job, self.d, self.job.train
        done = self.out / "summary.json"
        if self.step >= t.steps and (self.out / "final").exists() and done.exists():
            if d.is_main:
                print(f"{job.stage}: {self.out} already finished {self.step} steps")
            return read_json(done)
        self.out.mkdir(parents=True, exist_ok=True)
        if d.is_main:
            atomic_write_json(self.out / "run.json", self.run_info)
        log = MetricsLog(
            self.out,
            enabled=d.is_main,
            start_step=self.step,
            total_steps=t.steps,
            tensorboard=job.log.tensorboard,
            progress=job.log.progress,
        )
        log.write(self._banner())
        if self.step == 0 and self.benchmarks is not None:  # the initial model
            log.val({"step": 0, **self._benchmark_losses()})
        flops_per_token = self.raw.flops_per_token(job.data.block_size)
        # tokens/s over the steps since the last log line, validation and saving left out
        window_t, window_tokens, paused = time.perf_counter(), 0, 0.0
        last_saved = self.step
        row: dict[str, Any] = {"loss": float("nan")}
        try:
            while self.step < t.steps:
                row = self._update(self.step + 1)
                step = self.step
                window_tokens += t.global_batch * job.data.block_size
                if step % job.log.log_interval == 0 or step == t.steps:
                    now = time.perf_counter()
                    tps = window_tokens / max(now - window_t - paused, 1e-9)
                    row["tokens_per_s"] = tps
                    row["mfu"] = flops_per_token * tps / (self.peak * d.world_size)
                    row["epoch"] = self.loader.epochs()
                    if d.device.type == "cuda":  # the peak since the start, this rank's
                        row["max_memory_gb"] = torch.cuda.max_memory_allocated(d.device) / 2**30
                    window_t, window_tokens, paused = now, 0, 0.0
                log.step(row)
                pause_start = time.perf_counter()
                if step < t.steps and self._validate_and_save(step, log):
                    last_saved = step
                paused += time.perf_counter() - pause_start
            val = self._validate()
            if val:
                log.val({"step": self.step, **val})
            if last_saved != self.step or not (self.out / "final").exists():
                self._save()
            if d.is_main:
                self._copy_model(ckpt.step_dir(self.root, self.step), self.out / "final")
        finally:
            log.close()
            if d.is_main:
                plot_loss(log.path, self.out / "loss.png", f"{job.stage}: {self.config.name}")
        summary = {
            "stage": job.stage,
            "steps": self.step,
            "tokens": self.tokens,
            "loss": row["loss"],
            **val,
            "model": str(self.out / "final"),
            "metrics": str(log.path),
        }
        if d.is_main:
            atomic_write_json(self.out / "summary.json", summary)
        barrier(d)
        return summary

    def _update(self, step: int) -> dict[str, Any]:
        """Optimizer step ``step``: the schedule's lr, the accumulated gradients, the update.
        A non-finite loss (or norm, outside fp16's loss scaling) stops the run before the
        update, so the last checkpoint stays good."""
        t = self.job.train
        lr = lr_at(step, lr=t.lr, warmup_steps=t.warmup_steps, total_steps=t.steps, min_lr=t.min_lr)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss, grad_norm = self._train_step()
        loss_value, norm_value = loss.item(), grad_norm.item()
        if not math.isfinite(loss_value) or (
            not math.isfinite(norm_value) and self.dtype != torch.float16
        ):
            good = ckpt.latest_checkpoint(self.root)
            raise Phi1Error(
                f"step {step}: loss {loss_value}, gradient norm {norm_value}: the run "
                f"diverged and was stopped before the update; the last good checkpoint "
                f"is {good or 'none (no checkpoint yet)'}. Lower train.lr, or raise "
                "train.warmup_steps, and resume from it."
            )
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.step = step
        self.tokens += t.global_batch * self.job.data.block_size
        return {"step": step, "loss": loss_value, "lr": lr, "grad_norm": norm_value,
                "tokens": self.tokens}  # fmt: skip

    def _validate_and_save(self, step: int, log: MetricsLog) -> bool:
        """Validation and a checkpoint where their intervals fall (the last step has its
        own); whether a checkpoint was saved."""
        if self.job.log.eval_interval and step % self.job.log.eval_interval == 0:
            val = self._validate()
            if val:
                log.val({"step": step, **val})
        if step % self.job.log.save_interval and step not in self.job.log.keep_steps:
            return False
        self._save()
        log.flush()
        return True

    def _train_step(self) -> tuple[torch.Tensor, torch.Tensor]:
        d, t = self.d, self.job.train
        batches = self.loader.next_batches()
        total = torch.zeros((), device=d.device)
        for i, (x, y) in enumerate(batches):
            x = x.to(d.device, non_blocking=True)
            y = y.to(d.device, non_blocking=True)
            with grad_sync(self.model, last=i == len(batches) - 1):
                with autocast(d.device, self.dtype, self.strategy):
                    loss = self.model(x, y) / len(batches)
                self.scaler.scale(loss).backward()
            total += loss.detach()
        self.scaler.unscale_(self.optimizer)
        norm = torch.nn.utils.clip_grad_norm_(
            self.raw.parameters(), t.grad_clip if t.grad_clip > 0 else float("inf")
        )
        if hasattr(norm, "full_tensor"):  # FSDP2: a DTensor
            norm = norm.full_tensor()
        return all_reduce_mean(total, d), norm

    @torch.no_grad()
    def _validate(self) -> dict[str, float]:
        """The held-out losses and, with log.benchmarks, the benchmarks' losses."""
        out = self._held_out()
        if self.benchmarks is not None:
            out.update(self._benchmark_losses())
        return out

    @torch.no_grad()
    def _benchmark_losses(self) -> dict[str, float]:
        """val_loss/<benchmark> and val_bpb/<benchmark>; every rank takes part."""
        self.model.eval()
        with autocast(self.d.device, self.dtype, self.strategy):
            out = self.benchmarks.measure(self.model, self.d)
        reshard(self.model)
        self.model.train()
        return out

    @torch.no_grad()
    def _held_out(self) -> dict[str, float]:
        d = self.d
        if not any(s.val.numel() for s in self.loader.sources):
            return {}
        self.model.eval()
        out: dict[str, float] = {}
        overall = weight = 0.0
        for i, name in enumerate(self.loader.names):
            batches = self.loader.val_batches(i, self.job.log.eval_sequences)
            if not batches:
                continue
            sums = torch.zeros(2, device=d.device, dtype=torch.float64)
            for x, y, n in batches:
                with autocast(d.device, self.dtype, self.strategy):
                    loss = self.model(x.to(d.device), y.to(d.device))
                sums += torch.stack([loss.double() * n, torch.tensor(float(n), device=d.device)])
            sums = all_reduce_mean(sums, d)
            value = (sums[0] / sums[1]).item() if sums[1] > 0 else float("nan")
            out[f"val_loss/{name}"] = value
            overall += self.loader.weights[i] * value
            weight += self.loader.weights[i]
        reshard(self.model)
        self.model.train()
        return {"val_loss": overall / weight, **out}

    def _save(self) -> None:
        state = {
            "loader": self.loader.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "tokens": self.tokens,
        }
        ckpt.save(
            self.root,
            self.step,
            model=self.raw,
            optimizer=self.optimizer,
            d=self.d,
            state=state,
            run=self.run_info,
            keep_last=self.job.log.keep_last,
            keep_steps=self.job.log.keep_steps,
        )
        if self.d.is_main:
            self._copy_kept()
        barrier(self.d)

    def _copy_kept(self) -> None:
        """Copy the model of every saved step of ``log.keep_steps`` to OUT/kept/step-N, once
        (a copy a kill interrupted is made again at the next save)."""
        for step in self.job.log.keep_steps:
            checkpoint = ckpt.step_dir(self.root, step)
            kept = self.out / "kept" / checkpoint.name
            if (checkpoint / ckpt.STATE_FILE).exists() and not kept.exists():
                self._copy_model(checkpoint, kept)

    @staticmethod
    def _copy_model(checkpoint: Path, dest: Path) -> None:
        """Copy a checkpoint's model files (not the training state) to ``dest``, atomically."""
        import shutil

        tmp = dest.parent / f".tmp-{dest.name}"
        shutil.rmtree(tmp, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(checkpoint, tmp, ignore=shutil.ignore_patterns(*ckpt.TRAINING_FILES))
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)

    def _banner(self) -> str:
        t, data, loader = self.job.train, self.job.data, self.loader
        sizes = ", ".join(
            f"{name} {s.data.tokens:,} tokens (w {w:.2f})"
            for name, s, w in zip(loader.names, loader.sources, loader.weights, strict=True)
        )
        start = f"resumed from {self.resumed_from}" if self.resumed_from else "from step 0"
        text = (
            f"{self.job.stage}: {self.config.name} ({self.raw.num_params():,} params) on "
            f"{self.d.world_size} x {self.d.device.type}, {self.strategy}, "
            f"{str(self.dtype).split('.')[-1]}; {t.steps} steps of {t.global_batch} x "
            f"{data.block_size} tokens (micro-batch {loader.micro_batch} x {loader.accum} "
            f"accumulation); {start}\ndata: {sizes}"
        )
        if self.resumed_from and (self.resumed_from / "run.json").exists():
            before = read_json(self.resumed_from / "run.json")
            changed = [
                f"{group}.{key} {before[group].get(key)!r} -> {value!r}"
                for group in ("train", "data", "log")
                for key, value in self.run_info[group].items()
                if before.get(group, {}).get(key, value) != value
            ]
            if changed:
                text += "\nchanged since the checkpoint: " + ", ".join(changed)
        return text
