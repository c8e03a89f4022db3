"""Greatest common divisor with Euclid's algorithm.

The key fact: gcd(a, b) == gcd(b, a % b). The numbers shrink quickly, and when the
remainder reaches zero the other number is the answer.
"""


def gcd(a, b):
    """Return the greatest common divisor of two non-negative integers."""
    while b != 0:
        a, b = b, a % b
    return a


def lcm(a, b):
    """Least common multiple, using gcd: a * b == gcd(a, b) * lcm(a, b)."""
    return a * b // gcd(a, b)


print(gcd(48, 36))  # 12
print(lcm(4, 6))  # 12
