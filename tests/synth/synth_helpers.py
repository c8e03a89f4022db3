"""Shared test data for tests/synth (a module of its own: tests import it by name)."""

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
