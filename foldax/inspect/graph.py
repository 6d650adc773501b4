"""A node/edge view of a Program's jaxpr: one node per input, constant and equation.

Every value an equation produces (dropped outputs included: they are computed) gets a *value
id*; a node lists the value ids it reads (``inputs``, literals left out) and writes
(``outputs``). Higher-order equations (``jit``, ``scan``, ``cond``, ``while``, custom
derivatives, ``remat``, ...) expose their bodies as ``node.subgraphs``, built on first use and
shared between equations that carry the same jaxpr. The graph is built by the interpreter core
(``foldax.transforms.core.interpreter``) with values that are value ids.

Example:
    >>> import foldax, jax.numpy as jnp
    >>> g = Graph.of(foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3)))
    >>> [(n.label, n.shapes) for n in g.nodes]
    [('x', [(3,)]), ('sin', [(3,)]), ('mul', [(3,)])]
    >>> g.edges
    [(0, 1), (1, 2), (0, 2)]
"""

from __future__ import annotations

import contextlib
import gc
from typing import Any, Iterator, NamedTuple, Sequence

from foldax._compat import ClosedJaxpr, Jaxpr, JaxprEqn
from foldax.inspect.program import arg_names, as_program
from foldax.transforms.core.interpreter import Interpreter

INPUT, CONST, EQN = "input", "const", "eqn"
_NBYTES: dict = {}  # (shape, dtype) -> bytes


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a large graph is built or rewritten.

    Building creates many long-lived objects and no cycles to collect; with the collector on,
    its full collections re-scan every object built so far and the cost grows faster than the
    number of equations.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def nbytes_of(aval: Any) -> int:
    """Bytes of an array with abstract value ``aval`` (0 for tokens and opaque types)."""
    try:
        return int(aval.size) * int(aval.dtype.itemsize)
    except (AttributeError, TypeError):
        return 0


class Subgraph(NamedTuple):
    """A body of a higher-order equation.

    ``times``: how often it runs per execution of the equation (a scan's length; ``None`` when
    unknown, as for ``while``). ``group``: bodies of one group are alternatives (``cond``
    branches): one of them runs.

    Example:
        >>> import jax
        >>> from foldax.inspect import Graph
        >>> body = lambda c, _: (c * 2, None)
        >>> g = Graph.of(jax.make_jaxpr(lambda x: jax.lax.scan(body, x, None, length=4)[0])(1.0))
        >>> [(s.label, s.times) for s in g.nodes[-1].subgraphs]
        [('body', 4)]
    """

    label: str
    graph: Graph
    times: int | None
    group: str | None = None


class Node:
    """One input, constant or equation of a Graph (see the module docstring).

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> prog = foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3))
        >>> from foldax.inspect import Graph
        >>> [(n.kind, n.label) for n in Graph.of(prog).nodes]
        [('input', 'x'), ('eqn', 'sin'), ('eqn', 'mul')]
    """

    __slots__ = ("graph", "index", "kind", "primitive", "label", "eqn", "inputs", "outputs", "_subgraphs")

    def __init__(
        self,
        graph: Graph,
        index: int,
        kind: str,
        primitive: str,
        label: str,
        eqn: JaxprEqn | None,
        inputs: tuple,
        outputs: tuple,
    ):
        self.graph, self.index, self.kind = graph, index, kind
        self.primitive, self.label, self.eqn = primitive, label, eqn
        self.inputs, self.outputs = inputs, outputs
        self._subgraphs: list[Subgraph] | None = None

    @property
    def avals(self) -> list:
        return [self.graph.value_aval[v] for v in self.outputs]

    @property
    def shapes(self) -> list[tuple]:
        return [tuple(getattr(a, "shape", ())) for a in self.avals]

    @property
    def nbytes(self) -> int:
        return sum(self.graph.value_nbytes[v] for v in self.outputs)

    @property
    def producers(self) -> list[int]:
        """Indices of the nodes whose values this node reads (in operand order, repeated)."""
        return [self.graph.value_node[v] for v in self.inputs]

    @property
    def subgraphs(self) -> list[Subgraph]:
        if self._subgraphs is None:
            self._subgraphs = (
                []
                if self.eqn is None
                else [
                    Subgraph(label, self.graph.subgraph(body), times, group)
                    for label, body, times, group in sub_jaxprs(self.eqn)
                ]
            )
        return self._subgraphs

    def __repr__(self) -> str:
        shapes = ", ".join(str(list(s)) for s in self.shapes)
        return f"<Node {self.index} {self.label}{shapes}>"


class _Builder(Interpreter):
    """Walks a jaxpr with the interpreter core; a value is a value id (``None`` for literals)."""

    transformation = "foldax.inspect"
    generic_higher_order = False
    source_context = False

    def __init__(self, graph: Graph):
        self.graph = graph

    def lift(self, constant: Any) -> None:
        return None

    def process_eqn(self, eqn: JaxprEqn, invals: list) -> list:
        # Every equation, higher-order or not, becomes one node: no rule lookup needed.
        return self.default_rule(eqn, invals)

    def default_rule(self, eqn: JaxprEqn, invals: list) -> list:
        return self.graph._add(
            EQN,
            eqn.primitive.name,
            eqn_label(eqn),
            eqn,
            tuple(v for v in invals if v is not None),
            [v.aval for v in eqn.outvars],
        )


class Graph:
    """Nodes in program order (inputs, then constants, then equations) and value ids.

    Attributes:
        nodes: the nodes; ``nodes[i].index == i``.
        value_node / value_aval / value_nbytes: per value id, its producing node, abstract value
            and size in bytes.
        outputs: per output of the jaxpr, its value id (``None`` for a literal output).
        name: the program's (or body's) name.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> prog = foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3))
        >>> from foldax.inspect import Graph
        >>> g = Graph.of(prog)
        >>> len(g.nodes), g.nodes[-1].label
        (3, 'mul')
    """

    def __init__(
        self,
        jaxpr: Jaxpr,
        consts: Sequence = (),
        name: str = "jaxpr",
        in_names: Sequence[str] | None = None,
        _cache: dict | None = None,
    ):
        self.name, self.jaxpr, self.consts = name, jaxpr, list(consts)
        self.nodes: list[Node] = []
        self.value_node: list[int] = []
        self.value_aval: list = []
        self.value_nbytes: list[int] = []
        self._cache = {} if _cache is None else _cache
        self._last_use: list[int] | None = None
        in_names = in_names or [f"in{i}" for i in range(len(jaxpr.invars))]
        in_vals = [self._add(INPUT, INPUT, n, None, (), [v.aval])[0] for n, v in zip(in_names, jaxpr.invars)]
        const_vals = [
            self._add(CONST, CONST, f"c{i}", None, (), [v.aval])[0] for i, v in enumerate(jaxpr.constvars)
        ]
        self.outputs: list[int | None] = _Builder(self).run_jaxpr(jaxpr, const_vals, in_vals)

    @classmethod
    def of(cls, program: Any, where: str = "Graph.of") -> Graph:
        """The graph of a Program or ClosedJaxpr (``where`` names the caller in errors)."""
        program = as_program(program, where)
        with paused_gc():
            return cls(program.jaxpr.jaxpr, program.jaxpr.consts, program.name, arg_names(program))

    def _add(
        self, kind: str, primitive: str, label: str, eqn: JaxprEqn | None, inputs: tuple, avals: list
    ) -> list[int]:
        index = len(self.nodes)
        first = len(self.value_node)
        outs = list(range(first, first + len(avals)))
        self.value_node.extend([index] * len(avals))
        self.value_aval.extend(avals)
        for aval in avals:
            key = (getattr(aval, "shape", None), getattr(aval, "dtype", None))
            size = _NBYTES.get(key)
            if size is None:
                size = _NBYTES[key] = nbytes_of(aval)
            self.value_nbytes.append(size)
        self.nodes.append(Node(self, index, kind, primitive, label, eqn, inputs, tuple(outs)))
        return outs

    def subgraph(self, body: ClosedJaxpr | Jaxpr) -> Graph:
        """The graph of a sub-jaxpr (built once per jaxpr object, shared by the whole tree)."""
        key = id(body)
        hit = self._cache.get(key)
        if hit is None:
            jaxpr, consts = (body.jaxpr, body.consts) if isinstance(body, ClosedJaxpr) else (body, [])
            names = getattr(jaxpr.debug_info, "arg_names", None)
            if not (names and len(names) == len(jaxpr.invars) and all(names)):
                names = None
            hit = (body, Graph(jaxpr, consts, _jaxpr_name(jaxpr), names, self._cache))
            self._cache[key] = hit
        return hit[1]

    # -- structure ------------------------------------------------------------------------
    @property
    def equations(self) -> list[Node]:
        return [n for n in self.nodes if n.kind == EQN]

    @property
    def edges(self) -> list[tuple[int, int]]:
        """``(producer, consumer)`` node pairs, each once, in program order."""
        out, seen = [], set()
        for node in self.nodes:
            for p in node.producers:
                if (p, node.index) not in seen:
                    seen.add((p, node.index))
                    out.append((p, node.index))
        return out

    @property
    def output_nodes(self) -> list[int]:
        """The node producing each non-literal output, in output order (repeats kept)."""
        return [self.value_node[v] for v in self.outputs if v is not None]

    def last_use(self) -> list[int]:
        """Per value id, the index of the last node reading it (``-1`` if none); outputs of the
        graph count as read by a node after the last (``len(nodes)``)."""
        if self._last_use is None:
            last = [-1] * len(self.value_node)
            for node in self.nodes:
                for v in node.inputs:
                    last[v] = node.index
            end = len(self.nodes)
            for v in self.outputs:
                if v is not None:
                    last[v] = end
            self._last_use = last
        return self._last_use

    def depths(self) -> list[int]:
        """Per node, the longest path from an input or constant (inputs have depth 0)."""
        depth = [0] * len(self.nodes)
        for node in self.nodes:
            ps = node.producers
            if ps:
                depth[node.index] = 1 + max(depth[p] for p in ps)
        return depth

    def to_networkx(self) -> Any:
        """A ``networkx.DiGraph`` with node attributes ``label``, ``primitive``, ``kind``,
        ``shapes`` and ``nbytes`` and an edge per producer/consumer pair."""
        import networkx as nx

        g = nx.DiGraph()
        for n in self.nodes:
            g.add_node(
                n.index, label=n.label, primitive=n.primitive, kind=n.kind, shapes=n.shapes, nbytes=n.nbytes
            )
        g.add_edges_from(self.edges)
        return g

    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        return f"<Graph {self.name}: {len(self.nodes)} nodes>"


def _jaxpr_name(jaxpr: Jaxpr) -> str:
    return getattr(jaxpr.debug_info, "func_name", None) or "body"


def eqn_label(eqn: JaxprEqn) -> str:
    """``jit:norm`` for named calls, else the primitive's name."""
    name = eqn.params.get("name")
    if isinstance(name, str) and name:
        return f"{eqn.primitive.name}:{name}"
    return eqn.primitive.name


_BODY_TYPES = (ClosedJaxpr, Jaxpr, tuple)


def sub_jaxprs(eqn: JaxprEqn) -> list[tuple[str, Any, int | None, str | None]]:
    """``(label, jaxpr, times, group)`` for every jaxpr in ``eqn``'s params (see Subgraph)."""
    prim, p = eqn.primitive.name, eqn.params
    if not any(isinstance(v, _BODY_TYPES) for v in p.values()):
        return []
    if prim == "scan":
        return [("body", p["jaxpr"], int(p["length"]), None)]
    if prim == "while":
        return [("cond", p["cond_jaxpr"], None, None), ("body", p["body_jaxpr"], None, None)]
    if prim == "cond":
        return [(f"branch {i}", b, 1, "branches") for i, b in enumerate(p["branches"])]
    out: list[tuple[str, Any, int | None, str | None]] = []
    for key, value in p.items():
        if isinstance(value, (ClosedJaxpr, Jaxpr)):
            out.append((key, value, 1, None))
        elif isinstance(value, tuple):
            fields = getattr(value, "_fields", None) or [f"[{i}]" for i in range(len(value))]
            out.extend(
                (f"{key}.{f}" if f[0] != "[" else f"{key}{f}", v, 1, None)
                for f, v in zip(fields, value)
                if isinstance(v, (ClosedJaxpr, Jaxpr))
            )
    return out


def graph_of(obj: Any, where: str) -> Graph:
    """``obj`` if it is a Graph, else the Graph of a Program or ClosedJaxpr."""
    return obj if isinstance(obj, Graph) else Graph.of(obj, where)
