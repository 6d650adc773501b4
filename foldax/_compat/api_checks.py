"""JAX's own argument checks and messages for jit, vjp and vmap, and its escaped-tracer check,
so that foldax rejects the same misuse with the same words.

Example:
    >>> import jax.numpy as jnp
    >>> from foldax._compat.api_checks import cotangent_type_error
    >>> from foldax._compat.jaxpr_types import ShapedArray
    >>> cotangent_type_error(jnp.ones(3), ShapedArray((3,), jnp.float32)) is None
    True
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from jax._src import api_util, core

from foldax._compat.jaxpr_types import AbstractValue
from foldax._compat.trace_config import at_top_level


def resolve_jit_argnums(
    fun: Callable,
    signature: Any,
    donate_argnums: Any,
    donate_argnames: Any,
    static_argnums: Any,
    static_argnames: Any,
) -> tuple[tuple, tuple, tuple, tuple]:
    """``jax.jit``'s completion and validation of argnums/argnames: names inferred from numbers
    and back, checked against the signature. Returns ``(donate_argnums, donate_argnames,
    static_argnums, static_argnames)``; raises JAX's ``ValueError`` for a bad specification."""
    return api_util.resolve_argnums(
        fun, signature, donate_argnums, donate_argnames, static_argnums, static_argnames
    )


def cotangent_type_error(cotangent: Any, aval: AbstractValue) -> str | None:
    """JAX's own message (``jax.vjp``'s check) when ``cotangent`` cannot be the cotangent of an
    output of type ``aval`` (wrong shape or dtype, or not a JAX type), else ``None``."""
    from jax._src.api import _vjp_check_ct_avals

    try:
        _vjp_check_ct_avals([cotangent], [aval])
    except (TypeError, ValueError) as e:
        return str(e)
    return None


def vjp_too_many_args_message(name: str, count: int) -> str:
    """JAX's message for a pullback of ``jax.vjp`` (of function ``name``) called with ``count``
    arguments instead of one cotangent."""
    from jax._src.api import _vjp_too_many_args

    return _vjp_too_many_args(name, count).strip()


def vmap_axis_size_message(
    fun: Callable, in_tree: Any, leaves: Sequence, axes: Sequence, axis_size: int | None
) -> str | None:
    """JAX's own message (``jax.vmap``'s check) when the mapped axes of a call disagree in size
    or nothing is mapped without ``axis_size``; ``None`` when JAX finds nothing wrong.
    ``in_tree`` is the tree of ``(args, kwargs)`` and ``leaves``/``axes`` are per leaf."""
    from jax._src.api import _mapped_axis_size

    try:
        _mapped_axis_size(fun, in_tree, list(leaves), list(axes), "vmap", axis_size=axis_size)
    except ValueError as e:
        return str(e)
    return None


def vmap_in_axes_prefix_message(in_axes: Any, in_tree: Any) -> str | None:
    """JAX's own message when ``in_axes`` is not a tree prefix of the positional arguments
    (``in_tree`` is the tree of ``(args, kwargs)``), else ``None``."""
    try:
        api_util.flatten_axes("vmap in_axes", in_tree, (in_axes, 0), kws=True)
    except ValueError as e:
        return str(e)
    return None


def escaped_tracer(values: Sequence) -> Any:
    """The first of ``values`` that is a tracer of a trace that has ended (it escaped its
    transformation through a side effect), or ``None``. Outside any transformation every
    tracer has escaped (JAX finds them so: evaluating one raises); inside, only those of
    traces JAX has invalidated are known to have."""
    top_level = at_top_level()
    for x in values:
        if isinstance(x, core.Tracer) and (top_level or not x._trace.is_valid()):
            return x
    return None


def escaped_tracer_message(tracer: Any) -> str:
    """JAX's message for an escaped tracer (``UnexpectedTracerError``)."""
    return str(core.escaped_tracer_error(tracer))
