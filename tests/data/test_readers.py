"""Readers on fixtures in the real formats: files, Stack Parquet, JSONL, Posts.xml."""

from __future__ import annotations

import gzip
import importlib.util
import itertools
import json
import shutil
from pathlib import Path

import pytest

from phi1.data.readers import (
    ReaderSettings,
    ReadStats,
    html_to_text,
    parse_source,
    read_corpus,
    read_paths,
    read_source,
)
from phi1.errors import Phi1Error

ASSETS = Path(__file__).parents[1] / "assets" / "data"


def _read(spec, **kw):
    stats = ReadStats()
    records = list(read_source(spec, stats=stats, **kw))
    return records, stats


@pytest.fixture
def src_tree(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "pkg" / "good.py").write_text("def f():\n    return 1\n")
    (root / "pkg" / "bom.py").write_bytes("\ufeffx = 'caf\u00e9'\n".encode())
    (root / "pkg" / "latin1.py").write_bytes("# caf\xe9\nx = 1\n".encode("latin-1"))
    (root / "pkg" / "blob.py").write_bytes(b"\x00\x01\x02binary")
    (root / "pkg" / "empty.py").write_text("\n   \n")
    (root / "pkg" / "big.py").write_text("x = 1\n" * 400)
    (root / "pkg" / "notes.txt").write_text("not python")
    (root / "pkg" / "__pycache__" / "good.py").write_text("x = 2\n")
    (root / ".hidden" / "secret.py").write_text("x = 3\n")
    (root / "a.py").write_text("print('top')\n")
    return root


def test_directory_reader_counts_and_skips_bad_files(src_tree):
    records, stats = _read(f"mine=dir:{src_tree}", settings=ReaderSettings(max_bytes=1000))
    assert [r["id"] for r in records] == ["mine/a.py", "mine/pkg/bom.py", "mine/pkg/good.py"]
    assert records[1]["text"] == "x = 'caf\u00e9'\n"  # BOM dropped, UTF-8 decoded
    assert records[2]["meta"] == {
        "source": "mine",
        "reader": "files",
        "path": "pkg/good.py",
        "root": str(src_tree),
        "bytes": 22,
    }
    assert stats.read == 3
    assert dict(stats.skipped) == {"binary": 1, "non-utf8": 1, "empty": 1, "oversized": 1}
    assert stats.examples["non-utf8"] == ["mine/pkg/latin1.py"]


def test_directory_reader_extensions(src_tree):
    records, _ = _read(str(src_tree), settings=ReaderSettings(extensions=("txt",)))
    assert [r["id"] for r in records] == ["proj/pkg/notes.txt"]


def test_shards_partition_the_corpus(src_tree):
    full = {r["id"] for r in read_source(str(src_tree))}
    shards = [{r["id"] for r in read_source(str(src_tree), rank=k, world_size=3)} for k in range(3)]
    assert set().union(*shards) == full
    assert sum(len(s) for s in shards) == len(full)


def test_stdlib_source_is_real_code_without_site_packages():
    stats = ReadStats()
    first = list(itertools.islice(read_source("stdlib", stats=stats), 40))
    assert len(first) == 40 and all(r["id"].startswith("stdlib/") for r in first)
    assert not any("site-packages" in r["meta"]["path"] for r in first)
    assert any("def " in r["text"] for r in first)
    assert parse_source("site-packages").name == "site-packages"


def test_stack_parquet_rows_map_to_records():
    records, stats = _read(str(ASSETS / "stack_python.parquet"))
    assert [r["meta"]["path"] for r in records] == [
        "src/mathutils/gcd.py",
        "setup.py",
        "tests/test_strings.py",
    ]
    first = records[0]
    assert first["text"].startswith("def gcd(a, b):")
    assert first["meta"]["repo"] == "alice/mathutils" and first["meta"]["lang"] == "Python"
    assert first["meta"]["license"] == "MIT" and first["meta"]["source"] == "parquet"
    assert len({r["id"] for r in records}) == 3
    assert dict(stats.skipped) == {"binary": 1, "empty": 1, "no-text": 1}


def test_parquet_without_text_column_and_damaged_file(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"blob": ["x"]}), tmp_path / "t.parquet")
    with pytest.raises(Phi1Error, match=r"t\.parquet: no text column"):
        _read(str(tmp_path / "t.parquet"))
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 this is not parquet")
    records, stats = _read(str(tmp_path / "bad.parquet"))
    assert records == [] and stats.skipped["unreadable-parquet"] == 1


def test_parquet_directory_source(tmp_path):
    for i in range(2):
        shutil.copy(ASSETS / "stack_python.parquet", tmp_path / f"train-{i:05d}.parquet")
    records, _ = _read(f"stack=parquet:{tmp_path}")
    assert len(records) == 6 and len({r["id"] for r in records}) == 6
    assert {r["meta"]["source"] for r in records} == {"stack"}


def test_jsonl_reader_passes_records_and_skips_bad_lines(tmp_path):
    lines = [
        json.dumps({"id": "doc-1", "text": "x = 1\n", "meta": {"source": "earlier", "k": 1}}),
        json.dumps(
            {"content": "def g():\n    pass\n", "max_stars_repo_path": "g.py", "lang": "Python"}
        ),
        "{not json",
        "[1, 2]",
        json.dumps({"content": 42}),
        json.dumps({"title": "no text here"}),
        "",
    ]
    path = tmp_path / "rows.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")
    records, stats = _read(str(path))
    assert records[0] == {"id": "doc-1", "text": "x = 1\n", "meta": {"source": "earlier", "k": 1}}
    assert records[1]["meta"]["path"] == "g.py" and records[1]["meta"]["lang"] == "Python"
    assert records[1]["id"].endswith("rows.jsonl.gz:2")
    assert len(records) == 2
    assert dict(stats.skipped) == {
        "malformed-json": 2,
        "text-not-a-string": 1,
        "no-text-column": 1,
    }
    assert stats.examples["malformed-json"][0].endswith("rows.jsonl.gz:3")


def test_posts_xml_question_with_accepted_and_best_answers():
    records, stats = _read(str(ASSETS / "Posts.xml"))
    by_id = {r["id"]: r for r in records}
    assert sorted(by_id) == [
        "stackoverflow/1",
        "stackoverflow/2",
        "stackoverflow/6",
        "stackoverflow/8",
    ]
    q1 = by_id["stackoverflow/1"]
    # Accepted answer (id 4) first, then the best-scored other answer (id 3); id 10 is cut.
    assert q1["meta"]["answers"] == ["4", "3"]
    assert q1["meta"]["tags"] == ["python", "list"]
    text = q1["text"]
    assert text.startswith("Question: How do I reverse a list in Python?")
    assert text.index("Accepted answer:") < text.index("xs.reverse()") < text.index("Answer:\n")
    assert "```\nxs = [1, 2, 3]\nprint(xs[::-1])\n```" in text  # code block kept verbatim
    assert "`[1, 2, 3]`" in text and "reversed" not in text
    q2 = by_id["stackoverflow/2"]["text"]
    assert "while i < 10:\n    print(i)\n    i += 1\n```" in q2  # entities decoded in code
    # The accepted answer of question 8 is gone from the dump; its other answer stands in.
    assert by_id["stackoverflow/8"]["meta"]["answers"] == ["11"]
    assert by_id["stackoverflow/6"]["meta"]["answers"] == []
    assert dict(stats.skipped) == {"malformed-xml": 1}


def test_posts_xml_tag_filter_and_shards():
    settings = ReaderSettings(so_tags=("python",), so_max_answers=1)
    records, _ = _read(f"so:{ASSETS / 'Posts.xml'}", settings=settings)
    assert sorted(r["id"] for r in records) == [
        "stackoverflow/1",
        "stackoverflow/2",
        "stackoverflow/8",
    ]
    assert next(r for r in records if r["id"] == "stackoverflow/1")["meta"]["answers"] == ["4"]
    shards = [
        [r["id"] for r in read_source(str(ASSETS / "Posts.xml"), rank=k, world_size=2)]
        for k in range(2)
    ]
    assert sorted(shards[0] + shards[1]) == sorted(
        r["id"] for r in read_source(str(ASSETS / "Posts.xml"))
    )
    assert not set(shards[0]) & set(shards[1])


def test_posts_xml_truncated_and_non_utf8_rows(tmp_path):
    good = (ASSETS / "Posts.xml").read_bytes()
    bad_row = b'  <row Id="50" PostTypeId="1" Title="caf\xe9" Body="x" Tags="&lt;python&gt;" />\n'
    cut = good.replace(b"</posts>\n", b"") + bad_row + b'  <row Id="51" PostTypeId="1" Body="'
    path = tmp_path / "Posts.xml"
    path.write_bytes(cut)
    records, stats = _read(str(path))
    assert len(records) == 4
    assert stats.skipped["non-utf8"] == 1 and stats.skipped["malformed-xml"] == 2


def test_html_to_text():
    body = (
        "<p>Use <code>sorted()</code> &amp; friends:</p>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>"
        "\n<pre><code>def f(x):\n    return x &lt; 2\n</code></pre>\n<p>Done<br>now.</p>"
    )
    assert html_to_text(body) == (
        "Use `sorted()` & friends:\n\n- one\n- two\n\n```\ndef f(x):\n    return x < 2\n```\n\n"
        "Done\nnow."
    )


def test_source_specs_and_their_errors(tmp_path, src_tree):
    assert parse_source(f"x=dir:{src_tree}").name == "x"
    assert parse_source(str(ASSETS / "Posts.xml")).kind == "stackoverflow"
    assert parse_source("hf:bigcode/the-stack-smol").kind == "hf"
    with pytest.raises(Phi1Error, match="no such file"):
        parse_source(str(tmp_path / "missing.parquet"))
    (tmp_path / "data.csv").write_text("a,b\n")
    with pytest.raises(Phi1Error, match="cannot tell its format"):
        parse_source(str(tmp_path / "data.csv"))
    with pytest.raises(Phi1Error, match="share the name"):
        list(read_corpus([str(src_tree), f"dir:{src_tree}"]))
    with pytest.raises(Phi1Error, match="no corpus sources"):
        list(read_corpus([]))


@pytest.mark.skipif(importlib.util.find_spec("datasets") is not None, reason="datasets installed")
def test_hf_streaming_without_datasets_is_one_clear_error():
    with pytest.raises(Phi1Error, match="needs the 'datasets' package"):
        list(read_source("hf:bigcode/the-stack-smol"))


def test_source_spec_round_trips(src_tree):
    for spec in ("stdlib", f"x=dir:{src_tree}", str(ASSETS / "Posts.xml"),
                 str(ASSETS / "stack_python.parquet"), "hf:org/data"):  # fmt: skip
        source = parse_source(spec)
        assert parse_source(source.spec) == source


def test_strict_mode_reads_records_and_names_the_bad_line(tmp_path):
    (tmp_path / "d").mkdir()
    shard = tmp_path / "d" / "a.jsonl"
    shard.write_text(
        '{"id": "x", "text": "a = 1", "meta": {"source": "s"}}\n{"text": ""}\n{"text": "b"}\n'
    )
    stats = ReadStats()
    assert list(read_paths([tmp_path / "d"], stats=stats)) == [
        {"id": "x", "text": "a = 1", "meta": {"source": "s"}},
        {"id": f"{shard}:3", "text": "b", "meta": {"source": str(tmp_path / "d")}},
    ]
    assert stats.read == 2 and stats.skipped == {"empty": 1}
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n{"text": \n')
    with pytest.raises(Phi1Error, match=r"bad.jsonl:2: invalid JSON"):
        list(read_paths([tmp_path / "bad.jsonl"]))
    (tmp_path / "other.jsonl").write_text('{"body": "a"}\n')
    with pytest.raises(Phi1Error, match=r"other.jsonl: record 1: missing field 'text'"):
        list(read_paths([tmp_path / "other.jsonl"]))
    with pytest.raises(Phi1Error, match="nope: no such file or directory"):
        list(read_paths([tmp_path / "nope"]))
