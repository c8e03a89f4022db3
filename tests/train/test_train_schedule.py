"""The learning-rate schedule: linear warmup from 0, then linear decay to min_lr."""

from __future__ import annotations

import math

import pytest

from phi1.train.optim import lr_at, peak_flops


def test_warmup_then_linear_decay_to_min_lr():
    lrs = [
        lr_at(s, lr=1e-3, warmup_steps=750, total_steps=36000, min_lr=1e-5) for s in range(1, 36001)
    ]
    assert lrs[0] == pytest.approx(1e-3 / 750)
    assert lrs[374] == pytest.approx(0.5e-3)
    assert lrs[749] == pytest.approx(1e-3)  # the peak at the end of warmup
    assert all(a < b for a, b in zip(lrs[:749], lrs[1:750], strict=True))
    assert all(a > b for a, b in zip(lrs[749:-1], lrs[750:], strict=True))
    mid = 750 + (36000 - 750) // 2
    assert lrs[mid - 1] == pytest.approx(1e-5 + (1e-3 - 1e-5) / 2, rel=1e-3)
    assert lrs[-1] == pytest.approx(1e-5)


def test_no_warmup_and_schedule_shorter_than_warmup():
    assert lr_at(1, lr=1.0, warmup_steps=0, total_steps=10) == pytest.approx(0.9)
    assert lr_at(10, lr=1.0, warmup_steps=0, total_steps=10) == 0.0
    assert lr_at(3, lr=1.0, warmup_steps=5, total_steps=4) == pytest.approx(0.6)


def test_cpu_peak_flops_is_known_here():
    peak = peak_flops("cpu", threads=1)
    assert math.isnan(peak) or peak > 1e9
    assert math.isnan(peak_flops("cuda", "Some Unknown GPU"))
    assert peak_flops("cuda", "NVIDIA H100 80GB HBM3") == 989e12
