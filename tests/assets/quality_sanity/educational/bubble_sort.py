"""Bubble sort, the simplest sorting algorithm to follow by hand.

Walk through the list comparing neighbours and swap them when they are out of order.
After each pass the largest remaining value has "bubbled" to the end, so the next pass
can stop one position earlier.
"""


def bubble_sort(values):
    """Sort the list values in place and return it."""
    n = len(values)
    for end in range(n - 1, 0, -1):
        swapped = False
        for i in range(end):
            if values[i] > values[i + 1]:
                values[i], values[i + 1] = values[i + 1], values[i]
                swapped = True
        if not swapped:  # no swaps means the list is already sorted
            break
    return values


print(bubble_sort([5, 1, 4, 2, 8]))  # [1, 2, 4, 5, 8]
