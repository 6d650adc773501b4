"""The one tree-utility module: flattening with automatic protocol registration, maps over
variables or values, partition/combine and leaves with paths.

Example:
    >>> import foldax, numpy as np, jax.numpy as jnp
    >>> tree = {"w": jnp.ones(2), "mask": np.ones(2)}
    >>> variables, constants = foldax.partition(tree, foldax.is_variable)
    >>> constants["w"] is None and variables["mask"] is None
    True
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
from jax.tree_util import PyTreeDef

from foldax.pytrees.dataclass import register_protocol_class, value_attrs, variable_attrs
from foldax.pytrees.leaves import STATIC, leaf_kind


def flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> tuple[list, PyTreeDef]:
    """``jax.tree_util.tree_flatten`` that first registers plain dataclasses implementing the
    ΦML protocol (``__value_attrs__``), so they are pytrees too."""
    leaves, treedef = jax.tree_util.tree_flatten(tree, is_leaf)
    if any(leaf_kind(x) == STATIC and register_protocol_class(x) for x in leaves):
        return flatten(tree, is_leaf)
    return leaves, treedef


def unflatten(treedef: PyTreeDef, leaves: Any) -> Any:
    return jax.tree_util.tree_unflatten(treedef, leaves)


def leaves_with_paths(tree: Any) -> list[tuple[str, Any]]:
    """The leaves of ``tree`` with readable paths such as ``"[0].layers[1].w"``.

    Arguments:
        tree: any pytree (dataclass models, dicts, lists, ...).

    Returns:
        A list of ``(path, leaf)`` pairs in flattening order.

    Example:
        >>> import foldax
        >>> foldax.leaves_with_paths({"a": [1, 2]})
        [("['a'][0]", 1), ("['a'][1]", 2)]
    """
    flatten(tree)  # registers protocol classes
    pairs, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [(jax.tree_util.keystr(path), leaf) for path, leaf in pairs]


def is_model(x: Any) -> bool:
    """Whether ``x`` is a dataclass instance (a ``foldax.dataclass`` or a ΦML-protocol dataclass).

    Arguments:
        x: any object.

    Returns:
        ``True`` for a dataclass instance (not a dataclass type).

    Example:
        >>> import foldax
        >>> @foldax.dataclass
        ... class P:
        ...     x: float
        >>> foldax.is_model(P(1.0)), foldax.is_model(P), foldax.is_model({"x": 1.0})
        (True, False, False)
    """
    return dataclasses.is_dataclass(x) and not isinstance(x, type)


def map_variables(f: Callable[[Any], Any], tree: Any) -> Any:
    """Apply ``f`` to every leaf in a variable field (and every leaf outside dataclasses).

    Arguments:
        f: a function of one leaf.
        tree: any pytree; value and static fields of dataclasses are left as they are.

    Returns:
        A tree of the same structure.

    Example:
        >>> import foldax
        >>> foldax.map_variables(lambda x: x * 2, {"a": 1.0})
        {'a': 2.0}
    """
    flatten(tree)
    return jax.tree_util.tree_map(f, tree)


def map_values(f: Callable[[Any], Any], tree: Any) -> Any:
    """Apply ``f`` to every leaf in a value field, as ΦML's value operations do (``l2_loss``,
    ``model * 2``); variable fields are values too, static fields are left alone.

    Arguments:
        f: a function of one leaf.
        tree: any pytree.

    Returns:
        A tree of the same structure.

    Example:
        >>> import foldax
        >>> foldax.map_values(lambda x: -x, [1.0, (2.0,)])
        [-1.0, (-2.0,)]
    """

    def visit(x: Any) -> Any:
        if is_model(x):
            changes = {n: map_values(f, getattr(x, n)) for n in value_attrs(x)}
            return _rebuild(x, changes)
        return f(x) if leaf_kind(x) != STATIC else x

    return jax.tree_util.tree_map(visit, tree, is_leaf=is_model)


def _rebuild(obj: Any, changes: dict[str, Any]) -> Any:
    """A copy of a dataclass with fields replaced, without re-running ``__init__``."""
    new = object.__new__(type(obj))
    for f in dataclasses.fields(obj):
        object.__setattr__(new, f.name, changes.get(f.name, getattr(obj, f.name)))
    return new


def variable_names(obj: Any) -> tuple[str, ...]:
    return variable_attrs(obj)


def partition(tree: Any, predicate: Callable[[Any], bool]) -> tuple[Any, Any]:
    """Split ``tree`` into ``(selected, rest)`` by a predicate on its leaves.

    Arguments:
        tree: any pytree.
        predicate: a function of one leaf returning whether it is selected (``foldax.is_array``,
            ``foldax.is_variable``, ...).

    Returns:
        ``(selected, rest)``: two trees of ``tree``'s structure, each with ``None`` where the other
            has the leaf. ``combine`` puts them back together.

    Example:
        >>> import foldax
        >>> foldax.partition([1, "a"], lambda x: isinstance(x, int))
        ([1, None], [None, 'a'])
    """
    leaves, treedef = flatten(tree)
    picked = [predicate(x) for x in leaves]
    selected = [x if p else None for x, p in zip(leaves, picked)]
    rest = [None if p else x for x, p in zip(leaves, picked)]
    return unflatten(treedef, selected), unflatten(treedef, rest)


def combine(*trees: Any) -> Any:
    """The inverse of ``partition``: for each leaf position take the first non-``None`` leaf.

    Arguments:
        *trees: trees of one structure, with ``None`` where another holds the leaf.

    Returns:
        One tree of that structure.

    Example:
        >>> import foldax
        >>> foldax.combine([1, None], [None, "a"])
        [1, 'a']
    """
    is_none = lambda x: x is None  # noqa: E731

    def first(*xs: Any) -> Any:
        return next((x for x in xs if x is not None), None)

    return jax.tree_util.tree_map(first, *trees, is_leaf=is_none)
