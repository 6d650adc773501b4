"""Which leaves of a ``foldax.jit`` call are traced, and the cache key of the rest.

The rule, as ``jax.jit`` users expect it:

* ``jax.Array`` leaves and Python scalars (``bool``, ``int``, ``float``, ``complex``) are traced:
  Python scalars weakly typed, exactly as ``jax.jit`` traces them, so a new learning rate does
  not compile again. Name an argument in ``static_argnames`` or ``auxiliary_args`` to make a
  Python number a constant that Python control flow may use.
* NumPy arrays and scalars are constants, part of the key by exact value (dtype and bits; a
  digest for large arrays, see ``foldax.pytrees.digest``), unless their argument is named in
  ``variable_args``: then they are traced like ``jax.Array`` s (data loaders yield NumPy batches).
* Inside a dataclass, a field's kind decides: variable fields are leaves (the rule above), value
  and static fields are in the tree structure, keyed by value. Inside an equinox Module, as
  ``eqx.filter_jit`` does, Python scalars are constants (``Dropout``'s ``inference`` flag
  steers a Python ``if``) and other leaves (``MLP.activation``) static: part of the key by hash.
* Nothing else is a valid leaf, as in ``jax.jit``: a string, function, type or object raises
  (``invalid_leaves``); name its argument in ``static_argnames``/``auxiliary_args`` instead.

A call's key is ``(tree structure, static arguments, auxiliary arguments, constants)``; the
traced leaves' types, under JAX's trace context, select a program inside the key's entry
(:func:`avals_key`).

Example:
    >>> import numpy as np
    >>> traced_mask([np.ones(2), 2.0, "relu"], [False, False, False])
    [False, True, False]
    >>> traced_mask([np.ones(2)], [True])
    [True]
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, NamedTuple, Sequence

import jax
import numpy as np

from foldax._compat import trace_context, typeof
from foldax.errors import FoldaxTypeError, FoldaxValueError
from foldax.pytrees.dataclass import register_protocol_class
from foldax.pytrees.leaves import STATIC, VARIABLE, ByValue, _kind_by_type, leaf_kind

PYTHON_SCALARS = (bool, int, float, complex)
# leaf types seen to be traced by kind (jax.Array implementations); Python scalars are not in
# it, since inside an equinox Module they are constants
TRACED_TYPES: set[type] = set()


class CallParts(NamedTuple):
    """A call split for tracing: what is traced or folded, static and auxiliary arguments, and
    per leaf of ``(dyn_args, dyn_kwargs)`` whether it is traced (``None``: every leaf is)."""

    dyn_args: tuple
    dyn_kwargs: dict
    static: tuple
    aux: tuple
    mask: tuple | None

    def traced(self, n_leaves: int) -> tuple:
        """Per leaf of the dynamic arguments, whether it is traced."""
        return (True,) * n_leaves if self.mask is None else self.mask


def is_traced(x: Any, forced: bool = False) -> bool:
    """Whether ``foldax.jit`` traces leaf ``x`` (``forced``: its argument is in variable_args)."""
    if type(x) in PYTHON_SCALARS:
        return True
    kind = leaf_kind(x)
    return kind == VARIABLE or (forced and kind != STATIC)


def traced_mask(leaves: Sequence, forced: Sequence[bool]) -> list[bool]:
    """Per leaf, whether it is traced."""
    return [is_traced(x, f) for x, f in zip(leaves, forced)]


def forced_mask(
    dyn_args: Sequence, dyn_kwargs: dict, arg_forced: Sequence[bool], kwarg_forced: set[str], where: str
) -> list[bool]:
    """Per leaf of ``(dyn_args, dyn_kwargs)``, whether its argument is in ``variable_args``;
    refuses leaves of those arguments that cannot be traced (strings, functions, ...).

    Raises:
        FoldaxTypeError: an argument in ``variable_args`` holds a leaf that is not an array or
            a number.
    """
    mask: list[bool] = []
    named = [(f, a, f"argument {i}") for i, (a, f) in enumerate(zip(dyn_args, arg_forced))]
    named += [(k in kwarg_forced, dyn_kwargs[k], f"argument '{k}'") for k in sorted(dyn_kwargs)]
    for forced, arg, name in named:
        leaves = jax.tree_util.tree_leaves(arg)
        if forced:
            for x in leaves:
                if leaf_kind(x) == STATIC:
                    raise FoldaxTypeError(
                        f"{where}: {name} is listed in variable_args, but holds a "
                        f"{type(x).__name__} leaf, which cannot be traced. Only arrays and numbers "
                        f"can be variables: mark that part static, or drop it from variable_args."
                    )
        mask.extend([forced] * len(leaves))
    return mask


@functools.lru_cache(maxsize=512)  # treedefs hash by structure
def module_leaf_positions(treedef: Any) -> frozenset[int]:
    """The positions of the leaves that lie inside an equinox Module, whose Python scalars are
    constants (equinox's rule: ``filter_jit`` traces arrays only)."""
    eqx = sys.modules.get("equinox")
    if eqx is None:
        return frozenset()
    out: set[int] = set()

    def walk(node: Any, start: int) -> None:  # the treedef's nodes, without unflattening it
        data = node.node_data()  # (type, aux data), None for a leaf
        if data is None:
            return
        if isinstance(data[0], type) and issubclass(data[0], eqx.Module):
            out.update(range(start, start + node.num_leaves))
            return
        for child in node.children():
            walk(child, start)
            start += child.num_leaves

    walk(treedef, 0)
    return frozenset(out)


def leaf_key(
    dyn_args: tuple,
    dyn_kwargs: dict,
    forced: list[bool] | None,
    where: str,
    refuse: Callable[[int, Any, Any], Exception] | None = None,
) -> tuple[Any, tuple, list, tuple | None] | None:
    """``(treedef, constants, traced leaves, mask)`` of the dynamic arguments, where constants
    are ``(leaf index, ByValue(leaf))``; ``None`` if a leaf's class had to be registered as a
    pytree first (flatten again). A leaf that is neither an array nor a number, outside an
    equinox Module, raises ``refuse(leaf index, leaf, treedef)`` (``None``: it is static).

    Raises:
        FoldaxValueError: a leaf is a NumPy masked array (``jax.jit`` refuses them too).
        Exception: what ``refuse`` makes, for a leaf that is not an array or number.
    """
    leaves, treedef = jax.tree_util.tree_flatten((dyn_args, dyn_kwargs))
    if forced is None and set(map(type, leaves)) <= TRACED_TYPES:
        return treedef, (), leaves, None  # every leaf is a jax array
    variables, consts, mask = [], [], []
    in_module: frozenset[int] | None = None
    for i, x in enumerate(leaves):
        kind = _kind_by_type.get(type(x)) or leaf_kind(x)
        forced_here = forced is not None and forced[i]
        if kind is VARIABLE:
            traced = True
            TRACED_TYPES.add(type(x))
        elif kind is STATIC:
            if register_protocol_class(x):
                return None
            if in_module is None:
                in_module = module_leaf_positions(treedef)
            if refuse is not None and i not in in_module:
                raise refuse(i, x, treedef)
            traced = False
        elif type(x) in PYTHON_SCALARS and not forced_here:
            if in_module is None:
                in_module = module_leaf_positions(treedef)
            traced = i not in in_module
        else:
            if isinstance(x, np.ma.MaskedArray):
                raise FoldaxValueError(
                    f"numpy masked arrays are not supported as direct inputs to JAX functions. "
                    f"Use arr.filled() to convert the value to a standard numpy array. "
                    f"{where}: argument leaf {i} is a NumPy masked array (the mask would be "
                    f"lost). Fix: pass arr.filled(fill_value), and the mask as a separate "
                    f"argument if it matters."
                )
            traced = forced_here
        mask.append(traced)
        if traced:
            variables.append(x)
        else:
            consts.append((i, ByValue(x, where=f"argument leaf {i} of {where}")))
    return treedef, tuple(consts), variables, tuple(mask)


def avals_key(variables: Sequence) -> tuple:
    """The traced leaves' types under JAX's current trace context (``default_matmul_precision``,
    ``numpy_rank_promotion``, x64, the axis environment ...): a program is traced for these.
    The entry's jax.jit retraces by itself when the context changes, and then finds no program
    for the new context, so the function is traced again, as ``jax.jit`` would."""
    # The sharding is part of the type on an Explicit mesh: a Program traced there reshards to it.
    return (trace_context(),) + tuple(
        (a.shape, a.dtype, a.weak_type, getattr(a, "sharding", None))
        if hasattr(a, "shape")
        else a  # a token's
        for a in map(typeof, variables)
    )
