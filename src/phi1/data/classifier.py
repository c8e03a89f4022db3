"""The quality classifier: a scikit-learn random forest from document embeddings to the
judge's labels (the paper's recipe), with held-out metrics.

``train_classifier(annotations_dir, out_dir)`` embeds the annotated sample, splits it
(stratified, seeded), fits the forest on the training part, reports precision, recall, F1,
ROC-AUC and the confusion matrix on the held-out part ("high" is the positive class), and
saves ``model.joblib`` with ``classifier.json`` (embedder identity, settings, metrics, the
model file's sha256). :class:`QualityClassifier` loads it, checks the file hash, and refuses
to score with an embedder whose identity differs from the one it was trained on.

``model.joblib`` is a pickle: load only classifiers you made or trust.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from phi1.errors import Phi1Error
from phi1.io import atomic_write_json, read_json, sha256_file, sha256_json
from phi1.llm.embed import Embedder, check_identity, load_embedder

LABELS = ("low", "high")  # class 1 = high = educational
MODEL_FILE, META_FILE = "model.joblib", "classifier.json"


MODELS = ("forest", "logistic", "boosted")
WINDOWS = ("judge", "file")


@dataclass(frozen=True)
class ClassifierSettings:
    """How the classifier is trained; ``phi1 classifier train`` takes it as ``classifier:``."""

    embedder: str = "qwen2.5-coder-0.5b-instruct@ask"
    """Embedder spec: a registry model (llama.cpp embedding mode; NAME@last: the last
    token's hidden state; NAME@ask: the last state after the judge's question about the
    window), minilm, hash, code (hand features of code shape), A+B (side by side),
    hf:PATH, phi1:DIR, gguf:PATH. The default, a code LLM's state where it would answer
    the judge's question (the paper's kind of embedding, asked the paper's question), ties
    the best of examples/quality's table by ROC-AUC against the judge cross-validated by
    package (no package on both sides of a fold) and leads it on random folds;
    ``hash+code`` scores hundreds of files per second where this scores under one, and is
    what the laptop recipes use."""
    model: str = "logistic"
    """forest (the paper's random forest), logistic (standardised logistic regression, its
    strength chosen by 5-fold cross-validation on the training part) or boosted (histogram
    gradient boosting)."""
    window: str = "judge"
    """What the classifier embeds: judge (the view of each file the judge rated: leading
    license/generated banners skipped, the same first characters; recorded in
    classifier.json and applied again when scoring) or file (the whole file)."""
    max_chunks: int = 2
    """Windows embedded per document."""
    n_estimators: int = 300
    """Trees in the forest; boosting rounds of the boosted model."""
    max_depth: int | None = None
    """Tree depth limit (None: grow until pure; the boosted model: 3 when None)."""
    min_samples_leaf: int = 1
    """Smallest leaf."""
    class_weight: str | None = "balanced"
    """"balanced" reweights the rarer label; None weighs every example the same."""
    test_size: float = 0.2
    """Held-out share of the labelled documents."""
    seed: int = 0
    """Seed of the split and of the model."""
    batch_size: int = 32
    """Documents per embedding batch."""
    label_rule: str = "judge"
    """judge: the judge's labels; top:F: the share F of documents with the judge's highest
    scores are "high", the rest "low" (for a judge that calls most files "high" but whose
    P(high) still ranks, e.g. the 0.5B one; see annotate.method logprob)."""

    def __post_init__(self) -> None:
        label_top_fraction(self.label_rule)  # validates
        if not 0.0 < self.test_size < 1.0:
            raise Phi1Error(f"test_size must be in (0, 1), got {self.test_size}")
        if self.n_estimators < 1:
            raise Phi1Error(f"n_estimators must be >= 1, got {self.n_estimators}")
        if self.model not in MODELS:
            raise Phi1Error(f"model must be one of {', '.join(MODELS)}, got {self.model!r}")
        if self.window not in WINDOWS:
            raise Phi1Error(f"window must be judge or file, got {self.window!r}")


def train_classifier(
    annotations_dir: str | Path, out_dir: str | Path, settings: ClassifierSettings | None = None
) -> dict[str, Any]:
    """Train, evaluate and save; returns the report (``text`` holds the printable summary)."""
    from phi1.data.annotate import load_annotations

    s = settings or ClassifierSettings()
    annotations, docs = load_annotations(annotations_dir)
    if not annotations:
        raise Phi1Error(f"{annotations_dir}: no annotations yet (run phi1 annotate first)")
    annotations = sorted(annotations, key=lambda a: a["id"])
    y, cut = apply_label_rule(annotations, s.label_rule, where=str(annotations_dir))
    counts = _check_classes(y, str(annotations_dir))
    view = judge_view(annotations_dir) if s.window == "judge" else None
    embedder = load_embedder(s.embedder, max_chunks=s.max_chunks)
    t0 = time.monotonic()
    texts = [apply_view(docs[a["id"]]["text"], view) for a in annotations]
    X = embed_cached(embedder, texts, [a["id"] for a in annotations], Path(out_dir),
                     s.batch_size, view=view)  # fmt: skip
    embed_s = time.monotonic() - t0
    model, metrics, split = _fit_and_evaluate(X, y, s)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    import joblib
    import sklearn

    joblib.dump(model, out / MODEL_FILE)
    meta = {
        "kind": "phi1-quality-classifier",
        "embedder": embedder.identity(),
        "embedder_spec": s.embedder,
        "view": view,
        "labels": list(LABELS),
        "positive": "high",
        "settings": asdict(s),
        "sklearn": sklearn.__version__,
        "annotations": str(annotations_dir),
        "judge": _judge_of(annotations_dir),
        "label_counts": counts,
        "label_rule": s.label_rule,
        "label_score_cut": cut,
        "n_train": int(len(split[0])),
        "n_test": int(len(split[1])),
        "test_ids": [annotations[i]["id"] for i in split[1]],
        "metrics": metrics,
        "embed_seconds": round(embed_s, 1),
        "model_sha256": sha256_file(out / MODEL_FILE),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_json(out / META_FILE, meta)
    return {**meta, "text": format_report(meta)}


def _check_classes(y: np.ndarray, where: str) -> dict[str, int]:
    counts = {lab: int((y == i).sum()) for i, lab in enumerate(LABELS)}
    if min(counts.values()) == 0:
        raise Phi1Error(
            f"{where}: all {len(y)} labels are {LABELS[int(y[0])]!r}; the classifier "
            f"needs examples of both classes (annotate more documents or use another judge)"
        )
    if min(counts.values()) < 2:
        raise Phi1Error(
            f"{where}: only {min(counts.values())} {min(counts, key=counts.get)!r} "
            f"label; a held-out split needs at least 2 of each class"
        )
    return counts


def judge_view(annotations_dir: str | Path) -> dict[str, Any]:
    """The view of each file the judge rated, from the annotation run's settings (runs
    from before banners were skipped saw the plain head of each file)."""
    from phi1.data.annotate import view_rule

    if Path(annotations_dir).is_file():  # a label set: its rows name the view
        from phi1.io import read_jsonl

        return next(iter(read_jsonl(annotations_dir)))["judge"]["view"]
    path = Path(annotations_dir) / "annotate.json"
    settings = read_json(path).get("settings", {}) if path.exists() else {}
    if "max_chars" not in settings:
        raise Phi1Error(f"{path}: no annotate settings; train with --classifier.window file")
    return view_rule(int(settings["max_chars"]), bool(settings.get("strip_banners", False)))


def apply_view(text: str, view: dict[str, Any] | None) -> str:
    """``text`` as the classifier sees it under ``view`` (None: the whole file)."""
    from phi1.data.annotate import VIEW_VERSION, quality_view

    if view is None:
        return text
    if view.get("version") != VIEW_VERSION:
        raise Phi1Error(f"view {view} was made by another phi1 version (view {VIEW_VERSION})")
    return quality_view(text, view["max_chars"], banners=view["strip_banners"])


def _judge_of(annotations_dir: str | Path) -> dict[str, Any] | None:
    if Path(annotations_dir).is_file():
        from phi1.io import read_jsonl

        return next(iter(read_jsonl(annotations_dir)))["judge"]
    path = Path(annotations_dir) / "annotate.json"
    if not path.exists():
        return None
    summary = read_json(path)
    return {"judge": summary.get("judge"), "llm": summary.get("llm"),
            "template": summary.get("settings", {}).get("template")}  # fmt: skip


def label_top_fraction(rule: str) -> float | None:
    """``None`` for the judge's own labels, else the F of ``top:F``."""
    if rule == "judge":
        return None
    kind, _, value = rule.partition(":")
    try:
        fraction = float(value)
    except ValueError:
        fraction = -1.0
    if kind != "top" or not 0.0 < fraction < 1.0:
        raise Phi1Error(f"label_rule must be 'judge' or 'top:F' with 0 < F < 1, got {rule!r}")
    return fraction


def apply_label_rule(
    annotations: list[dict], rule: str, *, where: str
) -> tuple[np.ndarray, float | None]:
    """Labels as class indices (1 = high), and the score cut for ``top:F``."""
    fraction = label_top_fraction(rule)
    if fraction is None:
        return np.array([LABELS.index(a["label"]) for a in annotations]), None
    missing = [a["id"] for a in annotations if not isinstance(a.get("score"), (int, float))]
    if missing:
        raise Phi1Error(
            f"{where}: label_rule {rule} needs a score on every annotation; {len(missing)} "
            f"have none (first: {missing[0]!r})"
        )
    order = sorted(range(len(annotations)), key=lambda i: (-annotations[i]["score"],
                                                           annotations[i]["id"]))  # fmt: skip
    k = max(1, int(round(fraction * len(annotations))))
    y = np.zeros(len(annotations), dtype=int)
    y[order[:k]] = 1
    return y, float(annotations[order[k - 1]]["score"])


def embed_cached(
    embedder: Embedder,
    texts: list[str],
    ids: list[str],
    folder: Path,
    batch_size: int = 32,
    *,
    view: dict[str, Any] | None = None,
) -> np.ndarray:
    """Embeddings of ``texts``, reusing ``folder/embeddings.npz`` when the embedder and the
    view match and it holds every id (retraining with other model settings or on part of a
    sample, e.g. while the judge is still annotating it, skips the slow part)."""
    cache = folder / "embeddings.npz"
    ident = embedding_key(embedder.identity(), view)
    if cache.exists():
        try:
            data = np.load(cache, allow_pickle=False)
            if str(data["identity"]) == ident:
                row = {str(i): n for n, i in enumerate(data["ids"])}
                if all(i in row for i in ids):
                    return data["X"][[row[i] for i in ids]]
        except (OSError, KeyError, ValueError):
            pass  # a damaged or foreign cache is recomputed
    X = embedder.embed(texts, batch_size=batch_size)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".embeddings.tmp.npz"
    np.savez(tmp, X=X, ids=np.array(ids), identity=np.array(ident))
    tmp.replace(cache)
    return X


def embed_unique(embedder: Embedder, views: list[str], batch_size: int) -> np.ndarray:
    """``embedder.embed(views)``, each distinct view embedded once: files that differ only
    in what the view skips (a license header, a generated banner) and exact copies cost one
    embedding, which matters when the embedder is a code LLM at about a file a second."""
    distinct = list(dict.fromkeys(views))
    if len(distinct) == len(views):
        return embedder.embed(views, batch_size=batch_size)
    X = embedder.embed(distinct, batch_size=batch_size)
    row = {v: i for i, v in enumerate(distinct)}
    return X[[row[v] for v in views]]


def embedding_key(identity: dict[str, Any], view: dict[str, Any] | None) -> str:
    """What an embedding cache is keyed by: the embedder and the view of each file."""
    return identity["sha256"] if view is None else sha256_json([identity["sha256"], view])


def build_model(s: ClassifierSettings, n_train: int) -> Any:
    """The unfitted scikit-learn model ``s.model`` names."""
    if s.model == "forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(
            n_estimators=s.n_estimators, max_depth=s.max_depth,
            min_samples_leaf=s.min_samples_leaf, class_weight=s.class_weight,
            random_state=s.seed, n_jobs=1,
        )  # fmt: skip
    if s.model == "boosted":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_iter=s.n_estimators, learning_rate=0.05, max_depth=s.max_depth or 3,
            min_samples_leaf=max(s.min_samples_leaf, 10), class_weight=s.class_weight,
            early_stopping=False, random_state=s.seed,
        )  # fmt: skip
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # Embeddings of hundreds of dimensions from a few hundred labels: the strength of the
    # penalty decides everything, so it is chosen by cross-validation on the training part.
    folds = min(5, max(2, n_train // 20))
    return make_pipeline(
        StandardScaler(),
        LogisticRegressionCV(
            Cs=np.logspace(-4, 1, 11).tolist(), l1_ratios=(0.0,), cv=folds, scoring="roc_auc",
            class_weight=s.class_weight, max_iter=5000, random_state=s.seed,
            use_legacy_attributes=False,
        ),
    )  # fmt: skip


def _fit_and_evaluate(
    X: np.ndarray, y: np.ndarray, s: ClassifierSettings
) -> tuple[Any, dict, tuple]:
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    n_test = max(int(round(s.test_size * len(y))), 2)
    if len(y) - n_test < 2:
        raise Phi1Error(f"{len(y)} labelled documents are too few for a held-out split")
    train, test = train_test_split(idx, test_size=n_test, stratify=y, random_state=s.seed)
    model = build_model(s, len(train))
    model.fit(X[train], y[train])
    prob = model.predict_proba(X[test])[:, list(model.classes_).index(1)]
    pred = (prob >= 0.5).astype(int)
    yt = y[test]
    cm = confusion_matrix(yt, pred, labels=[0, 1])
    metrics = {
        "precision": float(precision_score(yt, pred, zero_division=0)),
        "recall": float(recall_score(yt, pred, zero_division=0)),
        "f1": float(f1_score(yt, pred, zero_division=0)),
        "roc_auc": float(roc_auc_score(yt, prob)) if len(set(yt.tolist())) == 2 else None,
        "accuracy": float(accuracy_score(yt, pred)),
        "majority_baseline": float(max(yt.mean(), 1 - yt.mean())),
        "confusion_matrix": {"labels": list(LABELS), "rows_true_cols_pred": cm.tolist()},
        "threshold": 0.5,
        "test_positive_share": float(yt.mean()),
    }
    return model, metrics, (train, test)


MODEL_NAMES = {"forest": "random forest", "logistic": "logistic regression",
               "boosted": "gradient boosting"}  # fmt: skip


def format_report(meta: dict[str, Any]) -> str:
    m = meta["metrics"]
    (tn, fp), (fn, tp) = m["confusion_matrix"]["rows_true_cols_pred"]
    auc = "n/a" if m["roc_auc"] is None else f"{m['roc_auc']:.3f}"
    lines = [
        f"quality classifier: {_model_line(meta['settings'])} on "
        f"{meta.get('embedder_spec') or meta['embedder']['name']} embeddings "
        f"(dim {meta['embedder']['dim']}) of "
        f"{_view_line(meta.get('view'))}",
        f"labels: {meta['label_counts']['high']} high, {meta['label_counts']['low']} low; "
        f"train {meta['n_train']}, held out {meta['n_test']}",
        f"held-out metrics (positive = high, threshold 0.5): precision {m['precision']:.3f}  "
        f"recall {m['recall']:.3f}  F1 {m['f1']:.3f}  ROC-AUC {auc}  accuracy "
        f"{m['accuracy']:.3f} (majority baseline {m['majority_baseline']:.3f})",
        "confusion matrix (rows = true, columns = predicted):",
        "              pred low  pred high",
        f"  true low   {tn:>8}  {fp:>9}",
        f"  true high  {fn:>8}  {tp:>9}",
    ]
    return "\n".join(lines)


def _model_line(settings: dict[str, Any]) -> str:
    model = settings.get("model", "forest")
    if model == "forest":
        return f"random forest ({settings['n_estimators']} trees)"
    if model == "boosted":
        return f"gradient boosting ({settings['n_estimators']} rounds)"
    return MODEL_NAMES[model]


def _view_line(view: dict[str, Any] | None) -> str:
    if view is None:
        return "whole files"
    banners = ", leading license/generated banners skipped" if view["strip_banners"] else ""
    return f"the judge's view (first {view['max_chars']} characters{banners})"


class QualityClassifier:
    """A trained classifier: ``score(texts)`` -> probability of "high" per text."""

    def __init__(self, folder: str | Path, meta: dict[str, Any], model: Any) -> None:
        self.folder, self.meta, self.model = Path(folder), meta, model
        self._embedder: Embedder | None = None

    @classmethod
    def load(cls, folder: str | Path) -> QualityClassifier:
        folder = Path(folder)
        meta_path, model_path = folder / META_FILE, folder / MODEL_FILE
        if not meta_path.exists() or not model_path.exists():
            raise Phi1Error(
                f"{folder}: not a classifier directory (needs {META_FILE} and {MODEL_FILE}; "
                f"run phi1 classifier train)"
            )
        meta = read_json(meta_path)
        if not isinstance(meta, dict) or meta.get("kind") != "phi1-quality-classifier":
            raise Phi1Error(f"{meta_path}: not a phi1 quality classifier")
        missing = [k for k in ("embedder", "embedder_spec", "settings", "model_sha256")
                   if k not in meta]  # fmt: skip
        if missing:
            raise Phi1Error(f"{meta_path}: damaged, no {', '.join(missing)}; retrain or restore it")
        if sha256_file(model_path) != meta.get("model_sha256"):
            raise Phi1Error(f"{model_path}: sha256 differs from {META_FILE}; retrain or restore it")
        import joblib

        try:
            model = joblib.load(model_path)
        except Exception as e:  # a pickle fails in many ways (scikit-learn versions, damage)
            raise Phi1Error(f"{model_path}: cannot load the model ({type(e).__name__}: {e}); "
                            f"retrain it with this scikit-learn") from None  # fmt: skip
        return cls(folder, meta, model)

    @property
    def sha256(self) -> str:
        return self.meta["model_sha256"]

    @property
    def view(self) -> dict[str, Any] | None:
        """The part of each file the classifier embeds (None: the whole file)."""
        return self.meta.get("view")

    @property
    def embedding_key(self) -> str:
        """Embeddings made under another key do not fit this classifier."""
        return embedding_key(self.meta["embedder"], self.view)

    def embed(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        """The embeddings this classifier scores: each text's view, embedded."""
        views = [apply_view(t, self.view) for t in texts]
        return embed_unique(self.embedder(), views, batch_size)

    def embedder(self, spec: str | None = None) -> Embedder:
        """The embedder this classifier was trained with (checked), loaded lazily."""
        if self._embedder is None:
            settings = self.meta["settings"]
            emb = load_embedder(spec or self.meta["embedder_spec"],
                                max_chunks=settings["max_chunks"])  # fmt: skip
            self.check_embedder(emb)
            self._embedder = emb
        return self._embedder

    def check_embedder(self, embedder: Embedder) -> None:
        check_identity(self.meta["embedder"], embedder, what=f"classifier {self.folder}")

    def score_embeddings(self, X: np.ndarray) -> np.ndarray:
        expected = self.meta["embedder"]["dim"]
        if X.ndim != 2 or X.shape[1] != expected:
            raise Phi1Error(f"classifier {self.folder}: expects {expected}-dim embeddings, "
                            f"got shape {X.shape}")  # fmt: skip
        if len(X) == 0:
            return np.zeros(0, dtype=np.float32)
        classes = list(self.model.classes_)
        return self.model.predict_proba(X)[:, classes.index(1)].astype(np.float32)

    def score(
        self, texts: list[str], *, embedder: Embedder | None = None, batch_size: int = 32
    ) -> np.ndarray:
        """Probability that each text is "high" (educational), read through its view."""
        emb = embedder if embedder is not None else self.embedder()
        if embedder is not None:
            self.check_embedder(embedder)
        views = [apply_view(t, self.view) for t in texts]
        return self.score_embeddings(embed_unique(emb, views, batch_size))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_embedder"] = None
        return state
