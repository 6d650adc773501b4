"""Computing a primitive on constants with XLA, as JAX's eager evaluation does, from a bounded cache.

JAX computes a primitive on concrete values by compiling it alone (``apply_primitive``) and keeps
each executable for the life of the process: one per primitive, parameters and input types, each
holding one to two MiB. Folding computes constants while tracing, so every trace at a new shape
would leave a few executables behind (150 traces of a loss at distinct shapes grew RSS by 3x what
``jax.jit`` needs for the same traces). Here the computation is the one JAX makes (its own
``xla_primitive_callable``: same jaxpr, same lowering, same compiler, so the same bits), kept in a
least-recently-used cache of ``EAGER_CACHE_SIZE`` entries instead of JAX's unbounded one.

Two ways in:

* ``evaluate_compiled`` compiles at once what has no cheaper form (``tanh``, reductions, ...);
* ``evaluate_if_hot`` is for what folding can also compute without compiling (NumPy for data
  movement and exact arithmetic, inlining for a nested ``jit``): it answers from the cache, and
  compiles only once the same computation (primitive, parameters, input types) has been asked for
  ``PROMOTE_AFTER`` times, about when the time a compilation takes has been spent on the cheaper
  form. So a loop folding the same operations at the same shape in every trace compiles them once,
  while traces at ever new shapes compile nothing for them. Else it returns ``None``.

Primitives JAX does not compute that way (``device_put``, ...) and parameters that cannot be a
cache key go to JAX's eager evaluation as they are.

Example:
    >>> import numpy as np
    >>> from jax import lax
    >>> evaluate_compiled(lax.tanh_p, [np.zeros(3, np.float32)], {"accuracy": None})
    Array([0., 0., 0.], dtype=float32)
"""

from __future__ import annotations

import collections
import contextlib
from typing import Any, Callable, NamedTuple, Sequence

from foldax._compat import (
    call_now,
    compiles_eagerly,
    evaluate_now,
    jit_p,
    primitive_computation,
    trace_context,
    typeof,
)

EAGER_CACHE_SIZE = 64  # executables kept (each 1-2 MiB); a trace's own working set is far smaller
# Requests of a computation folding can do without XLA before it is compiled: compiling a
# jitted ``add`` of 4096 floats was measured to cost as much as about 160 inlined folds of it
# save over calling it compiled (so at most twice the better of the two is spent).
PROMOTE_AFTER = 160
_COUNTED = 4096  # computations whose requests are counted (least recently asked forgotten)


class CacheInfo(NamedTuple):
    """Statistics of the cache of computations (as ``functools``' ``cache_info``)."""

    hits: int
    misses: int
    maxsize: int
    currsize: int


class _Computations:
    """A least-recently-used cache of compiled computations, and how often each computation not
    (or no longer) in it was asked for."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.compiled: collections.OrderedDict = collections.OrderedDict()
        self.requests: collections.OrderedDict = collections.OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: tuple) -> Callable:
        """The computation of ``key``, compiled now if it is not in the cache. Raises
        ``TypeError`` if ``key`` is unhashable."""
        computation = self.compiled.get(key)
        if computation is not None:
            with contextlib.suppress(KeyError):  # evicted meanwhile by another thread
                self.compiled.move_to_end(key)
            self.hits += 1
            return computation
        self.requests.pop(key, None)
        self.misses += 1
        primitive, params, _, _ = key
        computation = primitive_computation(primitive, dict(params))
        self.compiled[key] = computation
        while len(self.compiled) > self.maxsize:
            self.compiled.popitem(last=False)
        return computation

    def get_if_hot(self, key: tuple) -> Callable | None:
        """The computation of ``key`` if it is in the cache or has now been asked for
        ``PROMOTE_AFTER`` times (compiled then), else ``None`` (and the request is counted)."""
        if key not in self.compiled:
            count = self.requests.pop(key, 0) + 1
            if count < PROMOTE_AFTER:
                self.requests[key] = count
                if len(self.requests) > _COUNTED:
                    self.requests.popitem(last=False)
                return None
        return self.get(key)


_CACHE = _Computations(EAGER_CACHE_SIZE)


def evaluate_compiled(primitive: Any, args: Sequence, params: dict) -> Any:
    """``primitive`` on the concrete ``args``, computed now by XLA whatever the current trace.

    Arguments:
        primitive: a JAX primitive.
        args: its concrete inputs (``jax.Array``, NumPy arrays, Python scalars).
        params: its parameters.

    Returns:
        What ``primitive.bind(*args, **params)`` returns under JAX's eager evaluation.
    """
    if compiles_eagerly(primitive):
        try:
            computation = _CACHE.get(_key(primitive, args, params))
        except TypeError:  # an unhashable parameter
            return evaluate_now(primitive, args, params)
        return call_now(computation, args)
    return evaluate_now(primitive, args, params)


def evaluate_if_hot(primitive: Any, args: Sequence, params: dict) -> Any:
    """``primitive`` on the concrete ``args`` computed by XLA if its computation is in the cache
    or has now been asked for ``PROMOTE_AFTER`` times (it is compiled then), else ``None``.

    Arguments:
        primitive: a JAX primitive JAX's eager evaluation compiles alone, or a nested ``jit``
            (computed whole, as JAX computes a jitted function on concrete arguments).
        args: its concrete inputs.
        params: its parameters.

    Returns:
        What ``primitive.bind(*args, **params)`` returns under JAX's eager evaluation, or ``None``.
    """
    if primitive is not jit_p and not compiles_eagerly(primitive):
        return None
    try:
        computation = _CACHE.get_if_hot(_key(primitive, args, params))
    except TypeError:  # an unhashable parameter
        return None
    return None if computation is None else call_now(computation, args)


def _key(primitive: Any, args: Sequence, params: dict) -> tuple:
    """What a computation is compiled for (hashable unless a parameter is not)."""
    return (primitive, tuple(sorted(params.items())), trace_context(), tuple(map(_signature, args)))


def _signature(value: Any) -> tuple:
    """What a jitted function's executable depends on: the abstract value (weak type included)
    and, for an array committed to its devices, its placement. NumPy values and uncommitted
    arrays are placed by JAX alike, so they share one computation (and its executable)."""
    committed = getattr(value, "committed", False)
    return typeof(value), value.sharding if committed else None


def cache_info() -> CacheInfo:
    """The cache's statistics: ``hits``, ``misses`` (compilations), ``currsize`` (at most
    ``maxsize``, ``EAGER_CACHE_SIZE``)."""
    return CacheInfo(_CACHE.hits, _CACHE.misses, _CACHE.maxsize, len(_CACHE.compiled))
