"""Checkpoints: the Hugging Face layout both ways, Microsoft's original layout, bad input."""

from __future__ import annotations

import json

import pytest
import torch
from model_helpers import hf_model, randomize

from phi1.cli import main
from phi1.errors import Phi1Error
from phi1.model.checkpoint import (
    config_to_hf,
    load_checkpoint,
    load_state_dict,
    read_config,
    save_checkpoint,
    save_state_dict,
    to_hf_state_dict,
)
from phi1.model.config import ModelConfig
from phi1.model.model import Phi
from phi1.model.tokenizer import get_tokenizer


def _model(seed: int = 0, **overrides) -> Phi:
    model = Phi(ModelConfig.from_name("debug", **overrides))
    randomize(model, seed=seed, scale=3.0)
    return model.eval()


def _logits(model, idx):
    with torch.no_grad():
        out = model(idx)
    return out.logits if hasattr(out, "logits") else out


IDX = torch.tensor([[15496, 2159, 50286, 7, 8, 9, 10, 11], [1, 2, 3, 4, 5, 6, 7, 8]])


def test_round_trip_keeps_config_weights_and_logits(tmp_path):
    model = _model()
    save_checkpoint(model, tmp_path)
    loaded = load_checkpoint(tmp_path)
    assert loaded.config == model.config and loaded.config.name == "debug"
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    torch.testing.assert_close(_logits(loaded, IDX), _logits(model, IDX), rtol=0, atol=0)
    assert not loaded.training


def test_config_json_is_what_phiconfig_writes(tmp_path):
    from transformers import PhiConfig

    model = _model()
    save_checkpoint(model, tmp_path)
    ours = json.loads((tmp_path / "config.json").read_text())
    assert ours["model_type"] == "phi" and ours["architectures"] == ["PhiForCausalLM"]
    assert ours["rope_parameters"]["partial_rotary_factor"] == 16 / 32
    # transformers reads it and writes back the same keys and values
    PhiConfig.from_pretrained(tmp_path).save_pretrained(tmp_path / "again")
    theirs = json.loads((tmp_path / "again" / "config.json").read_text())
    assert theirs == ours


def test_init_dir_loads_in_transformers_with_same_logits(tmp_path, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert main(["init", "--preset", "debug", "--out", str(tmp_path), "--seed", "7"]) == 0
    assert "debug" in capsys.readouterr().out
    ours = load_checkpoint(tmp_path)
    theirs = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(_logits(ours, IDX), _logits(theirs, IDX), rtol=0, atol=1e-5)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    text = "def add(a, b):\n    return a + b\n"
    assert tokenizer.encode(text) == get_tokenizer().encode(text)


def test_init_is_seeded(tmp_path):
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        assert (
            main(["init", "--preset", "debug", "--out", str(tmp_path / name), "--seed", str(seed)])
            == 0
        )
    a, b, c = (load_state_dict(tmp_path / n)[1] for n in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["lm_head.weight"], c["lm_head.weight"])
    assert a["lm_head.weight"].std().item() == pytest.approx(0.02, rel=0.05)


def test_transformers_dir_works_with_phi1_generate_and_info(tmp_path, capsys):
    from transformers import AutoTokenizer

    model = _model(seed=3)
    theirs = hf_model(model.config, to_hf_state_dict(model.state_dict(), model.config))
    theirs.save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(_saved_tokenizer(tmp_path / "tok")).save_pretrained(tmp_path)

    assert main(["info", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    params = sum(p.numel() for p in theirs.parameters())
    assert f"parameters: {params:,}" in out and "n_layer            2" in out

    prompt = "def fib(n):"
    assert (
        main(["generate", "--model", str(tmp_path), "--prompt", prompt, "--max-new-tokens", "12"])
        == 0
    )
    printed = capsys.readouterr().out
    ids = get_tokenizer().encode(prompt)
    ref = theirs.generate(
        torch.tensor([ids]), max_new_tokens=12, do_sample=False, eos_token_id=50256, pad_token_id=0
    )[0, len(ids) :].tolist()
    ref = [t for t in ref if t != 50256]
    assert printed == get_tokenizer().decode(ref) + "\n"


def _saved_tokenizer(path):
    get_tokenizer().save(path)
    return path


def test_transformers_sharded_and_torch_weights_load(tmp_path):
    model = _model(seed=4)
    theirs = hf_model(model.config, to_hf_state_dict(model.state_dict(), model.config))
    theirs.save_pretrained(tmp_path / "sharded", max_shard_size="2MB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").exists()
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "config.json").write_text(
        (tmp_path / "sharded" / "config.json").read_text()
    )
    torch.save(theirs.state_dict(), tmp_path / "bin" / "pytorch_model.bin")
    for name in ("sharded", "bin"):
        loaded = load_checkpoint(tmp_path / name)
        torch.testing.assert_close(_logits(loaded, IDX), _logits(model, IDX), rtol=0, atol=0)


def test_legacy_config_keys(tmp_path):
    model = _model(seed=5)
    save_checkpoint(model, tmp_path, tokenizer=False)
    data = json.loads((tmp_path / "config.json").read_text())
    rope = data.pop("rope_parameters")
    data.update(partial_rotary_factor=rope["partial_rotary_factor"], rope_theta=rope["rope_theta"])
    data.update(rope_scaling=None, torch_dtype=data.pop("dtype"), _name_or_path="microsoft/phi-1")
    (tmp_path / "config.json").write_text(json.dumps(data))
    config = read_config(tmp_path)
    assert config.rotary_dim == model.config.rotary_dim
    assert config.extra == {"_name_or_path": "microsoft/phi-1"}
    assert config_to_hf(config)["_name_or_path"] == "microsoft/phi-1"  # kept on the way out
    loaded = load_checkpoint(tmp_path)
    torch.testing.assert_close(_logits(loaded, IDX), _logits(model, IDX), rtol=0, atol=0)


def test_state_dicts_in_memory(tmp_path):
    model = _model(seed=6)
    wrapped = {"_orig_mod." + k: v for k, v in model.state_dict().items()}  # torch.compile
    save_state_dict(model.config, wrapped, tmp_path)
    config, state = load_state_dict(tmp_path)
    assert config == model.config
    assert state.keys() == model.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_dtype_is_kept_or_converted(tmp_path):
    model = _model(seed=7).to(torch.bfloat16)
    save_checkpoint(model, tmp_path, tokenizer=False)
    assert json.loads((tmp_path / "config.json").read_text())["dtype"] == "bfloat16"
    assert load_checkpoint(tmp_path).lm_head.weight.dtype == torch.bfloat16
    assert load_checkpoint(tmp_path, dtype=torch.float32).lm_head.weight.dtype == torch.float32


def _microsoft_layout(model: Phi) -> tuple[dict, dict]:
    """What Microsoft's original phi-1 checkpoints hold, written out by hand."""
    c = model.config
    config = {
        "model_type": "phi-msft",
        "n_embd": c.n_embd,
        "n_head": c.n_head,
        "n_head_kv": None,
        "n_inner": None if c.intermediate_size == 4 * c.n_embd else c.intermediate_size,
        "n_layer": c.n_layer,
        "n_positions": c.block_size,
        "rotary_dim": c.rotary_dim,
        "layer_norm_epsilon": c.layer_norm_eps,
        "pad_vocab_size_multiple": 64,
        "vocab_size": 51160,  # the original code pads it to a multiple of 64: 51200
        "activation_function": "gelu_new",
    }
    sd = model.state_dict()
    weights = {"transformer.embd.wte.weight": sd["embed_tokens.weight"]}
    for i in range(c.n_layer):
        p, q = f"layers.{i}.", f"transformer.h.{i}."
        for kind in ("weight", "bias"):
            weights[q + f"ln.{kind}"] = sd[p + f"input_layernorm.{kind}"]
            weights[q + f"mixer.Wqkv.{kind}"] = sd[p + f"self_attn.qkv.{kind}"]
            weights[q + f"mixer.out_proj.{kind}"] = sd[p + f"self_attn.dense.{kind}"]
            weights[q + f"mlp.fc1.{kind}"] = sd[p + f"mlp.fc1.{kind}"]
            weights[q + f"mlp.fc2.{kind}"] = sd[p + f"mlp.fc2.{kind}"]
        weights[q + "mixer.rotary_emb.inv_freq"] = torch.ones(c.rotary_dim // 2)
    for kind in ("weight", "bias"):
        weights[f"lm_head.ln.{kind}"] = sd[f"final_layernorm.{kind}"]
        weights[f"lm_head.linear.{kind}"] = sd[f"lm_head.{kind}"]
    return config, weights


@pytest.mark.parametrize("fmt", ["bin", "safetensors"])
def test_convert_microsoft_layout(tmp_path, fmt, capsys):
    from safetensors.torch import save_file

    model = _model(seed=8)
    config, weights = _microsoft_layout(model)
    src = tmp_path / "src"
    src.mkdir()
    (src / "config.json").write_text(json.dumps(config))
    if fmt == "bin":
        torch.save(weights, src / "pytorch_model.bin")
    else:
        save_file({k: v.contiguous() for k, v in weights.items()}, src / "model.safetensors")
    with pytest.raises(Phi1Error, match="original Microsoft layout.*phi1 convert"):
        load_checkpoint(src)
    assert main(["convert", str(src), "--out", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    loaded = load_checkpoint(tmp_path / "out")
    assert loaded.config.vocab_size == 51200
    torch.testing.assert_close(_logits(loaded, IDX), _logits(model, IDX), rtol=0, atol=0)


# -- bad input ---------------------------------------------------------------------------


def test_missing_directory_and_files(tmp_path):
    with pytest.raises(Phi1Error, match="no such checkpoint directory"):
        load_checkpoint(tmp_path / "nope")
    with pytest.raises(Phi1Error, match=r"config.json: no such file"):
        load_checkpoint(tmp_path)
    save_checkpoint(_model(), tmp_path, tokenizer=False)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(Phi1Error, match="no weights"):
        load_checkpoint(tmp_path)


def test_truncated_weights(tmp_path):
    save_checkpoint(_model(), tmp_path, tokenizer=False)
    path = tmp_path / "model.safetensors"
    data = path.read_bytes()
    for cut in (len(data) - 1000, 100, 4):
        path.write_bytes(data[:cut])
        with pytest.raises(Phi1Error, match=r"model.safetensors: truncated"):
            load_checkpoint(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    (tmp_path / "pytorch_model.bin").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(Phi1Error, match=r"pytorch_model.bin: truncated"):
        load_checkpoint(tmp_path)


def test_shapes_that_do_not_match_the_config(tmp_path):
    save_checkpoint(_model(), tmp_path, tokenizer=False)
    data = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**data, "intermediate_size": 128}))
    with pytest.raises(Phi1Error, match=r"'model.layers.0.mlp.fc1.weight' has shape \[256, 64\]"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**data, "num_hidden_layers": 3}))
    with pytest.raises(Phi1Error, match="missing tensor 'model.layers.2"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**data, "num_hidden_layers": 1}))
    with pytest.raises(Phi1Error, match="unexpected tensor 'model.layers.1"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"model_type": "llama"}, "not a phi model"),
        ({"num_key_value_heads": 1}, "grouped-query"),
        ({"qk_layernorm": True}, "qk_layernorm"),
        ({"hidden_act": "relu"}, "unsupported activation"),
        ({"hidden_size": None}, "missing field 'hidden_size'"),
    ],
)
def test_unsupported_configs(tmp_path, change, message):
    save_checkpoint(_model(), tmp_path, tokenizer=False)
    data = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**data, **change}))
    with pytest.raises(Phi1Error, match=message):
        load_checkpoint(tmp_path)


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["init", "--preset", "phi-2", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown model preset 'phi-2'" in err
    assert main(["info", str(tmp_path / "missing")]) == 1
    assert "neither a checkpoint directory nor a preset" in capsys.readouterr().err
    assert main(["generate", "--model", str(tmp_path), "--prompt", "x"]) == 1
    assert "no tokenizer.json" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 1
    assert "no such directory" in capsys.readouterr().err


def test_info_counts_parameters_exactly(capsys):
    for preset in ("tiny", "phi-1-small"):
        assert main(["info", preset]) == 0
        out = capsys.readouterr().out
        with torch.device("meta"):
            n = sum(p.numel() for p in Phi(ModelConfig.from_name(preset)).parameters())
        assert f"parameters: {n:,}" in out
