"""phi1 pack: exact round trips, one <|endoftext|> per boundary, inputs, resume, errors,
and the datatrove step."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phi1.cli import main
from phi1.data.pack import PackSettings, PackTokens, pack
from phi1.errors import Phi1Error
from phi1.model.tokenizer import get_tokenizer
from phi1.model.tokens import PackedDataset, write_index

EOT = 50256
ONE = PackSettings(workers=1)
TINY = PackSettings(shard_mb=0.001, workers=1)
CONTENT = PackSettings(text_field="content", workers=1)


def shard_tokens(out: Path) -> list[np.ndarray]:
    index = json.loads((out / "index.json").read_text())
    return [np.fromfile(out / s["file"], dtype="<u2") for s in index["shards"]]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


texts_strategy = st.lists(
    st.one_of(
        st.text(max_size=200),
        st.text(alphabet=" \t\nab:()<|>", max_size=80),  # whitespace runs, tags
        st.just("x <|endoftext|> y"),  # the EOT string is ordinary text in a document
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=texts_strategy, shard_mb=st.sampled_from([1e-4, 1e-3, 1.0]))
def test_shards_decode_back_to_their_texts_with_one_eot_per_boundary(texts, shard_mb):
    tok = get_tokenizer()
    kept = [t for t in texts if t]
    with tempfile.TemporaryDirectory() as tmp:
        src = write_jsonl(Path(tmp) / "docs.jsonl", [{"text": t} for t in texts])
        if not kept:
            with pytest.raises(Phi1Error, match="no documents"):
                pack(src, Path(tmp) / "out", PackSettings(workers=1), progress=False)
            return
        index = pack(
            src, Path(tmp) / "out", PackSettings(shard_mb=shard_mb, workers=1), progress=False
        )
        shards = shard_tokens(Path(tmp) / "out")
    assert index["documents"] == len(kept)
    assert index["tokens"] == sum(len(s) for s in shards)
    decoded = []
    for shard in shards:
        assert shard[-1] == EOT  # shards hold whole documents
        ends = np.flatnonzero(shard == EOT)
        starts = np.concatenate([[0], ends[:-1] + 1])
        for a, b in zip(starts, ends, strict=True):
            assert b > a  # exactly one EOT between documents, never two in a row
            ids = shard[a:b].tolist()
            assert ids == tok.encode(kept[len(decoded)])
            decoded.append(tok.decode(ids))
    assert decoded == kept


def test_inputs_jsonl_parquet_raw_files_and_sources(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "in" / "sub").mkdir(parents=True)
    write_jsonl(
        tmp_path / "in" / "a.jsonl",
        [
            {"id": "1", "text": "def f():\n    return 1\n", "meta": {"source": "stack"}},
            {"id": "2", "text": "", "meta": {"source": "stack"}},
            {"id": "3", "text": "print('hi')\n"},
        ],
    )
    pq.write_table(
        pa.table({"content": ["x = 1\n", "y = 2\n"]}), tmp_path / "in" / "sub" / "b.parquet"
    )
    index = pack(tmp_path / "in" / "a.jsonl", tmp_path / "o1", ONE, progress=False)
    assert index["documents"] == 2 and index["skipped"] == {"empty": 1}
    assert set(index["sources"]) == {"stack", str(tmp_path / "in" / "a.jsonl")}
    assert index["tokenizer"] == get_tokenizer().identity()

    with pytest.raises(Phi1Error, match=r"record 1: missing field 'content'"):
        pack(tmp_path / "in", tmp_path / "o2", CONTENT, progress=False)
    index = pack(tmp_path / "in" / "sub", tmp_path / "o2", CONTENT, progress=False)
    assert index["documents"] == 2

    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "m.py").write_text("import os\n")
    (tmp_path / "code" / "bin.py").write_bytes(b"\xff\xfe\x00")
    index = pack(
        tmp_path / "code", tmp_path / "o3", PackSettings(glob="*.py", workers=1), progress=False
    )
    assert index["documents"] == 1 and index["skipped"] == {"not_utf8": 1}
    assert shard_tokens(tmp_path / "o3")[0].tolist() == get_tokenizer().encode("import os\n") + [
        EOT
    ]


def test_resume_redoes_only_missing_shards_and_workers_do_not_change_output(tmp_path):
    src = write_jsonl(
        tmp_path / "docs.jsonl",
        [{"text": f"def f{i}(x):\n    return x * {i}\n"} for i in range(300)],
    )
    first = pack(src, tmp_path / "out", TINY, progress=False)
    n = len(first["shards"])
    assert n >= 5
    # a kill after shard 2: later shards never written, a temporary file left behind
    for name in ("shard-00003", "shard-00004"):
        (tmp_path / "out" / f"{name}.json").unlink()
    (tmp_path / "out" / ".shard-00003.bin.tmp999").write_bytes(b"\x00")
    (tmp_path / "out" / "index.json").unlink()
    again = pack(src, tmp_path / "out", TINY, progress=False)
    assert again["resumed_shards"] == n - 2
    assert again["content_sha256"] == first["content_sha256"]
    parallel = pack(src, tmp_path / "par", PackSettings(shard_mb=0.001, workers=2), progress=False)
    assert parallel["content_sha256"] == first["content_sha256"]
    # changed input: the stale shards are redone, not reused
    write_jsonl(src, [{"text": f"def g{i}(): pass\n"} for i in range(300)])
    changed = pack(src, tmp_path / "out", TINY, progress=False)
    assert changed["resumed_shards"] == 0 and changed["content_sha256"] != first["content_sha256"]


def test_bad_inputs_are_one_clear_error(tmp_path, capsys):
    empty = write_jsonl(tmp_path / "empty.jsonl", [{"text": ""}])
    assert main(["pack", str(empty), "--out", str(tmp_path / "o")]) == 1
    assert "no documents" in capsys.readouterr().err
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n{"text": \n')
    assert main(["pack", str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "bad.jsonl:2: invalid JSON" in err.splitlines()[-1]
    assert main(["pack", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 1
    assert "nope: no such file" in capsys.readouterr().err
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    assert main(["pack", str(tmp_path / "x.parquet"), "--out", str(tmp_path / "o")]) == 1
    assert "not a readable Parquet file" in capsys.readouterr().err


def test_cli_packs_real_code_for_the_loader(tmp_path):
    import json as json_module  # real code: the standard library's json package

    src = Path(json_module.__file__).parent
    out = tmp_path / "tokens"
    assert (
        main(["pack", str(src), "--pack.glob", "*.py", "--out", str(out), "--pack.workers", "1"])
        == 0
    )
    ds = PackedDataset(out)
    index = ds.index
    assert index["documents"] == len(list(src.rglob("*.py")))
    joined = np.concatenate(shard_tokens(out))
    assert int((joined == EOT).sum()) == index["documents"]
    text = get_tokenizer().decode(ds.read(0, ds.tokens).tolist())
    assert (src / "decoder.py").read_text() in text.split("<|endoftext|>")


def test_datatrove_step_packs_on_its_executor(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import ParquetReader

    (tmp_path / "in").mkdir()
    for k in range(2):
        texts = [f"x{k} = {i}\n" for i in range(40)]
        table = pa.table({"id": [f"{k}-{i}" for i in range(40)], "text": texts,
                          "source": [f"s{k}"] * 40})  # fmt: skip
        pq.write_table(table, tmp_path / "in" / f"part{k}.parquet")
    out = tmp_path / "dt"
    LocalPipelineExecutor(
        [ParquetReader(str(tmp_path / "in")), PackTokens(str(out), shard_mb=0.0002)],
        tasks=2,
        workers=1,
        logging_dir=str(tmp_path / "logs"),
    ).run()
    index = write_index(out)
    reference = pack(tmp_path / "in", tmp_path / "cli", ONE, progress=False)
    assert index["documents"] == reference["documents"] == 80
    assert index["tokens"] == reference["tokens"]
    assert index["sources"] == {
        "s0": {"documents": 40, "tokens": index["sources"]["s0"]["tokens"]},
        "s1": {"documents": 40, "tokens": index["sources"]["s1"]["tokens"]},
    }
    assert len(index["shards"]) > 2
    assert {s["file"][:12] for s in index["shards"]} == {"shard-r00000", "shard-r00001"}
    assert sorted(np.concatenate(shard_tokens(out)).tolist()) == sorted(
        np.concatenate(shard_tokens(tmp_path / "cli")).tolist()
    )
    assert PackedDataset(out).tokens == index["tokens"]
