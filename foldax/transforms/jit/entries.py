"""The bounded cache of a ``foldax.jit`` function's compiled entries: least recently used first out.

Each distinct key (tree structure, static and auxiliary arguments, constants by value) holds an
entry: its Programs, the constants it keeps (the NumPy arguments of its key and the folded
results) and the compiled function. Without a bound, a loop over distinct constants holds them
all until the function is deleted. The cache keeps at most ``max_entries`` entries and
``max_constant_bytes`` bytes of held constants; past either, the least recently used entries are
dropped (the one just added is always kept), and a later call with an evicted key traces again,
counted in ``trace_count``; ``trace_check`` then says the entry was evicted.

Defaults: ``MAX_ENTRIES`` = 256 entries and ``MAX_CONSTANT_BYTES`` = 512 MiB per function. Set
them for one function with ``foldax.jit(f, max_entries=..., max_constant_bytes=...)``, or for
every function without its own with ``foldax.jit_cache_limits(...)``.

Example:
    >>> import foldax, numpy as np, jax.numpy as jnp
    >>> f = foldax.jit(lambda x, c: x * c, max_entries=2)
    >>> for c in range(3):
    ...     _ = f(jnp.ones(2), np.float32(c))
    >>> len(f.entries), foldax.trace_check(f, jnp.ones(2), np.float32(0))[1][:7]
    (2, 'Evicted')
"""

from __future__ import annotations

import collections
import functools
from typing import Any, Hashable, Sequence

import jax
import numpy as np

from foldax.errors import FoldaxValueError
from foldax.pytrees.leaves import STATIC, ByValue, leaf_kind
from foldax.transforms.jit.plans import CallPlan, RecentPlan, plan_key, positional_key

MAX_ENTRIES = 256
MAX_CONSTANT_BYTES = 512 << 20
_limits = {"max_entries": MAX_ENTRIES, "max_constant_bytes": MAX_CONSTANT_BYTES}
_REMEMBER_EVICTED = 4096  # how many evicted keys trace_check can still explain


def jit_cache_limits(max_entries: int | None = None, max_constant_bytes: int | None = None) -> dict[str, int]:
    """Set the default bounds of every ``foldax.jit`` cache that has none of its own.

    Arguments:
        max_entries: most entries (distinct keys) kept per function; None leaves it unchanged.
        max_constant_bytes: most bytes of constants held per function; None leaves it unchanged.

    Returns:
        The previous limits, as a dict (pass it back as ``**previous`` to restore them).

    Raises:
        FoldaxValueError: a limit is not a positive integer.

    Example:
        >>> import foldax
        >>> previous = foldax.jit_cache_limits(max_entries=16)
        >>> _ = foldax.jit_cache_limits(**previous)
    """
    previous = dict(_limits)
    for name, value in (("max_entries", max_entries), ("max_constant_bytes", max_constant_bytes)):
        if value is not None:
            _limits[name] = _positive(value, name, "jit_cache_limits")
    return previous


def validated_limits(max_entries: Any, max_constant_bytes: Any, where: str) -> tuple[int | None, int | None]:
    """``(max_entries, max_constant_bytes)`` of one function, checked (``None``: the defaults).

    Raises:
        FoldaxValueError: a limit is not a positive integer.
    """
    return (
        None if max_entries is None else _positive(max_entries, "max_entries", where),
        None if max_constant_bytes is None else _positive(max_constant_bytes, "max_constant_bytes", where),
    )


def _positive(value: Any, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise FoldaxValueError(f"{where}({name}={value!r}): expected a positive integer.")
    return int(value)


class EntryCache(collections.OrderedDict):
    """A dict of entries in least-recently-used order, bounded by count and held bytes.

    ``get`` marks an entry used; storing a new one evicts the least recently used past the
    limits (``None``: the global defaults, read at each eviction). ``plans`` index the entries
    by ``(tree structure, leaf types)`` and constant values, for the fast call path
    (``plans.CallPlan``); an entry leaves them when it leaves the cache. The held bytes are a
    running total of each entry's, measured when it is stored and again when it has gained
    programs since (new shapes or trace contexts), so an insert measures only what changed.
    """

    def __init__(
        self, max_entries: int | None = None, max_constant_bytes: int | None = None, where: str = "jit"
    ) -> None:
        super().__init__()
        self.max_entries, self.max_constant_bytes = validated_limits(max_entries, max_constant_bytes, where)
        self.evictions = 0
        # plans.plan_key -> plan, and plans.positional_key -> plan for calls f(x, y) whose
        # positional arguments are array or number leaves and that pass no keyword
        self.plans: dict[Hashable, CallPlan] = {}
        self._shortcuts: dict[Hashable, list[tuple]] = {}  # key -> its (plan key, constant key)s
        self.recent: RecentPlan | None = None  # the plan the next call tries first
        self.last: Hashable | None = None  # the key of the last used entry (None: unknown)
        self.guess: Any = None  # the entry the next call runs before its constants are checked (guess.Guess)
        self._evicted: collections.OrderedDict[int, None] = collections.OrderedDict()
        self._held = 0  # the sum of the byte counts in _measured
        self._measured: dict[Hashable, tuple[int, int]] = {}  # key -> (bytes, programs measured)

    def get(self, key: Hashable, default: Any = None) -> Any:
        entry = super().get(key)
        if entry is None:
            return default
        self.touch(key)
        return entry

    def __setitem__(self, key: Hashable, entry: Any) -> None:
        super().__setitem__(key, entry)
        self.last = key
        self._measure(key, entry)
        self._evicted.pop(hash(key), None)
        self._evict()

    def __delitem__(self, key: Hashable) -> None:
        super().__delitem__(key)
        self.last = None
        if self.guess is not None and self.guess.hit[0] is key:
            self.guess = None
        self._held -= self._measured.pop(key)[0]
        for where, constant_key in self._shortcuts.pop(key, ()):  # an empty plan goes too
            plan = self.plans.get(where)
            if plan is not None and plan.entries.pop(constant_key, None) is not None and not plan.entries:
                del self.plans[where]
                if self.recent is not None and self.recent.plan is plan:
                    self.recent = None

    def clear(self) -> None:
        super().clear()
        self.plans.clear()
        self.recent = self.last = self.guess = None
        self._shortcuts.clear()
        self._measured.clear()
        self._held = 0

    def touch(self, key: Hashable) -> None:
        """Mark the entry of ``key`` used: it goes last, out of eviction's way. A call that
        finds ``key is self.last`` (a loop of calls) need not call this (nor hash the key)."""
        self.move_to_end(key)
        self.last = key

    def plan(self, key: tuple, leaves: Sequence, mask: Sequence[bool] | None) -> None:
        """Index the stored entry of ``key`` (a ``(treedef, (), (), constants)`` key) for the
        fast path of calls with these ``leaves``' types (``mask``: traced leaves, ``None``: all)."""
        entry = super().get(key)
        if entry is None:
            return
        plan_keys: list[Hashable] = [plan_key(key[0], leaves)]
        if key[0] == flat_treedef(len(leaves)) and STATIC not in map(leaf_kind, leaves):
            plan_keys.append(positional_key(leaves))  # f(x, y) with array or number leaves
        mask = (True,) * len(leaves) if mask is None else mask
        constant_key = tuple(value.key for _, value in key[3])
        for where in plan_keys:
            plan = self.plans.get(where)
            if plan is None:
                plan = self.plans[where] = CallPlan(mask)
            if constant_key not in plan.entries:
                plan.entries[constant_key] = (key, entry)
                self._shortcuts.setdefault(key, []).append((where, constant_key))

    def limits(self) -> tuple[int, int]:
        """``(max_entries, max_constant_bytes)`` in force."""
        return (
            self.max_entries or _limits["max_entries"],
            self.max_constant_bytes or _limits["max_constant_bytes"],
        )

    def held_bytes(self) -> int:
        """Bytes of constants held by all entries (the running total, after measuring again the
        entries that gained programs since they were measured)."""
        for key, entry in self.items():
            if len(entry.programs) != self._measured[key][1]:
                self._measure(key, entry)
        return self._held

    def _measure(self, key: Hashable, entry: Any) -> None:
        """Count the bytes ``entry`` (stored at ``key``) holds now in the running total."""
        size = _entry_bytes(key, entry)
        self._held += size - self._measured.get(key, (0, 0))[0]
        self._measured[key] = (size, len(entry.programs))

    def was_evicted(self, key: Hashable) -> bool:
        """Whether an entry with this key was evicted (as far as remembered)."""
        return hash(key) in self._evicted

    def _evict(self) -> None:
        max_entries, max_bytes = self.limits()
        self.held_bytes()  # brings the running total up to date; deletions keep it so
        while len(self) > 1 and (len(self) > max_entries or self._held > max_bytes):
            key = next(iter(self))
            del self[key]
            self.evictions += 1
            self._evicted[hash(key)] = None
            if len(self._evicted) > _REMEMBER_EVICTED:
                self._evicted.popitem(last=False)


@functools.lru_cache(maxsize=64)
def flat_treedef(n: int) -> Any:
    """The tree structure of a call ``f(x1, ..., xn)`` whose arguments are leaves."""
    return jax.tree_util.tree_structure(((0,) * n, {}))


def _entry_bytes(key: Hashable, entry: Any) -> int:
    """Bytes of the constants an entry holds: the arrays in its key and its folded constants."""
    held = {}
    for part in _key_values(key):
        if hasattr(part, "nbytes"):
            held[id(part)] = int(part.nbytes)
    for program in entry.programs.values():
        for c in program.jaxpr.consts:
            held[id(c)] = int(getattr(c, "nbytes", 0) or 0)
    return sum(held.values())


def _key_values(key: Any) -> list:
    """The values wrapped in a key's ``ByValue`` parts."""
    out, stack = [], [key]
    while stack:
        x = stack.pop()
        if isinstance(x, tuple):
            stack.extend(x)
        elif isinstance(x, ByValue):
            out.append(x.value)
    return out
