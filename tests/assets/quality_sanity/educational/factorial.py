"""Factorial, the classic first example of recursion.

n! = n * (n - 1) * ... * 1, and 0! = 1. A recursive function needs a base case that
stops the recursion and a step that moves towards it.
"""


def factorial(n):
    """Return n! for a non-negative integer n."""
    if n < 0:
        raise ValueError("factorial is not defined for negative numbers")
    if n == 0:  # base case
        return 1
    return n * factorial(n - 1)  # recursive step: a smaller problem


def factorial_loop(n):
    """The same computation with a loop instead of recursion."""
    result = 1
    for k in range(2, n + 1):
        result *= k
    return result


print(factorial(5), factorial_loop(5))  # 120 120
