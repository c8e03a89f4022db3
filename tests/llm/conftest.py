"""Shared fixtures for the LLM tests: the real SmolLM2 through llama.cpp, loaded once."""

import pytest

from phi1.llm import load_llm


@pytest.fixture(scope="session")
def smollm2():
    llm = load_llm("smollm2-135m-instruct", n_ctx=1024)
    yield llm
    llm.close()
