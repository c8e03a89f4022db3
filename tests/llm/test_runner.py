"""The resumable runner: skip finished ids, shards, rejects, kill -9, backend failure."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from phi1.errors import Phi1Error
from phi1.llm import GenParams, Request, load_llm
from phi1.llm.runner import (
    Job,
    Reject,
    RunnerSettings,
    export_parquet,
    finished_ids,
    read_records,
    read_rejects,
    run_jobs,
)
from phi1.llm.testserver import Faults, serve

QUIET = RunnerSettings(progress=False)


def jobs(n, prefix="job"):
    return [
        Job(f"{prefix}-{i:05d}", Request(prompt=f"prompt {i}", params=GenParams(max_tokens=4)))
        for i in range(n)
    ]


def reject_multiples_of_five(job, completion):
    if int(job.id.rsplit("-", 1)[1]) % 5 == 0:
        return Reject("multiple_of_five", {"text": completion.text}, detail=job.id)
    return {"text": completion.text, "meta": {"n": job.id}}


def test_records_rejects_resume_and_manifest(tmp_path):
    with serve() as server:
        llm = load_llm(server.url)
        first = run_jobs(jobs(30), llm, tmp_path, postprocess=reject_multiples_of_five,
                         settings=QUIET, fingerprint={"t": 1})  # fmt: skip
        again = run_jobs(jobs(40), llm, tmp_path, postprocess=reject_multiples_of_five,
                         settings=QUIET, fingerprint={"t": 1})  # fmt: skip
        llm.close()
    assert (first.written, first.rejected, first.skipped) == (24, 6, 0)
    assert (again.written, again.rejected, again.skipped) == (8, 2, 30)
    assert server.counts["answered"] == 40  # nothing asked twice
    records = read_records(tmp_path, sort=True)
    assert [r["id"] for r in records] == [f"job-{i:05d}" for i in range(40) if i % 5]
    assert all(r["text"] == f"echo: prompt {int(r['id'][4:])}" for r in records)
    rejects = read_rejects(tmp_path)
    assert Counter(r["reason"] for r in rejects) == {"multiple_of_five": 8}
    assert rejects[0]["record"]["text"].startswith("echo: prompt")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["fingerprint"] == {"t": 1} and len(manifest["runs"]) == 2
    assert manifest["runs"][0]["reasons"] == {"multiple_of_five": 6}
    assert manifest["llm"]["backend"] == "openai"


def test_bad_input_is_refused(tmp_path):
    with serve() as server:
        llm = load_llm(server.url)
        run_jobs(jobs(3), llm, tmp_path, settings=QUIET, fingerprint={"model": "a", "t": 1})
        with pytest.raises(Phi1Error, match="other settings.*differs in: model"):
            run_jobs(jobs(3), llm, tmp_path, settings=QUIET, fingerprint={"model": "b", "t": 1})
        with pytest.raises(Phi1Error, match="duplicate job id 'job-00000': ids must be unique$"):
            run_jobs(jobs(3) + jobs(2), llm, tmp_path / "dup", settings=QUIET)
        with pytest.raises(Phi1Error, match="worker must be in"):
            run_jobs(jobs(3), llm, tmp_path / "w", settings=RunnerSettings(worker=2, workers=2))
        llm.close()


def test_shards_workers_and_parquet(tmp_path):
    import pyarrow.parquet as pq

    with serve() as server:
        llm = load_llm(server.url)
        for worker in (0, 1):
            settings = RunnerSettings(shard_size=7, progress=False, worker=worker, workers=2)
            run_jobs(jobs(50), llm, tmp_path, settings=settings)
        llm.close()
    parts = sorted(p.name for p in tmp_path.glob("part-*.jsonl"))
    assert "part-000-00000.jsonl" in parts and "part-001-00000.jsonl" in parts
    assert all(sum(1 for _ in open(tmp_path / p)) <= 7 for p in parts)
    mine = [finished_ids(tmp_path, w) for w in (0, 1)]
    assert not mine[0] & mine[1] and len(mine[0]) + len(mine[1]) == 50
    assert server.counts["answered"] == 50
    written = export_parquet(tmp_path)
    assert sum(pq.read_table(p).num_rows for p in written) == 50


def test_torn_last_line_is_repaired(tmp_path):
    with serve() as server:
        llm = load_llm(server.url)
        run_jobs(jobs(5), llm, tmp_path, settings=QUIET)
        part = tmp_path / "part-000-00000.jsonl"
        lines = part.read_text().splitlines(keepends=True)
        part.write_text("".join(lines[:3]) + lines[3][:10])  # a kill cut line 4 short
        result = run_jobs(jobs(5), llm, tmp_path, settings=QUIET)
        llm.close()
    assert result.written == 2 and result.skipped == 3
    assert sorted(r["id"] for r in read_records(tmp_path)) == [j.id for j in jobs(5)]


def test_backend_that_dies_keeps_finished_records(tmp_path):
    with serve(faults=Faults(always="500", after=12)) as server:
        llm = load_llm(server.url, backoff=0.001, max_retries=2, concurrency=1)
        with pytest.raises(Phi1Error, match=r"HTTP 500 \(12 results of this run are kept"):
            run_jobs(jobs(30), llm, tmp_path, settings=QUIET)
        llm.close()
    assert len(finished_ids(tmp_path)) == 12
    with serve() as server:  # the endpoint is back: the rest is made, nothing twice
        llm = load_llm(server.url)
        result = run_jobs(jobs(30), llm, tmp_path, settings=QUIET)
        llm.close()
    assert (result.written, result.skipped) == (18, 12)
    ids = [r["id"] for r in read_records(tmp_path)]
    assert sorted(ids) == [j.id for j in jobs(30)]


CHILD = r"""
import sys
from phi1.llm import GenParams, Request, load_llm
from phi1.llm.testserver import Faults, serve
from phi1.llm.runner import Job, RunnerSettings, run_jobs

out, n, backend = sys.argv[1], int(sys.argv[2]), sys.argv[3]
jobs = [Job(f"job-{i:05d}", Request(prompt=f"def f{i}(x):", params=GenParams(max_tokens=6)))
        for i in range(n)]
settings = RunnerSettings(flush_every=3, progress=False)
if backend == "echo":
    with serve(faults=Faults(always="slow", slow_seconds=0.01)) as server:
        llm = load_llm(server.url, concurrency=4)
        run_jobs(jobs, llm, out, settings=settings)
        llm.close()
else:
    run_jobs(jobs, load_llm(backend, n_ctx=256), out, settings=settings)
"""


def run_kill_rerun(tmp_path, n, backend, kill_after):
    out = tmp_path / "run"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    cmd = [sys.executable, str(script), str(out), str(n), backend]
    child = subprocess.Popen(cmd)
    part = out / "part-000-00000.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if part.exists() and part.read_bytes().count(b"\n") >= kill_after:
            break
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    partial = part.read_bytes().count(b"\n")
    assert kill_after <= partial < n  # killed in the middle
    subprocess.run(cmd, check=True, timeout=300)
    records = read_records(out, sort=True)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) == n
    assert ids == [f"job-{i:05d}" for i in range(n)]
    return records


def test_kill_9_then_rerun_gives_every_record_exactly_once(tmp_path):
    records = run_kill_rerun(tmp_path, 400, "echo", kill_after=40)
    assert all(r["text"] == f"echo: def f{int(r['id'][4:])}(x):" for r in records)


@pytest.mark.slow
@pytest.mark.llm
def test_kill_9_with_real_model_matches_an_uninterrupted_run(tmp_path):
    """Greedy + llama.cpp: the resumed output is the one an uninterrupted run makes."""
    n = 12
    resumed = run_kill_rerun(tmp_path, n, "smollm2-135m-instruct", kill_after=3)
    llm = load_llm("smollm2-135m-instruct", n_ctx=256)
    direct = llm.complete([f"def f{i}(x):" for i in range(n)], GenParams(max_tokens=6))
    llm.close()
    assert [r["text"] for r in resumed] == [c.text for c in direct]
