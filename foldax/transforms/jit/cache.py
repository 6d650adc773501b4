"""Where ``foldax.jit`` keeps compiled code: per function, weakly keyed, as ``jax.jit`` does.

Every ``foldax.jit(f, **options)`` wrapper of the same function object ``f`` with the same options
shares one :class:`FunctionCache`, so ``foldax.jit(f)(x)`` in a loop traces once. The cache is
held by a weak reference to ``f`` (keyed by identity, so equal-but-distinct callables never share
code) and disappears with it. (Each entry keeps its programs per JAX trace context, see
``foldax.transforms.jit.keys.avals_key``.) The entries themselves are bounded, least recently
used first out (``entries.EntryCache``).

Nothing here may hold a tracer: the caller stores only entries whose programs have concrete
constants, and the entries refer to ``f`` weakly.

Example:
    >>> def f(x):
    ...     return x
    >>> cache_for(f, ()) is cache_for(f, ())
    True
    >>> cache_for(f, ()) is cache_for(f, ("other options",))
    False
"""

from __future__ import annotations

import collections
import weakref
from typing import Callable, Hashable

from foldax._compat import register_cache
from foldax.errors import FoldaxTypeError
from foldax.transforms.jit.entries import EntryCache


class FunctionCache:
    """The compiled entries of one function under one set of jit options.

    Attributes:
        entries: cache key -> entry (``foldax.transforms.jit.entry.Entry``), bounded.
        trace_count: how often the Python body ran for these entries.
        last_trace: the signature of the last trace (for ``RetraceWarning`` messages).
        warned: whether a ``RetraceWarning`` was already given.
        seen: the signatures of the last traces (``explain.Signature``), for cache-miss
            explanations.
    """

    def __init__(
        self, max_entries: int | None = None, max_constant_bytes: int | None = None, where: str = "jit"
    ) -> None:
        self.entries: EntryCache = EntryCache(max_entries, max_constant_bytes, where)
        self.trace_count = 0
        self.seen: collections.deque = collections.deque(maxlen=32)  # signatures of last traces
        self.last_trace: tuple | None = None
        self.warned = False

    def size(self) -> int:
        """How many programs (one per argument signature and context) are cached."""
        return sum(len(entry.programs) for entry in self.entries.values())

    def clear(self) -> None:
        """Forget every compiled entry (their executables are freed with them)."""
        self.entries.clear()


# id(function) -> (weak reference to the function, options -> FunctionCache)
_caches: dict[int, tuple[weakref.ref, dict[Hashable, FunctionCache]]] = {}


def cache_for(
    fun: Callable, options: Hashable, name: str = "fun", limits: tuple[int | None, int | None] = (None, None)
) -> FunctionCache:
    """The cache shared by the jit wrappers of ``fun`` with these (hashable) options
    (``limits``: ``(max_entries, max_constant_bytes)``, part of ``options``).

    Raises:
        FoldaxTypeError: ``fun`` cannot be weakly referenced (jax.jit refuses it the same way).
    """
    hit = _caches.get(id(fun))
    if hit is None or hit[0]() is not fun:
        try:
            ref = weakref.ref(fun, _forget(id(fun)))
        except TypeError as e:
            raise FoldaxTypeError(
                f"{e}. jit({name}): foldax.jit, like jax.jit, keeps compiled code in a cache "
                f"weakly keyed on the function, and a {type(fun).__name__} cannot be weakly "
                f"referenced. Fix: add '__weakref__' to its __slots__, or jit a function that "
                f"calls it."
            ) from None
        hit = (ref, {})
        _caches[id(fun)] = hit
    per_options = hit[1]
    cache = per_options.get(options)
    if cache is None:
        cache = per_options[options] = FunctionCache(*limits, where=f"jit({name})")
    return cache


def _forget(key: int) -> Callable[[weakref.ref], None]:
    def forget(ref: weakref.ref) -> None:
        hit = _caches.get(key)
        if hit is not None and hit[0] is ref:
            del _caches[key]

    return forget


def clear_all() -> None:
    """Forget the compiled code of every function: ``jax.clear_caches()`` calls it, as it
    clears ``jax.jit``'s caches (the programs, and the jaxprs ``trace`` showed, are freed)."""
    for _, per_options in list(_caches.values()):
        for cache in per_options.values():
            cache.clear()


class _JaxCacheHook:
    """What JAX's cache registry holds (weakly; this module keeps it): ``cache_clear``."""

    cache_clear = staticmethod(clear_all)


_JAX_HOOK = _JaxCacheHook()
register_cache(_JAX_HOOK, "foldax.jit's per-function caches")
