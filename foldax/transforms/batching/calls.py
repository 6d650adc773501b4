"""``jit``, ``remat`` and ``closed_call`` under ``foldax.vmap``: batched arrays cross the call
boundary with their batch axis where it is, as ``jax.vmap``'s rule for ``jit`` passes them.

The interpreter core's call rule moves every batched input to axis 0 before the call and gets
every batched output at 0. For an input mapped along another axis (``in_axes=1``) that is a
transpose bound outside the call (evaluated eagerly: one more compilation, and a copy, per call),
and another after it for ``out_axes=1``. Here the call rule sees the batching interpreter through
``KeepingAxes``: an input's spec is its batch axis, and an output keeps the axis the body's rules
gave it, so the transposes (if any) are inside the batched body, as under ``jax.vmap``.

A ``jit`` with a named sharding, or under an Explicit mesh axis, keeps the core's rule (its
shardings are rewritten with the batch dimension at 0).

Example:
    >>> import jax, jax.numpy as jnp, foldax
    >>> f = foldax.vmap(jax.jit(lambda u: u * 2), in_axes=1, out_axes=1)
    >>> [e.primitive.name for e in jax.make_jaxpr(f)(jnp.ones((3, 4))).eqns]
    ['jit']
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Sequence, TypeVar

from foldax._compat import UNSPECIFIED, ClosedJaxpr, JaxprEqn, closed_call_p, jit_p, remat_p
from foldax.transforms.batching.interpreter import Batched, BatchInterpreter
from foldax.transforms.core.body_cache import cached_body
from foldax.transforms.core.higher_order import HIGHER_ORDER_RULES

T = TypeVar("T")


class KeepingAxes:
    """The batching interpreter ``interp`` as a call rule sees it: values cross the boundary
    with their batch axis (the spec: an axis, ``None`` for unbatched) where it is; the body is
    run by ``interp`` itself, whose own boundaries stay as they are."""

    transformation = "vmap"

    def __init__(self, interp: BatchInterpreter) -> None:
        self.interp = interp

    def run(self, body: ClosedJaxpr, *values: Batched) -> list:
        return self.interp.run(body, *values)

    def to_arrays(self, value: Batched) -> tuple[list, int | None]:
        return [value.value], value.axis

    def from_arrays(self, arrays: Sequence, spec: int | None) -> Batched:
        return Batched(arrays[0], spec)

    def boundary_sharding(self, sharding: Any, old: Any, new: Any, mesh: Any) -> Any:
        return UNSPECIFIED  # used only for calls whose shardings are all unspecified

    def get_state(self) -> list:
        return []

    def set_state(self, arrays: Sequence) -> None:
        del arrays

    def child(self) -> KeepingAxes:
        return self

    def body_cache_key(self) -> Hashable | None:
        key = self.interp.body_cache_key()
        return None if key is None else (key, KeepingAxes)

    def reuse_body(self, source: Any, key: Hashable | None, build: Callable[[], T]) -> T:
        return cached_body(source, key, build)


def _unspecified(shardings: Sequence) -> bool:
    return all(s is UNSPECIFIED for s in shardings)


@BatchInterpreter.register(jit_p, closed_call_p, remat_p)
def call_batched(interp: BatchInterpreter, eqn: JaxprEqn, invals: list) -> list:
    """The core's call rule, with batch axes kept where they are (unless shardings are named)."""
    p = eqn.params
    rule = HIGHER_ORDER_RULES[eqn.primitive]
    if interp.mesh_axis is not None or not (
        _unspecified(p.get("in_shardings", ())) and _unspecified(p.get("out_shardings", ()))
    ):
        return rule(interp, eqn, invals)
    return rule(KeepingAxes(interp), eqn, invals)
