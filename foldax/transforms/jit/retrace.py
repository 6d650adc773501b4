"""Counting ``foldax.jit``'s traces, and the ``RetraceWarning`` that says why it traced again.

Each trace of a function's Python body is counted in its cache (``trace_count``). After
``RETRACE_WARN_AFTER`` traces, the next one warns once, naming what changed since the previous
trace (a constant's value, a traced leaf's shape or dtype, the tree structure) and the fix.

Example:
    >>> import warnings, foldax, numpy as np, jax.numpy as jnp
    >>> f = foldax.jit(lambda x, c: x * c.sum())
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     for n in range(RETRACE_WARN_AFTER + 1):
    ...         _ = f(jnp.ones(2), np.ones(n + 2))
    >>> "the constant c changed" in str(caught[-1].message)
    True
"""

from __future__ import annotations

import warnings
from typing import Callable

from foldax.errors import RetraceWarning
from foldax.pytrees.leaves import ByValue
from foldax.transforms.core.program import VARIABLE as VARIABLE_SLOT, Program
from foldax.transforms.core.trace import variable_paths
from foldax.transforms.jit.cache import FunctionCache

RETRACE_WARN_AFTER = 5


def count_trace(
    cache: FunctionCache, name: str, program: Program, arg_name: Callable[[str], str] = str
) -> None:
    """Count a trace of ``name`` and warn (once per cache) if it traced too often, naming the
    argument that changed by ``arg_name(path)`` (JAX's name of a leaf path, ``x['w']``)."""
    cache.trace_count += 1
    signature = (
        program.in_tree,
        [
            ("var", a.str_short()) if s is VARIABLE_SLOT else ("const", ByValue(s))
            for s, a in _slots_avals(program)
        ],
    )
    previous, cache.last_trace = cache.last_trace, signature
    if cache.trace_count > RETRACE_WARN_AFTER and not cache.warned and previous is not None:
        cache.warned = True
        warnings.warn(
            _retrace_message(name, cache.trace_count, previous, signature, arg_name),
            RetraceWarning,
            stacklevel=5,
        )


def _slots_avals(program: Program) -> list:
    avals = iter(program.in_avals)
    return [(s, next(avals) if s is VARIABLE_SLOT else None) for s in program.in_leaves]


def _retrace_message(
    name: str, count: int, previous: tuple, current: tuple, arg_name: Callable[[str], str]
) -> str:
    prev_tree, prev = previous
    tree, cur = current
    if prev_tree != tree:
        change = (
            "the arguments' tree structure changed (a different number of leaves, "
            "different dict keys or different static/value fields)"
        )
        fix = "keep the structure fixed, or mark configuration as static"
    else:
        paths = variable_paths(tree, [True] * len(cur))
        changed = [(arg_name(p), a, b) for p, a, b in zip(paths, prev, cur) if a != b]
        if not changed:
            change = (
                "its arguments were the same as at the previous trace: that trace's compiled "
                "program was dropped (jax.clear_caches(), or evicted from the function's bounded "
                "cache) or JAX's trace context changed (a config such as jax_enable_x64, or a "
                "context manager such as jax.default_matmul_precision)"
            )
            fix = (
                "don't clear caches or switch configs inside the loop; if foldax.trace_check(f, "
                "*args) says the entry was evicted, raise jit(..., max_entries=...)"
            )
            return f"foldax.jit: {name} has been traced {count} times; the last time because {change}. Fix: {fix}."
        path, a, b = changed[0]
        if a and b and a[0] == b[0] == "const":
            change = f"the constant {path} changed from {a[1].value!r} to {b[1].value!r}"
            fix = (
                f"constants (NumPy arrays, static and auxiliary arguments) are compiled in "
                f"by value; pass jnp.asarray({path}) to make it a traced variable"
            )
        else:
            change = f"{path} changed from {_describe(a)} to {_describe(b)}"
            fix = "pad inputs to a few fixed shapes, or keep the dtype fixed"
    return f"foldax.jit: {name} has been traced {count} times; the last time because {change}. Fix: {fix}."


def _describe(slot: tuple) -> str:
    return slot[1] if slot[0] == "var" else f"the constant {slot[1].value!r}"
