"""The quality-filter commands: ``phi1 annotate``, ``phi1 classifier train``, ``phi1 filter``,
``phi1 dedup``.

Each is a thin typed wrapper: it parses sources, calls the stage's module, prints a short
summary and leaves the details in the output directory. Heavy imports happen inside.
"""

from __future__ import annotations

from pathlib import Path

from phi1.data.readers import DEFAULT_SOURCES, ReaderSettings
from phi1.errors import Phi1Error


def _sources(inputs: list[str] | str | None) -> list[str]:
    if inputs is None:
        return list(DEFAULT_SOURCES)
    return [inputs] if isinstance(inputs, str) else list(inputs)


def annotate(
    inputs: list[str] | str | None = None,
    out: str | None = None,
    llm: str = "qwen2.5-coder-0.5b-instruct",
    n: int = 300,
    seed: int = 0,
    allocation: str = "proportional",
    method: str = "auto",
    template: str | None = None,
    max_chars: int = 2000,
    max_tokens: int = 96,
    reader: ReaderSettings = ReaderSettings(),  # noqa: B008 (jsonargparse reads it)
) -> None:
    """Ask a judge LLM for the educational value of a seeded, source-stratified sample.

    Re-running into the same --out resumes: the sample is reused and answered documents
    are skipped.

    Args:
        inputs: Corpus sources (stdlib, site-packages, a directory, .jsonl, .parquet,
            Posts.xml, hf:NAME; NAME=SPEC names a source). Default: stdlib and site-packages.
        out: Output directory (sample.jsonl, part-*.jsonl annotations, annotate.json).
        llm: Judge: a registry model name, gguf:PATH, or OpenAI-compatible base URL(s).
        n: Documents to annotate.
        seed: Sampling seed, recorded in every sampled document.
        allocation: proportional (to source size) or equal (per source).
        method: generate (parse the judge's written verdict), logprob (compare the
            probabilities of "high" and "low" at the verdict: local llama.cpp judges), or
            auto (logprob for local judges, generate for URLs).
        template: Prompt template name (default: educational_value for generate,
            educational_value_fewshot for logprob).
        max_chars: The judge sees at most this many leading characters of a document.
        max_tokens: Most tokens per answer.
        reader: How sources are read (extensions, max_bytes, text_column, ...).
    """
    from phi1.data.annotate import AnnotateSettings, annotate_corpus
    from phi1.data.readers import ReadStats, read_corpus

    if out is None:
        raise Phi1Error("annotate: --out DIR is required")
    stats = ReadStats()
    records = read_corpus(_sources(inputs), settings=reader, stats=stats)
    settings = AnnotateSettings(
        n=n, seed=seed, allocation=allocation, method=method, template=template,
        max_chars=max_chars, max_tokens=max_tokens,
    )  # fmt: skip
    summary = annotate_corpus(records, out, llm_spec=llm, settings=settings)
    if stats.read or stats.skipped:
        print(f"annotate: corpus {stats.summary()}")
    labels = ", ".join(f"{k} {v}" for k, v in summary["labels"].items()) or "none"
    print(
        f"annotate: {summary['annotated']} annotated ({labels}), "
        f"{summary['unparseable']} unparseable; in {out}"
    )


def classifier_train(
    annotations: str,
    out: str | None = None,
    embedder: str = "minilm",
    max_chunks: int = 4,
    n_estimators: int = 300,
    test_size: float = 0.2,
    seed: int = 0,
    label_rule: str = "judge",
) -> None:
    """Train the quality classifier: a random forest from document embeddings to labels.

    Prints precision, recall, F1, ROC-AUC and the confusion matrix on a held-out split, and
    saves the forest with its embedder's identity (it refuses to score under another).

    Args:
        annotations: An annotate output directory.
        out: Output directory for the classifier (default: ANNOTATIONS/classifier).
        embedder: minilm, hf:PATH, phi1:DIR or gguf:PATH.
        max_chunks: Windows embedded per document (spread over it).
        n_estimators: Trees in the forest.
        test_size: Held-out share of the labels.
        seed: Seed of the split and the forest.
        label_rule: judge (the judge's labels) or top:F (the share F with the highest
            judge scores is "high"; for weak judges that answer "high" to everything).
    """
    from phi1.data.classifier import TrainSettings, train_classifier

    target = out or str(Path(annotations) / "classifier")
    settings = TrainSettings(
        embedder=embedder, max_chunks=max_chunks, n_estimators=n_estimators,
        test_size=test_size, seed=seed, label_rule=label_rule,
    )  # fmt: skip
    report = train_classifier(annotations, target, settings)
    print(report["text"])
    print(f"classifier saved to {target}")


def filter_corpus(
    inputs: list[str] | str | None = None,
    classifier: str | None = None,
    out: str | None = None,
    threshold: float | None = None,
    top_fraction: float | None = None,
    tasks: int = 8,
    workers: int = 1,
    executor: str = "local",
    batch_size: int = 32,
    report_examples: int = 10,
    embed_cache: str | None = None,
    reader: ReaderSettings = ReaderSettings(),  # noqa: B008 (jsonargparse reads it)
    slurm: dict | None = None,
) -> None:
    """Score every document with the quality classifier and keep the educational ones.

    Runs as datatrove pipeline steps; a re-run resumes finished tasks. Writes kept documents
    (kept/), rejects for audit (rejects/), scores, summary.json and report.md (the highest-
    and lowest-scored documents).

    Args:
        inputs: Corpus sources (as for annotate). Default: stdlib and site-packages.
        classifier: A classifier directory (phi1 classifier train --out).
        out: Output directory.
        threshold: Keep documents scoring at least this (0-1). Default 0.5 unless
            --top_fraction is given.
        top_fraction: Keep this share of the highest-scored documents instead.
        tasks: Shards of the corpus (the unit of parallelism and resume).
        workers: Tasks run at once (local executor).
        executor: local, slurm or ray.
        batch_size: Documents embedded per batch.
        report_examples: Highest and lowest documents listed in report.md.
        embed_cache: Embedding cache directory (default OUT/embeddings); share it between
            runs over the same sources and --tasks to rescore without re-embedding.
        reader: How sources are read.
        slurm: Options for the Slurm executor (partition, time, cpus_per_task, ...).
    """
    from phi1.data.filter import FilterSettings, run_filter

    if classifier is None:
        raise Phi1Error("filter: --classifier DIR is required (phi1 classifier train)")
    if out is None:
        raise Phi1Error("filter: --out DIR is required")
    settings = FilterSettings(
        threshold=threshold, top_fraction=top_fraction, tasks=tasks, workers=workers,
        executor=executor, batch_size=batch_size, report_examples=report_examples,
        embed_cache=embed_cache, slurm=slurm or {},
    )  # fmt: skip
    summary = run_filter(_sources(inputs), classifier, out, settings, reader)
    print(summary["text"])


def dedup(
    inputs: list[str] | str | None = None,
    out: str | None = None,
    exact: bool = True,
    near: bool = True,
    threshold: float = 0.8,
    num_perm: int = 128,
    ngram: int = 5,
    seed: int = 0,
    reader: ReaderSettings = ReaderSettings(),  # noqa: B008 (jsonargparse reads it)
) -> None:
    """Remove exact (normalised hash) and near (MinHash LSH) duplicates; first one wins.

    Writes kept.jsonl (phi1 records), rejects.jsonl (id, reason, duplicate_of, record) and
    summary.json. The outputs appear atomically when the run ends.

    Args:
        inputs: Corpus sources (as for annotate). Default: stdlib and site-packages.
        out: Output directory.
        exact: Remove exact duplicates after normalisation.
        near: Remove near-duplicates.
        threshold: Jaccard similarity of word 5-gram sets above which texts are duplicates.
        num_perm: MinHash functions.
        ngram: Words per shingle.
        seed: Seed of the hash functions.
        reader: How sources are read.
    """
    from phi1.data.dedup import DedupSettings, run_dedup

    if out is None:
        raise Phi1Error("dedup: --out DIR is required")
    settings = DedupSettings(
        exact=exact, near=near, threshold=threshold, num_perm=num_perm, ngram=ngram, seed=seed
    )
    summary = run_dedup(_sources(inputs), out, settings, reader)
    print(summary["text"])
