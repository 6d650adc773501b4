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
import itertools
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


class Forced(NamedTuple):
    """Which dynamic arguments of a call are in ``variable_args``: per positional one, and the
    names (of those passed by keyword)."""

    positional: tuple[bool, ...]
    names: frozenset[str]


@functools.lru_cache(maxsize=512)  # treedefs hash by structure
def forced_leaves(treedef: Any, forced: Forced) -> tuple[bool, ...]:
    """Per leaf of dynamic arguments ``(dyn_args, dyn_kwargs)`` of this tree structure, whether
    its argument is in ``variable_args`` (the structure says which argument a leaf is in)."""
    args, kwargs = treedef.children()
    mask: list[bool] = []
    for arg, forced_arg in zip(args.children(), forced.positional):
        mask.extend([forced_arg] * arg.num_leaves)
    for name, arg in zip(kwargs.node_data()[1], kwargs.children()):  # a dict's keys, sorted
        mask.extend([name in forced.names] * arg.num_leaves)
    return tuple(mask)


def forced_static_leaf(
    leaves: Sequence, treedef: Any, forced: Sequence[bool], where: str
) -> FoldaxTypeError | None:
    """The error for the first leaf of an argument in ``variable_args`` that cannot be traced
    (a string, a function, ...), or ``None`` if there is none."""
    i = next((i for i, x in enumerate(leaves) if forced[i] and leaf_kind(x) == STATIC), None)
    if i is None:
        return None
    args, kwargs = treedef.children()
    owners = [(f"argument {k}", arg) for k, arg in enumerate(args.children())]
    owners += [(f"argument '{k}'", arg) for k, arg in zip(kwargs.node_data()[1], kwargs.children())]
    ends = itertools.accumulate(arg.num_leaves for _, arg in owners)
    name = next(name for (name, _), end in zip(owners, ends) if i < end)  # leaf i's argument
    return FoldaxTypeError(
        f"jit({where}): {name} is listed in variable_args, but holds a {type(leaves[i]).__name__} leaf, "
        f"which cannot be traced. Only arrays and numbers can be variables: mark that part "
        f"static, or drop it from variable_args."
    )


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
    variable_args: Forced | None,
    where: str,
    refuse: Callable[[int, Any, Any], Exception] | None = None,
) -> tuple[Any, tuple, list, tuple | None] | None:
    """``(treedef, constants, traced leaves, mask)`` of the dynamic arguments, where constants
    are ``(leaf index, ByValue(leaf))``; ``None`` if a leaf's class had to be registered as a
    pytree first (flatten again). The leaves of arguments in ``variable_args`` are traced when
    they are arrays or numbers. A leaf that is neither, outside an equinox Module, raises
    ``refuse(leaf index, leaf, treedef)`` (``None``: it is static).

    Raises:
        FoldaxTypeError: an argument in ``variable_args`` holds a leaf that is not an array or
            a number (checked before any other leaf's error).
        FoldaxValueError: a leaf is a NumPy masked array (``jax.jit`` refuses them too).
        Exception: what ``refuse`` makes, for a leaf that is not an array or number.
    """
    leaves, treedef = jax.tree_util.tree_flatten((dyn_args, dyn_kwargs))
    if set(map(type, leaves)) <= TRACED_TYPES:
        return treedef, (), leaves, None  # every leaf is a jax array
    forced = None if variable_args is None else forced_leaves(treedef, variable_args)
    variables, consts, mask = [], [], []
    in_module: frozenset[int] | None = None
    for i, x in enumerate(leaves):
        kind = _kind_by_type.get(type(x)) or leaf_kind(x)
        forced_here = forced is not None and forced[i]
        if kind is VARIABLE:
            traced = True
            TRACED_TYPES.add(type(x))
        elif kind is STATIC:
            _refuse_forced(leaves, treedef, forced, where)
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
                _refuse_forced(leaves, treedef, forced, where)
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
            consts.append((i, _by_value(x, i, where)))
    return treedef, tuple(consts), variables, tuple(mask)


def _refuse_forced(leaves: Sequence, treedef: Any, forced: Sequence[bool] | None, where: str) -> None:
    error = None if forced is None else forced_static_leaf(leaves, treedef, forced, where)
    if error is not None:
        raise error


def _by_value(x: Any, i: int, where: str) -> ByValue:
    """``ByValue(x)`` of constant leaf ``i``; its error for an unhashable leaf names the leaf
    (the name is formatted only then)."""
    try:
        return ByValue(x)
    except FoldaxTypeError:
        return ByValue(x, where=f"argument leaf {i} of {where}")


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
