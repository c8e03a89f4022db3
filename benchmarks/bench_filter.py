"""Quality filter: scoring speed over the standard library, and the sanity-set figure.

Speed: files/s scored (embedding + random forest) over Python standard library files on
CPU. Peer: the plain sentence-transformers way, ``SentenceTransformer.encode`` (the first
256 tokens of each file) + the same forest; us: phi1's chunked embedding (up to
``max_chunks`` windows spread over the file, pooled) + the forest. Same files, same
process. Peak memory: the process's peak RSS growth over each side.

Sanity (``--sanity``): the share of the 20 educational files of tests/assets/quality_sanity
that the classifier ranks above the 40-file set's median score (a quality figure: 1.0 is
perfect, 0.5 is chance), plus ROC-AUC on the set. Use a classifier that was not trained on
the sanity set (the one from ``phi1 classifier train`` on LLM annotations). ``--judge NAME``
rates the set with the LLM judge's own P(high) too (annotate --method logprob), to tell the
judge's errors from the classifier's.

    .venv/bin/python benchmarks/bench_filter.py --classifier runs/quality/classifier \
        [--limit 200] [--sanity] [--judge qwen2.5-coder-0.5b-instruct]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np

from _machine import describe
from phi1.data.classifier import QualityClassifier
from phi1.data.readers import read_source

SANITY = Path(__file__).resolve().parents[1] / "tests" / "assets" / "quality_sanity"


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def speed(clf: QualityClassifier, limit: int, batch_size: int) -> None:
    texts = []
    for record in read_source("stdlib"):
        texts.append(record["text"])
        if len(texts) >= limit:
            break
    mb = sum(len(t) for t in texts) / 1e6
    emb = clf.embedder()
    if not getattr(emb, "sentence_transformers", False):
        raise SystemExit(
            f"the speed comparison runs sentence-transformers' encode as the peer; this "
            f"classifier uses {emb.identity()['name']}: add --no-speed for the sanity figure"
        )
    emb.embed(["warm up"])  # load the model before timing
    model, _ = emb._model
    print(f"input: {len(texts)} stdlib files ({mb:.1f} MB); embedder {emb.identity()['name']}, "
          f"window {emb.window} tokens, max_chunks {emb.max_chunks}")  # fmt: skip

    rss0 = _rss_mib()
    t0 = time.perf_counter()
    X = model.encode(texts, batch_size=batch_size, normalize_embeddings=True)
    peer_scores = clf.score_embeddings(np.asarray(X, dtype=np.float32))
    t_peer = time.perf_counter() - t0
    rss1 = _rss_mib()
    t0 = time.perf_counter()
    our_scores = clf.score(texts, batch_size=batch_size)
    t_ours = time.perf_counter() - t0
    rss2 = _rss_mib()
    windows = sum(min(len(w), emb.max_chunks) for w in emb._chunk(texts))
    corr = float(np.corrcoef(peer_scores, our_scores)[0, 1])
    print(f"sentence-transformers encode (first window) + forest: {len(texts) / t_peer:7.2f} "
          f"files/s ({t_peer:.1f} s), peak RSS +{max(rss1 - rss0, 0):.0f} MiB")  # fmt: skip
    print(f"phi1 chunked embedding ({windows} windows) + forest: {len(texts) / t_ours:7.2f} "
          f"files/s ({t_ours:.1f} s, {windows / t_ours:.1f} windows/s), peak RSS "
          f"+{max(rss2 - rss1, 0):.0f} MiB (process peak {rss2:.0f} MiB)")  # fmt: skip
    print(f"ratio (phi1 / peer files/s): {t_peer / t_ours:.2f}x; score correlation {corr:.3f}")


def sanity(clf: QualityClassifier | None, judge: str | None = None) -> None:
    records = list(read_source(f"sanity=dir:{SANITY}"))
    if clf is not None:
        report("classifier", records, clf.score([r["text"] for r in records]))
    if judge is not None:
        report(f"judge {judge} (P(high))", records, judge_scores(judge, records))


def judge_scores(spec: str, records: list[dict]) -> np.ndarray:
    """The judge's own P(high) per file, as annotate --method logprob reads it."""
    from phi1.data.annotate import VerdictProbe, render_prompt, truncate
    from phi1.llm import load_llm

    probe = VerdictProbe(load_llm(spec))
    prompts = [render_prompt("educational_value_fewshot", truncate(r["text"], 1500)[0])
               for r in records]  # fmt: skip
    return np.array([probe.p_high(m)[0] for m in prompts])


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
    ap.add_argument("--classifier", required=True, help="a phi1 classifier directory")
    ap.add_argument("--limit", type=int, default=200, help="stdlib files to score")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--sanity", action="store_true", help="also report the sanity-set figure")
    ap.add_argument("--no-speed", action="store_true", help="only the sanity-set figure")
    ap.add_argument("--judge", help="also rate the sanity set with this judge's P(high)")
    args = ap.parse_args()
    print(describe())
    clf = QualityClassifier.load(args.classifier)
    if not args.no_speed:
        speed(clf, args.limit, args.batch_size)
    if args.sanity or args.no_speed or args.judge:
        sanity(clf if (args.sanity or args.no_speed) else None, args.judge)


if __name__ == "__main__":
    main()
