"""What a graph drawing shows: the nodes (or, beyond ``max_nodes``, blocks of consecutive nodes
in program order), their edges, and positions.

Layouts: ``"circuit"`` (x: program order; each value a horizontal wire on its own rail from the
node that makes it to its last reader, rails reused once free, like autoray's circuit plot),
``"layers"`` (networkx's multipartite layout by depth) and ``"spring"`` (networkx's).

Example:
    >>> import foldax, jax.numpy as jnp
    >>> g = Graph.of(foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3)))
    >>> d = summarise(g, max_nodes=300)
    >>> d.labels, d.edges, circuit_layout(d)[0]
    (['x', 'sin', 'mul'], [(0, 1), (1, 2), (0, 2)], {0: (0, 0), 1: (1, 1), 2: (2, 0)})
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections import Counter

from foldax.errors import FoldaxValueError
from foldax.inspect.graph import Graph

LAYOUTS = ("circuit", "layers", "spring")


@dataclasses.dataclass
class DrawGraph:
    """Nodes to draw: one per graph node, or per block of ``block`` consecutive nodes."""

    labels: list[str]
    primitives: list[str]  # a block's most frequent primitive
    members: list[int]  # nodes per drawn node
    edges: list[tuple[int, int]]
    block: int
    total: int  # nodes of the graph

    @property
    def summarised(self) -> bool:
        return self.block > 1


def summarise(graph: Graph, max_nodes: int = 300) -> DrawGraph:
    """The graph's nodes, grouped into at most ``max_nodes`` blocks when it has more.

    Arguments:
        graph: a ``Graph`` (``Graph.of(program)``).
        max_nodes: the most nodes (or blocks of consecutive nodes) kept.

    Returns:
        A ``DrawGraph``: per block its label, most frequent primitive and member count, and the
        edges between blocks.

    Raises:
        FoldaxValueError: ``max_nodes`` is not a positive int.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> from foldax.inspect import Graph, summarise
        >>> g = Graph.of(foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3)))
        >>> summarise(g).total, summarise(g, max_nodes=2).summarised
        (3, True)
    """
    if not isinstance(max_nodes, int) or max_nodes < 1:
        raise FoldaxValueError(f"max_nodes: expected a positive int, found {max_nodes!r}.")
    n = len(graph.nodes)
    block = max(1, math.ceil(n / max_nodes))
    if block == 1:
        return DrawGraph(
            [nd.label for nd in graph.nodes], [nd.primitive for nd in graph.nodes], [1] * n, graph.edges, 1, n
        )
    count = math.ceil(n / block)
    prims: list[Counter] = [Counter() for _ in range(count)]
    for nd in graph.nodes:
        prims[nd.index // block][nd.primitive] += 1
    edges = sorted({(p // block, c // block) for p, c in graph.edges if p // block != c // block})
    labels, dominant, members = [], [], []
    for _b, counter in enumerate(prims):
        top = counter.most_common(2)
        dominant.append(top[0][0])
        labels.append(" ".join(f"{p}×{k}" for p, k in top))
        members.append(sum(counter.values()))
    return DrawGraph(labels, dominant, members, edges, block, n)


def circuit_layout(d: DrawGraph) -> tuple[dict[int, tuple[float, float]], list[tuple[int, int, int]]]:
    """Positions ``{node: (step, rail)}`` and wires ``(rail, start step, end step)``."""
    last = list(range(len(d.labels)))
    for p, c in d.edges:
        last[p] = max(last[p], c)
    free: list[int] = []  # rails free for reuse (a heap)
    busy: list[tuple[int, int]] = []  # (release step, rail)
    rails = 0
    pos: dict[int, tuple[float, float]] = {}  # integer steps and rails
    wires = []
    for i in range(len(d.labels)):
        while busy and busy[0][0] <= i:  # a wire read last here frees its rail for this node
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            rail = heapq.heappop(free)
        else:
            rail, rails = rails, rails + 1
        pos[i] = (i, rail)
        heapq.heappush(busy, (last[i], rail))
        wires.append((rail, i, last[i]))
    return pos, wires


def to_networkx(d: DrawGraph):
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(range(len(d.labels)))
    g.add_edges_from(d.edges)
    return g


def network_layout(d: DrawGraph, layout: str, seed: int = 0) -> dict[int, tuple[float, float]]:
    """Positions by networkx: ``"layers"`` (by depth, left to right) or ``"spring"``."""
    import networkx as nx

    g = to_networkx(d)
    if layout == "spring":
        return {k: tuple(v) for k, v in nx.spring_layout(g, seed=seed).items()}
    depth = [0] * len(d.labels)
    for p, c in sorted(d.edges, key=lambda e: e[1]):
        depth[c] = max(depth[c], depth[p] + 1)
    for node in g.nodes:
        g.nodes[node]["layer"] = depth[node]
    return {k: tuple(v) for k, v in nx.multipartite_layout(g, subset_key="layer").items()}
