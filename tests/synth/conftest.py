"""Fixtures for the synth tests: a model textbook section (the model, ``smollm2``, is the
suite's: tests/conftest.py)."""

import pytest
from synth_helpers import TEXTBOOK_SECTION


@pytest.fixture
def SECTION():  # noqa: N802 - reads as the constant it is
    return TEXTBOOK_SECTION
