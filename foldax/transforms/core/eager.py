"""Computing a primitive on constants with XLA, as JAX's eager evaluation does, from a bounded cache.

JAX computes a primitive on concrete values by compiling it alone (``apply_primitive``) and keeps
each executable for the life of the process: one per primitive, parameters and input types, each
holding one to two MiB. Folding computes constants while tracing, so every trace at a new shape
would leave a few executables behind (150 traces of a loss at distinct shapes grew RSS by 3x what
``jax.jit`` needs for the same traces). Here the computation is the one JAX makes (its own
``xla_primitive_callable``: same jaxpr, same lowering, same compiler, so the same bits), kept in a
least-recently-used cache of ``EAGER_CACHE_SIZE`` entries instead of JAX's unbounded one.

Primitives JAX does not compute that way (``device_put``, ...) and parameters that cannot be a
cache key go to JAX's eager evaluation as they are.

Example:
    >>> import numpy as np
    >>> from jax import lax
    >>> evaluate_compiled(lax.tanh_p, [np.zeros(3, np.float32)], {"accuracy": None})
    Array([0., 0., 0.], dtype=float32)
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

from foldax._compat import (
    call_now,
    compiles_eagerly,
    evaluate_now,
    primitive_computation,
    trace_context,
    typeof,
)

EAGER_CACHE_SIZE = 64  # executables kept (each 1-2 MiB); a trace's own working set is far smaller


def evaluate_compiled(primitive: Any, args: Sequence, params: dict) -> Any:
    """``primitive`` on the concrete ``args``, computed now by XLA whatever the current trace.

    Arguments:
        primitive: a JAX primitive.
        args: its concrete inputs (``jax.Array``, NumPy arrays, Python scalars).
        params: its parameters.

    Returns:
        What ``primitive.bind(*args, **params)`` returns under JAX's eager evaluation.
    """
    if not compiles_eagerly(primitive):
        return evaluate_now(primitive, args, params)
    try:
        key = (primitive, tuple(sorted(params.items())), trace_context(), tuple(map(_signature, args)))
        computation = _computation(key)
    except TypeError:  # an unhashable parameter
        return evaluate_now(primitive, args, params)
    return call_now(computation, args)


@functools.lru_cache(maxsize=EAGER_CACHE_SIZE)
def _computation(key: tuple) -> Callable:
    """The jitted computation of ``key``'s primitive and parameters (compiled on first call, for
    ``key``'s input types only)."""
    primitive, params, _, _ = key
    return primitive_computation(primitive, dict(params))


def _signature(value: Any) -> tuple:
    """What a jitted function's executable depends on: the abstract value (weak type included)
    and, for an array committed to its devices, its placement. NumPy values and uncommitted
    arrays are placed by JAX alike, so they share one computation (and its executable)."""
    committed = getattr(value, "committed", False)
    return typeof(value), value.sharding if committed else None


def cache_info() -> Any:
    """The cache's ``functools`` statistics: ``hits``, ``misses``, ``currsize`` (at most
    ``maxsize``, ``EAGER_CACHE_SIZE``)."""
    return _computation.cache_info()
