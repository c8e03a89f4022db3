"""Counting words in a text with a dictionary.

A dictionary maps each word to how many times we have seen it. dict.get(word, 0)
returns 0 the first time a word appears, so one line handles both cases.
"""


def count_words(text):
    """Return a dict of lower-cased word -> number of occurrences."""
    counts = {}
    for word in text.lower().split():
        word = word.strip(".,!?;:\"'")
        if word:
            counts[word] = counts.get(word, 0) + 1
    return counts


def most_common(counts, n=3):
    """The n most frequent words, most frequent first."""
    return sorted(counts.items(), key=lambda pair: pair[1], reverse=True)[:n]


text = "The cat sat on the mat. The cat was happy."
print(most_common(count_words(text)))  # [('the', 3), ('cat', 2), ('sat', 1)]
