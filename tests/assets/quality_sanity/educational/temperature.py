"""Converting temperatures between Celsius and Fahrenheit.

F = C * 9 / 5 + 32 and, solving for C, C = (F - 32) * 5 / 9. Writing both directions as
functions lets us check one against the other.
"""


def celsius_to_fahrenheit(celsius):
    """Convert degrees Celsius to degrees Fahrenheit."""
    return celsius * 9 / 5 + 32


def fahrenheit_to_celsius(fahrenheit):
    """Convert degrees Fahrenheit to degrees Celsius."""
    return (fahrenheit - 32) * 5 / 9


for c in [-40, 0, 37, 100]:
    f = celsius_to_fahrenheit(c)
    print(f"{c} C = {f:.1f} F")
    assert abs(fahrenheit_to_celsius(f) - c) < 1e-9  # the round trip gives c back
