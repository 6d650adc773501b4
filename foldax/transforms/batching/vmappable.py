"""Types registered with ``jax.interpreters.batching.register_vmappable`` in ``foldax.vmap``.

A registered type is mapped by its own Python handlers: ``to_elt`` turns the whole value into
one element (calling back for each array it maps), ``from_elt`` turns the function's element
result back into a whole value. The handlers may compute before and after they call back, and
the objects they build need not be pytrees, so they must run on live batched values: JAX's
batching trace, which runs the function on values that carry their batch axis. foldax's
interpreter traces one element into a program first and batches afterwards, when a handler's
object can no longer be looked into. So a call whose arguments are (or contain) a registered
type, whose ``in_axes``/``out_axes`` hold a spec of a non-int spec type (a registered spec type,
``batching.infer``), or whose function returns a registered type, is batched by ``jax.vmap``
itself, with the same arguments: its results, errors and nesting with other transformations are
JAX's. Every other call stays with foldax's interpreter.

Example:
    >>> import foldax, jax.numpy as jnp
    >>> from jax.interpreters import batching
    >>> class Pair:  # not a pytree
    ...     def __init__(self, a, b):
    ...         self.a, self.b = a, b
    >>> def to_elt(cont, _, p, spec):
    ...     return Pair(cont(p.a, spec), cont(p.b, spec))
    >>> def from_elt(cont, size, p, spec):
    ...     return Pair(cont(size, p.a, spec), cont(size, p.b, spec))
    >>> batching.register_vmappable(Pair, int, int, to_elt, from_elt, None)
    >>> pair = Pair(jnp.arange(3.), jnp.ones(3))
    >>> out = foldax.vmap(lambda p: Pair(p.a + p.b, p.a * p.b), axis_size=3)(pair)
    >>> out.a, out.b
    (Array([1., 2., 3.], dtype=float32), Array([0., 1., 2.], dtype=float32))
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax

from foldax._compat import axis_spec_types, vmappable_types


def is_vmappable(x: Any) -> bool:
    """Whether ``x``'s type is registered with ``register_vmappable``."""
    return type(x) in vmappable_types()


def is_axis_spec(x: Any) -> bool:
    """Whether ``x`` may be a leaf of ``in_axes``/``out_axes`` (JAX's rule: an int, None, or an
    instance of a spec type: registered with a vmappable, or ``batching.infer``)."""
    return x is None or (isinstance(x, int) and not isinstance(x, bool)) or type(x) in axis_spec_types()


def _has_spec_object(axes: Any) -> bool:
    """Whether ``axes`` holds a spec that is not an int (a type registered with ``int`` as its
    spec type, as most are, leaves int axes to foldax's interpreter)."""
    return any(
        type(x) in axis_spec_types() and not isinstance(x, int) for x in jax.tree_util.tree_leaves(axes)
    )


def uses_vmappables(in_axes: Any, out_axes: Any, args: tuple, kwargs: dict) -> bool:
    """Whether a call must be batched by JAX's batching trace (see the module doc): a registered
    type among the arguments, or a non-int spec object in ``in_axes``/``out_axes``."""
    if _has_spec_object(in_axes) or _has_spec_object(out_axes):
        return True
    if not vmappable_types():
        return False
    leaves = jax.tree_util.tree_leaves((args, kwargs), is_leaf=is_vmappable)
    return any(map(is_vmappable, leaves))


class ReturnsVmappable(Exception):
    """Raised while tracing one element when the function returns a registered type."""


def refusing_vmappable_outputs(fun: Callable) -> Callable:
    """``fun``, raising ``ReturnsVmappable`` when it returns a registered type (so the call is
    redone by JAX's batching trace, which hands it to the type's ``from_elt``). ``fun`` itself
    when no type is registered."""
    if not vmappable_types():
        return fun

    @functools.wraps(fun)
    def checked(*args: Any, **kwargs: Any) -> Any:
        out = fun(*args, **kwargs)
        if any(map(is_vmappable, jax.tree_util.tree_leaves(out, is_leaf=is_vmappable))):
            raise ReturnsVmappable
        return out

    return checked


def vmap_with_jax(
    fun: Callable,
    in_axes: Any,
    out_axes: Any,
    axis_name: Any,
    axis_size: Any,
    spmd_axis_name: Any,
    args: tuple,
    kwargs: dict,
) -> Any:
    """``jax.vmap(fun, ...)(*args, **kwargs)``: the call batched by JAX's batching trace."""
    return jax.vmap(
        fun,
        in_axes=in_axes,
        out_axes=out_axes,
        axis_name=axis_name,
        axis_size=axis_size,
        spmd_axis_name=spmd_axis_name,
    )(*args, **kwargs)
