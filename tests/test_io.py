"""phi1.io: reading JSONL that another process may still be writing."""

from __future__ import annotations

import pytest

from phi1.errors import Phi1Error
from phi1.io import read_jsonl


def test_torn_tail_skips_only_a_last_line_cut_short(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3, "b"')
    with pytest.raises(Phi1Error, match=r"rows.jsonl:4: invalid JSON"):
        list(read_jsonl(path))
    assert list(read_jsonl(path, torn_tail=True)) == [{"a": 1}, {"a": 2}]
    path.write_text('{"a": 1}\n{"a": \n{"a": 3}\n')  # a bad line in the middle is no tail
    with pytest.raises(Phi1Error, match=r"rows.jsonl:2: invalid JSON"):
        list(read_jsonl(path, torn_tail=True))
