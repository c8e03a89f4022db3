"""JSONL reading: rows with their line numbers, one error naming ``path:line``, and a
last line still being written skipped where the caller asks."""

from __future__ import annotations

import gzip

import pytest

from phi1.errors import Phi1Error
from phi1.io import read_jsonl, read_jsonl_numbered


def test_rows_carry_their_line_numbers_blank_lines_counted(tmp_path):
    text = '{"a": 1}\n\n   \n{"a": 2}\r\n{"a": 3}\n'
    plain = tmp_path / "x.jsonl"
    plain.write_text(text)
    packed = tmp_path / "x.jsonl.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    for path in (plain, packed):
        assert list(read_jsonl_numbered(path)) == [(1, {"a": 1}), (4, {"a": 2}), (5, {"a": 3})]
        assert list(read_jsonl(path)) == [{"a": 1}, {"a": 2}, {"a": 3}]


@pytest.mark.parametrize(
    "line3, message",
    [
        (b"{broken", r"x\.jsonl(\.gz)?:3: invalid JSON"),
        (b"[1, 2]", r"x\.jsonl(\.gz)?:3: expected a JSON object, got list"),
        (b'{"b": 1}', r"x\.jsonl(\.gz)?:3: missing field 'a'"),
        (b'{"a": "\xff"}', r"x\.jsonl(\.gz)?:3: not UTF-8 text"),
    ],
)
def test_a_bad_line_is_named(tmp_path, line3, message):
    # enough text before the bad line that a block decoder reads past several lines at once
    data = b'{"a": "' + b"x" * 20_000 + b'"}\n\n' + line3 + b'\n{"a": 4}\n'
    plain = tmp_path / "x.jsonl"
    plain.write_bytes(data)
    packed = tmp_path / "x.jsonl.gz"
    packed.write_bytes(gzip.compress(data))
    for path in (plain, packed):
        with pytest.raises(Phi1Error, match=message):
            list(read_jsonl(path, required=("a",)))


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(Phi1Error, match="no such file"):
        list(read_jsonl(tmp_path / "missing.jsonl"))
    (tmp_path / "bad.jsonl.gz").write_bytes(b"not gzip")
    with pytest.raises(Phi1Error, match="unreadable gzip file"):
        list(read_jsonl(tmp_path / "bad.jsonl.gz"))


def test_torn_tail_skips_only_a_last_line_cut_short(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3, "b"')
    with pytest.raises(Phi1Error, match=r"rows.jsonl:4: invalid JSON"):
        list(read_jsonl(path))
    assert list(read_jsonl(path, torn_tail=True)) == [{"a": 1}, {"a": 2}]
    path.write_text('{"a": 1}\n{"a": \n{"a": 3}\n')  # a bad line in the middle is no tail
    with pytest.raises(Phi1Error, match=r"rows.jsonl:2: invalid JSON"):
        list(read_jsonl(path, torn_tail=True))
