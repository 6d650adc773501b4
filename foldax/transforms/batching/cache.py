"""Batching rules' results, remembered as small jaxprs and replayed.

``jax.vmap`` batches each jnp function once per input types and caches the batched jaxpr, so
re-tracing a vmapped model costs little more than binding. foldax interprets equations, so it
remembers at the equation level, at most ``MAX_ENTRIES`` of them, least recently used out. An
equation is known by its primitive, params, input types, batch axes, mapped axis and JAX's trace
config. The first ``CAPTURE_AT - 1`` times such an equation is batched, its JAX rule just runs
(tracing a rule costs a few rule runs, so a model traced once with a few layers pays nothing). At
the next sighting the rule is traced into a jaxpr, which that and every later sighting replay,
binding only what the rule bound, under the current equation's source line. Only equations whose
inputs are all traced (a rule could look at a concrete value), with hashable params, no effects and
no collective over the mapped axis are remembered.

Example:
    >>> import jax, jax.numpy as jnp, foldax
    >>> f = foldax.vmap(lambda x, b: jnp.tanh(x + b), in_axes=(0, None))
    >>> clear()
    >>> for _ in range(CAPTURE_AT + 1):  # a fresh trace each time; the last ones replay
    ...     closed = jax.make_jaxpr(lambda x, b: f(x, b))(jnp.ones((4, 3)), jnp.ones(3))
    >>> [str(e.primitive) for e in closed.jaxpr.eqns], replay_count()  # add's and tanh's rules
    (['broadcast_in_dim', 'add', 'tanh'], 2)
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Hashable, NamedTuple, Sequence

from foldax._compat import (
    ClosedJaxpr,
    JaxprEqn,
    Literal,
    is_tracer,
    trace_context,
    trace_to_jaxpr,
    typeof,
)
from foldax.transforms.core.interpreter import bind_eqn

MAX_ENTRIES = 4096


class Replay(NamedTuple):
    """A rule's result as a jaxpr of the rule's inputs, and the batch axes of its outputs."""

    closed: ClosedJaxpr
    out_axes: tuple


CAPTURE_AT = 8  # a rule is traced into a jaxpr on its eighth sighting (before: run directly)
_NOT_CACHED = object()  # the rule refused when traced: always run it directly
# key -> sightings so far (int), a Replay, or _NOT_CACHED; least recently used first
_entries: collections.OrderedDict[Hashable, Any] = collections.OrderedDict()


class Hashed:
    """A hashable value whose hash is computed once (a key part shared by many keys)."""

    __slots__ = ("value", "_hash")

    def __init__(self, value: Hashable) -> None:
        self.value, self._hash = value, hash(value)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (
            type(other) is Hashed and self._hash == other._hash and self.value == other.value
        )


def cache_key(eqn: JaxprEqn, values: Sequence, axes: Sequence, axis: Hashed) -> Hashable | None:
    """What a rule's result depends on, or None when the equation is not remembered. ``axis`` is
    the mapped axis's ``AxisData`` (``Hashed``)."""
    if eqn.effects:
        return None
    types = []
    for x, d in zip(values, axes):
        if not is_tracer(x):
            return None
        types.append((x.aval, d))
    try:  # params in their order of appearance: equal params in another order only miss
        key = (eqn.primitive, tuple(eqn.params.items()), tuple(types), axis, trace_context())
        hash(key)
    except TypeError:  # unhashable params (NumPy arrays, lists): not remembered
        return None
    return key


def batched_by_cache(
    key: Hashable, rule: Callable[[list], tuple[list, list]], values: list
) -> tuple[list, list] | None:
    """``rule(values) -> (outputs, out_axes)`` through the cache, or None when the rule should
    run directly (first sight, or a rule that refused)."""
    entry = _entries.get(key)
    if entry is None:  # first sighting: make room, the least recently used out
        entry = 0
        if len(_entries) >= MAX_ENTRIES:
            _entries.popitem(last=False)
    else:
        _entries.move_to_end(key)
    if type(entry) is int:
        if entry + 1 < CAPTURE_AT:
            _entries[key] = entry + 1
            return None
        entry = _capture(rule, values)
        _entries[key] = _NOT_CACHED if entry is None else entry
    if not isinstance(entry, Replay):  # _NOT_CACHED
        return None
    return _replay(entry.closed, values), list(entry.out_axes)


def _capture(rule: Callable[[list], tuple[list, list]], values: list) -> Replay | None:
    record: dict[str, Any] = {}

    def traced(*xs: Any) -> list:
        outs, out_axes = rule(list(xs))
        record["axes"] = tuple(out_axes)
        return list(outs)

    try:
        jaxpr, _, consts = trace_to_jaxpr(
            traced, [typeof(x) for x in values], name="vmap_rule", arg_names=[""] * len(values), source=rule
        )
    except NotImplementedError:
        return None
    return Replay(ClosedJaxpr(jaxpr, consts), record["axes"])


def _replay(closed: ClosedJaxpr, values: Sequence) -> list:
    """Bind the equations of ``closed`` on ``values`` (in the caller's source context)."""
    jaxpr = closed.jaxpr
    env = dict(zip(jaxpr.constvars, closed.consts))
    env.update(zip(jaxpr.invars, values))

    def read(a: Any) -> Any:
        return a.val if type(a) is Literal else env[a]

    for eqn in jaxpr.eqns:
        env.update(zip(eqn.outvars, bind_eqn(eqn, [read(a) for a in eqn.invars])))
    return [read(a) for a in jaxpr.outvars]


def replay_count() -> int:
    """How many rule results are remembered for replay (tests check that replays happen)."""
    return sum(type(entry) is Replay for entry in _entries.values())


def clear() -> None:
    """Forget every remembered rule result (tests use it to compare with fresh rules)."""
    _entries.clear()
