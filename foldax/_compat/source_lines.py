"""Source information: which user line an equation came from, the context that attributes new
operations to it, and the files that are not the user's (foldax's own wrappers).

Example:
    >>> import jax, jax.numpy as jnp
    >>> from foldax._compat.source_lines import eqn_source_line
    >>> def f(x):
    ...     return jnp.sin(x)
    >>> eqn_source_line(jax.make_jaxpr(f)(1.0).eqns[0]).endswith("(f)")
    True
"""

from __future__ import annotations

import os
from typing import Any

from jax._src import core, source_info_util

from foldax._compat.jaxpr_types import JaxprEqn

FOLDAX_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # foldax/


def eqn_context(eqn: JaxprEqn):
    """Context that attributes the ops bound for ``eqn`` to its source line and name stack (and
    restores its config context: compute type, mesh, ... when that differs from the current)."""
    info = eqn.source_info
    name_stack = source_info_util.current_name_stack()
    if info.name_stack.stack:
        name_stack = name_stack + info.name_stack
    user = source_info_util.user_context(info.traceback, name_stack=name_stack)
    if eqn.ctx is core.current_jaxpr_eqn_context():  # interned: identity means equal
        return user
    return _EqnContext(user, eqn.ctx.manager)


class _EqnContext:
    __slots__ = ("a", "b")

    def __init__(self, a, b):
        self.a, self.b = a, b

    def __enter__(self):
        self.a.__enter__()
        self.b.__enter__()

    def __exit__(self, *exc):
        self.b.__exit__(*exc)
        return self.a.__exit__(*exc)


def eqn_source_line(eqn: JaxprEqn) -> str:
    """``file:line (function)`` of the user code that produced ``eqn``, or ``'<unknown>'``."""
    frame = source_info_util.user_frame(eqn.source_info.traceback)
    if frame is None:
        return "<unknown>"
    return f"{frame.file_name}:{frame.start_line} ({frame.function_name})"


def line_outside_foldax(info: Any) -> str | None:
    """``file:line:column (function)``, as JAX summarizes a line, of the innermost frame of the
    source information ``info`` that is neither JAX's nor foldax's own, or ``None``."""
    for frame in source_info_util.user_frames(info.traceback):
        if not frame.file_name.startswith(FOLDAX_DIR):
            return source_info_util._summarize_frame(frame)
    return None


def current_traceback() -> Any:
    """The traceback JAX's checkify stores with an error (``JaxException.traceback_info``)."""
    return source_info_util.current().traceback


def register_source_exclusion(path: str) -> None:
    """Source lines reported for equations skip frames in ``path`` (a foldax wrapper module),
    pointing at the user's call instead."""
    source_info_util.register_exclusion(path)


def exclude_from_user_frames(path: str) -> None:
    """Treat the files under ``path`` as JAX's own: JAX's source information and cache-miss
    explanations skip them (foldax.jit's machinery is not the user's code)."""
    source_info_util.register_exclusion(path)
