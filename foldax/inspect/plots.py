"""Plots of a program with matplotlib: operation counts, intermediate sizes, the memory
footprint over program order, and the graph itself.

Every function takes a Program, ClosedJaxpr or Graph and returns ``(figure, axes)``; it draws
into ``ax`` when given, saves to ``path`` when given, and calls ``plt.show()`` when
``show=True``. Colours are fixed per primitive name, so plots of different programs agree.

Example:
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import foldax, jax.numpy as jnp
    >>> fig, ax = plot_counts(foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3)))
    >>> len(ax.patches)  # one wedge per primitive
    2
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import numpy as np

from foldax.errors import FoldaxValueError
from foldax.inspect.drawing import LAYOUTS, circuit_layout, network_layout, summarise
from foldax.inspect.figures import figures, footprint, format_bytes
from foldax.inspect.graph import EQN, graph_of

_FIXED_COLORS = {"input": (0.45, 0.45, 0.45), "const": (0.7, 0.7, 0.7), "other": (0.85, 0.85, 0.85)}


def primitive_color(name: str) -> tuple[float, float, float]:
    """A colour for a primitive name, the same in every plot and session."""
    if name in _FIXED_COLORS:
        return _FIXED_COLORS[name]
    from matplotlib.colors import hsv_to_rgb

    h = hashlib.sha256(name.encode()).digest()
    return tuple(hsv_to_rgb((h[0] / 255, 0.35 + 0.45 * h[1] / 255, 0.75 + 0.2 * h[2] / 255)))


def _axes(ax: Any, figsize: tuple[float, float]) -> tuple[Any, Any]:
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)


def _finish(fig: Any, path: Any, show: bool) -> None:
    if path is not None:
        fig.savefig(path, bbox_inches="tight")
    if show:
        import matplotlib.pyplot as plt

        plt.show()


def _legend(ax: Any, primitives: list[str], most: int = 16) -> None:
    """A legend of the ``most`` most frequent primitives' colours, outside the axes."""
    from matplotlib.patches import Patch

    names = [p for p, _ in Counter(primitives).most_common(most)]
    if names:
        ax.legend(
            handles=[Patch(color=primitive_color(p), label=p) for p in names],
            loc="upper left",
            bbox_to_anchor=(1.0, 1.0),
            frameon=False,
            fontsize=7,
        )


def _choice(where: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise FoldaxValueError(f"{where}: expected one of {list(allowed)}, found {value!r}.")


def plot_counts(
    program: Any,
    kind: str = "pie",
    by: str = "equations",
    top: int = 12,
    *,
    ax: Any = None,
    path: Any = None,
    show: bool = False,
    figsize: tuple[float, float] = (4, 4),
) -> tuple[Any, Any]:
    """Counts per primitive as a pie or bar chart (autoray's ``plot_history_stats``).

    ``by``: ``"equations"`` (program text), ``"executed"`` (scan bodies times their length) or
    ``"flops"``. The ``top`` largest are shown; the rest are summed into ``"other"``.

    Arguments:
        program: a ``Program`` (``foldax.trace(f)(*args)``), a ``ClosedJaxpr`` or a ``Graph``.
        kind: ``"pie"`` or ``"bar"``.
        by: what is counted per primitive (see above).
        top: how many primitives are shown by name.
        ax: the matplotlib axes to draw in (default: a new figure of size ``figsize``).
        path: save the figure there (any format matplotlib writes).
        show: call ``plt.show()``.
        figsize: the new figure's size in inches.

    Returns:
        ``(figure, axes)``.

    Raises:
        FoldaxValueError: ``kind`` or ``by`` is none of the values above.
        FoldaxTypeError: ``program`` is not a program.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> from foldax.inspect import plot_counts
        >>> fig, ax = plot_counts(foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3)), kind="bar")
        >>> [t.get_text() for t in ax.get_xticklabels()]
        ['mul', 'sin']
    """
    _choice("plot_counts(kind=...)", kind, ("pie", "bar"))
    _choice("plot_counts(by=...)", by, ("equations", "executed", "flops"))
    counts = getattr(figures(graph_of(program, "plot_counts")), by)
    items = sorted(((k, v) for k, v in counts.items() if v > 0), key=lambda kv: (-kv[1], kv[0]))
    if len(items) > top:
        items = items[:top] + [("other", sum(v for _, v in items[top:]))]
    names = [k for k, _ in items]
    values = [v for _, v in items]
    colors = [primitive_color(k) for k in names]
    fig, ax = _axes(ax, figsize)
    if kind == "pie":
        ax.pie(values, labels=[f"{k}: {v:,}" for k, v in items], colors=colors)
    else:
        ax.bar(range(len(values)), values, color=colors)
        ax.set_xticks(range(len(values)), names, rotation=60, ha="right")
        ax.set_ylabel(by)
    ax.set_title(f"{by} per primitive")
    _finish(fig, path, show)
    return fig, ax


def plot_footprint(
    program: Any,
    log: float | None = None,
    include_inputs: bool = True,
    *,
    ax: Any = None,
    path: Any = None,
    show: bool = False,
    figsize: tuple[float, float] = (8, 2),
    color: str = "purple",
) -> tuple[Any, Any]:
    """Bytes of all live intermediates over program order, with the peak marked
    (autoray's ``plot_history_size_footprint``); ``log`` plots ``log_base(bytes)``.

    Arguments:
        program: a ``Program`` (``foldax.trace(f)(*args)``), a ``ClosedJaxpr`` or a ``Graph``.
        log: the base of the logarithm of bytes plotted, or ``None`` for bytes.
        include_inputs: count the inputs as live from the start.
        ax: the matplotlib axes to draw in (default: a new figure of size ``figsize``).
        path: save the figure there (any format matplotlib writes).
        show: call ``plt.show()``.
        figsize: the new figure's size in inches.
        color: the curve's colour.

    Returns:
        ``(figure, axes)``.

    Raises:
        FoldaxTypeError: ``program`` is not a program.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> from foldax.inspect import plot_footprint
        >>> fig, ax = plot_footprint(foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3)))
        >>> ax.get_ylabel()
        'live bytes'
    """
    y = footprint(graph_of(program, "plot_footprint"), include_inputs=include_inputs).astype(float)
    peak_bytes = float(y.max())
    label = "live bytes"
    if log:
        y = np.log(np.maximum(y, 1)) / np.log(log)
        label = f"log{log:g}(live bytes)"
    peak = float(y.max())
    fig, ax = _axes(ax, figsize)
    x = np.arange(y.size)
    ax.fill_between(x, 0, y, color=color, alpha=0.5, step="mid", rasterized=y.size > 4096)
    ax.axhline(peak, color=color, linestyle="--", linewidth=0.8)
    ax.set_xlabel("equation (program order)")
    ax.set_ylabel(label)
    ax.set_title(f"memory footprint, peak {format_bytes(peak_bytes)}")
    ax.set_xlim(0, max(1, y.size - 1))
    _finish(fig, path, show)
    return fig, ax


def plot_sizes(
    program: Any,
    log: float | None = 2,
    *,
    ax: Any = None,
    path: Any = None,
    show: bool = False,
    figsize: tuple[float, float] = (8, 2),
    legend: bool = True,
) -> tuple[Any, Any]:
    """The size of every equation's outputs over program order, coloured by primitive
    (autoray's ``plot_history_functions``).

    Arguments:
        program: a ``Program`` (``foldax.trace(f)(*args)``), a ``ClosedJaxpr`` or a ``Graph``.
        log: the base of the logarithm of sizes plotted, or ``None`` for sizes.
        ax: the matplotlib axes to draw in (default: a new figure of size ``figsize``).
        path: save the figure there (any format matplotlib writes).
        show: call ``plt.show()``.
        figsize: the new figure's size in inches.
        legend: show which colour is which primitive.

    Returns:
        ``(figure, axes)``.

    Raises:
        FoldaxTypeError: ``program`` is not a program.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> from foldax.inspect import plot_sizes
        >>> fig, ax = plot_sizes(foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3)), log=None)
        >>> len(ax.collections[0].get_offsets())
        2
    """
    graph = graph_of(program, "plot_sizes")
    eqns = [n for n in graph.nodes if n.kind == EQN]
    y = np.array([n.nbytes for n in eqns], dtype=float)
    if log:
        y = np.log(np.maximum(y, 1)) / np.log(log)
    fig, ax = _axes(ax, figsize)
    prims = [n.primitive for n in eqns]
    ax.scatter(
        np.arange(len(eqns)),
        y,
        c=[primitive_color(p) for p in prims],
        s=6,
        marker="s",
        rasterized=len(eqns) > 4096,
    )
    ax.set_xlabel("equation (program order)")
    ax.set_ylabel(f"log{log:g}(bytes)" if log else "bytes")
    if legend:
        _legend(ax, prims)
    _finish(fig, path, show)
    return fig, ax


def plot_graph(
    program: Any,
    layout: str = "circuit",
    max_nodes: int = 300,
    *,
    labels: bool | None = None,
    ax: Any = None,
    path: Any = None,
    show: bool = False,
    figsize: tuple[float, float] | None = None,
    seed: int = 0,
) -> tuple[Any, Any]:
    """The graph as a circuit or DAG drawing, nodes coloured by primitive.

    Beyond ``max_nodes`` nodes it is summarised: each drawn node is a block of consecutive
    nodes in program order, coloured by its most frequent primitive, its size growing with the
    block's members. ``labels`` (default: when at most 60 nodes are drawn) prints primitive
    names. ``layout``: ``"circuit"``, ``"layers"`` or ``"spring"`` (see ``drawing``).

    Arguments:
        program: a ``Program`` (``foldax.trace(f)(*args)``), a ``ClosedJaxpr`` or a ``Graph``.
        layout: how nodes are placed (see above).
        max_nodes: the most nodes drawn before consecutive nodes are grouped.
        labels: print primitive names on the nodes (default: at most 60 nodes drawn).
        ax: the matplotlib axes to draw in (default: a new figure of size ``figsize``).
        path: save the figure there (any format matplotlib writes).
        show: call ``plt.show()``.
        figsize: the new figure's size in inches (default: grows with the nodes drawn).
        seed: the seed of the ``"spring"`` layout.

    Returns:
        ``(figure, axes)``.

    Raises:
        FoldaxValueError: ``layout`` is none of the values above, or ``max_nodes`` is not a
            positive int.
        FoldaxTypeError: ``program`` is not a program.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> from foldax.inspect import plot_graph
        >>> fig, ax = plot_graph(foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3)))
        >>> ax.get_title()
        '3 nodes'
    """
    import networkx as nx
    from matplotlib.collections import LineCollection

    _choice("plot_graph(layout=...)", layout, LAYOUTS)
    d = summarise(graph_of(program, "plot_graph"), max_nodes)
    n = len(d.labels)
    if layout == "circuit":
        pos, wires = circuit_layout(d)
    else:
        pos, wires = network_layout(d, layout, seed), []
    if figsize is None:
        span = max(1.0, (n + 1) ** 0.5)
        figsize = (min(24.0, 2 + span * 1.2), min(16.0, 2 + span * 0.6))
    fig, ax = _axes(ax, figsize)
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(d.edges)
    if layout == "circuit":
        segments: list[list[tuple[float, float]]] = []
        colors = []
        for i, (rail, start, end) in enumerate(wires):
            color = primitive_color(d.primitives[i])
            if end > start:
                segments.append([(start, rail), (end, rail)])
                colors.append(color)
        for p, c in d.edges:  # vertical drop from the producer's wire into the reader
            segments.append([(pos[c][0], pos[p][1]), pos[c]])
            colors.append(primitive_color(d.primitives[p]))
        ax.add_collection(LineCollection(segments, colors=colors, linewidths=1.0, alpha=0.7))
    else:
        nx.draw_networkx_edges(g, pos, ax=ax, alpha=0.3, arrows=n <= 100, arrowsize=6, node_size=40)
    sizes = [40 * (1 + np.log2(m)) for m in d.members]
    nx.draw_networkx_nodes(
        g, pos, ax=ax, node_size=sizes, node_shape="s", node_color=[primitive_color(p) for p in d.primitives]
    )
    if labels if labels is not None else n <= 60:
        text = nx.draw_networkx_labels(g, pos, labels=dict(enumerate(d.labels)), ax=ax, font_size=7)
        for t in text.values():
            t.set_rotation(30)
    _legend(ax, d.primitives)
    title = (
        f"{d.total} nodes"
        if not d.summarised
        else f"{d.total} nodes, summarised: {n} blocks of {d.block} consecutive nodes"
    )
    ax.set_title(title)
    ax.axis("off")
    ax.autoscale_view()
    _finish(fig, path, show)
    return fig, ax
