"""``phi1 info``, ``phi1 init``, ``phi1 convert``, ``phi1 generate``, ``phi1 export gguf``:
the model commands."""

from __future__ import annotations

from pathlib import Path

from phi1.errors import Phi1Error


def _config_of(model: str):
    from phi1.model.checkpoint import read_config
    from phi1.model.config import PRESETS, ModelConfig

    if Path(model).is_dir():
        return read_config(model)
    if model in PRESETS:
        return ModelConfig.from_name(model)
    raise Phi1Error(
        f"{model!r} is neither a checkpoint directory nor a preset ({', '.join(PRESETS)})"
    )


def info(model: str) -> None:
    """Print a model's config and its exact parameter count.

    Args:
        model: a preset name (phi-1, phi-1-small, tiny, debug) or a checkpoint directory.
    """
    config = _config_of(model)
    fields = config.to_dict()
    extra = fields.pop("extra")
    width = max(map(len, fields))
    for key, value in fields.items():
        print(f"{key:<{width}}  {value}")
    print(f"{'head_size':<{width}}  {config.head_size}")
    for key, value in extra.items():
        print(f"{key:<{width}}  {value} (kept from config.json)")
    total = config.num_params()
    embedding = config.vocab_size * config.n_embd
    print(f"parameters: {total:,} ({total - embedding:,} without the token embedding)")


def init(preset: str | None = None, out: str | None = None, seed: int = 0) -> None:
    """Write a freshly initialised checkpoint (Hugging Face layout, with the tokenizer).

    Args:
        preset: the preset to build (phi-1, phi-1-small, tiny, debug).
        out: the directory to write.
        seed: seeds the weights' generator; the same seed gives the same weights.
    """
    import torch

    from phi1.model.checkpoint import save_checkpoint
    from phi1.model.config import ModelConfig
    from phi1.model.model import Phi

    if preset is None or out is None:
        raise Phi1Error("phi1 init needs --preset NAME and --out DIR")
    config = ModelConfig.from_name(preset)
    model = Phi(config, generator=torch.Generator().manual_seed(seed))
    path = save_checkpoint(model, out)
    print(f"{path}: {preset}, {config.num_params():,} parameters, seed {seed}")


def convert(src: str, out: str | None = None) -> None:
    """Import a checkpoint in Microsoft's original phi layout into the Hugging Face layout.

    Args:
        src: a directory with the original config.json and pytorch_model.bin or
            model.safetensors (transformer.h.N.mixer.Wqkv, lm_head.linear, ...).
        out: the directory to write.
    """
    from phi1.model.checkpoint import convert_microsoft

    if out is None:
        raise Phi1Error("phi1 convert needs --out DIR")
    path = convert_microsoft(src, out)
    print(f"{path}: converted from {src}")


def generate(
    model: str | None = None,
    prompt: str | None = None,
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int = 0,
    stop: list[str] | None = None,
) -> None:
    """Print a continuation of a prompt; temperature 0 is greedy.

    Args:
        model: a checkpoint directory (phi1 init, training, or transformers' save_pretrained
            with the tokenizer files).
        prompt: the text to continue.
        max_new_tokens: at most this many new tokens.
        temperature: 0 for greedy decoding, else the sampling temperature.
        top_p: nucleus sampling: sample from the smallest set of tokens with this mass.
        seed: seeds sampling; the same seed gives the same text.
        stop: strings that end the continuation (it is cut before them).
    """
    import torch

    from phi1.model.checkpoint import load_checkpoint
    from phi1.model.generate import complete
    from phi1.model.tokenizer import load_tokenizer

    if model is None or prompt is None:
        raise Phi1Error("phi1 generate needs --model DIR and --prompt TEXT")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = load_tokenizer(model)
    net = load_checkpoint(model, device=device, dtype=torch.float32 if device == "cpu" else None)
    (result,) = complete(
        net,
        [prompt],
        tokenizer=tokenizer,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        stop=stop or (),
        seed=seed,
    )
    print(result[0].text)


def export_gguf(directory: str, out: str | None = None, dtype: str = "f32") -> None:
    """Write a checkpoint as a GGUF file that llama.cpp (ollama, LM Studio) runs.

    The model becomes llama.cpp's phi2 architecture, with the codegen-350M-mono tokenizer
    inside; the file then works wherever phi1 takes gguf:PATH.

    Args:
        directory: a phi1 checkpoint directory (or a transformers PhiForCausalLM one).
        out: the GGUF file to write.
        dtype: f32, f16 or q8_0 (matrices; norms and biases stay f32).
    """
    from phi1.model.gguf_export import export_gguf as export

    if out is None:
        raise Phi1Error("phi1 export gguf needs --out FILE")
    path = export(directory, out, dtype=dtype)
    size = path.stat().st_size
    print(f"{path}: {dtype}, {size / 1e6:.1f} MB, llama.cpp architecture phi2 (from {directory})")
