"""Breadth-first search on a graph stored as an adjacency list.

BFS visits the start node, then all its neighbours, then their neighbours, and so on,
using a queue. In an unweighted graph it finds the shortest path (fewest edges).
"""
from collections import deque


def shortest_path(graph, start, goal):
    """Return the list of nodes on a shortest path from start to goal, or None."""
    previous = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = []
            while node is not None:  # walk back along the recorded steps
                path.append(node)
                node = previous[node]
            return path[::-1]
        for neighbour in graph.get(node, []):
            if neighbour not in previous:
                previous[neighbour] = node
                queue.append(neighbour)
    return None


graph = {"A": ["B", "C"], "B": ["D"], "C": ["D", "E"], "D": ["F"], "E": ["F"], "F": []}
print(shortest_path(graph, "A", "F"))  # ['A', 'B', 'D', 'F']
