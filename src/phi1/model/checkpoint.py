"""Checkpoints in one format, Hugging Face's, and the import of Microsoft's original layout.

A phi1 checkpoint directory is what ``transformers.AutoModelForCausalLM.from_pretrained(dir)``
and ``AutoTokenizer.from_pretrained(dir)`` load with no network:

- ``config.json``: what transformers 5's ``PhiConfig`` writes (``model_type: phi``,
  ``PhiForCausalLM``, ``rope_parameters.partial_rotary_factor = rotary_dim / head_size``);
- ``model.safetensors``: Hugging Face names (``model.layers.N.self_attn.q_proj`` ...). phi1
  fuses q, k and v into one projection; they are split here on save and joined on load;
- ``generation_config.json`` and the codegen-350M-mono tokenizer files.

:func:`load_checkpoint` reads any such directory written by transformers (one
``model.safetensors``, shards with an index, or ``pytorch_model.bin``; legacy top-level
``partial_rotary_factor`` / ``rope_theta`` config keys). :func:`convert_microsoft` imports
the original layout (``transformer.h.N.mixer.Wqkv``, ``lm_head.ln``, ``lm_head.linear``;
config keys ``n_embd``, ``rotary_dim``, ``n_positions``, ...).

For training code that keeps weights in memory: :func:`save_state_dict` writes a phi1 state
dict (any wrapper prefix such as ``_orig_mod.`` or ``module.`` is dropped) and
:func:`load_state_dict` returns ``(config, state_dict)`` with phi1 names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phi1.errors import Phi1Error
from phi1.io import atomic_write_json, fsync_dir, read_json
from phi1.model.config import EOT_ID, PRESETS, ModelConfig

if TYPE_CHECKING:
    import torch

    from phi1.model.model import Phi

# The PhiConfig of this transformers version is the format written.
TRANSFORMERS_FORMAT = "5.23.0"
WEIGHTS = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"
TORCH_WEIGHTS = "pytorch_model.bin"

# config.json keys this module reads; the rest are kept in ModelConfig.extra and written back.
_KNOWN_KEYS = {
    "architectures", "attention_dropout", "bos_token_id", "dtype", "torch_dtype", "embd_pdrop",
    "eos_token_id", "hidden_act", "hidden_size", "initializer_range", "intermediate_size",
    "layer_norm_eps", "max_position_embeddings", "model_type", "num_attention_heads",
    "num_hidden_layers", "num_key_value_heads", "pad_token_id", "qk_layernorm", "resid_pdrop",
    "rope_parameters", "rope_scaling", "rope_theta", "partial_rotary_factor",
    "tie_word_embeddings", "transformers_version", "use_cache", "vocab_size",
}  # fmt: skip

_WRAPPER_PREFIXES = ("_orig_mod.", "module.", "_fsdp_wrapped_module.")


# -- config ------------------------------------------------------------------------------


def config_to_hf(config: ModelConfig, dtype: str = "float32") -> dict[str, Any]:
    """The ``config.json`` transformers' ``PhiConfig`` would write for ``config``."""
    out = {
        "architectures": ["PhiForCausalLM"],
        "attention_dropout": config.attn_pdrop,
        "bos_token_id": config.bos_token_id,
        "dtype": dtype,
        "embd_pdrop": config.embd_pdrop,
        "eos_token_id": config.eos_token_id,
        "hidden_act": config.activation,
        "hidden_size": config.n_embd,
        "initializer_range": config.initializer_range,
        "intermediate_size": config.intermediate_size,
        "layer_norm_eps": config.layer_norm_eps,
        "max_position_embeddings": config.block_size,
        "model_type": "phi",
        "num_attention_heads": config.n_head,
        "num_hidden_layers": config.n_layer,
        "num_key_value_heads": config.n_head,
        "pad_token_id": None,
        "qk_layernorm": False,
        "resid_pdrop": config.resid_pdrop,
        "rope_parameters": {
            "partial_rotary_factor": config.rotary_dim / config.head_size,
            "rope_theta": config.rope_theta,
            "rope_type": "default",
        },
        "tie_word_embeddings": False,
        "transformers_version": TRANSFORMERS_FORMAT,
        "use_cache": True,
        "vocab_size": config.vocab_size,
    }
    for key, value in config.extra.items():
        out.setdefault(key, value)
    return dict(sorted(out.items()))


def config_from_hf(data: Mapping[str, Any], where: str = "config.json") -> ModelConfig:
    """A :class:`ModelConfig` from a transformers ``config.json`` (model_type ``phi``)."""
    model_type = data.get("model_type")
    if model_type in ("phi-msft", "mixformer-sequential") or "n_embd" in data:
        raise Phi1Error(
            f"{where}: the original Microsoft layout (model_type {model_type!r}); "
            "import it with `phi1 convert SRC --out DIR`"
        )
    if model_type != "phi":
        raise Phi1Error(f"{where}: model_type {model_type!r} is not a phi model")

    def need(key: str) -> Any:
        if data.get(key) is None:
            raise Phi1Error(f"{where}: missing field {key!r}")
        return data[key]

    rope = dict(data.get("rope_parameters") or {})
    for key in ("partial_rotary_factor", "rope_theta"):  # transformers 4.x wrote them on top
        if key in data and key not in rope:
            rope[key] = data[key]
    scaling = data.get("rope_scaling") or {}
    rope_type = rope.get("rope_type") or scaling.get("rope_type") or scaling.get("type")
    if rope_type not in (None, "default"):
        raise Phi1Error(f"{where}: rope scaling {rope_type!r} is not supported (default only)")
    if data.get("qk_layernorm"):
        raise Phi1Error(f"{where}: qk_layernorm=true is not supported")
    if data.get("tie_word_embeddings"):
        raise Phi1Error(f"{where}: tie_word_embeddings=true is not supported (phi is untied)")
    n_embd, n_head = int(need("hidden_size")), int(need("num_attention_heads"))
    kv = data.get("num_key_value_heads")
    if kv is not None and int(kv) != n_head:
        raise Phi1Error(f"{where}: num_key_value_heads={kv} (grouped-query) is not supported")
    if n_head <= 0 or n_embd % n_head:
        raise Phi1Error(f"{where}: hidden_size={n_embd} not divisible by num_attention_heads")
    head = n_embd // n_head
    factor = float(rope.get("partial_rotary_factor", 0.5))
    defaults = ModelConfig()
    fields = dict(
        n_layer=int(need("num_hidden_layers")),
        n_embd=n_embd,
        n_head=n_head,
        intermediate_size=int(data.get("intermediate_size") or 4 * n_embd),
        rotary_dim=int(head * factor),  # transformers' rotary_ndims
        vocab_size=int(need("vocab_size")),
        block_size=int(data.get("max_position_embeddings") or defaults.block_size),
        layer_norm_eps=float(data.get("layer_norm_eps", defaults.layer_norm_eps)),
        rope_theta=float(rope.get("rope_theta", defaults.rope_theta)),
        activation=str(data.get("hidden_act", defaults.activation)),
        attn_pdrop=float(data.get("attention_dropout") or 0.0),
        resid_pdrop=float(data.get("resid_pdrop") or 0.0),
        embd_pdrop=float(data.get("embd_pdrop") or 0.0),
        initializer_range=float(data.get("initializer_range", defaults.initializer_range)),
        bos_token_id=_token_id(data.get("bos_token_id")),
        eos_token_id=_token_id(data.get("eos_token_id")),
    )
    extra = {k: v for k, v in data.items() if k not in _KNOWN_KEYS}
    try:
        return ModelConfig(name=_preset_name(fields), **fields, extra=extra)
    except Phi1Error as e:
        raise Phi1Error(f"{where}: {e}") from None


def _token_id(value: Any) -> int:
    if isinstance(value, list):
        value = value[0] if value else None
    return EOT_ID if value is None else int(value)


def _preset_name(fields: dict[str, Any]) -> str:
    """The preset whose shape this is, else "custom"."""
    for name in PRESETS:
        cfg = ModelConfig.from_name(name)
        shape = ("n_layer", "n_embd", "n_head", "intermediate_size", "rotary_dim", "vocab_size")
        if (
            all(getattr(cfg, k) == fields[k] for k in shape)
            and cfg.block_size == fields["block_size"]
        ):
            return name
    return "custom"


# -- weight names ------------------------------------------------------------------------


def _strip_wrappers(name: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _WRAPPER_PREFIXES:
            if name.startswith(prefix):
                name, changed = name[len(prefix) :], True
        name = name.replace("._orig_mod.", ".").replace("._fsdp_wrapped_module.", ".")
    return name


def to_hf_state_dict(
    state_dict: Mapping[str, torch.Tensor], config: ModelConfig
) -> dict[str, torch.Tensor]:
    """phi1 names -> Hugging Face names; the fused qkv becomes q_proj, k_proj, v_proj."""
    out: dict[str, torch.Tensor] = {}
    C = config.n_embd
    for raw, tensor in state_dict.items():
        name = _strip_wrappers(raw)
        m = re.fullmatch(r"layers\.(\d+)\.self_attn\.qkv\.(weight|bias)", name)
        if m:
            layer, kind = m.groups()
            # rows are (3, nh, hs): q, then k, then v. clone: safetensors refuses shared storage
            for i, part in enumerate(("q_proj", "k_proj", "v_proj")):
                out[f"model.layers.{layer}.self_attn.{part}.{kind}"] = (
                    tensor[i * C : (i + 1) * C].detach().clone()
                )
        elif name.startswith("lm_head."):
            out[name] = tensor.detach()
        else:
            out["model." + name] = tensor.detach()
    return out


def hf_model(config: ModelConfig, state_dict: Mapping[str, torch.Tensor] | None = None) -> Any:
    """transformers' ``PhiForCausalLM`` for ``config`` in eval mode: freshly initialised, or
    holding ``state_dict`` (Hugging Face names, e.g. from :func:`to_hf_state_dict`). The
    reference that parity tests and benchmarks compare phi1 with."""
    from transformers import PhiConfig, PhiForCausalLM
    from transformers.initialization import no_init_weights

    skip = ("architectures", "model_type", "transformers_version")
    hc = PhiConfig(**{k: v for k, v in config_to_hf(config).items() if k not in skip})
    if state_dict is None:
        return PhiForCausalLM(hc).eval()
    with no_init_weights():
        model = PhiForCausalLM(hc)
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def from_hf_state_dict(
    hf: Mapping[str, torch.Tensor], config: ModelConfig, where: str = "checkpoint"
) -> dict[str, torch.Tensor]:
    """Hugging Face names -> phi1 names, every shape checked against ``config``."""
    import torch

    expected = hf_shapes(config)
    ignored = {n for n in hf if n.endswith("rotary_emb.inv_freq")}
    _check_shapes(hf, expected, where, "config.json", ignored=ignored)
    out: dict[str, torch.Tensor] = {}
    for i in range(config.n_layer):
        p = f"model.layers.{i}.self_attn."
        for kind in ("weight", "bias"):
            out[f"layers.{i}.self_attn.qkv.{kind}"] = torch.cat(
                [hf[p + f"{x}_proj.{kind}"] for x in "qkv"], dim=0
            )
    for name in expected:
        if ".self_attn." in name and name.split(".")[-2] in ("q_proj", "k_proj", "v_proj"):
            continue
        out[name.removeprefix("model.")] = hf[name]
    return out


def hf_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor of a Hugging Face ``PhiForCausalLM`` with this config, and its shape."""
    C, F, V = config.n_embd, config.intermediate_size, config.vocab_size
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (V, C)}
    for i in range(config.n_layer):
        p = f"model.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "dense"):
            shapes[p + f"self_attn.{proj}.weight"] = (C, C)
            shapes[p + f"self_attn.{proj}.bias"] = (C,)
        shapes[p + "mlp.fc1.weight"] = (F, C)
        shapes[p + "mlp.fc1.bias"] = (F,)
        shapes[p + "mlp.fc2.weight"] = (C, F)
        shapes[p + "mlp.fc2.bias"] = (C,)
        shapes[p + "input_layernorm.weight"] = (C,)
        shapes[p + "input_layernorm.bias"] = (C,)
    shapes["model.final_layernorm.weight"] = (C,)
    shapes["model.final_layernorm.bias"] = (C,)
    shapes["lm_head.weight"] = (V, C)
    shapes["lm_head.bias"] = (V,)
    return shapes


# -- save --------------------------------------------------------------------------------


def save_checkpoint(model: Phi, directory: str | os.PathLike, *, tokenizer: bool = True) -> Path:
    """Write ``model`` as a Hugging Face checkpoint directory; return the directory.

    Each file is written to a temporary name and renamed, so a kill leaves the previous file
    or the new one. ``tokenizer=False`` skips the tokenizer files.
    """
    return save_state_dict(model.config, model.state_dict(), directory, tokenizer=tokenizer)


def save_state_dict(
    config: ModelConfig,
    state_dict: Mapping[str, torch.Tensor],
    directory: str | os.PathLike,
    *,
    tokenizer: bool = True,
) -> Path:
    """Write a phi1 state dict (``Phi.state_dict()`` names, wrapper prefixes allowed)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    hf = {k: v.contiguous().cpu() for k, v in to_hf_state_dict(state_dict, config).items()}
    from_hf_state_dict(hf, config, where=str(directory))  # every name and shape is right
    dtypes = {str(t.dtype).removeprefix("torch.") for t in hf.values()}
    dtype = dtypes.pop() if len(dtypes) == 1 else "float32"
    tmp = directory / f".{WEIGHTS}.tmp{os.getpid()}"
    save_file(hf, tmp, metadata={"format": "pt"})
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, directory / WEIGHTS)
    fsync_dir(directory)
    atomic_write_json(directory / "config.json", config_to_hf(config, dtype))
    atomic_write_json(
        directory / "generation_config.json",
        {
            "bos_token_id": config.bos_token_id,
            "eos_token_id": config.eos_token_id,
            "transformers_version": TRANSFORMERS_FORMAT,
        },
    )
    if tokenizer:
        from phi1.model.tokenizer import get_tokenizer

        get_tokenizer().save(directory)
    return directory


# -- load --------------------------------------------------------------------------------


def read_config(directory: str | os.PathLike) -> ModelConfig:
    """The :class:`ModelConfig` of a checkpoint directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise Phi1Error(f"{directory}: no such checkpoint directory")
    path = directory / "config.json"
    data = read_json(path)
    if not isinstance(data, dict):
        raise Phi1Error(f"{path}: expected a JSON object")
    return config_from_hf(data, str(path))


def load_state_dict(
    directory: str | os.PathLike, *, dtype: torch.dtype | None = None
) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """(config, state dict with phi1 names) of a checkpoint directory, on the CPU."""
    directory = Path(directory)
    config = read_config(directory)
    hf = _read_weights(directory)
    state = from_hf_state_dict(hf, config, where=str(_weights_label(directory)))
    if dtype is not None:
        state = {k: v.to(dtype) for k, v in state.items()}
    return config, state


def load_checkpoint(
    directory: str | os.PathLike,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
) -> Phi:
    """A :class:`Phi` from a Hugging Face checkpoint directory, in eval mode.

    ``dtype`` None keeps the stored dtype. Bad input (no config.json, a truncated weights
    file, a tensor whose shape does not match the config) raises :class:`Phi1Error`.
    """
    import torch

    from phi1.model.model import Phi

    config, state = load_state_dict(directory, dtype=dtype)
    with torch.device("meta"):
        model = Phi(config)
    state = {k: v.to(device) for k, v in state.items()}
    model.load_state_dict(state, assign=True, strict=True)
    model.reset_rope(device)
    return model.eval()


def _weights_label(directory: Path) -> Path:
    for name in (WEIGHTS, WEIGHTS_INDEX, TORCH_WEIGHTS):
        if (directory / name).exists():
            return directory / name
    return directory


def _read_weights(directory: Path) -> dict[str, torch.Tensor]:
    if (directory / WEIGHTS).is_file():
        return _read_safetensors(directory / WEIGHTS)
    if (directory / WEIGHTS_INDEX).is_file():
        index = read_json(directory / WEIGHTS_INDEX)
        files = sorted(set((index.get("weight_map") or {}).values()))
        if not files:
            raise Phi1Error(f"{directory / WEIGHTS_INDEX}: empty weight_map")
        out: dict[str, torch.Tensor] = {}
        for name in files:
            out.update(_read_safetensors(directory / name))
        return out
    if (directory / TORCH_WEIGHTS).is_file():
        return _read_torch(directory / TORCH_WEIGHTS)
    raise Phi1Error(
        f"{directory}: no weights ({WEIGHTS}, {WEIGHTS_INDEX} or {TORCH_WEIGHTS}) in the directory"
    )


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise Phi1Error(f"{path}: no such file")
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise Phi1Error(f"{path}: truncated or not a safetensors file ({e})") from None


def _read_torch(path: Path) -> dict[str, torch.Tensor]:
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises RuntimeError, EOFError, UnpicklingError...
        raise Phi1Error(f"{path}: truncated or not a PyTorch weights file ({e})") from None
    if not isinstance(data, dict):
        raise Phi1Error(f"{path}: expected a state dict, got {type(data).__name__}")
    return data


# -- Microsoft's original layout ---------------------------------------------------------


def microsoft_config(data: Mapping[str, Any], where: str = "config.json") -> ModelConfig:
    """A :class:`ModelConfig` from the original config (``n_embd``, ``rotary_dim``, ...)."""

    def need(key: str) -> Any:
        if data.get(key) is None:
            raise Phi1Error(f"{where}: missing field {key!r} of the original phi config")
        return data[key]

    n_embd = int(need("n_embd"))
    vocab = int(need("vocab_size"))
    multiple = int(data.get("pad_vocab_size_multiple") or 1)
    vocab = -(-vocab // multiple) * multiple  # the embedding is padded to the multiple
    if data.get("n_head_kv") not in (None, data.get("n_head")):
        raise Phi1Error(f"{where}: n_head_kv={data['n_head_kv']} is not supported")
    fields = dict(
        n_layer=int(need("n_layer")),
        n_embd=n_embd,
        n_head=int(need("n_head")),
        intermediate_size=int(data.get("n_inner") or 4 * n_embd),
        rotary_dim=int(need("rotary_dim")),
        vocab_size=vocab,
        block_size=int(data.get("n_positions") or 2048),
        layer_norm_eps=float(data.get("layer_norm_epsilon") or 1e-5),
        rope_theta=float(data.get("rope_theta") or 10000.0),
        activation=str(data.get("activation_function") or "gelu_new"),
        attn_pdrop=float(data.get("attn_pdrop") or 0.0),
        resid_pdrop=float(data.get("resid_pdrop") or 0.0),
        embd_pdrop=float(data.get("embd_pdrop") or 0.0),
        initializer_range=float(data.get("initializer_range") or 0.02),
    )
    try:
        return ModelConfig(name=_preset_name(fields), **fields)
    except Phi1Error as e:
        raise Phi1Error(f"{where}: {e}") from None


def microsoft_to_phi1(
    weights: Mapping[str, torch.Tensor], config: ModelConfig, where: str = "checkpoint"
) -> dict[str, torch.Tensor]:
    """Original names -> phi1 names. Wqkv is already phi1's fused (3, nh, hs) layout."""
    rename = [
        (r"transformer\.embd\.wte\.weight", "embed_tokens.weight"),
        (r"transformer\.h\.(\d+)\.ln\.(weight|bias)", r"layers.\1.input_layernorm.\2"),
        (r"transformer\.h\.(\d+)\.mixer\.Wqkv\.(weight|bias)", r"layers.\1.self_attn.qkv.\2"),
        (r"transformer\.h\.(\d+)\.mixer\.out_proj\.(weight|bias)", r"layers.\1.self_attn.dense.\2"),
        (r"transformer\.h\.(\d+)\.mlp\.(fc1|fc2)\.(weight|bias)", r"layers.\1.mlp.\2.\3"),
        (r"lm_head\.ln\.(weight|bias)", r"final_layernorm.\1"),
        (r"lm_head\.linear\.(weight|bias)", r"lm_head.\1"),
    ]
    out: dict[str, torch.Tensor] = {}
    for name, tensor in weights.items():
        if "rotary_emb" in name:  # inv_freq buffers, recomputed
            continue
        for pattern, repl in rename:
            new, n = re.subn(f"^{pattern}$", repl, name)
            if n:
                out[new] = tensor
                break
        else:
            raise Phi1Error(f"{where}: unexpected tensor {name!r} for the original phi layout")
    _check_phi1_shapes(out, config, where)
    return out


def _check_phi1_shapes(state: Mapping[str, torch.Tensor], config: ModelConfig, where: str) -> None:
    import torch

    from phi1.model.model import Phi

    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in Phi(config).state_dict().items()}
    _check_shapes(state, expected, where, "the config", ignored=None)


def _check_shapes(
    state: Mapping[str, torch.Tensor],
    expected: Mapping[str, tuple[int, ...]],
    where: str,
    implied_by: str,
    *,
    ignored: set[str] | None,
) -> None:
    """One error naming the first missing tensor, then (unless ``ignored`` is None: names
    were already mapped) the first unexpected one, then the first wrong shape."""
    missing = sorted(set(expected) - set(state))
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise Phi1Error(f"{where}: missing tensor {missing[0]!r}{more}")
    if ignored is not None:
        unexpected = sorted(set(state) - set(expected) - ignored)
        if unexpected:
            more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
            raise Phi1Error(f"{where}: unexpected tensor {unexpected[0]!r}{more} for a phi model")
    for name, shape in expected.items():
        got = tuple(state[name].shape)
        if got != shape:
            raise Phi1Error(
                f"{where}: tensor {name!r} has shape {list(got)}, but {implied_by} implies "
                f"{list(shape)}"
            )


def convert_microsoft(src: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Import a checkpoint in Microsoft's original layout and write a phi1 checkpoint."""
    src = Path(src)
    if not src.is_dir():
        raise Phi1Error(f"{src}: no such directory")
    cfg_path = src / "config.json"
    data = read_json(cfg_path)
    if isinstance(data, dict) and data.get("model_type") == "phi" and "n_embd" not in data:
        raise Phi1Error(f"{cfg_path}: already in the Hugging Face layout; load it directly")
    config = microsoft_config(data, str(cfg_path))
    weights = _read_weights(src)
    state = microsoft_to_phi1(weights, config, where=str(_weights_label(src)))
    return save_state_dict(config, state, out)
