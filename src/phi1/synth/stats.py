"""The diversity report of a synthetic dataset (``phi1 synth stats DIR``).

Reports distinct-n (unique word n-grams / all n-grams, n = 1..4), topic (the topics the
prompts showed the model, :func:`topic_shown`), audience, style, difficulty and
function-name coverage, token counts (the codegen-350M-mono tokenizer the
model trains on), the distribution of pairwise and nearest-neighbour cosine similarity of
sentence embeddings (all-MiniLM-L6-v2, on a seeded sample when the set is large), and the
reject reasons. For textbooks it runs every kept section's code again in the sandbox and
reports the share that runs (and the share that ran among the sections checked when they
were made); for exercises, the agreement of their candidate solutions. Writes
``stats.json`` and ``stats.md`` into DIR.
"""

from __future__ import annotations

import functools
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.io import atomic_write_json, atomic_write_text, read_jsonl

WORD = re.compile(r"\w+|[^\w\s]")


def topic_shown(meta: dict[str, Any]) -> bool:
    """Whether the prompt of a record showed the model its drawn topic: ``meta.topic_shown``
    where it was recorded, else by the hash of its templates when they are phi1's defaults
    (the default exercise prompt has had no ``${topic}`` since session 12), else yes."""
    if "topic_shown" in meta:
        return bool(meta["topic_shown"])
    return _default_topic_shown().get(meta.get("template_hash", ""), True)


@functools.cache
def _default_topic_shown() -> dict[str, bool]:
    """Template hash -> whether it shows the topic (``${topic}``; textbooks' ``${leaf}``),
    for phi1's default templates (computed once: every record of a dataset asks)."""
    from phi1.llm.prompts import TEMPLATES, shows_topic, template_hash

    out = {}
    for user in TEMPLATES:
        system = f"{user.split('.')[0]}.system"
        if system in TEMPLATES and user != system:
            out[template_hash(TEMPLATES, system, user)] = shows_topic(TEMPLATES, system, user)
    return out


def load_dataset(directory: str | Path) -> tuple[list[dict], list[dict], str]:
    """(records, rejects, kind) of a textbooks/exercises output or a bare runner directory."""
    d = Path(directory)
    if not d.is_dir():
        raise Phi1Error(f"{d}: no such directory")
    for kind in ("textbooks", "exercises"):
        final = d / f"{kind}.jsonl"
        if final.exists():
            records = list(read_jsonl(final, required=("id", "text")))
            # the runner passes' rejects (generated/, statements/), then the later checks'
            files = sorted(d.glob("*/rejects-*.jsonl")) + sorted(d.glob("rejects-*.jsonl"))
            rejects = [r for p in files if p.exists() for r in read_jsonl(p)]
            return records, rejects, kind
    parts = sorted(d.glob("part-*.jsonl"))
    if parts:
        records = [r for p in parts for r in read_jsonl(p, required=("id", "text"))]
        rejects = [r for p in sorted(d.glob("rejects-*.jsonl")) for r in read_jsonl(p)]
        return records, rejects, "records"
    raise Phi1Error(f"{d}: no textbooks.jsonl, exercises.jsonl or part-*.jsonl to report on")


def distinct_n(texts: list[str], n: int) -> float:
    grams: Counter = Counter()
    total = 0
    for text in texts:
        words = WORD.findall(text.lower())
        for k in range(len(words) - n + 1):
            grams[tuple(words[k : k + n])] += 1
            total += 1
    return len(grams) / total if total else 0.0


def _quantiles(values: list[float]) -> dict[str, float]:
    import numpy as np

    if not values:
        return {}
    a = np.asarray(values, dtype=np.float64)
    q = np.quantile(a, [0.0, 0.1, 0.5, 0.9, 0.99, 1.0])
    out = dict(
        zip(
            ["min", "p10", "p50", "p90", "p99", "max"], (round(float(x), 4) for x in q), strict=True
        )
    )
    out["mean"] = round(float(a.mean()), 4)
    return out  # fmt: skip


def similarity(texts: list[str], *, sample: int, seed: int, spec: str) -> dict[str, Any]:
    """Cosine similarity of embeddings: all pairs and each text's nearest neighbour."""
    import numpy as np

    from phi1.llm.embed import load_embedder

    idx = list(range(len(texts)))
    if len(idx) > sample:
        idx = sorted(random.Random(f"{seed}:stats-sample").sample(idx, sample))
    if len(idx) < 2:
        return {"texts": len(idx)}
    embedder = load_embedder(spec)
    x = embedder.embed([texts[i] for i in idx])  # (N, dim), rows L2-normalised
    sims = x @ x.T  # (N, N)
    iu = np.triu_indices(len(idx), k=1)
    pairs = sims[iu]
    np.fill_diagonal(sims, -np.inf)
    nearest = sims.max(axis=1)
    hist, edges = np.histogram(pairs, bins=10, range=(0.0, 1.0))
    return {
        "embedder": embedder.identity().get("name", spec),
        "texts": len(idx),
        "sample_seed": seed if len(texts) > sample else None,
        "pairwise": _quantiles(pairs.tolist()),
        "nearest_neighbour": _quantiles(nearest.tolist()),
        "pairwise_histogram": {
            f"{edges[k]:.1f}-{edges[k + 1]:.1f}": int(hist[k]) for k in range(len(hist))
        },
    }


def compute_stats(
    directory: str | Path, *, embed: bool = True, sample: int = 2000, seed: int = 0,
    embedder: str = "minilm", run_code: bool = True,
) -> dict[str, Any]:  # fmt: skip
    records, rejects, kind = load_dataset(directory)
    texts = [r["text"] for r in records]
    metas = [r.get("meta") or {} for r in records]
    stats: dict[str, Any] = {"directory": str(directory), "kind": kind, "records": len(records)}
    stats["rejects"] = len(rejects)
    stats["reject_reasons"] = dict(Counter(r.get("reason", "?") for r in rejects).most_common())

    from phi1.model.tokenizer import get_tokenizer

    tokens = [len(ids) for ids in get_tokenizer().encode_batch(texts)] if texts else []
    stats["tokens"] = {"total": sum(tokens), **_quantiles([float(t) for t in tokens])}
    stats["words"] = _quantiles([float(len(t.split())) for t in texts])
    stats["distinct_n"] = {str(n): round(distinct_n(texts, n), 4) for n in (1, 2, 3, 4)}

    from phi1.synth.topics import leaves

    all_topics = {t.leaf for t in leaves()}
    shown = [m for m in metas if m.get("topic") and topic_shown(m)]
    topics = Counter(m["topic"] for m in shown)
    stats["coverage"] = {
        "topics_used": len(topics),
        "topics_not_shown": sum(1 for m in metas if m.get("topic")) - len(shown),
        "topics_in_tree": len(all_topics),
        "topic_share": round(len(set(topics) & all_topics) / len(all_topics), 4),
        "areas": dict(Counter(m.get("area") for m in metas if m.get("area")).most_common()),
        "most_common_topics": dict(topics.most_common(10)),
    }
    for field in ("audience", "style", "difficulty"):
        values = Counter(m.get(field) for m in metas if m.get(field))
        if values:
            stats["coverage"][field] = dict(values.most_common())
    names = [m.get("function_name") for m in metas if m.get("function_name")]
    if names:
        stats["coverage"]["function_names"] = len(set(names))
        stats["coverage"]["function_names_distinct_share"] = round(len(set(names)) / len(names), 4)
    if embed and len(texts) >= 2:
        stats["similarity"] = similarity(texts, sample=sample, seed=seed, spec=embedder)
    if kind == "textbooks" and run_code:
        stats["code_runs"] = code_runs(records, rejects)
    agreed = [m["agreement"] for m in metas if m.get("agreement")]
    if agreed:
        stats["agreement"] = {
            "k": agreed[0]["k"],
            "m": agreed[0]["m"],
            "largest_group": dict(sorted(Counter(a["groups"][0] for a in agreed).items())),
            "inputs_in_domain": _quantiles([float(a["inputs"]["domain"]) for a in agreed]),
        }
    return stats


def code_runs(records: list[dict], rejects: list[dict]) -> dict[str, Any]:
    """Run each section's code again (in order, one namespace, in the sandbox): the share
    of kept sections whose code runs, and of those checked when made, the share that ran."""
    from phi1.sandbox.execute import Limits, Sandbox
    from phi1.synth.textbooks import run_sections

    with Sandbox(None, Limits(timeout=10.0)) as box:
        verdicts = run_sections([r["text"] for r in records], box) if records else []
    runs = sum(v["runs"] for v in verdicts)
    failed = sum(r.get("reason") == "code_fails" for r in rejects)
    passed_then = len(records) + sum(r.get("reason") in ("near_duplicate", "duplicate")
                                     for r in rejects)  # fmt: skip
    out: dict[str, Any] = {
        "sections": len(records),
        "run": runs,
        "share": round(runs / len(records), 4) if records else None,
        "failing": [
            {"id": r["id"], "detail": v["detail"]}
            for r, v in zip(records, verdicts, strict=True)
            if not v["runs"]
        ],
    }
    if failed:
        out["checked_when_made"] = passed_then + failed
        out["share_when_made"] = round(passed_then / (passed_then + failed), 4)
    return out


def render_markdown(stats: dict[str, Any]) -> str:
    lines = [f"# Diversity report: {stats['directory']}", ""]
    lines.append(
        f"- kind: {stats['kind']}; records: {stats['records']}; rejects: {stats['rejects']}"
    )
    tok = stats["tokens"]
    if tok.get("total"):
        lines.append(
            f"- tokens (codegen-350M-mono): total {tok['total']}, mean {tok['mean']}, "
            f"median {tok['p50']}, min {tok['min']}, max {tok['max']}"
        )
    lines.append("- distinct-n: " + ", ".join(f"{n}: {v}" for n, v in stats["distinct_n"].items()))
    cov = stats["coverage"]
    hidden = cov.get("topics_not_shown", 0)
    if cov["topics_used"] or not hidden:
        lines.append(
            f"- topics: {cov['topics_used']} distinct of {cov['topics_in_tree']} leaves "
            f"({cov['topic_share']:.1%} of the tree)"
            + (f"; {hidden} more records drew a topic their prompt did not show" if hidden else "")
        )
    else:
        lines.append(f"- topics: none shown to the model ({hidden} records drew one; their "
                     "prompt has no ${topic}, so the names carry the diversity)")  # fmt: skip
    for field in ("areas", "audience", "style", "difficulty"):
        if cov.get(field):
            lines.append(f"- {field}: " + "; ".join(f"{k} ({v})" for k, v in cov[field].items()))
    if "function_names" in cov:
        lines.append(
            f"- function names: {cov['function_names']} distinct "
            f"({cov['function_names_distinct_share']:.1%} of records)"
        )
    sim = stats.get("similarity")
    if sim and "pairwise" in sim:
        p, nn = sim["pairwise"], sim["nearest_neighbour"]
        lines.append(
            f"- embedding cosine similarity ({sim['embedder']}, {sim['texts']} texts): pairwise "
            f"mean {p['mean']}, p50 {p['p50']}, p90 {p['p90']}, max {p['max']}; nearest "
            f"neighbour p50 {nn['p50']}, p90 {nn['p90']}, max {nn['max']}"
        )
        lines.append(
            "- pairwise histogram: "
            + ", ".join(f"{k}: {v}" for k, v in sim["pairwise_histogram"].items())
        )
    code = stats.get("code_runs")
    if code and code["sections"]:
        line = (
            f"- code that runs (every block in order, one namespace, sandboxed): "
            f"{code['run']} of {code['sections']} kept sections ({code['share']:.1%})"
        )
        if "share_when_made" in code:
            line += (
                f"; {code['share_when_made']:.1%} of the {code['checked_when_made']} "
                "checked when made (the others were rejected)"
            )
        lines.append(line)  # fmt: skip
    agreement = stats.get("agreement")
    if agreement:
        lines.append(
            f"- agreement: k {agreement['k']}, m {agreement['m']}; largest group of the kept: "
            + "; ".join(
                f"{g} of {agreement['k']} ({n})" for g, n in agreement["largest_group"].items()
            )  # fmt: skip
            + f"; inputs in the domain: median {agreement['inputs_in_domain'].get('p50')}"
        )
    if stats["reject_reasons"]:
        lines.append(
            "- reject reasons: "
            + "; ".join(f"{k} ({v})" for k, v in stats["reject_reasons"].items())
        )
    return "\n".join(lines) + "\n"


def write_stats(directory: str | Path, **options: Any) -> dict[str, Any]:
    stats = compute_stats(directory, **options)
    atomic_write_json(Path(directory) / "stats.json", stats)
    atomic_write_text(Path(directory) / "stats.md", render_markdown(stats))
    return stats
