"""Insertion sort, the way many people sort a hand of playing cards.

Take the items one at a time and insert each into its place among the ones already
sorted, shifting larger items one step to the right.
"""


def insertion_sort(values):
    """Sort the list values in place and return it."""
    for i in range(1, len(values)):
        current = values[i]
        j = i - 1
        while j >= 0 and values[j] > current:
            values[j + 1] = values[j]  # shift the bigger item right
            j -= 1
        values[j + 1] = current
    return values


print(insertion_sort([12, 11, 13, 5, 6]))  # [5, 6, 11, 12, 13]
