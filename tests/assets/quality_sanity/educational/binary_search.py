"""Binary search: find a value in a sorted list by halving the search range.

Each step compares the target with the middle element and throws away the half that
cannot contain it, so a list of n items needs about log2(n) comparisons.
"""


def binary_search(items, target):
    """Return the index of target in the sorted list items, or -1 if it is absent."""
    low, high = 0, len(items) - 1
    while low <= high:
        middle = (low + high) // 2
        if items[middle] == target:
            return middle
        if items[middle] < target:
            low = middle + 1  # the target can only be to the right
        else:
            high = middle - 1  # the target can only be to the left
    return -1


if __name__ == "__main__":
    numbers = [2, 3, 5, 7, 11, 13, 17]
    print(binary_search(numbers, 11))  # 4
    print(binary_search(numbers, 4))  # -1
