"""The fast call path of ``foldax.jit``: calls with a known tree structure and leaf types.

Which leaves of a call are traced depends only on the tree structure, the leaf types and the
function's options (``keys``). A :class:`CallPlan` remembers that split for one
``(tree structure, leaf types)`` of a function without static or auxiliary arguments (the
structure tells which argument, maybe one in ``variable_args``, each leaf belongs to),
and the entries already compiled for it, by the value keys of the constant leaves alone. A call
then costs one flatten, the constants' value keys (none when every leaf is traced) and two
dictionary lookups before the entry's ``jax.jit`` runs; the full key (``keys.leaf_key``) is
built only for the first call of each plan and constants' values. A plan's lookup finds exactly
the entry the full key would (same treedef, same constant leaves, same value keys).

Plans are found by :func:`plan_key` (and :func:`positional_key` for ``f(x, y)``), built the same
way when a plan is stored and when a call looks for it. The plan of the last such call is tried
first (:class:`RecentPlan`): its tree structure takes the call's leaves without building a new
one (``flatten_up_to``, about a third of a flatten), and a check of their types replaces the
lookup, so a call of a pytree with many leaves costs little more than ``jax.jit``'s own.

Example:
    >>> import numpy as np
    >>> plan = CallPlan((True, False))
    >>> plan.variables(["x", np.ones(2)]), plan.constant_key(["x", np.ones(2)])[0][0]
    (['x'], 'ndarray')
"""

from __future__ import annotations

from typing import Any, Hashable, NamedTuple, Sequence

from foldax.pytrees.leaves import STATIC, leaf_kind, value_key
from foldax.transforms.jit.keys import TRACED_TYPES

# in a plan key, in place of the leaf types, when every leaf is a jax.Array: hashing and
# comparing a key with one type per leaf costs more than the set of the types
ALL_ARRAYS = "every leaf is a jax.Array"


def plan_key(treedef: Any, leaves: Sequence) -> tuple:
    """The key of the plan of calls with this tree structure and these leaves' types:
    ``(treedef, ALL_ARRAYS)`` when every leaf is a jax.Array (all traced, wherever they are),
    else ``(treedef, *leaf types)``."""
    if set(map(type, leaves)) <= TRACED_TYPES:
        return (treedef, ALL_ARRAYS)
    return (treedef, *map(type, leaves))


def positional_key(args: Sequence) -> type | tuple:
    """The key of the plan of calls ``f(x, y)`` whose positional arguments are leaves, with no
    keyword: the one argument's type, or the tuple of their types."""
    return type(args[0]) if len(args) == 1 else tuple(map(type, args))


class CallPlan:
    """The split of the leaves of calls with one tree structure and leaf types, and the entries
    compiled for it by constant values.

    Arguments:
        mask: per leaf, whether it is traced.

    Attributes:
        all_traced: every leaf is traced (no constant).
        entries: the constant leaves' value keys -> ``(full cache key, entry)``.
    """

    __slots__ = ("traced", "constants", "all_traced", "entries", "_recent")

    def __init__(self, mask: Sequence[bool]) -> None:
        self.all_traced = all(mask)  # then the only constant key is ()
        self.traced: tuple[int, ...] | None = (
            None if self.all_traced else tuple(i for i, m in enumerate(mask) if m)
        )
        self.constants = tuple(i for i, m in enumerate(mask) if not m)
        self.entries: dict[tuple, tuple[Hashable, Any]] = {}
        self._recent: RecentPlan | None | bool = False  # False: not made yet

    def recent(self, treedef: Any, leaves: Sequence, key: tuple) -> RecentPlan | None:
        """This plan as the one a next call tries first (made once; see :func:`recent_plan`)."""
        if self._recent is False:
            self._recent = recent_plan(treedef, leaves, self, key)
        return self._recent  # type: ignore[return-value]

    def variables(self, leaves: Sequence) -> Sequence:
        """The traced leaves of a call, in order."""
        return leaves if self.traced is None else [leaves[i] for i in self.traced]

    def constant_key(self, leaves: Sequence) -> tuple:
        """The value keys of the constant leaves (as in the full key's ``ByValue`` s)."""
        return tuple([value_key(leaves[i]) for i in self.constants]) if self.constants else ()

    def find(self, leaves: Sequence) -> tuple[Hashable, Any] | None:
        """``(full key, entry)`` compiled for these leaves' constants, or ``None`` (also when a
        static leaf cannot be hashed or compared: the full path then raises foldax's error)."""
        if not self.constants:
            return self.entries.get(())
        try:
            return self.entries.get(self.constant_key(leaves))
        except Exception:  # noqa: BLE001 - an unhashable or incomparable static leaf
            return None


class RecentPlan(NamedTuple):
    """The plan of the last call found by :func:`plan_key`, with its tree structure and leaf
    types (``None``: every leaf is a jax.Array), tried first by the next call.

    Example:
        >>> import jax, jax.numpy as jnp, numpy as np
        >>> tree = (({"w": jnp.ones(2), "c": np.ones(2)},), {})
        >>> leaves, treedef = jax.tree_util.tree_flatten(tree)
        >>> recent = recent_plan(treedef, leaves, CallPlan((False, True)), plan_key(treedef, leaves))
        >>> recent.leaves(tree) is not None, recent.leaves((({"w": np.ones(2), "c": 1.0},), {}))
        (True, None)
    """

    treedef: Any
    plan: CallPlan
    types: tuple | None

    def leaves(self, tree: Any) -> list | None:
        """The leaves of ``tree`` if it has this tree structure and these leaf types, else
        ``None``. ``flatten_up_to`` checks every node, its type and its data (dict keys, static
        fields) as treedef equality does, and hands back what sits at each leaf position; the
        type check then makes sure that is a leaf of the planned type, not a subtree."""
        try:
            leaves = self.treedef.flatten_up_to(tree)
        except Exception:  # noqa: BLE001 - another structure (or a flatten error: the full path raises it)
            return None
        if self.types is None:
            return leaves if TRACED_TYPES.issuperset(map(type, leaves)) else None
        return leaves if tuple(map(type, leaves)) == self.types else None


def recent_plan(treedef: Any, leaves: Sequence, plan: CallPlan, key: tuple) -> RecentPlan | None:
    """The :class:`RecentPlan` of ``plan``, found by ``key = plan_key(treedef, leaves)``;
    ``None`` if a leaf is neither an array nor a number (an object in an equinox Module: its
    class might be registered as a pytree later, which a new flatten sees and this would not)."""
    if key[1:] == (ALL_ARRAYS,):
        return RecentPlan(treedef, plan, None)
    if STATIC in map(leaf_kind, leaves):
        return None
    return RecentPlan(treedef, plan, key[1:])
