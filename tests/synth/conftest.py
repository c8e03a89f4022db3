"""Fixtures for the synth tests: the real SmolLM2 (loaded once) and a model textbook section."""

import pytest
from synth_helpers import TEXTBOOK_SECTION

from phi1.llm import load_llm


@pytest.fixture(scope="session")
def smollm2():
    llm = load_llm("smollm2-135m-instruct", n_ctx=2048)
    yield llm
    llm.close()


@pytest.fixture
def SECTION():  # noqa: N802 - reads as the constant it is
    return TEXTBOOK_SECTION
