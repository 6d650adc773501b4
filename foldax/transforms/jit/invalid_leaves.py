"""Leaves ``foldax.jit`` refuses, as ``jax.jit`` does: arguments and outputs that are neither
arrays nor numbers (strings, functions, types, objects JAX cannot see into).

A valid leaf is a ``jax.Array`` or tracer (traced), a NumPy array or scalar (a constant) or a
Python scalar (traced, weakly typed); ``None`` and empty containers are no leaves at all. Any
other value is configuration: it belongs in ``static_argnames``/``auxiliary_args`` or in a
dataclass's static field, which are hashed into the cache key. Inside an equinox Module, as
``eqx.filter_jit`` does, other leaves are static (``MLP.activation`` is a function).

Each error's message starts with ``jax.jit``'s own for the same misuse and ends with foldax's
fix.

Example:
    >>> import foldax
    >>> try:
    ...     foldax.jit(lambda x: x)("foo")
    ... except TypeError as e:
    ...     print(type(e).__name__, str(e).splitlines()[0][:30])
    InvalidArgumentError Error interpreting argument to
"""

from __future__ import annotations

from typing import Any, Callable

from foldax._compat import function_source_info
from foldax.errors import InvalidArgumentError, InvalidOutputError
from foldax.pytrees.leaves import STATIC, leaf_kind
from foldax.transforms.core.program import TRACED, Program
from foldax.transforms.core.trace import tree_leaf_paths
from foldax.transforms.jit.keys import module_leaf_positions

FIX = (
    "Fix: name the argument in static_argnames (hashed into the cache key) or auxiliary_args "
    "(a constant by value), or make the value a static field of a dataclass "
    "(dataclasses.field(metadata=dict(static=True)), eqx.field(static=True))."
)


def short(x: Any) -> str:
    """A repr of ``x`` short enough for a message."""
    try:
        text = repr(x)
    except Exception:  # noqa: BLE001 - an object whose repr fails
        text = f"<{type(x).__name__} object>"
    return text if len(text) < 60 else text[:57] + "..."


def invalid_argument(fun: Callable, name: str, path: str, x: Any) -> InvalidArgumentError:
    """The error for the argument leaf ``x`` at ``path`` (JAX's name: ``x``, ``args[1]``,
    ``kw['a']``, ``x[0]['k']``) of ``jit(fun)``."""
    return InvalidArgumentError(
        f"Error interpreting argument to {fun} as an abstract array. The problematic value is "
        f"of type {type(x)} and was passed to the function at path {path}.\n"
        f"This typically means that a jit-wrapped function was called with a non-array "
        f"argument, and this argument was not marked as static using the static_argnums or "
        f"static_argnames parameters of jax.jit.\n"
        f"jit({name}): argument {path} holds a {type(x).__name__} ({short(x)}), which is "
        f"neither an array nor a number; foldax.jit, like jax.jit, takes only arrays and numbers "
        f"as argument leaves. {FIX}"
    )


def check_outputs(program: Program, fun: Callable, name: str) -> None:
    """Refuse output leaves that are neither arrays nor numbers (outside equinox Modules).

    Raises:
        InvalidOutputError: ``fun`` returned such a leaf (``jax.jit`` raises ``TypeError``).
    """
    refused = [i for i, s in enumerate(program.out_leaves) if s is not TRACED and leaf_kind(s) == STATIC]
    if not refused:
        return
    in_module = module_leaf_positions(program.out_tree)
    refused = [i for i in refused if i not in in_module]
    if not refused:
        return
    i, x = refused[0], program.out_leaves[refused[0]]
    path = tree_leaf_paths(program.out_tree)[i]
    at = f" at output component {path}" if path else ""
    which = f"output {path}" if path else "the output"
    raise InvalidOutputError(
        f"function {function_source_info(fun)} traced for jit returned a value of type "
        f"{type(x)}{at}, which is not a valid JAX type\n"
        f"jit({name}): {which} is a {type(x).__name__} ({short(x)}), which is neither an array "
        f"nor a number. Fix: return it from a function that is not jitted, or keep it "
        f"in a static field of a returned dataclass (dataclasses.field(metadata=dict(static=True)))."
    )
