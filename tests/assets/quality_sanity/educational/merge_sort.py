"""Merge sort: divide the list in halves, sort each half, then merge them.

Merging two sorted lists is easy: repeatedly take the smaller front element. The list is
halved log2(n) times and each level does n work, so merge sort takes O(n log n) time.
"""


def merge(left, right):
    """Merge two sorted lists into one sorted list."""
    result = []
    i = j = 0
    while i < len(left) and j < len(right):
        if left[i] <= right[j]:
            result.append(left[i])
            i += 1
        else:
            result.append(right[j])
            j += 1
    result.extend(left[i:])  # one of these two is empty
    result.extend(right[j:])
    return result


def merge_sort(values):
    """Return a new sorted list with the elements of values."""
    if len(values) <= 1:
        return list(values)
    middle = len(values) // 2
    return merge(merge_sort(values[:middle]), merge_sort(values[middle:]))


print(merge_sort([38, 27, 43, 3, 9, 82, 10]))
