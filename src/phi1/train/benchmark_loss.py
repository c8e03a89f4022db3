"""``log.benchmarks``: the early-signal loss on benchmark reference solutions, while training.

At step 0 (the initial model) and at every validation, the trainer asks
:meth:`BenchmarkLoss.measure` for each named benchmark's loss: the mean over its problems
of the NLL of the reference solution given the prompt, in nats per token
(``val_loss/<name>``) and bits per byte (``val_bpb/<name>``), the number ``phi1 eval loss``
reports (both come from :mod:`phi1.model.score`). The problems are tokenized once, when the
run starts.

Under torchrun every rank scores its share of the packed batches through the wrapped model
(each rank makes the same number of forward calls, as FSDP2 needs) and the per-problem sums
are added up over the ranks, so every rank returns the same numbers and none waits on
another for long.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from phi1.errors import Phi1Error
from phi1.train.parallelize import Dist, all_reduce_mean


class BenchmarkLoss:
    """The benchmarks of ``log.benchmarks``, tokenized with phi1's tokenizer.

    Args:
        specs: benchmark specs (``phi1.sandbox.problems.load_benchmark``: humaneval, graded,
            mbpp:FILE, a HumanEval-format FILE).
        taken: metric names already in use (the held-out datasets' names).
    """

    def __init__(self, specs: Sequence[str], taken: Sequence[str] = ()):
        from phi1.model.score import reference_set
        from phi1.sandbox.problems import load_benchmark

        self.sets = []
        for spec in specs:
            name, problems = load_benchmark(spec)
            if name in taken or name in [s.name for s in self.sets]:
                raise Phi1Error(
                    f"log.benchmarks: {spec!r} would log as val_loss/{name}, a name already "
                    "in use (a dataset or another benchmark)"
                )
            self.sets.append(reference_set(name, problems))

    @torch.no_grad()
    def measure(self, model: torch.nn.Module, d: Dist) -> dict[str, float]:
        """``val_loss/<name>`` and ``val_bpb/<name>`` of every benchmark, for ``model`` (the
        model the trainer calls: plain, DDP or FSDP2), on every rank alike."""
        from phi1.model.score import sequence_nll

        out: dict[str, float] = {}
        for ref in self.sets:
            nll = sequence_nll(model, ref.pairs, rank=d.rank, world_size=d.world_size)
            nll = all_reduce_mean(nll, d) * d.world_size  # each rank holds its share
            out.update(ref.metrics(nll.cpu()))
        return out
