"""What-if views: a program's figures after folding constants and after common-subexpression
elimination, side by side (``80 -> 70`` unique nodes).

The *folded* view declares some inputs variables and the others constants (values given as for
``declare_variables``) and folds with ``foldax.transforms.core.passes``; without values it folds the
constants the program already holds. The *cse* view then merges identical equations (and drops
the dead ones). Each view is cumulative.

Example:
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> closed = jax.make_jaxpr(lambda x, y: jnp.sin(x) * jnp.sin(x) + y * 2)(1.0, 2.0)
    >>> view = whatif(closed, jnp.float32(1), np.float32(2))
    >>> view.change("equations")
    (5, 4, 3)
"""

from __future__ import annotations

import dataclasses
from typing import Any

from foldax.inspect.declare import Selection, declare_variables
from foldax.inspect.figures import Figures, figures, format_bytes
from foldax.inspect.graph import paused_gc
from foldax.inspect.program import as_program
from foldax.transforms.core.passes import (
    eliminate_common_subexpressions,
    eliminate_dead_code,
    fold_constants,
)
from foldax.transforms.core.program import Program


@dataclasses.dataclass(frozen=True)
class WhatIf:
    """Figures per view (``'program'``, ``'folded'``, ``'cse'``) and the programs behind them.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> prog = foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3))
        >>> from foldax.inspect import whatif
        >>> whatif(prog).change("flops")
        (6, 6, 6)
    """

    views: dict[str, Figures]
    programs: dict[str, Program]

    def change(self, figure: str) -> tuple:
        """One scalar figure (a key of ``Figures.summary()``) across the views, in order."""
        return tuple(f.summary()[figure] for f in self.views.values())

    def __str__(self) -> str:
        names = list(self.views)
        first = next(iter(self.views.values()))
        lines = [f"what-if for {first.name}: " + " -> ".join(names)]
        for key in first.summary():
            values = self.change(key)
            shown = [
                format_bytes(v) if key in ("largest intermediate", "peak memory") else f"{v:,}"
                for v in values
            ]
            lines.append(f"  {key:22s} " + " -> ".join(shown))
        return "\n".join(lines)


def _with_jaxpr(program: Program, closed: Any) -> Program:
    return dataclasses.replace(program, jaxpr=closed)


def whatif(program: Any, *args: Any, variables: Selection = None, **kwargs: Any) -> WhatIf:
    """Figures of ``program`` as it is, after folding and after CSE (see the module docstring).

    ``args``/``kwargs`` (optional) are values for the program's inputs; ``variables`` selects
    which stay variable (default: the ``jax.Array`` ones).

    Arguments:
        program: a ``Program`` (``foldax.trace(f)(*args)``) or a ``ClosedJaxpr``.
        *args: values for the program's positional inputs (optional).
        variables: which inputs stay variable (as in ``declare_variables``).
        **kwargs: values for the program's keyword inputs.

    Returns:
        A ``WhatIf``: the ``Figures`` per view (``'program'``, ``'folded'``, ``'cse'``) and the
        programs behind them; ``str()`` tabulates them.

    Raises:
        FoldaxTypeError: ``program`` is not a program.
        FoldaxValueError: a value or a selected variable does not fit the program's inputs.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from foldax.inspect import whatif
        >>> report = whatif(jax.make_jaxpr(lambda x: jnp.sin(x) + jnp.sin(x))(jnp.ones(3)))
        >>> list(report.views), report.change("equations")
        (['program', 'folded', 'cse'], (3, 3, 2))
    """
    program = as_program(program, "whatif")
    with paused_gc():
        return _whatif(program, args, kwargs, variables)


def _whatif(program: Program, args: tuple, kwargs: dict, variables: Selection) -> WhatIf:
    if args or kwargs:
        folded = declare_variables(program, *args, variables=variables, **kwargs)
    else:
        folded = _with_jaxpr(program, eliminate_dead_code(fold_constants(program.jaxpr)))
    shared = _with_jaxpr(folded, eliminate_dead_code(eliminate_common_subexpressions(folded.jaxpr)))
    programs = {"program": program, "folded": folded, "cse": shared}
    views: dict[str, Figures] = {}
    previous: tuple[Program, Figures] | None = None
    for key, prog in programs.items():
        if previous is not None and _same_structure(previous[0], prog):
            views[key] = previous[1]
        else:
            views[key] = figures(prog)
        previous = (prog, views[key])
    return WhatIf(views, programs)


def _same_structure(a: Program, b: Program) -> bool:
    """Whether a pass left the program as it was (then its figures are the same): the same
    inputs and consts, and the same primitives in the same order (folding, CSE and DCE only
    remove or inline equations)."""
    ja, jb = a.jaxpr.jaxpr, b.jaxpr.jaxpr
    return (
        len(ja.invars) == len(jb.invars)
        and len(ja.constvars) == len(jb.constvars)
        and len(ja.eqns) == len(jb.eqns)
        and all(x.primitive is y.primitive for x, y in zip(ja.eqns, jb.eqns))
    )
