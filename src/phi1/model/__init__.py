"""The phi-1 model: config presets, the module, tokenizer, checkpoints, generation."""

from phi1.model.config import EOT_ID, PADDED_VOCAB, PRESETS, TOKENIZER_VOCAB, ModelConfig
from phi1.model.model import KVCache, Phi

__all__ = ["EOT_ID", "PADDED_VOCAB", "PRESETS", "TOKENIZER_VOCAB", "KVCache", "ModelConfig", "Phi"]
