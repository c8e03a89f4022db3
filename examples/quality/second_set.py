"""A second check beside the sanity set, on real files that nobody wrote for phi1: the
standard library's turtle demos (small programs written to be read and played with) against
files that are boilerplate by any reading (generated codec tables, protobuf modules,
setuptools-scm version stubs).

Weaker than the sanity set in one way: a turtle demo is a lesson only in part (some are
long and dense). Its use is the other way round: files of shapes the labels rarely hold (a
ten-line generated version stub) show where a classifier extrapolates. Files in the label
set are reported; the classifier and, with ``--judge``, the judge itself (P(high) on the
same view) are scored on the same files.

    PYTHONPATH=src python examples/quality/second_set.py --classifier examples/quality/classifier \
        [--judge qwen2.5-coder-1.5b-instruct]
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import sysconfig
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
VERSION_STUBS = ("iniconfig", "urllib3", "humanize", "_pytest", "fsspec", "dateutil")


def files() -> tuple[list[Path], list[Path]]:
    """(educational, boilerplate) paths; boilerplate from packages phi1 installs."""
    std = Path(sysconfig.get_paths()["stdlib"])
    site = Path(sysconfig.get_paths()["purelib"])
    edu = sorted(p for p in (std / "turtledemo").glob("*.py") if not p.name.startswith("__"))
    boiler = sorted((std / "encodings").glob("cp1*.py"))[:6]
    boiler += sorted(Path(p) for p in glob.glob(f"{site}/tensorboard/compat/proto/*_pb2.py"))[:6]
    boiler += [site / name / "_version.py" for name in VERSION_STUBS]
    return edu, [p for p in boiler if p.is_file()]


def short(path: Path) -> str:
    parts = path.parts
    return "/".join(parts[parts.index("site-packages") + 1 :] if "site-packages" in parts
                    else parts[-2:])  # fmt: skip


def show(what: str, paths: list[Path], y: np.ndarray, scores: np.ndarray) -> None:
    from sklearn.metrics import roc_auc_score

    print(f"{what}: ROC-AUC {roc_auc_score(y, scores):.3f}")
    for s, p, label in sorted(zip(scores, paths, y, strict=True), key=lambda t: -t[0]):
        print(f"  {s:.3f}  {'educational' if label else 'boilerplate':11s}  {short(p)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classifier", default=str(HERE / "classifier"))
    ap.add_argument("--judge", help="also score with this judge's own P(high)")
    args = ap.parse_args()
    from phi1.data.classifier import QualityClassifier

    edu, boiler = files()
    paths = edu + boiler
    y = np.array([1] * len(edu) + [0] * len(boiler))
    texts = [p.read_text(encoding="utf-8") for p in paths]
    labels = HERE / "labels-qwen2.5-coder-1.5b.jsonl"
    labelled = {json.loads(line)["path"] for line in labels.open()}
    seen = [short(p) for p in paths if short(p) in labelled]
    print(f"{len(edu)} educational, {len(boiler)} boilerplate; in the label set: {seen or 'none'}")
    scores = QualityClassifier.load(args.classifier).score(texts)
    show(f"classifier {args.classifier}", paths, y, scores)
    if args.judge:
        sys.path.insert(0, str(HERE.parents[1] / "benchmarks"))
        from bench_filter import judge_scores

        meta = json.loads((Path(args.classifier) / "classifier.json").read_text())
        scores, _ = judge_scores(args.judge, [{"text": t} for t in texts],
                                 template=meta["judge"]["template"],
                                 max_chars=meta["view"]["max_chars"], banners=True)  # fmt: skip
        show(f"judge {args.judge}", paths, y, scores)


if __name__ == "__main__":
    main()
