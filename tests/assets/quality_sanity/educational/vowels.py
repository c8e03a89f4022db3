"""Counting vowels: a first exercise with loops, strings and conditions."""

VOWELS = "aeiou"


def count_vowels(text):
    """Return how many vowels text contains (upper or lower case)."""
    count = 0
    for ch in text.lower():
        if ch in VOWELS:
            count += 1
    return count


def count_each_vowel(text):
    """Return a dict with the number of times each vowel appears."""
    return {v: text.lower().count(v) for v in VOWELS}


sentence = "Programming is fun and educational"
print(count_vowels(sentence))
print(count_each_vowel(sentence))
