"""The batching interpreter behind ``foldax.vmap``.

A value is ``Batched(value, axis)``: an array and the axis along which it carries the mapped
dimension, or ``axis=None`` when it is the same for every element of the batch. Each equation is
handled by

* binding it unchanged when none of its inputs is batched (and it does not name the mapped axis
  in a collective), so unbatched work stays unbatched;
* JAX's registered batching rule for the primitive (the per-primitive math), else
* mapping that one equation over the batch (``lax.map``) when JAX has no rule.

Higher-order primitives go through the interpreter core's boundary protocol (batched arrays cross
a body boundary with the batch axis at 0, scan's stacked inputs and outputs at 1);
``batching_control_flow`` adds ``cond`` with a batched predicate and ``while`` with a batched
condition, ``batching_custom`` keeps custom_jvp/custom_vjp rules alive under batching.

Example:
    >>> import jax, jax.numpy as jnp
    >>> closed = jax.make_jaxpr(lambda x, y: jnp.sin(x) * y)(1.0, 2.0)
    >>> interp = BatchInterpreter(size=3)
    >>> out, = interp.run(closed, Batched(jnp.arange(3.0), 0), Batched(2.0, None))
    >>> out.axis, out.value.shape
    (0, (3,))
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Any, Hashable, NamedTuple, Sequence

import numpy as np
from jax import lax

from foldax._compat import (
    Jaxpr,
    JaxprEqn,
    axis_data as make_axis_data,
    batch_axis_env,
    batched_sharding,
    bind_params,
    broadcast_batch_axis,
    closed_call_p,
    eqn_source_line,
    fancy_primitive_batchers,
    is_tracer,
    jaxprs_in_params,
    jit_p,
    typeof,
)
from foldax.errors import FoldaxValueError, MissingRuleError
from foldax.transforms.batching.cache import Hashed, batched_by_cache, cache_key
from foldax.transforms.core.interpreter import Interpreter, bind_eqn
from foldax.transforms.core.numpy_eval import compute_now
from foldax.transforms.core.passes import foldable


class Batched(NamedTuple):
    """An interpreter value: ``value`` is batched along ``axis`` (``None``: not batched)."""

    value: Any
    axis: int | None


# -- moving the batch axis --------------------------------------------------------------------
def move_axis(x: Any, src: int, dst: int) -> Any:
    """``x`` with its axis ``src`` moved to position ``dst`` (works for PRNG key arrays)."""
    if src == dst:
        return x
    perm = list(range(np.ndim(x)))
    perm.insert(dst, perm.pop(src))
    return lax.transpose(x, perm)


def broadcast_axis(x: Any, size: int, axis: int, mesh_axis: Any = None) -> Any:
    """``x`` repeated ``size`` times along a new axis at ``axis`` (sharded over the Explicit mesh
    axis ``mesh_axis`` of the mapped inputs, if any)."""
    if mesh_axis is not None:
        return broadcast_batch_axis(x, size, axis, mesh_axis)
    shape = list(np.shape(x))
    shape.insert(axis, size)
    dims = tuple(i for i in range(len(shape)) if i != axis)
    return lax.broadcast_in_dim(x, shape, dims)


def per_element(mask: Any, x: Any) -> Any:
    """``mask`` (shape ``(batch,)``) broadcast against ``x`` (batch axis first), sharded like
    ``x`` when ``x`` is sharded in its type (Explicit mesh axes)."""
    sharding = typeof(x).sharding
    if sharding.mesh.empty:
        return lax.broadcast_in_dim(mask, np.shape(x), (0,))
    return lax.broadcast_in_dim(mask, np.shape(x), (0,), out_sharding=sharding)


class UnmappableOutput(Exception):
    """Raised by ``match_axis`` when a batched value is asked to be unbatched."""

    def __init__(self, src: int) -> None:
        super().__init__(src)
        self.src = src


def match_axis(v: Batched, dst: int | None, size: int, sum_match: bool = False, mesh_axis: Any = None) -> Any:
    """The array of ``v`` with its batch axis at ``dst`` (``None``: unbatched; a batched value
    is then summed over its batch axis if ``sum_match``, else ``UnmappableOutput``)."""
    src, x = v.axis, v.value
    if src is None:
        return x if dst is None else broadcast_axis(x, size, dst, mesh_axis)
    if dst is None:
        if sum_match:
            return x.sum(src)
        raise UnmappableOutput(src)
    return x if src == dst else move_axis(x, src, dst)


# -- the interpreter --------------------------------------------------------------------------
# Primitives whose result differs per batch element even when no input is batched (keyless
# random draws of foldax.random.keyed): always batched by their rule, never bound unchanged.
PER_ELEMENT_PRIMITIVES: set = set()
# Primitives whose first operand is a predicate that must hold only for the elements whose
# results are kept (foldax.check): inside a branch or loop body that runs for the whole batch
# but is kept only for some elements, the predicate is forced true for the others.
MASKED_PREDICATE_PRIMITIVES: set = set()


class BatchInterpreter(Interpreter):
    """Interprets a per-example jaxpr on ``Batched`` values of a batch of ``size`` elements.

    ``axis_name`` names the mapped axis for collectives (``psum``, ``all_gather``, ...). With
    ``fold``, equations whose inputs are all concrete constants are computed right away (so the
    Program needs no separate folding pass), except those that would blow a small constant up
    into a large one (``passes``' rule). ``spmd_axis_name`` (mesh axes the batch dimension is
    sharded over wherever a sharding is named) and ``mesh_axis`` (the Explicit mesh axis the
    mapped inputs carry along the mapped axis) are JAX's ``AxisData`` fields of the same roles.
    """

    transformation = "vmap"

    def __init__(
        self,
        size: int,
        axis_name: Hashable | None = None,
        fold: bool = True,
        spmd_axis_name: tuple | None = None,
        mesh_axis: tuple | None = None,
    ) -> None:
        self.size = size
        self.fold = fold
        self.axis_name = axis_name
        self.mesh_axis = mesh_axis
        self.axis_data = make_axis_data(axis_name, size, spmd_axis_name, mesh_axis)
        self.axis_key = Hashed(self.axis_data)  # part of batching_cache keys
        # per sub-jaxpr, held weakly: a cached body's custom rules may run this interpreter later
        self._names_axis: weakref.WeakKeyDictionary[Jaxpr, bool] = weakref.WeakKeyDictionary()
        self.active: Any = None  # bool[size]: elements whose results are kept (None: all)

    @contextlib.contextmanager
    def keeping_only(self, kept: Any):
        """Within the block, only elements where ``kept`` (bool[size]) holds are kept."""
        outer = self.active
        self.active = kept if outer is None else lax.bitwise_and(outer, kept)
        try:
            yield
        finally:
            self.active = outer

    def axis_env(self) -> Any:
        """Context naming the mapped axis for collectives and declaring its mesh axes (also for
        rules that run later, such as a custom_vjp's backward function)."""
        return batch_axis_env(self.axis_data)

    def front(self, v: Batched) -> Any:
        """The array of ``v`` batched along axis 0 (broadcast if it was not batched)."""
        return match_axis(v, 0, self.size, mesh_axis=self.mesh_axis)

    def lift(self, constant: Any) -> Batched:
        return Batched(constant, None)

    def process_eqn(self, eqn: JaxprEqn, invals: list) -> list:
        if self.active is not None and eqn.primitive in MASKED_PREDICATE_PRIMITIVES:
            pred = self.front(invals[0])
            dropped = per_element(lax.bitwise_not(self.active), pred)
            invals = [Batched(lax.bitwise_or(pred, dropped), 0), *invals[1:]]
        if (
            all(v.axis is None for v in invals)
            and not self.names_axis(eqn)
            and eqn.primitive not in PER_ELEMENT_PRIMITIVES
        ):
            values = [v.value for v in invals]
            if self.fold and foldable(eqn) and not any(map(is_tracer, values)):
                return self.fold_eqn(eqn, invals)
            return [Batched(x, None) for x in bind_eqn(eqn, values)]
        return super().process_eqn(eqn, invals)

    def fold_eqn(self, eqn: JaxprEqn, invals: list) -> list:
        """Compute an equation of constants now (constant folding as the program is evaluated);
        a ``jit`` of constants is folded equation by equation."""
        body = _CALL_BODIES.get(eqn.primitive)
        if body is not None:
            return self.run(eqn.params[body], *invals)
        outs = compute_now(eqn.primitive, [v.value for v in invals], bind_params(eqn))
        return [Batched(x, None) for x in (outs if eqn.primitive.multiple_results else [outs])]

    def default_rule(self, eqn: JaxprEqn, invals: list) -> list:
        batcher = fancy_primitive_batchers.get(eqn.primitive)
        if batcher is None:
            return map_equation(self, eqn, invals)
        values = [v.value for v in invals]
        axes = [v.axis for v in invals]
        params = bind_params(eqn)
        multiple = eqn.primitive.multiple_results

        def rule(xs: list) -> tuple[list, list]:
            out, out_axes = batcher(self.axis_data, xs, axes, **params)
            return (list(out), list(out_axes)) if multiple else ([out], [out_axes])

        key = None if self.names_axis(eqn) else cache_key(eqn, values, axes, self.axis_key)
        try:
            done = None if key is None else batched_by_cache(key, rule, values)
            outs, out_axes = rule(values) if done is None else done
        except NotImplementedError as e:  # JAX's rule refuses these params
            if not self.names_axis(eqn):  # elementwise semantics: map the equation instead
                return map_equation(self, eqn, invals)
            raise MissingRuleError(
                f"vmap: JAX's batching rule for '{eqn.primitive}' (used at "
                f"{eqn_source_line(eqn)}) does not support this use over the mapped axis "
                f"{self.axis_name!r}, and a collective cannot be mapped one element at a time. "
                f"(JAX: {e})"
            ) from e
        return [Batched(x, d) for x, d in zip(outs, out_axes)]

    # -- collectives over the mapped axis ----------------------------------------------------
    def names_axis(self, eqn: JaxprEqn) -> bool:
        """Whether ``eqn`` (or a sub-jaxpr of it) runs a collective over this axis."""
        if self.axis_name is None:
            return False
        if _params_name(eqn.params, self.axis_name):
            return True
        return any(self._jaxpr_names_axis(j) for j in jaxprs_in_params(eqn.params))

    def _jaxpr_names_axis(self, jaxpr: Jaxpr) -> bool:
        found = self._names_axis.get(jaxpr)
        if found is None:
            found = any(self.names_axis(e) for e in jaxpr.eqns)
            self._names_axis[jaxpr] = found
        return found

    # -- the boundary protocol: batched arrays cross a body boundary with the batch axis at 0 -
    def to_arrays(self, value: Batched) -> tuple[list, bool]:
        if value.axis is None:
            return [value.value], False
        return [move_axis(value.value, value.axis, 0)], True

    def from_arrays(self, arrays: Sequence, spec: bool) -> Batched:
        return Batched(arrays[0], 0 if spec else None)

    def to_stacked_arrays(self, value: Batched) -> tuple[list, bool]:
        """scan's ``xs``: the scanned axis stays at 0, the batch axis goes to 1."""
        if value.axis is None:
            return [value.value], False
        return [move_axis(value.value, value.axis, 1)], True

    def from_stacked_arrays(self, arrays: Sequence, spec: bool) -> Batched:
        return Batched(arrays[0], 1 if spec else None)

    def boundary_sharding(self, sharding: Any, old: Any, new: Any, mesh: Any) -> Any:
        """A batched array crossing a ``jit`` keeps the jit's sharding, with the batch dimension
        (at 0) sharded over ``spmd_axis_name`` (else unconstrained), as under ``jax.vmap``."""
        if new.ndim != old.ndim + 1 or new.shape[1:] != old.shape:
            return super().boundary_sharding(sharding, old, new, mesh)
        return batched_sharding(sharding, 0, self.axis_data.spmd_name, mesh, new.ndim)

    def join(self, a: bool, b: bool) -> bool:
        return a or b

    def coerce(self, value: Batched, spec: bool) -> Batched:
        if spec and value.axis is None:
            return Batched(broadcast_axis(value.value, self.size, 0, self.mesh_axis), 0)
        if not spec and value.axis is not None:
            raise FoldaxValueError(
                "vmap: a batched value was asked to become unbatched at a control-flow boundary; "
                "this is a bug in foldax's batching rules, please report it."
            )
        return value

    def child(self) -> BatchInterpreter:
        return self

    def body_cache_key(self) -> Hashable | None:
        """The mapped axis (name, size, SPMD and Explicit mesh axes), folding and the class: a
        body re-traced under ``vmap`` depends on nothing else (the trace context, which names
        the enclosing axes, is part of every cache key). ``None`` while only some elements are
        kept (a batched ``cond``'s branch): the body would hold that mask."""
        if self.active is not None:
            return None
        return (type(self), self.axis_key, self.fold)


_CALL_BODIES = {jit_p: "jaxpr", closed_call_p: "call_jaxpr"}  # the body param of call primitives


def _params_name(params: dict, name: Hashable) -> bool:
    for key in ("axes", "axis_name"):
        v = params.get(key)
        if v is None:
            continue
        if v == name or (isinstance(v, (tuple, list, frozenset)) and name in v):
            return True
    return False


def map_equation(interp: BatchInterpreter, eqn: JaxprEqn, invals: list) -> list:
    """The fallback for a primitive without a batching rule: ``lax.map`` that one equation over
    the batch (the batched inputs are sliced, the others closed over); outputs batched at 0."""
    batched = [i for i, v in enumerate(invals) if v.axis is not None]
    if not batched:  # e.g. an input-less primitive naming the axis: the same for every element
        out = bind_eqn(eqn, [v.value for v in invals])
        return [Batched(broadcast_axis(x, interp.size, 0, interp.mesh_axis), 0) for x in out]
    xs = [interp.front(invals[i]) for i in batched]

    def one(slices: list) -> list:
        args = [v.value for v in invals]
        for i, x in zip(batched, slices):
            args[i] = x
        return bind_eqn(eqn, args)

    return [Batched(x, 0) for x in lax.map(one, xs)]
