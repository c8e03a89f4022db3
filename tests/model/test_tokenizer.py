"""The codegen-350M-mono tokenizer: known vectors, the whitespace table, exact round trips,
and the fast path's ids against the Hugging Face ``tokenizers`` reference."""

from __future__ import annotations

import functools
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phi1.errors import Phi1Error
from phi1.model import tokenizer as tokenizer_module
from phi1.model.tokenizer import (
    EOT_ID,
    WHITESPACE_TOKENS,
    build_reference,
    get_tokenizer,
    is_codegen_tokenizer,
    load_tokenizer,
)


@functools.lru_cache(maxsize=1)
def reference():
    return build_reference()


def ref_ids(text: str) -> list[int]:
    return reference().encode(text, add_special_tokens=False).ids


def test_known_vectors():
    tok = get_tokenizer()
    assert tok.encode("Hello World") == [15496, 2159]
    assert tok.encode(" Hello World") == [18435, 2159]
    assert tok.encode("  ") == [50286]
    assert tok.eot_id == EOT_ID == 50256
    assert tok.vocab_size == 50295
    assert reference().get_vocab_size() == tok.vocab_size
    for text in ("Hello World", " Hello World", "  "):
        assert ref_ids(text) == tok.encode(text)


def test_whitespace_table_follows_codegen_order():
    tok = get_tokenizer()
    table = {" " * n: 50257 + (31 - n) for n in range(31, 1, -1)}
    table.update({"\t" * n: 50287 + (9 - n) for n in range(9, 1, -1)})
    assert len(table) == 38 and sorted(table.values()) == list(range(50257, 50295))
    assert list(table) == list(WHITESPACE_TOKENS)
    for text, token_id in table.items():
        assert tok.encode(text) == [token_id], repr(text)
        assert reference().token_to_id(text) == token_id
        assert tok.decode([token_id]) == text


@pytest.mark.parametrize(
    "text",
    [
        "a  b",  # an added token cuts the text: "b" loses GPT-2's leading space
        " " * 32 + "x",  # 31 + a single space that joins the word after it
        " " * 62,
        " " * 33,
        "\t" * 10 + "y",
        "\t\t  \t \n",
        "def f(x):\n    return x  # note\n\n\n",
        "x \n  y",
        "a\n \n\t\tb",
        "it's   they'll\t\t've",
        "   \u00a0\u3000  \r\n\r\n  ",
    ],
)
def test_whitespace_runs_split_like_hugging_face(text):
    tok = get_tokenizer()
    assert tok.encode(text) == ref_ids(text)
    assert tok.decode(tok.encode(text)) == text


def test_endoftext_is_text_unless_allowed():
    tok = get_tokenizer()
    text = "a<|endoftext|>b"
    assert EOT_ID not in tok.encode(text)
    assert tok.encode(text) == ref_ids(text)
    assert tok.encode(text, allow_special=True) == [tok.encode("a")[0], EOT_ID, tok.encode("b")[0]]
    assert tok.decode(tok.encode(text, allow_special=True)) == text
    assert tok.encode_batch([text, text], allow_special=True)[1] == tok.encode(
        text, allow_special=True
    )


def test_encode_batch_matches_encode():
    tok = get_tokenizer()
    texts = ["", "x", "  y  ", "def g():\n\treturn 1\n"] * 5
    expected = [tok.encode(t) for t in texts]
    assert tok.encode_batch(texts) == expected
    assert tok.encode_batch(texts, num_threads=1) == expected
    assert tok.encode_batch(iter(texts), num_threads=2) == expected
    with pytest.raises(TypeError, match="list of texts"):
        tok.encode_batch("not a list")


def test_decode_skips_ids_beyond_the_vocab():
    tok = get_tokenizer()
    # the model's embedding is padded to 51200 rows; Hugging Face drops unknown ids too
    assert tok.decode([15496, 50295, 51199, 2159]) == "Hello World"
    assert tok.decode([]) == ""


def test_identity_is_stable():
    ident = get_tokenizer().identity()
    assert ident["name"] == "codegen-350M-mono" and ident["vocab_size"] == 50295
    assert len(ident["sha256"]) == 64
    assert tokenizer_module.Tokenizer().identity() == ident


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.one_of(
            st.sampled_from(
                [" ", " ", " ", "\t", "\t", "\n", "\r", "'", "s", "l", "1", "_", "\u00a0"]
            ),
            st.characters(blacklist_categories=("Cs",)),
        ),
        max_size=80,
    )
)
def test_hypothesis_fast_equals_reference_and_round_trips(text):
    tok = get_tokenizer()
    ids = tok.encode(text)
    assert ids == ref_ids(text)
    assert tok.decode(ids) == text


# Both tokenizers cut text into pieces that never span a non-space followed by a space (no
# GPT-2 regex alternative and no whitespace token does), and nothing looks back across such
# a point; so a text's ids are the concatenation of its chunks' ids, and the reference only
# needs each distinct chunk of the standard library once (11 MB of 31 MB).
_CHUNK_BOUNDARY = re.compile(r"(?<=\S)(?=\s)")


@pytest.mark.slow
def test_stdlib_fast_path_equals_reference_and_round_trips(stdlib_texts, monkeypatch):
    tok = get_tokenizer()
    fast = tok.encode_batch(stdlib_texts)
    assert sum(map(len, fast)) > 1_000_000
    for text, ids in zip(stdlib_texts, fast, strict=True):
        assert tok.decode(ids) == text

    # the reference is the slow part: let Hugging Face use every core
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "true")
    chunked = [_CHUNK_BOUNDARY.split(text) for text in stdlib_texts]
    distinct = list(dict.fromkeys(c for chunks in chunked for c in chunks))
    encoded = reference().encode_batch(distinct, add_special_tokens=False)
    ref_of = {chunk: e.ids for chunk, e in zip(distinct, encoded, strict=True)}
    mismatched = [
        i
        for i, (chunks, ids) in enumerate(zip(chunked, fast, strict=True))
        if [t for c in chunks for t in ref_of[c]] != ids
    ]
    assert not mismatched, f"{len(mismatched)} files differ, first index {mismatched[:1]}"

    # and the chunking itself, checked directly on whole files
    sample = list(range(0, len(stdlib_texts), 40))
    whole = reference().encode_batch([stdlib_texts[i] for i in sample], add_special_tokens=False)
    assert [e.ids for e in whole] == [fast[i] for i in sample]


def test_saved_files_load_with_transformers(tmp_path):
    from transformers import AutoTokenizer

    tok = get_tokenizer()
    tok.save(tmp_path)
    hf = AutoTokenizer.from_pretrained(tmp_path)
    assert len(hf) == tok.vocab_size and hf.eos_token_id == EOT_ID
    for text in ["Hello World", "a , b . c ! d 's", "x\n\t\t  \t y", "def f():\n    pass\n"]:
        ids = hf.encode(text)
        assert ids == tok.encode(text)
        assert hf.decode(ids) == text  # no clean-up of tokenization spaces
    assert is_codegen_tokenizer(tmp_path)
    assert load_tokenizer(tmp_path) is tok
    # what transformers writes back is still recognised
    hf.save_pretrained(tmp_path / "resaved")
    assert load_tokenizer(tmp_path / "resaved") is tok


def test_load_tokenizer_errors(tmp_path):
    with pytest.raises(Phi1Error, match="no tokenizer.json"):
        load_tokenizer(tmp_path)
    get_tokenizer().save(tmp_path)
    data = json.loads((tmp_path / "tokenizer.json").read_text())
    data["added_tokens"] = data["added_tokens"][:-1]
    (tmp_path / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(Phi1Error, match="not the codegen-350M-mono"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text('{"model": ')
    with pytest.raises(Phi1Error, match="tokenizer.json:1: invalid JSON"):
        load_tokenizer(tmp_path)


def test_bpe_files_are_hash_checked(monkeypatch):
    files = dict(tokenizer_module.BPE_FILES)
    files["vocab.bpe"] = "0" * 64
    monkeypatch.setattr(tokenizer_module, "BPE_FILES", files)
    tokenizer_module._bpe_files.cache_clear()
    try:
        with pytest.raises(Phi1Error, match=r"vocab.bpe: sha256 1ce1664773c50f3e"):
            tokenizer_module._bpe_files()
    finally:
        tokenizer_module._bpe_files.cache_clear()
