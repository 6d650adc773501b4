"""JAX's cache-miss explanations (``jax_explain_cache_misses``) for ``foldax.jit``'s own misses.

``foldax.jit`` runs each entry with its own ``jax.jit`` of a function of the traced leaves, which
JAX would explain in foldax's terms (``variables[0]``), and a *new entry* (a new tree structure,
NumPy constant or static argument) is a miss JAX does not know of. So JAX's explanations skip
this package (as they skip JAX's own files), and foldax logs the explanation JAX would give for
the user's function, in JAX's words ("TRACING CACHE MISS",
"never seen function", "different input pytree", "different input types", "Tracing context
doesn't match"), against the closest of the function's previous traces; a NumPy constant whose
value alone changed is named as such.

Example:
    >>> import logging, foldax, jax, numpy as np, jax.numpy as jnp
    >>> f = foldax.jit(lambda x, c: x * c)
    >>> _ = f(jnp.ones(2), np.ones(2, np.float32))
    >>> with jax.explain_cache_misses(True):
    ...     explained = []
    ...     handler = logging.Handler()
    ...     handler.emit = lambda record: explained.append(record.getMessage())
    ...     logging.getLogger(__name__).addHandler(handler)
    ...     _ = f(jnp.ones(2), np.ones(2, np.int32))
    ...     logging.getLogger(__name__).removeHandler(handler)
    >>> "at c, now i32[2] and before f32[2]" in explained[0]
    True
"""

from __future__ import annotations

import logging
import os
import sys
from types import FrameType
from typing import Any, Callable, Hashable, NamedTuple

import jax

from foldax._compat import (
    exclude_from_user_frames,
    shaped_abstractify,
    trace_context,
    trace_context_names,
)
from foldax.pytrees.leaves import STATIC, ByValue, leaf_kind
from foldax.transforms.core.program import VARIABLE, Program
from foldax.transforms.core.trace import variable_paths

logger = logging.getLogger(__name__)
_FOLDAX = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_LIBRARIES = (_FOLDAX, os.path.dirname(os.path.abspath(jax.__file__)))
# JAX would explain the misses of the jax.jit inside each entry with foldax's names (its
# functions of the traced leaves); foldax explains them itself, with the user's
exclude_from_user_frames(os.path.dirname(os.path.abspath(__file__)))
_WEAK_TYPES = "https://docs.jax.dev/en/latest/type_promotion.html#weak-types"
_callsites_with_miss: set[str] = set()
_KEYED_BYTES = 4096  # larger constants are not keyed here (their digest costs a read)


class Signature(NamedTuple):
    """What one trace was for: context, argument tree, leaf types and the keys of small
    constants (no array is kept)."""

    context: tuple
    tree: Any
    types: tuple
    constants: tuple


def signature(program: Program) -> Signature:
    """The signature of a traced program."""
    avals = iter(program.in_avals)
    types: list[Any] = []
    constants: list[Hashable | None] = []  # a static leaf's hash, a small constant's key
    for slot in program.in_leaves:
        if slot is VARIABLE:
            types.append(next(avals))
            constants.append(None)
        elif leaf_kind(slot) == STATIC:
            types.append(None)
            constants.append(hash(slot))
        else:
            types.append(shaped_abstractify(slot))
            small = getattr(slot, "nbytes", 0) <= _KEYED_BYTES
            constants.append(ByValue(slot).key if small else None)
    return Signature(trace_context(), program.in_tree, tuple(types), tuple(constants))


def explain_miss(
    seen: list[Signature], new: Signature, fun: Callable, name: str, param_name: Callable[[str], str]
) -> None:
    """Log JAX's explanation of a trace for ``new`` against the previous ``seen`` signatures;
    ``param_name(path)`` turns ``args[1]...`` into JAX's argument name."""
    callsite = _callsite()
    code = getattr(fun, "__code__", None)
    where = f" defined at {code.co_filename}:{code.co_firstlineno}" if code else ""
    lines = [f"TRACING CACHE MISS at {callsite}:"]
    if not seen:
        lines.append(f"  never seen function:\n    {name} id={id(fun)}{where}")
        if callsite in _callsites_with_miss:
            lines.append(
                "  but seen another function defined on the same line; maybe the "
                "function is\n  being re-defined repeatedly, preventing caching?"
            )
        _callsites_with_miss.add(callsite)
    else:
        diff = min(_diff(new, old, param_name) for old in seen)[-1]
        lines.append(f"  for {name}{where}")
        lines.append("  all previously seen cache keys differ. For the closest previous key:")
        lines.append("  " + diff)
    logger.warning("\n".join(lines))


def _diff(new: Signature, old: Signature, param_name: Callable[[str], str]) -> tuple:
    """``(severity, number of differences, explanation)``, JAX's order: context, tree, types."""
    if new.context != old.context:
        names = trace_context_names()
        changes = [
            f"  * {n} differs: now {a} and before {b}"
            for n, a, b in zip(names, new.context, old.context)
            if a != b
        ]
        return (
            0,
            len(changes),
            "Tracing context doesn't match, e.g. due to config or context manager.\n" + "\n".join(changes),
        )
    if new.tree != old.tree:
        return (
            1,
            1,
            f"different input pytree:\n  * now {new.tree} and before {old.tree}, so "
            f"the argument structures differ",
        )
    paths = [param_name(p) for p in variable_paths(new.tree, [True] * len(new.types))]
    changes, weak = [], False
    for path, a, b in zip(paths, new.types, old.types):
        if a != b and a is not None and b is not None:
            now, before = a.str_short(True), b.str_short(True)
            if a.weak_type != b.weak_type:
                weak = True
                now, before = now + f"{{weak_type={a.weak_type}}}", before + f"{{weak_type={b.weak_type}}}"
            changes.append(f"  * at {path}, now {now} and before {before}")
    if changes:
        return (
            3,
            len(changes),
            "different input types:\n" + "\n".join(changes) + (_WEAK_TYPES if weak else ""),
        )
    changed = [p for p, a, b in zip(paths, new.constants, old.constants) if a != b]
    if changed:
        return (
            4,
            len(changed),
            "different constant values (foldax.jit compiles NumPy "
            "arguments in by value; name them in variable_args= to trace "
            "them):\n" + "\n".join(f"  * at {p}" for p in changed),
        )
    return (5, 0, "different constant, static or auxiliary argument values (compiled in by value)")


def _callsite() -> str:
    """The caller's frame outside foldax and JAX, as ``file:line (function)``."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_LIBRARIES):
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno} ({frame.f_code.co_name})"
