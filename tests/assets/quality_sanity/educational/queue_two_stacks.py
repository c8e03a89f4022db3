"""A queue (first in, first out) built from two stacks.

New items go on the inbox stack. To take the oldest item, we pour the inbox into the
outbox stack, which reverses the order, and pop from there. Each item moves at most
twice, so every operation is O(1) on average.
"""


class Queue:
    def __init__(self):
        self.inbox = []
        self.outbox = []

    def enqueue(self, item):
        """Add item at the back of the queue."""
        self.inbox.append(item)

    def dequeue(self):
        """Remove and return the item at the front of the queue."""
        if not self.outbox:
            while self.inbox:
                self.outbox.append(self.inbox.pop())
        if not self.outbox:
            raise IndexError("dequeue from an empty queue")
        return self.outbox.pop()


q = Queue()
for n in [1, 2, 3]:
    q.enqueue(n)
print(q.dequeue(), q.dequeue())  # 1 2
q.enqueue(4)
print(q.dequeue(), q.dequeue())  # 3 4
