"""Are two words anagrams? Two approaches: sorting and counting letters.

Anagrams use exactly the same letters the same number of times ("listen" and "silent").
"""
from collections import Counter


def anagrams_by_sorting(a, b):
    """Sorted letters are equal exactly when the words are anagrams. O(n log n)."""
    return sorted(a.lower()) == sorted(b.lower())


def anagrams_by_counting(a, b):
    """Compare letter counts instead; this takes linear time."""
    return Counter(a.lower()) == Counter(b.lower())


for first, second in [("listen", "silent"), ("apple", "paper")]:
    print(first, second, anagrams_by_sorting(first, second), anagrams_by_counting(first, second))
