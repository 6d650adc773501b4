"""What ``foldax.inspect`` looks at: a Program, or a plain ClosedJaxpr wrapped as one.

A ClosedJaxpr (``jax.make_jaxpr(f)(x)``) becomes a Program whose arguments are its flat inputs,
all variables, and whose output is the tuple of its outputs.

Example:
    >>> import jax, jax.numpy as jnp
    >>> prog = as_program(jax.make_jaxpr(lambda x, y: (x * y,))(1.0, 2.0))
    >>> prog.variable_mask, prog(jnp.float32(3), jnp.float32(4))
    ((True, True), (Array(12., dtype=float32),))
"""

from __future__ import annotations

from typing import Any

from foldax._compat import ClosedJaxpr
from foldax.errors import FoldaxTypeError
from foldax.pytrees.tree import flatten
from foldax.transforms.core.program import TRACED, VARIABLE, Program

Inspectable = Program | ClosedJaxpr


def as_program(obj: Any, where: str = "program") -> Program:
    """``obj`` as a Program (a Program is returned as it is).

    Arguments:
        obj: a ``Program`` (``foldax.trace(f)(*args)``), what ``foldax.jit(f).trace(*args)``
            returns, or a ``ClosedJaxpr`` (its inputs become ``args[i]``).
        where: the caller named in the error message.

    Returns:
        The ``Program``.

    Raises:
        FoldaxTypeError: ``obj`` is none of these (a function: trace it first).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from foldax.inspect import as_program
        >>> program = as_program(jax.make_jaxpr(jnp.sin)(1.0))
        >>> len(program.in_avals), len(program.out_avals)
        (1, 1)
    """
    if isinstance(obj, Program):
        return obj
    if isinstance(getattr(obj, "program", None), Program):  # foldax.jit(f).trace(*args)
        return obj.program
    if isinstance(obj, ClosedJaxpr):
        n_in, n_out = len(obj.jaxpr.invars), len(obj.jaxpr.outvars)
        _, in_tree = flatten(((0,) * n_in, {}))
        _, out_tree = flatten((0,) * n_out)
        dbg = obj.jaxpr.debug_info
        name = getattr(dbg, "func_name", None) or "jaxpr"
        name = name.split(" ")[0]
        return Program(obj, in_tree, (VARIABLE,) * n_in, out_tree, (TRACED,) * n_out, name)
    hint = (
        " Call its .trace(*args) to get the Program."
        if hasattr(obj, "trace") and callable(obj)
        else " Trace a function first: foldax.trace(f)(*args) or jax.make_jaxpr(f)(*args)."
    )
    raise FoldaxTypeError(
        f"{where}: expected a foldax Program or a jax ClosedJaxpr, found {type(obj).__name__}.{hint}"
    )


def arg_names(program: Program) -> list[str]:
    """Names of the jaxpr inputs (``x``, ``args[0]``, ``kwargs['y'].w``), or ``in0, in1, ...``."""
    jaxpr = program.jaxpr.jaxpr
    names = getattr(jaxpr.debug_info, "arg_names", None)
    n = len(jaxpr.invars)
    if not names or len(names) != n or any(not s for s in names):
        return [f"in{i}" for i in range(n)]
    return list(names)
