"""The tree view of a program, as autoray's ``LazyArray.show()`` prints it.

Each output is a root; below a node come the nodes it reads, in operand order, then (for a
higher-order equation) its bodies. A node already printed is not printed again: the line
refers to the line where it was (``... (mul[6] from line 4)``), and so does a body shared by
several equations. Inputs are ``←[shape] name``, folded constants ``const[shape]``.

Example:
    >>> import foldax, jax.numpy as jnp
    >>> show(foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3)))
       0 mul[3]
       1 ├─sin[3]
       2 │ ╰─←[3] x
       3 ╰─ ... (←[3] x from line 2)
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

import numpy as np

from foldax._compat import ClosedJaxpr, Jaxpr, Literal
from foldax.errors import FoldaxValueError
from foldax.inspect.graph import CONST, INPUT, Node, Subgraph, graph_of

BAR, SPACE, JUNCTION, BEND = "│ ", "  ", "├─", "╰─"


def _shapes(node: Node, dtypes: bool) -> str:
    avals = node.avals
    if dtypes:
        return ", ".join(a.str_short(short_dtypes=True) for a in avals)
    return ", ".join(str(list(getattr(a, "shape", ()))) for a in avals)


def _param(value: Any) -> str:
    if isinstance(value, (ClosedJaxpr, Jaxpr)):
        return "{...}"
    if isinstance(value, tuple) and any(isinstance(v, (ClosedJaxpr, Jaxpr)) for v in value):
        return "(" + ", ".join(_param(v) for v in value) + ")"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _shown(key: str, value: Any) -> bool:
    """Params worth printing: not the name, bodies (shown below the node) or defaults."""
    if key == "name" or isinstance(value, (ClosedJaxpr, Jaxpr)) or value is None or value == ():
        return False
    if isinstance(value, tuple):
        return not all(
            v is None
            or v is False
            or type(v).__name__ == "UnspecifiedValue"
            or isinstance(v, (ClosedJaxpr, Jaxpr))
            for v in value
        )
    return not (key == "ctx_mesh" and not getattr(value, "axis_names", ()))


def node_text(node: Node, dtypes: bool = False, params: bool = False) -> str:
    """One node as the tree view prints it."""
    shapes = _shapes(node, dtypes)
    if node.kind == INPUT:
        return f"←{shapes} {node.label}"
    if node.kind == CONST:
        return f"const {shapes}" if dtypes else f"const{shapes}"
    if not params or node.eqn is None:
        return f"{node.label} {shapes}" if dtypes else f"{node.label}{shapes}"
    args = [repr(np.asarray(a.val).item()) if isinstance(a, Literal) else "#" for a in node.eqn.invars]
    args += [f"{k}={_param(v)}" for k, v in node.eqn.params.items() if _shown(k, v)]
    return f"{node.label}({', '.join(args)}) → {shapes}"


def _sub_text(sub: Subgraph) -> str:
    times = "" if sub.times == 1 else " ×?" if sub.times is None else f" ×{sub.times}"
    return f"⤷ {sub.label}: {sub.graph.name}{times}"


def tree_lines(
    program: Any,
    max_lines: int | None = None,
    max_depth: int | None = None,
    subgraphs: bool = True,
    dtypes: bool = False,
    params: bool = False,
) -> list[str]:
    """The lines ``show`` prints.

    Arguments:
        program: a ``Program``, ``ClosedJaxpr`` or ``Graph``.
        max_lines: stop after this many lines.
        max_depth: do not expand nodes deeper than this.
        subgraphs: also show the bodies of higher-order equations.
        dtypes: print dtypes with shapes.
        params: print equations' parameters.

    Returns:
        The lines, numbered, without newlines.

    Raises:
        FoldaxValueError: ``max_lines`` or ``max_depth`` is not a non-negative int or None.
        FoldaxTypeError: ``program`` is not a program.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> from foldax.inspect import tree_lines
        >>> len(tree_lines(foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3))))
        4
    """
    for arg, value in (("max_lines", max_lines), ("max_depth", max_depth)):
        if value is not None and (not isinstance(value, int) or value < 0):
            raise FoldaxValueError(f"show({arg}=...): expected a non-negative int or None, found {value!r}.")
    graph = graph_of(program, "show")
    limit = float("inf") if max_lines is None else max_lines
    depth_limit = float("inf") if max_depth is None else max_depth
    lines: list[str] = []
    seen: dict[tuple, int] = {}
    # stack entries: (graph, node index or Subgraph, prefix, connector, depth)
    stack: list[tuple] = [(graph, i, "", "", 0) for i in reversed(graph.output_nodes)]
    while stack and len(lines) < limit:
        g, item, prefix, connector, depth = stack.pop()
        is_sub = isinstance(item, Subgraph)
        key = (id(item.graph),) if is_sub else (id(g), item)
        text = _sub_text(item) if is_sub else node_text(g.nodes[item], dtypes, params)
        if key in seen:
            lines.append(f"{len(lines):>4} {prefix}{connector} ... ({text} from line {seen[key]})")
            continue
        seen[key] = len(lines)
        lines.append(f"{len(lines):>4} {prefix}{connector}{text}")
        if depth >= depth_limit:
            continue
        child_prefix = prefix + ("" if not connector else SPACE if connector == BEND else BAR)
        if is_sub:
            children = [(item.graph, i) for i in item.graph.output_nodes]
        else:
            node = g.nodes[item]
            children = [(g, p) for p in node.producers]
            if subgraphs:
                children += [(g, sub) for sub in node.subgraphs]
        for k in range(len(children) - 1, -1, -1):
            cg, child = children[k]
            stack.append((cg, child, child_prefix, BEND if k == len(children) - 1 else JUNCTION, depth + 1))
    return lines


def show(
    program: Any,
    max_lines: int | None = None,
    max_depth: int | None = None,
    *,
    subgraphs: bool = True,
    dtypes: bool = False,
    params: bool = False,
    file: TextIO | None = None,
) -> None:
    """Print the tree view of a program (autoray's ``show()``).

    Each line is an equation with its output shape; its inputs are indented below it, and a value
    used again is printed once and then referred to by line.

    Arguments:
        program: a ``Program``, ``ClosedJaxpr`` or ``Graph``.
        max_lines: stop after this many lines.
        max_depth: do not expand nodes deeper than this.
        subgraphs: also show the bodies of higher-order equations (``jit``, ``scan``, ...).
        dtypes: show ``f32[6]`` instead of ``[6]``.
        params: show each equation's operands (``#``) and params, as ``slice(#, ...) → [1, 6]``.
        file: where to print (default ``sys.stdout``).

    Returns:
        ``None`` (``tree_lines`` returns the lines instead).

    Raises:
        FoldaxTypeError: ``program`` is none of the accepted types.
        FoldaxValueError: ``max_lines``/``max_depth`` is negative or not an int.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> foldax.show(foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3)))
           0 mul[3]
           1 ├─sin[3]
           2 │ ╰─←[3] x
           3 ╰─ ... (←[3] x from line 2)
    """
    text = "\n".join(tree_lines(program, max_lines, max_depth, subgraphs, dtypes, params))
    print(text, file=file or sys.stdout)
