"""The phi-1 model: config presets, the module, tokenizer, checkpoints, generation.

Names are imported on first use, so ``from phi1.model.tokenizer import get_tokenizer`` (or
``phi1 --help``) does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EOT_ID": "phi1.model.config",
    "PADDED_VOCAB": "phi1.model.config",
    "PRESETS": "phi1.model.config",
    "TOKENIZER_VOCAB": "phi1.model.config",
    "ModelConfig": "phi1.model.config",
    "KVCache": "phi1.model.model",
    "Phi": "phi1.model.model",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
