"""One torchrun worker of tests/train/test_train_fsdp.py: real trainers on 2 CPU processes
(gloo, FSDP2), observed from outside: collectives counted, files read, timeouts provoked.

    torchrun --nproc-per-node 2 tests/train/fsdp_worker.py sync|checkpoint DATA OUT

Each rank writes what it saw to OUT/<scenario>-<rank>.json for the test to check.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import torch
import torch.distributed as dist

from phi1.train import trainer as trainer_module
from phi1.train.parallelize import init_distributed, parallelize
from phi1.train.settings import DataSettings, LogSettings, TrainSettings
from phi1.train.trainer import TrainJob, _Trainer


def make_job(
    out: Path, data: Path, *, resume: str | None = None, keep_steps=(), **train
) -> TrainJob:
    settings = dict(steps=3, global_batch=8, micro_batch=1, lr=1e-3, warmup_steps=1,
                    dropout=0.0, precision="fp32", parallel="fsdp", device="cpu")  # fmt: skip
    settings.update(train)
    return TrainJob(
        stage="pretrain",
        out=out,
        model="debug",
        init=None,
        data=DataSettings(paths=[str(data)], block_size=32, val_fraction=0.1),
        train=TrainSettings(**settings),
        log=LogSettings(
            log_interval=1,
            eval_interval=0,
            eval_sequences=2,
            save_interval=2,
            keep_last=1,
            keep_steps=list(keep_steps),
            tensorboard=False,
            progress=False,
        ),  # fmt: skip
        resume=resume,
    )


@contextlib.contextmanager
def counted(counts: Counter, *names: str):
    """Count calls of ``torch.distributed.<name>`` (FSDP2 looks them up at call time)."""
    saved = {name: getattr(dist, name) for name in names}

    def wrap(name, fn):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            counts[name] += 1
            return fn(*args, **kwargs)

        return call

    for name, fn in saved.items():
        setattr(dist, name, wrap(name, fn))
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(dist, name, fn)


def losses(out: Path) -> list[float]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r]


def final_params(trainer: _Trainer) -> dict[str, torch.Tensor]:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(trainer.raw, options=StateDictOptions(full_state_dict=True))


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


def scenario_sync(data: Path, out: Path, d) -> dict:
    """The same run with one gradient sync per step and with one per micro-batch (the
    trainer before); then bf16 with compile (a counting eager backend) and activation
    checkpointing; then DDP's buffers."""
    seen: dict = {}
    params = {}
    real = trainer_module.grad_sync
    for name, sync in (("once", real), ("every", _always_sync)):
        counts: Counter = Counter()
        trainer_module.grad_sync = sync
        try:
            trainer = _Trainer(make_job(out / name, data), d)
            with counted(counts, "reduce_scatter_single", "all_gather_single"):
                trainer.fit()
        finally:
            trainer_module.grad_sync = real
        params[name] = final_params(trainer)
        seen[name] = {"counts": dict(counts), "losses": losses(out / name),
                      "accum": trainer.loader.accum, "steps": trainer.step}  # fmt: skip
    seen["params_max_diff"] = max_diff(params["once"], params["every"])
    seen["groups"] = len(trainer.raw.layers) + 1
    seen["compiled"] = _compiled_bf16(data, out / "bf16", d)
    from phi1.model.config import ModelConfig
    from phi1.model.model import Phi

    ddp = parallelize(Phi(ModelConfig.from_name("debug")), d, strategy="ddp", dtype=torch.float32)
    seen["ddp_broadcast_buffers"] = ddp.broadcast_buffers
    return seen


def _always_sync(model, last):  # the trainer before: FSDP2 reduce-scatters every micro-batch
    return contextlib.nullcontext()


def _compiled_bf16(data: Path, out: Path, d) -> dict:
    from torch._dynamo.testing import CompileCounter
    from torch._dynamo.utils import counters

    backend = CompileCounter()
    real = trainer_module.parallelize
    trainer_module.parallelize = functools.partial(real, compile_backend=backend)
    try:
        job = make_job(out, data, steps=2, precision="bf16", compile=True,
                       activation_checkpointing=True)  # fmt: skip
        trainer = _Trainer(job, d)
    finally:
        trainer_module.parallelize = real
    dtypes: list[list[str]] = []
    trainer.raw.layers[0].register_forward_pre_hook(
        lambda module, args: dtypes.append([str(args[0].dtype), str(args[1].dtype)])
    )
    trainer.fit()
    return {"frames": backend.frame_count, "graph_breaks": sum(counters["graph_break"].values()),
            "block_input_dtypes": dtypes[0], "losses": losses(out)}  # fmt: skip


def scenario_checkpoint(data: Path, out: Path, d) -> dict:
    """A save whose write on rank 0 outlasts the default group's timeout; a resume, with
    every torch.load recorded; the same resume under DDP."""
    import phi1.train.state as state

    if d.is_main:
        write = state.save_model

        def slow_write(*args, **kwargs):
            time.sleep(float(os.environ["SLOW_WRITE_SECONDS"]))
            state.save_model = write
            return write(*args, **kwargs)

        state.save_model = slow_write
    t0 = time.monotonic()
    seen = _resume(data, out / "fsdp", d, parallel="fsdp")
    seen["whole_seconds"] = time.monotonic() - t0  # includes the slow write
    seen["ddp"] = _resume(data, out / "ddp", d, parallel="ddp")
    return seen


def _resume(data: Path, out: Path, d, **train) -> dict:
    """3 steps keeping step 2's checkpoint; then step 3 again from it."""
    seen: dict = {"loads": []}
    whole = _Trainer(make_job(out / "whole", data, micro_batch=2, keep_steps=[2], **train), d)
    whole.fit()
    seen["whole"] = losses(out / "whole")
    seen["kept"] = sorted(p.name for p in (out / "whole" / "kept").iterdir())
    whole_params = final_params(whole)
    load = torch.load

    def spy(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)):  # not the buffers of broadcast_object_list
            seen["loads"].append([Path(file).name, bool(kwargs.get("mmap"))])
        return load(file, *args, **kwargs)

    torch.load = spy
    try:
        ckpt = str(out / "whole" / "checkpoints" / "step-000002")
        resumed = _Trainer(make_job(out / "resumed", data, micro_batch=2, resume=ckpt, **train), d)
    finally:
        torch.load = load
    resumed.fit()
    seen["resumed"] = losses(out / "resumed")
    seen["params_max_diff"] = max_diff(whole_params, final_params(resumed))
    return seen


def provoke_default_timeout(d) -> dict:
    """Rank 1 waits on the default group while rank 0 sleeps past its timeout."""
    if d.is_main:
        time.sleep(float(os.environ["SLOW_WRITE_SECONDS"]))
        return {}
    t0 = time.monotonic()
    try:
        dist.barrier()
    except Exception as e:  # gloo raises RuntimeError on timeout
        return {"default_barrier": f"{type(e).__name__} after {time.monotonic() - t0:.1f}s"}
    return {"default_barrier": "returned"}


def main() -> None:
    scenario, data, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    timeout = os.environ.get("DEFAULT_TIMEOUT_SECONDS")
    if timeout:  # the default group's timeout, short: what a long write would run into
        dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=float(timeout)))
    d = init_distributed("cpu")
    if scenario == "sync":
        seen = scenario_sync(data, out, d)
    else:
        seen = scenario_checkpoint(data, out, d)
        seen.update(provoke_default_timeout(d))
    (out / f"{scenario}-{d.rank}.json").write_text(json.dumps(seen))
    sys.stdout.flush()
    os._exit(0)  # no teardown: after a provoked timeout the default group is unusable


if __name__ == "__main__":
    main()
