"""LLM annotation of a corpus sample for educational value (the labels the classifier learns).

``annotate(...)`` draws a seeded sample stratified by ``meta.source``, asks the judge LLM the
paper's question ("determine its educational value for a student whose goal is to learn
basic coding concepts") through the resumable runner, and parses each answer into an
annotation record ``{"id", "label": "high"|"low", "score": 0-10|None, "rationale", "meta"}``.

The sample is bottom-k by a per-document key from ``random.Random(f"{seed}:{id}")``: it does
not depend on read order, and a larger ``n`` extends a smaller one. Answers that cannot be
parsed become runner rejects (``unparseable``) with the raw text kept for audit.

Output directory: ``sample.jsonl`` (the sampled documents, full text), ``part-*.jsonl``
(annotations), ``rejects-*.jsonl``, ``manifest.json`` (runner), ``annotate.json``
(settings, sample counts per source, label counts).
"""

from __future__ import annotations

import heapq
import json
import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.io import atomic_write_json, read_json, read_jsonl, sha256_json, write_jsonl
from phi1.llm.base import LLM, Completion, GenParams, Request
from phi1.llm.logprob import TokenProbe

# Named prompt templates. str.format fields: {code}, {kind}, {question}. A template may
# carry worked examples (code, answer) that become earlier chat turns. The question is the
# paper's.
QUESTION = (
    "Determine its educational value for a student whose goal is to learn basic coding concepts."
)
TEMPLATES: dict[str, dict[str, Any]] = {
    # For judges that follow instructions (an API model, a larger local model).
    "educational_value": {
        "system": "You are a careful teacher who reviews code for a beginners' programming course.",
        "user": (
            "Here is {kind}:\n\n```python\n{code}\n```\n\n{question}\n"
            "Answer in exactly this format:\n"
            "Educational value: high or low\n"
            "Score: a whole number from 0 (none) to 10 (an excellent lesson)\n"
            "Reason: one sentence."
        ),
    },
    # For small local judges: two worked examples (written for phi1, not from any corpus),
    # then the verdict; read out by next-token probability (--annotate.method logprob).
    "educational_value_fewshot": {
        "user": "```python\n{code}\n```\n\n{question} Answer high or low.",
        "examples": [
            (
                "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', "
                "'NAME': 'db.sqlite3'}}\nALLOWED_HOSTS = ['*']\nDEBUG = True",
                "Educational value: low",
            ),
            (
                'def count_vowels(word):\n    """Count the vowels in a word."""\n    total = 0\n'
                "    for letter in word.lower():\n        if letter in 'aeiou':\n"
                "            total += 1\n    return total",
                "Educational value: high",
            ),
        ],
    },
}
DEFAULT_TEMPLATE = {"generate": "educational_value", "logprob": "educational_value_fewshot"}
DEFAULT_JUDGE = "qwen2.5-coder-0.5b-instruct"
VERDICT_PREFIX = "Educational value:"


def render_prompt(template: str, code: str, kind: str = "a Python source file") -> list[dict]:
    """The chat messages of a named template for one document."""
    if template not in TEMPLATES:
        raise Phi1Error(f"unknown annotation template {template!r}; known: {', '.join(TEMPLATES)}")
    t = TEMPLATES[template]
    messages = [{"role": "system", "content": t["system"]}] if t.get("system") else []
    for example, answer in t.get("examples", ()):
        user = t["user"].format(code=example, kind="a Python source file", question=QUESTION)
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    user = t["user"].format(code=code, kind=kind, question=QUESTION)
    messages.append({"role": "user", "content": user})
    return messages


class VerdictProbe(LLM):
    """A judge read out by probability instead of generation (``--annotate.method logprob``).

    For each chat request it evaluates the prompt followed by the assistant's
    ``"Educational value:"`` and compares the next-token probabilities of " high" and
    " low" (case variants pooled): ``p_high = P(high) / (P(high) + P(low))``. One forward
    pass per document, no sampling, and a graded signal even from a judge whose greedy
    answer is always the same. It answers in the template's format (``Educational value:
    high|low`` by which is likelier, ``Score: 10 * p_high``, ``P(high): ...``) so the usual
    parser reads it. Needs a local llama.cpp judge (a registry name or gguf:PATH).

    The worked examples at the start of every prompt are evaluated once and their state
    kept; each document is then evaluated after them in one call, so a result does not
    depend on which documents came before (resumed runs agree with uninterrupted ones).
    """

    def __init__(self, llm: Any) -> None:
        super().__init__()
        if not all(hasattr(llm, a) for a in ("llama", "render_chat", "tokenize")):
            raise Phi1Error(
                "annotate --annotate.method logprob needs a local llama.cpp judge (a registry name "
                "or gguf:PATH); use --annotate.method generate for HTTP judges"
            )
        self.inner = llm
        self._probe = TokenProbe(llm)
        self._prefix: list[int] | None = None
        self._ids: tuple[list[int], list[int]] | None = None

    def identity(self) -> dict[str, Any]:
        return {**self.inner.identity(), "method": "logprob", "verdict_prefix": VERDICT_PREFIX}

    def stream(self, requests: Iterable[Any]) -> Iterator[tuple[int, Completion]]:
        for i, request in enumerate(requests):
            if request.messages is None:
                raise Phi1Error("annotate --annotate.method logprob takes chat requests")
            p_high, n_prompt = self.p_high(request.messages)
            label = "high" if p_high >= 0.5 else "low"
            text = f"{VERDICT_PREFIX} {label}\nScore: {10 * p_high:.3f}\nP(high): {p_high:.6f}"
            completion = Completion([text], ["stop"], n_prompt, 0)
            self.usage.add(completion)
            yield i, completion

    def p_high(self, messages: list[dict]) -> tuple[float, int]:
        """``(P(high) / (P(high) + P(low)), prompt tokens)`` for one conversation."""
        import numpy as np

        llama = self.inner.llama
        tokens = self.inner.tokenize(self.inner.render_chat(messages) + VERDICT_PREFIX)
        n_ctx = llama.n_ctx()
        if len(tokens) >= n_ctx:
            raise Phi1Error(
                f"annotate: prompt of {len(tokens)} tokens does not fit the judge's context "
                f"({n_ctx}); lower --annotate.max_chars"
            )
        prefix = self._shared_prefix(messages, tokens)
        logits = self._probe.logprobs(tokens, prefix)  # the prefix's evaluation is kept
        high, low = self._verdict_ids()
        lh, ll = _logsumexp(logits[high]), _logsumexp(logits[low])
        return float(1.0 / (1.0 + np.exp(ll - lh))), len(tokens)

    def _shared_prefix(self, messages: list[dict], tokens: list[int]) -> list[int]:
        """Tokens of everything before the last user message (the worked examples)."""
        if self._prefix is None:
            stub = messages[:-1] + [{"role": "user", "content": "\x00"}]
            text = self.inner.render_chat(stub)
            head = text[: text.index("\x00")] if "\x00" in text else ""
            # Drop the last few tokens: the text after the cut may merge with them.
            self._prefix = self.inner.tokenize(head)[:-2] if head else []
        n = len(self._prefix)
        return self._prefix if tokens[:n] == self._prefix else []

    def _verdict_ids(self) -> tuple[list[int], list[int]]:
        if self._ids is None:
            first_tokens = self._probe.first_token_ids
            self._ids = (first_tokens((" high", " High", " HIGH")),
                         first_tokens((" low", " Low", " LOW")))  # fmt: skip
        return self._ids


def _logsumexp(x: Any) -> float:
    import numpy as np

    m = float(np.max(x))
    return m + float(np.log(np.exp(np.asarray(x, dtype=np.float64) - m).sum()))


# -- parsing the judge's answer ---------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    label: str  # "high" | "low"
    score: float | None  # 0-10
    rationale: str


SCORE_HIGH_FROM = 5.0
"""When an answer gives a score but no label, scores >= this are "high"."""

_LABEL = r"(high|low|medium|moderate|average|fair)"
# "high or low" / "high/low" is the template echoed back, not a verdict.
_NOT_A_CHOICE = r"\b(?!\s*(?:or|/|\|)\s*(?:high|low|medium)\b)"
_LABEL_RE = re.compile(
    r"educational[\s_-]*value\s*(?:\(.*?\))?\s*(?:[:=\-\u2013\u2014]|is|would be|:\s*is)\s*"
    r"(?:rated\s+|considered\s+|very\s+|quite\s+|relatively\s+|rather\s+|fairly\s+)*"
    + _LABEL
    + _NOT_A_CHOICE,
    re.IGNORECASE,
)
_LABEL_LINE_RE = re.compile(
    r"^\s*(?:label|answer|verdict|rating|value|result)\s*[:=\-]\s*" + _LABEL + _NOT_A_CHOICE,
    re.IGNORECASE | re.MULTILINE,
)
_PHRASE_RE = re.compile(
    r"\b(?:(not|\w+n't|no|lacks?|without)\s+"
    r"(?:(?:have|has|offer|offers|provide|provides|a|any|very|much|really|particularly)\s+)*)?"
    + r"(high|low|little|limited|minimal|great|significant|strong)\s+educational\s+value",
    re.IGNORECASE,
)
_SCORE_RE = re.compile(
    r"\bscore\s*(?:\(.*?\))?\s*(?:[:=\-\u2013]|is|of)?\s*\**\s*(-?\d+(?:\.\d+)?)\s*"
    r"(/\s*10\b|out of 10\b|/\s*100\b|out of 100\b)?",
    re.IGNORECASE,
)
_BARE_SCORE_RE = re.compile(r"\b(\d+(?:\.\d+)?)\s*(?:/\s*10|out of 10)\b", re.IGNORECASE)
_REASON_RE = re.compile(
    r"(?:reason|rationale|explanation|justification|because)\s*[:=\-]?\s*(.+)",
    re.IGNORECASE | re.DOTALL,
)
_MARKUP_RE = re.compile(r"(\*\*|__|`+|^#+\s*|^\s*[-*]\s+)", re.MULTILINE)


def parse_judgement(text: str) -> Judgement | None:
    """The label, score and rationale in a judge's answer; ``None`` when there is no verdict.

    Accepts the requested ``Educational value: / Score: / Reason:`` lines in any case, with
    markdown, chatter before or after, a JSON object, ``7/10``-style scores, or only a
    phrase ("this code has low educational value"). An explicit label wins over the score;
    a middle label (medium) or none at all is decided by the score.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    found = _from_json(text)
    if found is not None:
        return found
    plain = _MARKUP_RE.sub("", text)
    label = _find_label(plain)
    score = _find_score(plain)
    if label not in ("high", "low"):
        if score is None:
            return None
        label = "high" if score >= SCORE_HIGH_FROM else "low"
    return Judgement(label, score, _find_rationale(plain))


def _find_label(text: str) -> str | None:
    for regex in (_LABEL_RE, _LABEL_LINE_RE):
        m = regex.search(text)
        if m:
            return _canon(m.group(1))
    m = _PHRASE_RE.search(text)
    if m:
        negated, word = m.group(1), m.group(2).lower()
        positive = word in ("high", "great", "significant", "strong")
        if negated:
            positive = False if positive else None  # "not low" says too little
        return None if positive is None else ("high" if positive else "low")
    return None


def _canon(word: str) -> str:
    word = word.lower()
    return word if word in ("high", "low") else "medium"


def _find_score(text: str) -> float | None:
    m = _SCORE_RE.search(text)
    value, scale = (m.group(1), m.group(2)) if m else (None, None)
    if value is None:
        m = _BARE_SCORE_RE.search(text)
        value, scale = (m.group(1), "/10") if m else (None, None)
    if value is None:
        return None
    score = float(value)
    if scale and "100" in scale:
        score /= 10.0
    if not 0.0 <= score <= 10.0:
        return None
    return score


def _find_rationale(text: str) -> str:
    m = _REASON_RE.search(text)
    body = m.group(1) if m else text
    if not m:  # drop the verdict lines, keep the prose
        body = "\n".join(
            line
            for line in body.splitlines()
            if not re.match(r"\s*(educational|score|label)\b", line, re.IGNORECASE)
        )
    return " ".join(body.split())[:1000]


def _from_json(text: str) -> Judgement | None:
    start = text.find("{")
    while start != -1:
        end = text.find("}", start)
        while end != -1:
            try:
                obj = json.loads(text[start : end + 1])
            except json.JSONDecodeError:
                end = text.find("}", end + 1)
                continue
            if isinstance(obj, dict):
                return _judgement_from_dict(obj)
            break
        start = text.find("{", start + 1)
    return None


def _judgement_from_dict(obj: dict) -> Judgement | None:
    lower = {str(k).lower().replace(" ", "_"): v for k, v in obj.items()}
    raw_label = next(
        (lower[k] for k in ("educational_value", "label", "value", "verdict") if k in lower), None
    )
    raw_score = lower.get("score")
    score = None
    if isinstance(raw_score, (int, float)) and not isinstance(raw_score, bool):
        score = float(raw_score) if 0 <= raw_score <= 10 else None
    elif isinstance(raw_score, str):
        score = _find_score(f"score: {raw_score}")
    label = None
    if isinstance(raw_label, str) and re.fullmatch(r"\s*" + _LABEL + r"\s*", raw_label, re.I):
        label = _canon(raw_label.strip())
    if label not in ("high", "low"):
        if score is None:
            return None
        label = "high" if score >= SCORE_HIGH_FROM else "low"
    reason = next(
        (lower[k] for k in ("reason", "rationale", "explanation", "justification") if k in lower),
        "",
    )
    return Judgement(label, score, " ".join(str(reason).split())[:1000])


# -- sampling -------------------------------------------------------------------------------


def sample_key(seed: int, doc_id: str) -> float:
    """The document's place in the seeded random order (smaller = sampled first)."""
    return random.Random(f"{seed}:{doc_id}").random()


def stratified_sample(
    records: Iterable[dict], n: int, *, seed: int = 0, allocation: str = "proportional"
) -> tuple[list[dict], dict[str, dict[str, int]]]:
    """``n`` records (or all, if fewer), stratified by ``meta.source``.

    ``proportional``: each source gets its share of ``n`` by size (largest remainder, at
    least one per source); ``equal``: the same number from each (the rest spread over the
    sources that have more). Returns the sample (sorted by source, then key) and per-source
    ``{"documents", "sampled"}``.
    """
    if n < 1:
        raise Phi1Error(f"sample size must be >= 1, got {n}")
    if allocation not in ("proportional", "equal"):
        raise Phi1Error(f"allocation must be 'proportional' or 'equal', got {allocation!r}")
    heaps: dict[str, list[tuple[float, str, dict]]] = {}
    sizes: Counter = Counter()
    for record in records:
        source = str(record.get("meta", {}).get("source", "unknown"))
        sizes[source] += 1
        key = sample_key(seed, record["id"])
        heap = heaps.setdefault(source, [])
        item = (-key, record["id"], record)  # max-heap on key: keep the n smallest
        if len(heap) < n:
            heapq.heappush(heap, item)
        elif item > heap[0]:
            heapq.heapreplace(heap, item)
    if not sizes:
        raise Phi1Error("the corpus is empty: nothing to sample")
    quota = _allocate(dict(sizes), n, allocation)
    sample, counts = [], {}
    for source in sorted(heaps):
        chosen = sorted(heaps[source], key=lambda t: (-t[0], t[1]))[: quota[source]]
        for rank, (neg_key, _, record) in enumerate(chosen):
            record = {**record, "meta": {**record.get("meta", {})}}
            record["meta"]["sample"] = {
                "seed": seed, "key": -neg_key, "rank": rank, "stratum": source,
                "allocation": allocation,
            }  # fmt: skip
            sample.append(record)
        counts[source] = {"documents": sizes[source], "sampled": len(chosen)}
    return sample, counts


def _allocate(sizes: dict[str, int], n: int, allocation: str) -> dict[str, int]:
    total = sum(sizes.values())
    if n >= total:
        return dict(sizes)
    if allocation == "equal":
        quota = {s: 0 for s in sizes}
        left = n
        while left > 0:
            open_ = [s for s in sorted(sizes) if quota[s] < sizes[s]]
            share = max(left // len(open_), 1)
            for s in open_:
                take = min(share, sizes[s] - quota[s], left)
                quota[s] += take
                left -= take
                if left == 0:
                    break
        return quota
    exact = {s: n * k / total for s, k in sizes.items()}
    quota = {s: max(1, math.floor(v)) for s, v in exact.items()}
    order = sorted(sizes, key=lambda s: (-(exact[s] - math.floor(exact[s])), s))
    i = 0
    while sum(quota.values()) < n:
        s = order[i % len(order)]
        if quota[s] < sizes[s]:
            quota[s] += 1
        i += 1
    while sum(quota.values()) > n:  # the floor of one per source overshot
        s = max(quota, key=lambda k: (quota[k], k))
        quota[s] -= 1
    return quota


# -- the run -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AnnotateSettings:
    """What to sample and how to ask; ``phi1 annotate`` takes it as ``annotate:`` (the judge
    itself is the ``llm:`` section)."""

    n: int = 300
    """Documents to annotate."""
    seed: int = 0
    """Sampling seed (and the judge's sampling seed)."""
    allocation: str = "proportional"
    """How ``n`` is split across sources: proportional or equal."""
    method: str = "auto"
    """generate (parse the judge's answer), logprob (P(high) vs P(low) at the verdict; local
    llama.cpp judges), or auto (logprob for local judges, generate for HTTP ones)."""
    template: str | None = None
    """Prompt template name (phi1.data.annotate.TEMPLATES); default: the method's."""
    max_chars: int = 2000
    """The judge sees the document's first this-many characters (cut at a line end)."""
    max_tokens: int = 96
    """Most tokens the judge may answer with (generate)."""

    def __post_init__(self) -> None:
        if self.method not in ("auto", "generate", "logprob"):
            raise Phi1Error(f"method must be auto, generate or logprob, got {self.method!r}")
        if self.template is not None and self.template not in TEMPLATES:
            raise Phi1Error(
                f"unknown annotation template {self.template!r}; known: {', '.join(TEMPLATES)}"
            )
        if self.max_chars < 100:
            raise Phi1Error(f"max_chars must be >= 100, got {self.max_chars}")


def truncate(text: str, max_chars: int) -> tuple[str, bool]:
    """The head of ``text`` up to ``max_chars``, cut at a line end when possible."""
    if len(text) <= max_chars:
        return text, False
    head = text[:max_chars]
    cut = head.rfind("\n")
    if cut > max_chars // 2:
        head = head[:cut]
    return head + "\n# ... (truncated)", True


def annotate_corpus(
    records: Iterable[dict],
    out_dir: str | Path,
    llm: LLM,
    settings: AnnotateSettings | None = None,
    *,
    judge: str = DEFAULT_JUDGE,
    runner_settings: Any = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Sample, ask ``llm`` (loaded; ``judge`` is its name in every record), parse; returns the
    summary written to ``annotate.json``. A re-run into the same directory reuses the sample
    and skips documents already answered."""
    from phi1.llm.runner import RunnerSettings, read_records, read_rejects, run_jobs

    s = settings or AnnotateSettings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sample = _sample(records, out, s)
    method = s.method
    if method == "auto":
        method = "logprob" if hasattr(llm, "llama") else "generate"
    asked = VerdictProbe(llm) if method == "logprob" else llm
    template = s.template or DEFAULT_TEMPLATE[method]
    params = GenParams(max_tokens=s.max_tokens, temperature=0.0, seed=s.seed)
    fingerprint = {
        "method": method,
        "template": template,
        "template_sha256": sha256_json(TEMPLATES[template]),
        "judge": judge,
        "max_chars": s.max_chars,
        "params": params.to_dict(),
        "sample_seed": s.seed,
        "allocation": s.allocation,
    }
    meta = {"template": template, "method": method, "judge": judge, "seed": s.seed}
    runner = runner_settings or RunnerSettings(progress=progress, flush_every=1)
    result = run_jobs(
        _jobs(sample, template, params, s.max_chars), asked, out,
        postprocess=_postprocess({r["id"]: r for r in sample}, meta), settings=runner,
        fingerprint=fingerprint, desc="annotate",
    )  # fmt: skip
    annotated = read_records(out)
    labels = Counter(r["label"] for r in annotated)
    summary = {
        **read_json(out / "annotate.json"),
        "settings": {**asdict(s), "method": method, "template": template},
        "judge": judge,
        "llm": asked.identity(),
        "annotated": len(annotated),
        "labels": dict(sorted(labels.items())),
        "unparseable": sum(1 for r in read_rejects(out) if r["reason"] == "unparseable"),
        "this_run": {"written": result.written, "rejected": result.rejected,
                     "skipped": result.skipped, "seconds": round(result.seconds, 1)},
    }  # fmt: skip
    atomic_write_json(out / "annotate.json", summary)
    return summary


def _sample(records: Iterable[dict], out: Path, s: AnnotateSettings) -> list[dict]:
    """The sample in ``out/sample.jsonl`` when it was drawn with these settings, else a new
    one (written there, its per-source counts into ``annotate.json``)."""
    sample_path, meta_path = out / "sample.jsonl", out / "annotate.json"
    sample_id = {"n": s.n, "seed": s.seed, "allocation": s.allocation}
    previous = read_json(meta_path) if meta_path.exists() else {}
    if sample_path.exists() and previous.get("sample_settings") == sample_id:
        sample = list(read_jsonl(sample_path, required=("id", "text")))
        print(f"annotate: reusing the sample of {len(sample)} documents in {sample_path}")
        return sample
    sample, counts = stratified_sample(records, s.n, seed=s.seed, allocation=s.allocation)
    write_jsonl(sample_path, sample)
    atomic_write_json(meta_path, {**previous, "sample_settings": sample_id, "sources": counts})
    print(f"annotate: sampled {len(sample)} documents ({_counts_line(counts)})")
    return sample


def _jobs(sample: list[dict], template: str, params: GenParams, max_chars: int) -> list[Any]:
    from phi1.llm.runner import Job

    jobs = []
    for r in sample:
        code, cut = truncate(r["text"], max_chars)
        kind = "a StackOverflow question with answers" if r["meta"].get("reader") == (
            "stackoverflow") else "a Python source file"  # fmt: skip
        request = Request(messages=render_prompt(template, code, kind), params=params)
        jobs.append(Job(id=r["id"], request=request, meta={"truncated": cut}))
    return jobs


def _postprocess(docs: dict[str, dict], meta: dict[str, Any]) -> Any:
    """The runner's postprocess: a judge's answer -> an annotation record, or a reject."""
    from phi1.llm.runner import Reject

    def postprocess(job: Any, completion: Completion) -> dict | Reject:
        raw = completion.text
        doc = docs[job.id]["meta"]
        record_meta = {
            "template": meta["template"], "method": meta["method"], "judge": meta["judge"],
            "raw": raw, "truncated": job.meta["truncated"], "source": doc.get("source"),
            "path": doc.get("path"), "seed": meta["seed"],
        }  # fmt: skip
        found = parse_judgement(raw)
        if found is None:
            return Reject("unparseable", record={"id": job.id, "meta": record_meta},
                          detail=raw[:300])  # fmt: skip
        if meta["method"] == "logprob":
            record_meta["p_high"] = float(raw.rsplit("P(high):", 1)[1])
        return {"label": found.label, "score": found.score, "rationale": found.rationale,
                "meta": record_meta}  # fmt: skip

    return postprocess


def _counts_line(counts: dict[str, dict[str, int]]) -> str:
    return ", ".join(f"{s}: {c['sampled']} of {c['documents']}" for s, c in sorted(counts.items()))


def load_annotations(path: str | Path) -> tuple[list[dict], dict[str, dict]]:
    """``(annotations, sampled documents by id)`` from an annotate directory."""
    from phi1.llm.runner import read_records

    path = Path(path)
    if not path.is_dir():
        raise Phi1Error(f"{path}: not an annotation directory (run phi1 annotate --out DIR)")
    sample_path = path / "sample.jsonl"
    if not sample_path.exists():
        raise Phi1Error(f"{path}: no sample.jsonl (run phi1 annotate --out {path})")
    docs = {r["id"]: r for r in read_jsonl(sample_path, required=("id", "text"))}
    annotations = read_records(path)
    for a in annotations:
        if a.get("label") not in ("high", "low"):
            raise Phi1Error(f"{path}: annotation {a.get('id')!r} has label {a.get('label')!r}")
        if a["id"] not in docs:
            raise Phi1Error(f"{path}: annotation {a['id']!r} is not in sample.jsonl")
    return annotations, docs
