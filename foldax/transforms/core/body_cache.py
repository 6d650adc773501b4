"""Transformed sub-jaxprs, cached per source jaxpr.

An interpreter meets a higher-order primitive (``jit``, and so ``pmap``; ``cond``, ``while``,
``scan``, ``remat``) and re-traces its body into a new jaxpr. Done anew on every call, the new
jaxpr is a new object each time, and JAX's caches keyed on a jaxpr's identity (``jit``'s
lowering and compilation, ``pmap``'s, the eager primitive cache) miss: ``foldax.jvp`` of a
function calling ``jax.jit(f)`` would compile the JVP of ``f`` on every call. So the same source
jaxpr transformed the same way (what ``key`` says) yields the SAME transformed object, as JAX's
own ``ad.jvp_jaxpr`` and jit-transpose caches make it.

The cache is JAX's ``weakref_lru_cache``: keyed weakly on the source jaxpr, bounded
(``CACHE_SIZE`` entries), with JAX's trace context in its key, and registered with JAX's cache
registry, so ``jax.clear_caches()`` clears it. A result whose ``consts`` hold a tracer (a value
captured from an outer trace) is returned but not kept: the cache never keeps a tracer alive.

Example:
    >>> import jax
    >>> from types import SimpleNamespace
    >>> source = jax.make_jaxpr(lambda x: x + 1)(1.0).jaxpr
    >>> build = lambda: SimpleNamespace(consts=[])
    >>> cached_body(source, ("doubled",), build) is cached_body(source, ("doubled",), build)
    True
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Hashable, TypeVar

from foldax._compat import ClosedJaxpr, is_tracer, weakref_cache

CACHE_SIZE = 2048  # JAX's own default for its weakly keyed jaxpr caches

T = TypeVar("T")

_pending = threading.local()  # the builder of the entry being looked up, on this thread


class _NotKept(Exception):
    """Carries a built result that must not be cached out of the cache's lookup."""

    def __init__(self, value: Any) -> None:
        super().__init__("not cached")
        self.value = value


@weakref_cache(maxsize=CACHE_SIZE)
def _lookup(source: Any, key: Hashable) -> Any:
    value = _pending.build()
    if any(is_tracer(c) for c in value.consts):
        raise _NotKept(value)  # an exception is not cached
    return value


def cached_body(source: Any, key: Hashable | None, build: Callable[[], T]) -> T:
    """``build()``, or what it returned before for the same ``source`` and ``key``.

    Arguments:
        source: the jaxpr (or closed jaxpr) being transformed; held weakly. A closed jaxpr
            without consts stands for its open jaxpr (JAX wraps one jaxpr in new closed jaxprs).
        key: everything besides ``source`` that ``build()``'s result depends on (the
            interpreter's configuration, input avals and specs), hashable; ``None``: not cached.
        build: makes the transformed body; its result has a ``consts`` list.

    Returns:
        The (possibly cached) result of ``build()``.
    """
    if key is None:
        return build()
    if isinstance(source, ClosedJaxpr) and not source.consts:
        source = source.jaxpr
    try:
        hash(key)
    except TypeError:  # a spec an interpreter made unhashable: nothing to key on
        return build()
    previous = getattr(_pending, "build", None)
    _pending.build = build  # nested lookups (bodies inside the body) set and restore their own
    try:
        return _lookup(source, key)
    except _NotKept as kept_out:
        return kept_out.value
    finally:
        _pending.build = previous
