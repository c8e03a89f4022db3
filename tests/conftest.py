"""Suite-wide settings (no network, no hub, quiet tokenizers) and the one shared model:
the real SmolLM2 through llama.cpp, loaded once per session by the tests that ask for it."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def smollm2():
    from phi1.llm import load_llm

    llm = load_llm("smollm2-135m-instruct", n_ctx=2048)
    yield llm
    llm.close()
