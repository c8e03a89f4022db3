"""The sieve of Eratosthenes: list every prime number up to a limit.

Start by assuming every number is prime, then cross out the multiples of each prime.
Whatever is never crossed out is prime.
"""


def primes_up_to(limit):
    """Return the list of primes <= limit."""
    if limit < 2:
        return []
    is_prime = [True] * (limit + 1)
    is_prime[0] = is_prime[1] = False
    for number in range(2, int(limit**0.5) + 1):
        if is_prime[number]:
            # Smaller multiples were already crossed out by smaller primes.
            for multiple in range(number * number, limit + 1, number):
                is_prime[multiple] = False
    return [n for n, prime in enumerate(is_prime) if prime]


print(primes_up_to(30))  # [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]
