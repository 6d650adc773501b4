"""The control-flow rules of ``foldax.checkify`` (custom derivatives: ``checks.custom``).

The error value is the checkify interpreter's state, so the interpreter core's generic rules carry
it into and out of ``jit``, ``closed_call``, ``remat``, ``cond`` (every branch) and ``scan``;
this module only adds what those cannot express:

* a sub-jaxpr with nothing to check is bound unchanged (no re-tracing);
* ``while``: the condition's checks run on the initial carry and, inside the body, on each new
  carry (the loop itself only evaluates the predicate, never its checks). A loop with something
  to check and a *batched* predicate (a ``while`` under ``jax.vmap`` whose condition differs per
  element) is refused with JAX's ``ValueError`` (``checks.batched_while``);
* ``shard_map``: the body is checked inside, each shard with its own error. As in JAX's
  checkify, the error is then kept per shard (a leading axis of the returned error, so ``get``
  names each failing shard as ``at mapped index i``); a function with shard_maps of different
  shard counts keeps the first failing shard's error at each shard_map instead.

Example:
    >>> import foldax, jax, jax.numpy as jnp
    >>> def step_down(x):
    ...     def cond(c):
    ...         foldax.check(c >= 0, "went below zero: {}", c)
    ...         return c > 1
    ...     return jax.lax.while_loop(cond, lambda c: c - 3, x)
    >>> err, out = foldax.checkify(step_down)(jnp.int32(8))  # 8, 5, 2, -1
    >>> err.get()
    'went below zero: -1 (`check` failed)'
"""

from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

from foldax._compat import (
    ClosedJaxpr,
    JaxprEqn,
    bind_shard_map,
    closed_call_p,
    cond_p,
    eval_jaxpr,
    jaxprs_in_params,
    jit_p,
    remat_p,
    scan_p,
    shard_map_p,
    trace_to_jaxpr,
    weakref_cache,
    while_p,
)
from foldax.transforms.checks.batched_while import batched_while_error, checked_in_loop
from foldax.transforms.checks.checkify import CheckifyInterpreter, first_along, manual_axes, shard_count
from foldax.transforms.core.body_cache import CACHE_SIZE
from foldax.transforms.core.higher_order import HIGHER_ORDER_RULES, while_rule
from foldax.transforms.core.interpreter import bind_eqn


def _unless_unchecked(generic: Callable) -> Callable:
    def rule(interp: CheckifyInterpreter, eqn: JaxprEqn, invals: list) -> list:
        if not any(interp.registry.checks_inside(j) for j in jaxprs_in_params(eqn.params)):
            return bind_eqn(eqn, invals)
        return generic(interp, eqn, invals)

    return rule


for _prim in (jit_p, closed_call_p, remat_p, cond_p, scan_p):
    CheckifyInterpreter.register(_prim)(_unless_unchecked(HIGHER_ORDER_RULES[_prim]))


@CheckifyInterpreter.register(while_p)
def _while(interp: CheckifyInterpreter, eqn: JaxprEqn, invals: list) -> list:
    p = eqn.params
    cn, bn = p["cond_nconsts"], p["body_nconsts"]
    found = checked_in_loop(p, interp.registry.checked_primitive)
    if found is None:
        return bind_eqn(eqn, invals)
    pred_shape = tuple(p["cond_jaxpr"].out_avals[0].shape)
    if pred_shape:
        raise batched_while_error(eqn, pred_shape, found)
    cond_consts, init = invals[:cn], invals[cn + bn :]
    if interp.registry.checks_inside(p["cond_jaxpr"].jaxpr):
        interp.run(p["cond_jaxpr"], *cond_consts, *init)  # checks of the first predicate
        fused = _condition_checked_in_body(p["body_jaxpr"], p["cond_jaxpr"], cn)
        eqn = eqn.replace(params=dict(p, body_jaxpr=fused, body_nconsts=cn + bn))
        invals = [*cond_consts, *invals]
    return while_rule(interp, eqn, invals)


@weakref_cache(maxsize=CACHE_SIZE)
def _condition_checked_in_body(body: ClosedJaxpr, cond: ClosedJaxpr, cn: int) -> ClosedJaxpr:
    """A while loop's ``body`` that also evaluates its ``cond`` on the new carry (for its checks;
    the predicate itself is unused), taking the condition's ``cn`` consts first. One per loop
    (cached weakly on the body), so the checked loop body is reused across calls."""

    def body_then_cond(*args: Any) -> list:
        out = eval_jaxpr(body.jaxpr, body.consts, *args[cn:])
        eval_jaxpr(cond.jaxpr, cond.consts, *args[:cn], *out)
        return out

    avals = [*cond.in_avals[:cn], *body.in_avals]
    jaxpr, _, consts = trace_to_jaxpr(body_then_cond, avals, name="while_body")
    return ClosedJaxpr(jaxpr, consts)


@CheckifyInterpreter.register(shard_map_p)
def _shard_map(interp: CheckifyInterpreter, eqn: JaxprEqn, invals: list) -> list:
    """The body is checked inside the shard_map, each shard with its own error. If the error is
    kept per shard (``registry.shards``, JAX's checkify's way) it goes in and out split along its
    leading axis; else every shard starts from the same error and the first failing shard's
    (in mesh order) is kept."""
    p = eqn.params
    if not interp.registry.checks_inside(p["jaxpr"]):
        return bind_eqn(eqn, invals)
    state = interp.get_state()
    spec = P(manual_axes(p))
    per_shard = bool(interp.registry.shards) and np.shape(interp.failed) == (shard_count(p),)
    n_in, n_out = len(invals), len(eqn.outvars)

    def body(*xs: Any) -> tuple[list, list]:
        inner = interp.child()
        inner.set_state([jnp.squeeze(a, 0) for a in xs[n_in:]] if per_shard else list(xs[n_in:]))
        outs = inner.run_jaxpr(p["jaxpr"], [], list(xs[:n_in]))
        errors = [jnp.expand_dims(a, 0) for a in inner.get_state()]
        return [*outs, *errors], [*p["out_specs"], *[spec] * len(errors)]

    in_specs = [*p["in_specs"], *[spec if per_shard else P()] * len(state)]
    outs = bind_shard_map([*invals, *state], body, p, in_specs, None)
    errors = outs[n_out:]
    if not per_shard:  # (shards, *error shape): the first failing shard, per error element
        failed, code, index, *slots = (jnp.moveaxis(a, 0, np.ndim(interp.failed)) for a in errors)
        first = first_along(failed, [code, index, *slots], np.ndim(interp.failed), (shard_count(p),))
        errors = [first[0], *first[2]]
    interp.set_state(list(errors))
    return outs[:n_out]
