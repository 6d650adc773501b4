"""JAX's configuration as tracing sees it: the trace context (what JAX's trace and jit caches
key on), thread-local values added to it, the flags foldax follows, and JAX's registry of caches
that ``jax.clear_caches()`` clears, and JAX's weakly keyed cache that registers itself there.

Example:
    >>> import jax
    >>> from foldax._compat.trace_config import jit_disabled
    >>> with jax.disable_jit():
    ...     jit_disabled()
    True
"""

from __future__ import annotations

from typing import Any, Callable

from jax._src import config, core, util


def trace_context() -> tuple:
    """The JAX config values tracing depends on (JAX's own trace caches key on them)."""
    return config.trace_context()


def trace_context_names() -> tuple[str, ...]:
    """The names of the values in ``trace_context()`` (for cache-miss explanations)."""
    return tuple(config.trace_context_names())


def trace_context_state(name: str) -> Any:
    """A thread-local value (default ``None``) that is part of JAX's trace context and jit key:
    ``jax.jit`` (and the programs ``foldax.jit`` keeps per trace context) trace again when it
    differs. ``state.value`` reads it; ``state.swap_local(v)`` sets it and returns the previous
    value, which ``state.set_local(previous)`` restores."""
    return config.config_ext.Config(name, None, include_in_jit_key=True, include_in_trace_context=True)


def explaining_cache_misses() -> bool:
    """Whether ``jax_explain_cache_misses`` is on."""
    return bool(config.explain_cache_misses.value)


def jit_disabled() -> bool:
    """Whether ``jax.disable_jit()`` is in effect (jitted functions then run their Python body)."""
    return bool(config.disable_jit.value)


# JAX's ``jax_disable_jit`` flag itself: ``JIT_DISABLED.value`` is ``jit_disabled()`` without a
# Python call, for ``foldax.jit``'s call path (JAX's C++ dispatch reads the same flag)
JIT_DISABLED: Any = config.disable_jit


def at_top_level() -> bool:
    """Whether no transformation is tracing (JAX's current trace is its evaluation trace): a
    ``jax.jit`` called now runs at once instead of being staged into an outer program."""
    return isinstance(TRACE_STATE.trace, EVAL_TRACE)


# JAX's thread-local trace state and its evaluation trace's type: ``isinstance(TRACE_STATE.trace,
# EVAL_TRACE)`` is ``at_top_level()`` without a Python call, for ``foldax.jit``'s call path
TRACE_STATE: Any = core.trace_ctx
EVAL_TRACE: type = core.EvalTrace


def register_cache(cache: Any, for_what: str) -> None:
    """Register ``cache`` (anything with ``cache_clear()``) with JAX's cache management, so
    ``jax.clear_caches()`` clears it as it clears JAX's own caches. JAX keeps it weakly: the
    caller keeps it alive."""
    util.register_cache(cache, for_what)


def weakref_cache(maxsize: int) -> Callable[[Callable[..., Any]], Any]:
    """JAX's ``weakref_lru_cache`` decorator (what ``ad.jvp_jaxpr`` and jit's transpose cache
    use): the first argument is held weakly, the others are hashed; at most ``maxsize`` entries;
    ``trace_context()`` is part of the key; registered with JAX's cache registry (as
    ``register_cache`` does), so ``jax.clear_caches()`` clears it. An exception is not cached."""
    return util.weakref_lru_cache(maxsize=maxsize)
