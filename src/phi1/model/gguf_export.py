"""phi1 checkpoints as GGUF files that llama.cpp runs (its ``phi2`` architecture).

phi-1 and phi-2 are the same network: a pre-LayerNorm decoder whose attention and MLP read
the same normalised input and add to the residual together, partial rotary embeddings
(NeoX style, on the first ``rotary_dim`` dimensions of each head), GELU with the tanh
approximation, biases everywhere, an untied output layer with a bias. llama.cpp's ``phi2``
graph computes exactly that, so a phi1 (or transformers ``PhiForCausalLM``) checkpoint maps
onto it tensor for tensor:

======================================  =============================
phi1 (transformers)                     GGUF
======================================  =============================
embed_tokens                            token_embd
layers.N.input_layernorm                blk.N.attn_norm
layers.N.self_attn.qkv (q, k, v rows)   blk.N.attn_qkv
layers.N.self_attn.dense                blk.N.attn_output
layers.N.mlp.fc1 / fc2                  blk.N.ffn_up / blk.N.ffn_down
final_layernorm                         output_norm
lm_head                                 output
======================================  =============================

The tokenizer goes inside as llama.cpp's ``gpt2`` BPE: GPT-2's byte-level tokens and merges,
``<|endoftext|>`` as a control token, CodeGen's 38 whitespace runs as user-defined tokens
(llama.cpp cuts them out of the text before BPE, longest first, as Hugging Face does), and
the padding rows of the embedding (51200 - 50295) as unused tokens. Names, keys and shapes
follow llama.cpp's own converter (``convert_hf_to_gguf.py``, ``Phi2Model``), written here
through the ``gguf`` package.

``dtype``: ``f32`` (everything), ``f16`` or ``q8_0`` (matrices; norms and biases stay f32,
as llama.cpp's converter keeps them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phi1.errors import Phi1Error

if TYPE_CHECKING:
    import numpy as np

    from phi1.model.config import ModelConfig

DTYPES = ("f32", "f16", "q8_0")
ARCH = "phi2"
PRE_TOKENIZER = "gpt-2"
"""llama.cpp's name for GPT-2's pre-tokenizer regex (codegen-350M-mono's)."""


def _layer_names(i: int) -> dict[str, str]:
    """phi1 parameter name -> GGUF tensor name (without .weight / .bias) for layer ``i``."""
    return {
        f"layers.{i}.input_layernorm": f"blk.{i}.attn_norm",
        f"layers.{i}.self_attn.qkv": f"blk.{i}.attn_qkv",
        f"layers.{i}.self_attn.dense": f"blk.{i}.attn_output",
        f"layers.{i}.mlp.fc1": f"blk.{i}.ffn_up",
        f"layers.{i}.mlp.fc2": f"blk.{i}.ffn_down",
    }


def tensor_names(config: ModelConfig) -> dict[str, str]:
    """Every phi1 parameter name and its GGUF tensor name."""
    base = {"embed_tokens": "token_embd", "final_layernorm": "output_norm", "lm_head": "output"}
    for i in range(config.n_layer):
        base |= _layer_names(i)
    out = {}
    for ours, theirs in base.items():
        out[f"{ours}.weight"] = f"{theirs}.weight"
        if ours != "embed_tokens":
            out[f"{ours}.bias"] = f"{theirs}.bias"
    return out


def _check_checkpoint(directory: Path) -> None:
    if not directory.is_dir():
        raise Phi1Error(f"{directory}: no such checkpoint directory")
    if not (directory / "config.json").is_file():
        raise Phi1Error(
            f"{directory}: not a checkpoint directory (no config.json; phi1 init, phi1 "
            "pretrain and transformers' save_pretrained write one)"
        )
    from phi1.io import read_json

    model_type = read_json(directory / "config.json").get("model_type")
    if model_type != "phi":
        raise Phi1Error(
            f"{directory / 'config.json'}: model_type {model_type!r}: only phi models "
            "(phi1, PhiForCausalLM) export to llama.cpp's phi2"
        )


def _check_tokenizer(directory: Path) -> None:
    """The checkpoint's tokenizer must be the one written into the file: codegen-350M-mono.
    A directory without tokenizer files (a bare save_pretrained of a phi model) gets it."""
    from phi1.model.tokenizer import is_codegen_tokenizer

    if (directory / "tokenizer.json").is_file() and not is_codegen_tokenizer(directory):
        raise Phi1Error(
            f"{directory / 'tokenizer.json'}: not codegen-350M-mono, the tokenizer phi1 "
            "writes into GGUF files"
        )


def _check_exportable(config: ModelConfig, dtype: str, where: Path) -> None:
    from phi1.model.tokenizer import VOCAB_SIZE

    if config.activation == "gelu":
        raise Phi1Error(
            f"{where}: activation 'gelu' (exact erf): llama.cpp's phi2 computes GELU with the "
            "tanh approximation (gelu_new), so its outputs would differ"
        )
    if config.vocab_size < VOCAB_SIZE:
        raise Phi1Error(f"{where}: vocab_size {config.vocab_size} < the tokenizer's {VOCAB_SIZE}")
    if dtype == "q8_0":
        widths = {config.n_embd, config.intermediate_size}
        if any(w % 32 for w in widths):
            raise Phi1Error(
                f"{where}: q8_0 packs rows in blocks of 32; n_embd {config.n_embd} and "
                f"intermediate_size {config.intermediate_size} must be multiples of 32"
            )


def vocabulary(vocab_size: int) -> tuple[list[str], list[int], list[str]]:
    """(tokens, token types, merges) of codegen-350M-mono for a ``vocab_size``-row
    embedding: GPT-2's byte-level tokens, the whitespace runs verbatim, padding rows."""
    from gguf import TokenType

    from phi1.model.tokenizer import VOCAB_SIZE, _added_tokens, _bpe_files

    vocab, merges = _bpe_files()
    tokens = [""] * vocab_size
    types = [int(TokenType.UNUSED)] * vocab_size
    for text, i in vocab.items():
        tokens[i], types[i] = text, int(TokenType.NORMAL)
    for i, text, special in _added_tokens():
        tokens[i] = text
        types[i] = int(TokenType.CONTROL if special else TokenType.USER_DEFINED)
    for i in range(VOCAB_SIZE, vocab_size):  # the embedding's padding rows
        tokens[i] = f"[PAD{i}]"
    return tokens, types, merges


def _tensor_data(name: str, tensor: Any, dtype: str) -> tuple[np.ndarray, Any]:
    """A tensor as the array written and its GGML type (None: inferred from the array)."""
    import numpy as np
    from gguf import GGMLQuantizationType
    from gguf.quants import quantize

    data = tensor.detach().to("cpu").float().numpy()
    if data.ndim == 1 or dtype == "f32":  # norms and biases stay f32 (llama.cpp's choice)
        return np.ascontiguousarray(data, dtype=np.float32), None
    if dtype == "f16":
        return np.ascontiguousarray(data, dtype=np.float16), None
    return quantize(data, GGMLQuantizationType.Q8_0), GGMLQuantizationType.Q8_0


def _write(path: Path, config: ModelConfig, state: dict[str, Any], dtype: str) -> None:
    from gguf import GGUFWriter, LlamaFileType

    from phi1.model.config import EOT_ID

    file_type = {"f32": LlamaFileType.ALL_F32, "f16": LlamaFileType.MOSTLY_F16,
                 "q8_0": LlamaFileType.MOSTLY_Q8_0}[dtype]  # fmt: skip
    writer = GGUFWriter(path, ARCH)
    writer.add_name(config.name)
    writer.add_context_length(config.block_size)
    writer.add_embedding_length(config.n_embd)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_block_count(config.n_layer)
    writer.add_head_count(config.n_head)
    writer.add_head_count_kv(config.n_head)
    writer.add_layer_norm_eps(config.layer_norm_eps)
    writer.add_rope_dimension_count(config.rotary_dim)
    writer.add_rope_freq_base(config.rope_theta)
    writer.add_file_type(int(file_type))
    tokens, types, merges = vocabulary(config.vocab_size)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(PRE_TOKENIZER)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(config.bos_token_id if config.bos_token_id is not None else EOT_ID)
    writer.add_eos_token_id(config.eos_token_id if config.eos_token_id is not None else EOT_ID)
    writer.add_add_bos_token(False)
    for ours, theirs in tensor_names(config).items():
        data, raw_dtype = _tensor_data(ours, state[ours], dtype)
        writer.add_tensor(theirs, data, raw_dtype=raw_dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def export_gguf(directory: str | os.PathLike, out: str | os.PathLike, *, dtype: str = "f32"):
    """Write the checkpoint in ``directory`` as a GGUF file at ``out``; return its path.

    The file is written under a temporary name and renamed, so a kill leaves no half file.
    """
    if dtype not in DTYPES:
        raise Phi1Error(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    directory, out = Path(directory), Path(out)
    _check_checkpoint(directory)
    _check_tokenizer(directory)
    from phi1.model.checkpoint import load_state_dict

    config, state = load_state_dict(directory)
    _check_exportable(config, dtype, directory)
    missing = [n for n in tensor_names(config) if n not in state]
    if missing:
        raise Phi1Error(f"{directory}: the weights lack {missing[:3]}")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial{os.getpid()}")
    try:
        _write(partial, config, state, dtype)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out
