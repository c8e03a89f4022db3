"""A stack: last in, first out, and a classic use for it, checking balanced brackets."""


class Stack:
    """A stack built on a Python list; push and pop work at the end of the list."""

    def __init__(self):
        self._items = []

    def push(self, item):
        self._items.append(item)

    def pop(self):
        if not self._items:
            raise IndexError("pop from an empty stack")
        return self._items.pop()

    def is_empty(self):
        return not self._items


def balanced(expression):
    """Return True if every bracket in expression is closed in the right order."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = Stack()
    for ch in expression:
        if ch in "([{":
            stack.push(ch)
        elif ch in pairs:
            if stack.is_empty() or stack.pop() != pairs[ch]:
                return False
    return stack.is_empty()


print(balanced("(a[b]{c})"), balanced("(]"))  # True False
