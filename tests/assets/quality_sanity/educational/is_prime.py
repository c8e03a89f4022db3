"""Testing whether a number is prime by trial division.

A number n > 1 is prime if no number from 2 up to sqrt(n) divides it: if n = a * b with
a <= b, then a <= sqrt(n), so checking up to the square root is enough.
"""


def is_prime(n):
    """Return True if n is a prime number."""
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    divisor = 3
    while divisor * divisor <= n:
        if n % divisor == 0:
            return False
        divisor += 2  # even divisors were ruled out above
    return True


print([n for n in range(20) if is_prime(n)])  # [2, 3, 5, 7, 11, 13, 17, 19]
