"""Checking whether a word or sentence is a palindrome.

A palindrome reads the same forwards and backwards. We first keep only the letters and
digits, in lower case, so that "A man, a plan, a canal: Panama" counts.
"""


def is_palindrome(text):
    """Return True if text reads the same in both directions (ignoring case and punctuation)."""
    cleaned = [ch.lower() for ch in text if ch.isalnum()]
    left, right = 0, len(cleaned) - 1
    while left < right:
        if cleaned[left] != cleaned[right]:
            return False
        left += 1
        right -= 1
    return True


for phrase in ["racecar", "hello", "A man, a plan, a canal: Panama"]:
    print(phrase, "->", is_palindrome(phrase))
