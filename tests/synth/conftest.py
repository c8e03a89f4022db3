"""Fixtures for the synth tests: the real SmolLM2 (loaded once) and a model textbook section."""

import pytest

from phi1.llm import load_llm


@pytest.fixture(scope="session")
def smollm2():
    llm = load_llm("smollm2-135m-instruct", n_ctx=2048)
    yield llm
    llm.close()


TEXTBOOK_SECTION = """## Counting words with a dictionary

A dictionary maps each word to how often it appears. We walk the words once and
increase the count of each, which takes time proportional to the number of words.

```python
def count_words(text):
    counts = {}
    for word in text.split():
        counts[word] = counts.get(word, 0) + 1
    return counts
```

In the console it looks like this:

```python
>>> count_words("a b a")
{'a': 2, 'b': 1}
```

The method `get` returns a default when the key is missing, so no special case is needed
for the first time a word is seen. This keeps the loop short and easy to read.
"""


@pytest.fixture
def SECTION():  # noqa: N802 - reads as the constant it is
    return TEXTBOOK_SECTION
