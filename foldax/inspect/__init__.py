"""Looking inside a program: its graph, figures, what-if views, plots and source.

Everything here takes a Program (``foldax.trace(f)(*args)``, or ``jitted.trace(*args)`` for a
``foldax.jit`` function) or a ClosedJaxpr (``jax.make_jaxpr(f)(*args)``); the functions that
walk the graph also take a ``Graph``, so a large program is walked once.

* ``show(program, max_lines=...)`` — the tree view (autoray's ``show()``);
* ``figures(program)`` — equations per primitive, unique nodes, largest intermediate, peak
  memory, FLOPs (into sub-jaxprs; scan bodies times their length); ``footprint(program)``;
* ``whatif(program, *values, variables=...)`` — the figures after folding and after CSE;
  ``declare_variables`` gives the folded Program itself;
* ``plot_counts``, ``plot_sizes``, ``plot_footprint``, ``plot_graph`` — matplotlib plots;
* ``source(program)`` / ``print_source(program)`` — runnable Python calling ``jax.lax``;
* ``Function(f_or_program, *values, variables=..., fold_constants=True)`` — a program as a
  function of its declared variables (autoray's ``lazy.Function``);
* ``Graph.of(program)`` — the node/edge view everything above is built on.

``foldax.show``, ``foldax.figures`` and ``foldax.print_source`` are the same functions.

Example:
    >>> import foldax, jax.numpy as jnp
    >>> prog = foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3))
    >>> foldax.inspect.figures(prog).equations
    {'sin': 1, 'mul': 1}
"""

from foldax.inspect.declare import declare_variables
from foldax.inspect.drawing import summarise
from foldax.inspect.figures import Figures, Intermediate, figures, footprint
from foldax.inspect.flops import equation_flops, register_flops
from foldax.inspect.function import Function
from foldax.inspect.graph import Graph, Node, Subgraph
from foldax.inspect.plots import plot_counts, plot_footprint, plot_graph, plot_sizes
from foldax.inspect.program import as_program
from foldax.inspect.show import show, tree_lines
from foldax.inspect.source import Source, print_source, source
from foldax.inspect.whatif import WhatIf, whatif

__all__ = [
    "Figures",
    "Function",
    "Graph",
    "Intermediate",
    "Node",
    "Source",
    "Subgraph",
    "WhatIf",
    "as_program",
    "declare_variables",
    "equation_flops",
    "figures",
    "footprint",
    "plot_counts",
    "plot_footprint",
    "plot_graph",
    "plot_sizes",
    "print_source",
    "register_flops",
    "show",
    "source",
    "summarise",
    "tree_lines",
    "whatif",
]
