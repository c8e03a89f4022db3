"""Embed the views of an annotation sample ahead of ``table.py``, into the caches that
``phi1 classifier train`` reuses (``OUT/<embedder>-<model>/embeddings.npz``).

The views of the files (the judge's window) do not depend on the labels, so this runs
while the judge is still annotating. A registry GGUF model given with ``--poolings mean
last`` is run once with llama.cpp's per-token output, and both poolings are taken from the
same hidden states (tests/llm/test_embed.py checks that llama.cpp's own pooling gives the
same vectors). Resumable: finished batches are kept in ``OUT/.partial-*.npz``.

    PYTHONPATH=src python examples/quality/precompute.py runs/quality/ann15 \
        --out runs/quality/table --embedders hash code minilm qwen2.5-coder-0.5b-instruct \
        --poolings mean last --models forest logistic boosted
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from phi1.data.annotate import load_annotations, view_rule
from phi1.data.classifier import (
    ClassifierSettings,
    apply_view,
    embedding_key,
    judge_view,
)
from phi1.io import read_jsonl
from phi1.llm.embed import Embedder, _normalise, load_embedder
from phi1.llm.llamacpp import default_threads
from phi1.llm.registry import MODELS

BATCH = 25


def folder_name(spec: str, model: str) -> str:
    return f"{spec.replace(':', '_').replace('/', '_')}-{model}"


def save(folder: Path, emb: Embedder, view: dict, ids: list[str], X: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    key = embedding_key(emb.identity(), view)
    np.savez(folder / "embeddings.npz", X=X, ids=np.array(ids), identity=np.array(key))


def both_poolings(spec: str, views: list[str], partial: Path) -> tuple[Embedder, ...]:
    """(mean embedder, last embedder, X mean, X last) from one per-token pass."""
    import llama_cpp

    s = ClassifierSettings()
    threads = default_threads()  # $PHI1_LLAMA_THREADS, else the cores idle now
    mean = load_embedder(spec, max_chunks=s.max_chunks, pooling="mean")
    last = load_embedder(spec, max_chunks=s.max_chunks, pooling="last")
    tokens = llama_cpp.Llama(
        model_path=str(mean.path), embedding=True, n_ctx=mean.window, n_batch=mean.window,
        n_ubatch=mean.window, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_NONE,
        n_threads=threads, n_threads_batch=threads, verbose=False,
    )  # fmt: skip
    stash: list[np.ndarray] = []

    def windows(ws: list[str], batch_size: int) -> np.ndarray:
        means, lasts = [], []
        for w in ws:
            states = np.asarray(tokens.embed(w if w.strip() else " "), dtype=np.float64)
            means.append(states.mean(0))
            lasts.append(states[-1])
        stash.append(_normalise(np.array(lasts)))
        return _normalise(np.array(means)).astype(np.float32)

    mean._embed_windows = windows  # type: ignore[method-assign]
    last._embed_windows = lambda ws, bs: stash.pop(0)  # type: ignore[method-assign]
    done = dict(np.load(partial)) if partial.exists() else {"mean": None, "last": None}
    Xm = [] if done["mean"] is None else [done["mean"]]
    Xl = [] if done["last"] is None else [done["last"]]
    start = 0 if done["mean"] is None else len(done["mean"])
    t0 = time.monotonic()
    for i in range(start, len(views), BATCH):
        Xm.append(mean.embed(views[i : i + BATCH]))
        Xl.append(last.embed(views[i : i + BATCH]))
        np.savez(partial, mean=np.vstack(Xm), last=np.vstack(Xl))
        n = min(i + BATCH, len(views))
        print(f"{spec}: {n}/{len(views)} ({(n - start) / (time.monotonic() - t0):.2f} files/s)",
              flush=True)  # fmt: skip
    return mean, last, np.vstack(Xm), np.vstack(Xl)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("annotations")
    ap.add_argument("--out", required=True)
    ap.add_argument("--embedders", nargs="+", required=True)
    ap.add_argument("--poolings", nargs="+", default=["mean"])
    ap.add_argument("--max-chars", type=int, help="the judge's view while it still runs")
    ap.add_argument("--models", nargs="+", default=["forest", "logistic", "boosted"])
    ap.add_argument("--labelled-only", action="store_true",
                    help="embed only the files judged so far (a slow embedder)")  # fmt: skip
    args = ap.parse_args()
    ann, out = Path(args.annotations), Path(args.out)
    annotations, _ = load_annotations(ann)  # checks the folder
    out.mkdir(parents=True, exist_ok=True)  # the resumable partial file lives there
    sample = {r["id"]: r for r in read_jsonl(ann / "sample.jsonl")}
    ids = sorted({a["id"] for a in annotations} if args.labelled_only else sample)
    # The run's view (annotate.json has its settings only once the run has finished).
    view = judge_view(ann) if args.max_chars is None else view_rule(args.max_chars, True)
    views = [apply_view(sample[i]["text"], view) for i in ids]
    s = ClassifierSettings()
    for spec in [e for e in args.embedders if "+" not in e]:
        if (out / folder_name(spec, args.models[0]) / "embeddings.npz").exists():
            continue
        if spec.removeprefix("gguf:") in MODELS and len(args.poolings) > 1:
            partial = out / f".partial-{folder_name(spec, 'x')}.npz"
            mean, last, Xm, Xl = both_poolings(spec, views, partial)
            for model in args.models:
                save(out / folder_name(spec, model), mean, view, ids, Xm)
                save(out / folder_name(f"{spec}@last", model), last, view, ids, Xl)
            continue
        emb = load_embedder(spec, max_chunks=s.max_chunks)
        t0 = time.monotonic()
        X = emb.embed(views, batch_size=s.batch_size)
        print(f"{spec}: {len(views)} files, {len(views) / (time.monotonic() - t0):.1f} files/s")
        for model in args.models:
            save(out / folder_name(spec, model), emb, view, ids, X)
    for spec in [e for e in args.embedders if "+" in e]:  # side by side: the parts' rows
        parts = [np.load(out / folder_name(p, args.models[0]) / "embeddings.npz")["X"]
                 for p in spec.split("+")]  # fmt: skip
        emb = load_embedder(spec, max_chunks=s.max_chunks)
        for model in args.models:
            save(out / folder_name(spec, model), emb, view, ids, np.hstack(parts))


if __name__ == "__main__":
    main()
