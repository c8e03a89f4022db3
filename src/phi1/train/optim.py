"""Learning-rate schedule and peak FLOP/s for MFU.

The schedule is the paper's: linear warmup from 0 to the peak, then linear decay to
``min_lr`` at the last step. It is a pure function of the step, so resuming needs only the
step number. The optimizer itself (AdamW, decay on >= 2-D tensors only) is
``Phi.configure_optimizers``, beside the model.
"""

from __future__ import annotations

import re
from pathlib import Path


def lr_at(
    step: int, *, lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0
) -> float:
    """Learning rate for optimizer step ``step`` (1-based: the first update is step 1)."""
    if warmup_steps > 0 and step <= warmup_steps:
        return lr * step / warmup_steps
    if total_steps <= warmup_steps:
        return lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return lr - (lr - min_lr) * min(progress, 1.0)


# Dense bf16/fp16 tensor-core peaks (no sparsity), from the vendors' data sheets.
GPU_PEAK_FLOPS = {
    "H200": 989e12,
    "H100 SXM": 989e12,
    "H100 NVL": 835e12,
    "H100 PCIe": 756e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "A10G": 125e12,
    "RTX 4090": 165e12,
}


def peak_flops(
    device_type: str, device_name: str | None = None, threads: int | None = None
) -> float:
    """Peak FLOP/s of the device, for MFU; ``nan`` when unknown.

    GPU: the table above by name. CPU: cores x clock x FLOPs per cycle of the widest fused
    multiply-add (AVX-512: 64 fp32, AVX2 + FMA: 32, else 8), from /proc/cpuinfo; this is the
    theoretical peak, so CPU MFU reads low next to the large-matmul rate.
    """
    if device_type == "cuda":
        for key, value in GPU_PEAK_FLOPS.items():
            if device_name and key in device_name:
                return value
        return float("nan")
    import torch

    threads = threads or torch.get_num_threads()
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return float("nan")
    flags = (
        set(re.search(r"^flags\s*:(.*)$", info, re.M).group(1).split())
        if "flags" in info
        else set()
    )
    mhz = re.search(r"^cpu MHz\s*:\s*([\d.]+)", info, re.M)
    if not mhz:
        return float("nan")
    per_cycle = 64 if "avx512f" in flags else 32 if {"avx2", "fma"} <= flags else 8
    return threads * float(mhz.group(1)) * 1e6 * per_cycle
