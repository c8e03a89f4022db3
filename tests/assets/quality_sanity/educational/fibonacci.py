"""Three ways to compute Fibonacci numbers, and why the first one is slow.

F(0) = 0, F(1) = 1, and every later number is the sum of the two before it.
"""
from functools import lru_cache


def fib_recursive(n):
    """Direct translation of the definition; repeats work, so it takes exponential time."""
    if n < 2:
        return n
    return fib_recursive(n - 1) + fib_recursive(n - 2)


@lru_cache(maxsize=None)
def fib_memo(n):
    """The same recursion, but each result is remembered, so it runs in linear time."""
    if n < 2:
        return n
    return fib_memo(n - 1) + fib_memo(n - 2)


def fib_loop(n):
    """Keep only the last two numbers: linear time and constant memory."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


for k in range(10):
    assert fib_recursive(k) == fib_memo(k) == fib_loop(k)
print([fib_loop(k) for k in range(10)])
