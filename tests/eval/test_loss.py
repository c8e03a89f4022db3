"""``phi1 eval loss``: the NLL of reference solutions given their prompts, against a plain
per-problem loop with transformers' ``PhiForCausalLM`` on the same weights (a phi1
checkpoint directory and a transformers one), the benchmarks it reads, and one clear error
for each kind of bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from phi1.cli import main
from phi1.io import read_jsonl
from phi1.model.checkpoint import hf_model, save_checkpoint, to_hf_state_dict
from phi1.model.config import ModelConfig
from phi1.model.model import Phi
from phi1.model.tokenizer import get_tokenizer
from phi1.sandbox.problems import load_benchmark

ASSETS = Path(__file__).parents[1] / "assets" / "eval"
LIMIT = 24  # HumanEval problems in the parity test: 6.4k tokens, a few seconds each way


def spread(model: Phi, seed: int) -> Phi:
    """Random weights whose predictions depend on the context: wide embeddings, attention and
    MLP matrices, logits of std ~2, non-trivial norms and biases. A fresh init predicts
    nearly uniformly whatever the prompt, masks or positions (NLL ln 51200); with these, the
    context moves a solution's NLL by 1-2% (test_the_prompt_is_context), 100x the
    tolerance of the parity test."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if p.dim() >= 2:
                p.normal_(0.0, 0.5 if "embed" in name else 0.3, generator=g)
            elif "norm" in name and name.endswith("weight"):
                p.normal_(1.0, 0.2, generator=g)
            else:
                p.normal_(0.0, 0.05, generator=g)
        model.lm_head.weight.normal_(0.0, 2.0 / model.config.n_embd**0.5, generator=g)
    return model.eval()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> tuple[Path, Path, Path]:
    """The same weights as a phi1 checkpoint and as a transformers directory
    (``save_pretrained`` + the tokenizer's files), and another causal LM (GPT-2's classes)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    root = tmp_path_factory.mktemp("loss")
    model = spread(Phi(ModelConfig.from_name("debug", block_size=1024)), seed=7)
    save_checkpoint(model, root / "phi1")
    net = hf_model(model.config, to_hf_state_dict(model.state_dict(), model.config))
    net.save_pretrained(root / "hf")
    get_tokenizer().save(root / "hf")
    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_embd=64, n_head=2, n_positions=1024, vocab_size=51200)
    GPT2LMHeadModel(config).eval().save_pretrained(root / "gpt2")
    get_tokenizer().save(root / "gpt2")
    return root / "phi1", root / "hf", root / "gpt2"


def reference_nll(directory: Path, problems: list) -> list[float]:
    """An independent computation: transformers' own classes on the directory, one problem
    at a time, the solution's log-probabilities summed after the whole sequence's forward."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(directory)
    net = AutoModelForCausalLM.from_pretrained(directory).eval()
    out = []
    for p in problems:
        ctx = tok(p.prompt)["input_ids"]
        sol = tok(p.canonical_solution, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = net(torch.tensor([ctx + sol])).logits[0]
        logp = torch.log_softmax(logits[len(ctx) - 1 : -1].double(), dim=-1)
        out.append(-logp.gather(1, torch.tensor(sol)[:, None]).sum().item())
    return out


@pytest.mark.parametrize("kind", ["phi1", "hf"])
def test_loss_equals_a_plain_transformers_loop(checkpoints, kind, tmp_path, capsys):
    phi1_dir, hf_dir, _ = checkpoints
    spec = str(phi1_dir) if kind == "phi1" else f"hf:{hf_dir}"
    out = tmp_path / "out"
    args = ["eval", "loss", "--llm.model", spec, "--out", str(out), "--loss.limit", str(LIMIT)]
    # 2048 tokens a call: several packed rows (phi1) or padded batches (hf) per call
    assert main([*args, "--loss.batch_tokens", "2048"]) == 0
    printed = capsys.readouterr().out
    rows = list(read_jsonl(out / "results.jsonl"))
    summary = json.loads((out / "results.json").read_text())
    problems = list(load_benchmark("humaneval")[1].values())[:LIMIT]
    want = reference_nll(phi1_dir if kind == "phi1" else hf_dir, problems)
    assert [r["task_id"] for r in rows] == [p.task_id for p in problems]
    for row, ref, p in zip(rows, want, problems, strict=True):
        assert row["nll"] == pytest.approx(ref, rel=1e-4)
        assert row["bytes"] == len(p.canonical_solution.encode("utf-8"))
        assert row["nats_per_token"] == pytest.approx(row["nll"] / row["tokens"])
        assert row["bits_per_byte"] == pytest.approx(row["nll"] / math.log(2) / row["bytes"])
    per_token = [r["nats_per_token"] for r in rows]
    # the weights make the context matter: far from uniform (ln 51200 = 10.84), and varied
    assert max(per_token) - min(per_token) > 1.0 and abs(sum(per_token) / LIMIT - 10.84) > 0.5
    mean = summary["loss"]["mean"]
    assert mean == pytest.approx(sum(per_token) / LIMIT, rel=1e-12)
    lo, hi = summary["loss"]["ci95"]
    assert lo < mean < hi and summary["problems"] == LIMIT
    assert summary["backend"]["backend"] == ("phi1" if kind == "phi1" else "transformers")
    assert f"humaneval: {LIMIT} problems, {mean:.4f} nats/token" in printed


def test_any_transformers_causal_lm(checkpoints, tmp_path):
    """Another architecture (GPT-2: learned absolute positions) through the padded path."""
    out = tmp_path / "out"
    args = ["eval", "loss", "--llm.model", str(checkpoints[2]), "--out", str(out)]
    assert main([*args, "--loss.limit", "8", "--loss.batch_tokens", "1024"]) == 0
    rows = list(read_jsonl(out / "results.jsonl"))
    want = reference_nll(checkpoints[2], list(load_benchmark("humaneval")[1].values())[:8])
    assert [r["nll"] for r in rows] == pytest.approx(want, rel=1e-4)
    assert json.loads((out / "results.json").read_text())["backend"]["backend"] == "transformers"


def test_the_prompt_is_context(checkpoints):
    """Scored after another problem's prompt, a solution gets another NLL: the context is
    really read (a test that could not tell would pass with any mask)."""
    from phi1.model.checkpoint import load_checkpoint
    from phi1.model.score import reference_set, sequence_nll

    model = load_checkpoint(checkpoints[0])
    ref = reference_set("humaneval", dict(list(load_benchmark("humaneval")[1].items())[:4]))
    swapped = [(ref.pairs[(i + 1) % 4][0], sol) for i, (_, sol) in enumerate(ref.pairs)]
    a, b = sequence_nll(model, ref.pairs), sequence_nll(model, swapped)
    assert ((a - b).abs() / a > 5e-3).all()


def test_the_graded_set_and_a_seeded_bootstrap(checkpoints, tmp_path):
    from phi1.eval.loss import bootstrap_interval

    out = tmp_path / "graded"
    args = ["eval", "loss", "--llm.model", str(checkpoints[0]), "--out", str(out)]
    assert main([*args, "--benchmark", "graded", "--loss.limit", "8", "--loss.seed", "3"]) == 0
    summary = json.loads((out / "results.json").read_text())
    assert summary["benchmark"] == "graded" and summary["problems"] == 8
    values = [r["bits_per_byte"] for r in read_jsonl(out / "results.jsonl")]
    assert summary["bpb"]["ci95"] == list(bootstrap_interval(values, resamples=1000, seed=3))
    other = bootstrap_interval(values, resamples=1000, seed=4)
    assert other != tuple(summary["bpb"]["ci95"]) and other[0] < summary["bpb"]["mean"] < other[1]


def test_mbpp_and_humaneval_format_files(checkpoints, tmp_path):
    out = tmp_path / "mbpp"
    mbpp = f"mbpp:{ASSETS / 'mbpp_full.jsonl'}"
    assert main(["eval", "loss", "--llm.model", str(checkpoints[0]), "--benchmark", mbpp,
                 "--out", str(out)]) == 0  # fmt: skip
    rows = list(read_jsonl(out / "results.jsonl"))
    assert [r["task_id"] for r in rows][:2] == ["Mbpp/601", "Mbpp/602"]
    assert json.loads((out / "results.json").read_text())["benchmark"] == "mbpp"
    out = tmp_path / "file"
    he = str(ASSETS / "tiny_humaneval.jsonl")
    assert main(["eval", "loss", "--llm.model", str(checkpoints[0]), "--benchmark", he,
                 "--out", str(out)]) == 0  # fmt: skip
    summary = json.loads((out / "results.json").read_text())
    assert summary["benchmark"] == "tiny_humaneval" and summary["problems"] == 2


def _error(args: list[str], capsys) -> str:
    assert main(["eval", "loss", *args]) == 1
    return capsys.readouterr().err


def test_bad_input_is_one_clear_error(checkpoints, tmp_path, capsys):
    model = ["--llm.model", str(checkpoints[0]), "--out", str(tmp_path / "o")]
    assert "unknown benchmark 'humaneval+'" in _error([*model, "--benchmark", "humaneval+"], capsys)
    err = _error([*model, "--benchmark", "mbpp"], capsys)
    assert "has no reference solutions" in err and "mbpp:FILE" in err
    unsolved = tmp_path / "unsolved.jsonl"
    rows = [json.loads(line) for line in (ASSETS / "tiny_humaneval.jsonl").read_text().splitlines()]
    unsolved.write_text("".join(json.dumps({**r, "canonical_solution": ""}) + "\n" for r in rows))
    err = _error([*model, "--benchmark", str(unsolved)], capsys)
    assert "'unsolved'" in err and "none of its 2 problems has a reference solution" in err
    err = _error(["--llm.model", "smollm2-135m-instruct", "--out", str(tmp_path / "o")], capsys)
    assert "phi1 or transformers checkpoint directory" in err and "registry" in err
    assert "--out DIR is required" in _error(["--llm.model", str(checkpoints[0])], capsys)
    assert not (tmp_path / "o").exists()
