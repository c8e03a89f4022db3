"""A singly linked list and how to reverse it in place.

Each node holds a value and a reference to the next node. Reversing means pointing every
node at the one before it, which needs three variables: previous, current and next.
"""


class Node:
    def __init__(self, value, next=None):
        self.value = value
        self.next = next


def from_list(values):
    """Build a linked list from a Python list and return its first node."""
    head = None
    for value in reversed(values):
        head = Node(value, head)
    return head


def to_list(head):
    out = []
    while head is not None:
        out.append(head.value)
        head = head.next
    return out


def reverse(head):
    """Reverse the list starting at head and return the new head."""
    previous = None
    current = head
    while current is not None:
        following = current.next
        current.next = previous  # turn the arrow around
        previous, current = current, following
    return previous


print(to_list(reverse(from_list([1, 2, 3, 4]))))  # [4, 3, 2, 1]
