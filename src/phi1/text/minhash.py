"""Exact and near-duplicate detection: normalised hashes and MinHash LSH, vectorised in numpy.

The machinery two stages share (``phi1 dedup`` over a corpus, ``phi1 synth`` over its own
sections); usable on any texts::

    from phi1.text.minhash import DedupSettings, dedup_texts
    keep = dedup_texts(texts, DedupSettings(threshold=0.8))   # indices of the texts to keep

The first occurrence wins; a later text is dropped as

- ``exact-duplicate`` when its normalised form (Unicode NFC, line ends unified, trailing
  whitespace and blank lines removed) hashes like an earlier kept text's, or
- ``near-duplicate`` when its MinHash signature meets an earlier kept text's in some LSH
  band and the signatures agree on at least ``threshold`` of their positions (the estimated
  Jaccard similarity of their word ``ngram`` sets).

How the signature is computed (all in numpy, whole batches at a time): the UTF-8 bytes are
split into words (runs of ASCII letters, digits and ``_``, or any non-ASCII byte), ASCII
lower-cased; each word hashes by a polynomial prefix-sum over its bytes (mod 2**64), each
``ngram`` of consecutive words by a weighted sum of its word hashes plus the murmur3
finaliser (:func:`fmix64`; its top 32 bits kept), and each of the ``num_perm`` hash
functions is a multiply-add ``(a*x + b) mod 2**32`` with random 32-bit ``a`` (odd, so a
bijection) and ``b`` from ``numpy.random.default_rng(seed)``. A text with fewer than
``ngram`` words is one shingle.

Only kept texts enter the index, so in a chain A ~ B ~ C where A and C are not similar,
A and C are both kept. Memory grows with the kept texts (their signatures and band keys):
about 1 KB per text at the defaults.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import xxhash

from phi1.errors import Phi1Error

_EMPTY = np.uint32(0xFFFFFFFF)


@dataclass(frozen=True)
class DedupSettings:
    """What counts as a duplicate; ``phi1 dedup`` takes it as its ``dedup:`` section."""

    exact: bool = True
    """Drop texts whose normalised form matches an earlier text."""
    near: bool = True
    """Drop texts whose MinHash signature is near an earlier text's."""
    threshold: float = 0.8
    """Near-duplicate Jaccard similarity of word n-gram sets (0-1)."""
    num_perm: int = 128
    """MinHash functions per signature."""
    ngram: int = 5
    """Words per shingle."""
    seed: int = 0
    """Seed of the hash-function parameters (recorded in every summary)."""
    bands: int | None = None
    """LSH bands; by default chosen with ``rows`` to balance false positives and negatives at
    ``threshold``."""
    rows: int | None = None
    """Signature positions per band (with ``bands``)."""
    verify: bool = True
    """Confirm LSH candidates by signature agreement >= threshold (fewer false positives)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise Phi1Error(f"dedup threshold must be in (0, 1], got {self.threshold}")
        if self.num_perm < 2:
            raise Phi1Error(f"dedup num_perm must be >= 2, got {self.num_perm}")
        if self.ngram < 1:
            raise Phi1Error(f"dedup ngram must be >= 1, got {self.ngram}")
        if (self.bands is None) != (self.rows is None):
            raise Phi1Error("dedup: give both bands and rows, or neither")
        if self.bands is not None and (
            self.bands < 1 or self.rows < 1 or self.bands * self.rows > self.num_perm
        ):
            raise Phi1Error(
                f"dedup: bands * rows ({self.bands} * {self.rows}) must be <= num_perm "
                f"({self.num_perm})"
            )

    def lsh_params(self) -> tuple[int, int]:
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        return optimal_bands(self.threshold, self.num_perm)


# -- exact ------------------------------------------------------------------------------


def normalize_text(text: str) -> str:
    """The form compared by exact dedup: NFC, ``\\n`` line ends, no trailing whitespace,
    no blank lines."""
    text = unicodedata.normalize("NFC", text)
    lines = (line.rstrip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def exact_key(text: str) -> bytes:
    """A 128-bit hash of :func:`normalize_text`."""
    return xxhash.xxh3_128_digest(normalize_text(text).encode("utf-8", "surrogatepass"))


# -- MinHash ----------------------------------------------------------------------------

# Bytes that belong to words: ASCII letters, digits, underscore, and every non-ASCII byte
# (so words in any script stay whole). ASCII upper case maps to lower case.
_WORD = np.zeros(256, dtype=bool)
for _c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_":
    _WORD[_c] = True
_WORD[128:] = True
_LOWER = np.arange(256, dtype=np.uint64)
_LOWER[ord("A") : ord("Z") + 1] += 32
_BASE = np.uint64(0x100000001B3)  # odd, so invertible mod 2**64
_BASE_INV = np.uint64(pow(int(_BASE), -1, 1 << 64))


def _powers(base: np.uint64, n: int) -> np.ndarray:
    out = np.empty(n, dtype=np.uint64)
    if n:
        out[0] = 1
        np.cumprod(np.full(n - 1, base, dtype=np.uint64), out=out[1:])
    return out


def fmix64(x: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finaliser: spreads structured inputs over all bits."""
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xFF51AFD7ED558CCD)
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xC4CEB9FE1A85EC53)
    return x ^ (x >> np.uint64(33))


class MinHasher:
    """MinHash signatures (N, num_perm) uint32 for batches of texts."""

    def __init__(self, num_perm: int = 128, ngram: int = 5, seed: int = 0) -> None:
        self.num_perm, self.ngram, self.seed = num_perm, ngram, seed
        rng = np.random.default_rng(seed)
        # Hash function k: x -> (a_k * x + b_k) mod 2**32, a_k odd (a bijection of 32-bit
        # values, so it adds no collisions to the premixed shingle hashes).
        self._a = (rng.integers(0, 1 << 32, num_perm, dtype=np.uint64) | np.uint64(1)).astype(
            np.uint32
        )[:, None]
        self._b = rng.integers(0, 1 << 32, num_perm, dtype=np.uint64).astype(np.uint32)[:, None]
        self._weights = fmix64(np.arange(1, ngram + 1, dtype=np.uint64)) | np.uint64(1)

    def shingles(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Unique 32-bit shingle hashes of a batch: ``(doc index, hash)``, sorted by doc."""
        empty = np.zeros(0, np.int64), np.zeros(0, np.uint32)
        # \x00 separates the texts, so a text's own NULs become spaces.
        encoded = [
            (t.replace("\x00", " ") if "\x00" in t else t).encode("utf-8", "surrogatepass")
            for t in texts
        ]
        buf = np.frombuffer(b"\x00".join(encoded), dtype=np.uint8)
        if buf.size == 0:
            return empty
        word = _WORD[buf]  # \x00 is not a word byte, so words never span two texts
        edges = np.diff(word.view(np.int8), prepend=np.int8(0), append=np.int8(0))
        starts = np.flatnonzero(edges == 1)
        ends = np.flatnonzero(edges == -1)
        if starts.size == 0:
            return empty
        text_starts = np.cumsum([0] + [len(e) + 1 for e in encoded[:-1]])
        doc = np.searchsorted(text_starts, starts, side="right") - 1  # (W,) text of each word
        # Polynomial hash of each word from prefix sums: sum_j c_j * B^j, times B^-start.
        with np.errstate(over="ignore"):
            pw = _powers(_BASE, buf.size + 1)
            prefix = np.empty(buf.size + 1, dtype=np.uint64)
            prefix[0] = 0
            np.cumsum(_LOWER[buf] * pw[:-1], out=prefix[1:])
            del pw
            inv = _powers(_BASE_INV, buf.size + 1)
            words = (prefix[ends] - prefix[starts]) * inv[starts]
            del prefix, inv
            words = fmix64(words + (ends - starts).astype(np.uint64))
            n, w = self.ngram, words.size
            # Full shingles start at k with word k+n-1 in the same text (texts are runs).
            m = max(w - n + 1, 0)
            acc = np.zeros(m, dtype=np.uint64)
            for i in range(n):
                acc += words[i : i + m] * self._weights[i]
            full_start = np.flatnonzero(doc[:m] == doc[n - 1 : n - 1 + m])
            hashes = [acc[full_start]]
            docs = [doc[full_start]]
            # A text with fewer than n words is one shingle of all its words.
            counts = np.bincount(doc, minlength=len(texts))
            first = np.concatenate(([0], np.cumsum(counts)[:-1]))
            short = np.flatnonzero((counts > 0) & (counts < n))
            if short.size:
                sacc = np.zeros(short.size, dtype=np.uint64)
                for i in range(n - 1):
                    has = counts[short] > i
                    sacc[has] += words[first[short[has]] + i] * self._weights[i]
                hashes.append(sacc)
                docs.append(short)
            h = fmix64(np.concatenate(hashes) + np.uint64(n))
        # One sort of (doc << 32 | 32-bit hash) gives per-text unique shingles in doc order.
        key = np.concatenate(docs).astype(np.uint64) << np.uint64(32) | (h >> np.uint64(32))
        key.sort()  # np.sort + mask: much faster here than np.unique's hash table
        key = key[np.concatenate(([True], key[1:] != key[:-1]))]
        return (key >> np.uint64(32)).astype(np.int64), (key & np.uint64(0xFFFFFFFF)).astype(
            np.uint32
        )

    def signatures(self, texts: Sequence[str], *, chunk: int = 16384) -> np.ndarray:
        """(N, num_perm) uint32; a text without words gets all 0xFFFFFFFF."""
        docs, x = self.shingles(texts)
        sig = np.full((len(texts), self.num_perm), _EMPTY, dtype=np.uint32)
        if docs.size == 0:
            return sig
        # Chunks end on text boundaries where possible, so few texts straddle two chunks.
        bounds = np.flatnonzero(np.diff(docs)) + 1
        lo = 0
        while lo < docs.size:
            hi = min(lo + chunk, docs.size)
            if hi < docs.size:
                cut = bounds[(bounds > lo) & (bounds <= hi)]
                hi = int(cut[-1]) if cut.size else hi
            d = docs[lo:hi]
            phv = self._a * x[None, lo:hi] + self._b  # (num_perm, S) uint32, wraps mod 2**32
            seg = np.flatnonzero(np.concatenate(([True], d[1:] != d[:-1])))
            mins = np.minimum.reduceat(phv, seg, axis=1).T  # (texts in chunk, num_perm)
            rows = d[seg]
            sig[rows] = np.minimum(sig[rows], mins)  # a text split across chunks
            lo = hi
        return sig


@functools.lru_cache(maxsize=64)
def optimal_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) minimising false-positive plus false-negative probability mass.

    A pair with Jaccard ``s`` becomes a candidate with probability ``1 - (1 - s^r)^b``;
    integrate its error below and above ``threshold`` (trapezoid, 201 points) and take the
    best ``b * r <= num_perm``.
    """
    s_lo = np.linspace(0.0, threshold, 201)
    s_hi = np.linspace(threshold, 1.0, 201)
    best, best_err = (1, num_perm), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = np.trapezoid(1 - (1 - s_lo**r) ** b, s_lo)
            fn = np.trapezoid((1 - s_hi**r) ** b, s_hi)
            if fp + fn < best_err - 1e-12:
                best, best_err = (b, r), fp + fn
    return best


class Deduplicator:
    """Streaming dedup: feed batches of texts; each gets ``None`` (kept) or
    ``(reason, index of the kept text it repeats)``, indices counting every text fed."""

    def __init__(self, settings: DedupSettings | None = None) -> None:
        self.settings = settings or DedupSettings()
        s = self.settings
        self.hasher = MinHasher(s.num_perm, s.ngram, s.seed)
        self.bands, self.rows = s.lsh_params()
        rng = np.random.default_rng([s.seed, 1])
        self._band_mix = rng.integers(0, 1 << 63, (self.bands, self.rows), dtype=np.uint64) * (
            np.uint64(2)
        ) + np.uint64(1)
        self._exact: dict[bytes, int] = {}
        self._tables: list[dict[int, list[int]]] = [{} for _ in range(self.bands)]
        self._kept_sigs: list[np.ndarray] = []
        self._kept_index: dict[int, int] = {}  # global index -> row in _kept_sigs
        self.seen = 0
        self.kept = 0
        self.dropped = {"exact-duplicate": 0, "near-duplicate": 0}

    def describe(self) -> dict[str, Any]:
        return {**asdict(self.settings), "bands": self.bands, "rows": self.rows}

    def feed(self, texts: Sequence[str]) -> list[tuple[str, int] | None]:
        s = self.settings
        results: list[tuple[str, int] | None] = [None] * len(texts)
        base = self.seen
        self.seen += len(texts)
        todo = list(range(len(texts)))
        if s.exact:
            todo = []
            for i, text in enumerate(texts):
                key = exact_key(text)
                first = self._exact.get(key)
                if first is None:
                    self._exact[key] = base + i
                    todo.append(i)
                else:
                    results[i] = ("exact-duplicate", first)
        if s.near and todo:
            sigs = self.hasher.signatures([texts[i] for i in todo])
            keys = self._band_keys(sigs)
            for j, i in enumerate(todo):
                match = self._query(sigs[j], keys[j])
                if match is None:
                    self._insert(base + i, sigs[j], keys[j])
                else:
                    results[i] = ("near-duplicate", match)
        for r in results:
            if r is None:
                self.kept += 1
            else:
                self.dropped[r[0]] += 1
        return results

    def _band_keys(self, sigs: np.ndarray) -> np.ndarray:
        b, r = self.bands, self.rows
        bands = sigs[:, : b * r].reshape(len(sigs), b, r).astype(np.uint64)  # (N, b, r)
        with np.errstate(over="ignore"):
            return fmix64((bands * self._band_mix[None]).sum(axis=2))  # (N, b)

    def _query(self, sig: np.ndarray, keys: np.ndarray) -> int | None:
        tried: set[int] = set()
        for band, key in enumerate(keys.tolist()):
            for cand in self._tables[band].get(key, ()):
                if cand in tried:
                    continue
                tried.add(cand)
                if not self.settings.verify:
                    return cand
                other = self._kept_sigs[self._kept_index[cand]]
                if np.count_nonzero(other == sig) >= self.settings.threshold * sig.size:
                    return cand
        return None

    def _insert(self, index: int, sig: np.ndarray, keys: np.ndarray) -> None:
        if self.settings.verify:
            self._kept_index[index] = len(self._kept_sigs)
            self._kept_sigs.append(sig)
        for band, key in enumerate(keys.tolist()):
            self._tables[band].setdefault(key, []).append(index)


BATCH_CHARS = 2_000_000
"""Texts are hashed in batches of about this many characters: the vectorised pipeline keeps
a few 8-byte values per byte of the batch, so this bounds its memory (~100 MB)."""


def text_batches(items: Iterable[Any], text_of: Callable[[Any], str], batch: int) -> Iterator[list]:
    """``items`` in lists of at most ``batch`` items and about :data:`BATCH_CHARS` characters
    of ``text_of(item)``."""
    pending: list = []
    chars = 0
    for item in items:
        pending.append(item)
        chars += len(text_of(item))
        if len(pending) >= batch or chars >= BATCH_CHARS:
            yield pending
            pending, chars = [], 0
    if pending:
        yield pending


def find_duplicates(
    texts: Iterable[str], settings: DedupSettings | None = None, *, batch: int = 512
) -> list[tuple[str, int] | None]:
    """For each text: ``None`` if kept, else ``(reason, index of the earlier kept text)``."""
    dd = Deduplicator(settings)
    out: list[tuple[str, int] | None] = []
    for chunk in text_batches(texts, lambda t: t, batch):
        out.extend(dd.feed(chunk))
    return out


def dedup_texts(texts: Sequence[str], settings: DedupSettings | None = None) -> list[int]:
    """Indices of the texts to keep (first occurrences), in order."""
    return [i for i, r in enumerate(find_duplicates(texts, settings)) if r is None]


def jaccard(a: str, b: str, ngram: int = 5) -> float:
    """Exact Jaccard similarity of two texts' word ``ngram`` sets (as the signatures see
    them); for tests and audits."""
    docs, hashes = MinHasher(num_perm=2, ngram=ngram).shingles([a, b])
    sa, sb = set(hashes[docs == 0].tolist()), set(hashes[docs == 1].tolist())
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)
