"""Converting between decimal and binary by hand.

To write n in binary, divide by 2 repeatedly and collect the remainders; read them
backwards. To go back, each binary digit doubles the value so far and adds itself.
"""


def to_binary(n):
    """Return the binary digits of a non-negative integer as a string."""
    if n == 0:
        return "0"
    digits = []
    while n > 0:
        digits.append(str(n % 2))
        n //= 2
    return "".join(reversed(digits))


def from_binary(text):
    """Return the integer whose binary digits are text."""
    value = 0
    for digit in text:
        value = value * 2 + int(digit)
    return value


for number in [0, 5, 10, 255]:
    bits = to_binary(number)
    print(number, bits, from_binary(bits))
    assert bits == bin(number)[2:]  # Python's built-in agrees
