"""Figures of a program: equations per primitive, unique nodes, the largest intermediate, the
peak memory of live intermediates in program order, and a FLOP estimate per primitive.

Counts go into sub-jaxprs. ``equations`` counts the program text (each body once per
equation that carries it, as ``Program.num_equations``); ``executed`` and ``flops`` count what
runs: a ``scan`` body times its length, the costliest ``cond`` branch, a ``while`` body once
(its trip count is unknown; ``unknown_trip_counts`` says how many loops that affected).

Memory model (autoray's): inputs and constants are present at the start; a value lives from
the equation that makes it to the last equation that reads it (program outputs to the end);
while an equation runs, its inputs and outputs are live, plus the peak of its bodies' own
intermediates for a higher-order equation. Inputs are freed after their last use.

Example:
    >>> import foldax, jax.numpy as jnp
    >>> fig = figures(foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3)))
    >>> fig.equations, fig.num_nodes, fig.peak_memory, fig.total_flops
    ({'sin': 1, 'mul': 1}, 3, 36, 6)
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import numpy as np

from foldax.inspect.flops import equation_flops
from foldax.inspect.graph import CONST, EQN, INPUT, Graph, Node, graph_of


@dataclasses.dataclass(frozen=True)
class Intermediate:
    """The largest value an equation produces: bytes, shape, dtype and its primitive.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> prog = foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3))
        >>> from foldax.inspect import figures
        >>> str(figures(prog).largest)
        'sin f32[3] (12 B)'
    """

    nbytes: int
    shape: tuple
    dtype: str
    primitive: str

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __str__(self) -> str:
        return f"{self.primitive} {self.dtype}{list(self.shape)} ({format_bytes(self.nbytes)})"


@dataclasses.dataclass(frozen=True)
class Figures:
    """What ``figures(program)`` returns (see the module docstring).

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> prog = foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3))
        >>> from foldax.inspect import figures
        >>> f = figures(prog)
        >>> f.equations, f.peak_memory
        ({'sin': 1, 'mul': 1}, 36)
    """

    name: str
    equations: dict[str, int]
    executed: dict[str, int]
    flops: dict[str, int]
    num_inputs: int
    num_consts: int
    largest: Intermediate | None
    peak_memory: int
    input_bytes: int
    const_bytes: int
    unknown_trip_counts: int = 0

    @property
    def num_equations(self) -> int:
        return sum(self.equations.values())

    @property
    def num_nodes(self) -> int:
        """Unique nodes: inputs, constants and equations (into sub-jaxprs)."""
        return self.num_inputs + self.num_consts + self.num_equations

    @property
    def total_flops(self) -> int:
        return sum(self.flops.values())

    def summary(self) -> dict[str, Any]:
        """The scalar figures by name (what the what-if view compares)."""
        return {
            "equations": self.num_equations,
            "unique nodes": self.num_nodes,
            "largest intermediate": self.largest.nbytes if self.largest else 0,
            "peak memory": self.peak_memory,
            "flops": self.total_flops,
        }

    def __str__(self) -> str:
        lines = [
            f"{self.name}: {self.num_equations} equations, {self.num_nodes} unique nodes "
            f"({self.num_inputs} inputs, {self.num_consts} constants)",
            f"  largest intermediate  {self.largest or '-'}",
            f"  peak memory           {format_bytes(self.peak_memory)} (inputs "
            f"{format_bytes(self.input_bytes)}, constants {format_bytes(self.const_bytes)})",
            f"  flops                 {self.total_flops:,}",
        ]
        if self.unknown_trip_counts:
            lines.append(f"  ({self.unknown_trip_counts} while loop(s) counted once: unknown trip count)")
        lines.append(f"  {'primitive':24s} {'equations':>10s} {'executed':>10s} {'flops':>14s}")
        for prim in sorted(self.equations, key=lambda p: (-self.flops.get(p, 0), p)):
            lines.append(
                f"  {prim:24s} {self.equations[prim]:10d} {self.executed.get(prim, 0):10d}"
                f" {self.flops.get(prim, 0):14,d}"
            )
        return "\n".join(lines)


def format_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


class _Totals:
    """Figures of one graph, sub-graphs included (memoised per graph during one call)."""

    __slots__ = ("static", "executed", "flops", "largest", "peak", "unknown", "extra")

    def __init__(self) -> None:
        self.static: Counter = Counter()
        self.executed: Counter = Counter()
        self.flops: Counter = Counter()
        self.largest: tuple[int, Node | None, int] = (-1, None, -1)
        self.peak = 0
        self.unknown = 0
        self.extra: np.ndarray = np.zeros(0, dtype=np.int64)  # per node: its bodies' peak while it runs


def _scaled(counter: Counter, times: int) -> Counter:
    return Counter({k: v * times for k, v in counter.items()}) if times != 1 else counter


def _totals(graph: Graph, memo: dict) -> _Totals:
    hit = memo.get(id(graph))
    if hit is not None:
        return hit
    t = _Totals()
    extra = np.zeros(len(graph.nodes), dtype=np.int64)
    for node in graph.nodes:
        if node.kind != EQN or node.eqn is None:  # inputs and constants: no equation
            continue
        t.static[node.primitive] += 1
        for v in node.outputs:
            if graph.value_nbytes[v] > t.largest[0]:
                t.largest = (graph.value_nbytes[v], node, v)
        subs = node.subgraphs
        if not subs:
            t.executed[node.primitive] += 1
            t.flops[node.primitive] += equation_flops(node.eqn)
            continue
        t.executed[node.primitive] += 1
        t.unknown += any(sub.times is None for sub in subs)
        chosen: dict[str | None, list] = {}
        for sub in subs:
            st = _totals(sub.graph, memo)
            t.static.update(st.static)
            t.unknown += st.unknown
            if st.largest[0] > t.largest[0]:
                t.largest = st.largest
            extra[node.index] = max(extra[node.index], st.peak)
            times = 1 if sub.times is None else sub.times
            cost = sum(st.flops.values()) * times
            if sub.group is None:
                t.executed.update(_scaled(st.executed, times))
                t.flops.update(_scaled(st.flops, times))
            elif sub.group not in chosen or cost > chosen[sub.group][0]:
                chosen[sub.group] = [cost, st, times]
        for _, st, times in chosen.values():
            t.executed.update(_scaled(st.executed, times))
            t.flops.update(_scaled(st.flops, times))
    t.extra = extra
    t.peak = int(_footprint(graph, include_inputs=False, extra=extra).max(initial=0))
    memo[id(graph)] = t
    return t


def _steps(graph: Graph) -> np.ndarray:
    """Per node, its step in program order: 0 for inputs and constants, k for equation k."""
    is_eqn = np.fromiter((n.kind == EQN for n in graph.nodes), dtype=bool, count=len(graph.nodes))
    return np.cumsum(is_eqn)


def _footprint(graph: Graph, include_inputs: bool, extra: np.ndarray) -> np.ndarray:
    if not graph.nodes:
        return np.zeros(1, dtype=np.int64)
    steps = _steps(graph)
    n_steps = int(steps[-1]) + 1
    value_node = np.asarray(graph.value_node, dtype=np.int64)
    nbytes = np.asarray(graph.value_nbytes, dtype=np.int64)
    last = np.asarray(graph.last_use(), dtype=np.int64)
    start = steps[value_node]
    end = np.where(last >= len(graph.nodes), n_steps - 1, steps[np.clip(last, 0, len(steps) - 1)])
    end = np.where(last < 0, start, np.maximum(end, start))
    if not include_inputs:
        kinds = [graph.nodes[i].kind for i in graph.value_node]
        nbytes = np.where(np.array([k == INPUT for k in kinds], dtype=bool), 0, nbytes)
    diff = np.zeros(n_steps + 1, dtype=np.int64)
    np.add.at(diff, start, nbytes)
    np.add.at(diff, end + 1, -nbytes)
    live = np.cumsum(diff)[:n_steps]
    per_step = np.zeros(n_steps, dtype=np.int64)
    np.maximum.at(per_step, steps, extra)
    return live + per_step


def footprint(program: Any, include_inputs: bool = True) -> np.ndarray:
    """Bytes live at each step of the top-level program order: entry 0 before the first
    equation (inputs and constants), entry ``k`` while equation ``k`` runs.

    Arguments:
        program: a ``Program`` (``foldax.trace(f)(*args)``), a ``ClosedJaxpr`` or a ``Graph``.
        include_inputs: count the inputs as live from the start.

    Returns:
        A NumPy int array, one entry per step.

    Raises:
        FoldaxTypeError: ``program`` is not a program.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> from foldax.inspect import footprint
        >>> footprint(foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3))).tolist()
        [12, 24, 36]
    """
    graph = graph_of(program, "footprint")
    return _footprint(graph, include_inputs, _totals(graph, {}).extra)


def figures(program: Any, include_inputs: bool = True) -> Figures:
    """The figures of a program: equations per primitive, largest intermediate, peak memory, FLOPs.

    Arguments:
        program: a ``Program`` (``foldax.trace(f)(*args)``), a ``ClosedJaxpr`` or a ``Graph``.
        include_inputs: count the inputs in the peak memory (as live from the start).

    Returns:
        A ``Figures`` with ``equations`` (per primitive, in the program text), ``executed`` (scan
            bodies times their length), ``flops``, ``largest`` (the largest intermediate),
            ``peak_memory`` and more; ``summary()`` gives the scalar figures.

    Raises:
        FoldaxTypeError: ``program`` is none of the accepted types.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> prog = foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3))
        >>> figs = foldax.figures(prog)
        >>> figs.equations, figs.largest.nbytes
        ({'sin': 1, 'mul': 1}, 12)
    """
    graph = graph_of(program, "figures")
    t = _totals(graph, {})
    peak = int(_footprint(graph, include_inputs, t.extra).max(initial=0))
    nbytes, node, v = t.largest
    largest = None
    if node is not None:
        aval = node.graph.value_aval[v]
        dtype = aval.str_short(short_dtypes=True).split("[")[0]
        largest = Intermediate(nbytes, tuple(aval.shape), dtype, node.label)
    leaves = [n for n in graph.nodes if n.kind != EQN]
    return Figures(
        name=graph.name,
        equations=dict(t.static),
        executed=dict(t.executed),
        flops=dict(t.flops),
        num_inputs=sum(n.kind == INPUT for n in leaves),
        num_consts=sum(n.kind == CONST for n in leaves),
        largest=largest,
        peak_memory=peak,
        input_bytes=sum(n.nbytes for n in leaves if n.kind == INPUT),
        const_bytes=sum(n.nbytes for n in leaves if n.kind == CONST),
        unknown_trip_counts=t.unknown,
    )
