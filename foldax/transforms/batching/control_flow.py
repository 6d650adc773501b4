"""Batching rules for control flow whose predicate is batched.

With an unbatched predicate, ``cond`` and ``while`` keep their structure and go through the
interpreter core's generic rules (``scan`` always does: its stacked inputs and outputs carry the
batch axis at 1 through the boundary protocol). A batched predicate differs per element, so:

* ``cond`` runs every branch on the whole batch and selects per element (``select_n``), as JAX
  does; each branch sees its operands through ``stop_gradient`` where it is not taken, so a
  branch that is not taken cannot put NaNs into a gradient;
* ``while`` runs while *any* element's condition holds, and an element whose condition is false
  keeps its carry (a per-element ``select``); all carries are then batched.

Example:
    >>> import jax, jax.numpy as jnp, foldax
    >>> f = lambda x: jax.lax.cond(x > 0, jnp.sin, jnp.cos, x)
    >>> foldax.vmap(f)(jnp.array([-1.0, 1.0])).round(3)
    Array([0.54 , 0.841], dtype=float32)
"""

from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp
from jax import lax

from foldax._compat import (
    ClosedJaxpr,
    JaxprEqn,
    cond_p,
    effects_forbid_select,
    jit_disabled,
    trace_to_jaxpr,
    typeof,
    while_p,
)
from foldax.errors import MissingRuleError
from foldax.transforms.batching.interpreter import Batched, BatchInterpreter, per_element
from foldax.transforms.core.body_cache import cached_body
from foldax.transforms.core.higher_order import (
    _fixed_point_specs,
    cond_rule,
    flatten_values,
    trace_body,
    while_rule,
)
from foldax.transforms.core.interpreter import EvalInterpreter

# Called as ``hook(eqn, size)`` before the predicate of the ``while`` ``eqn`` is batched to
# ``(size,)``; a hook may refuse the loop by raising (``foldax.checkify`` adds one: it refuses a
# loop with checks inside while its function is traced, as JAX's checkify does).
BATCHED_WHILE_HOOKS: list[Callable[[JaxprEqn, int], None]] = []


def _inexact(x: Any) -> bool:
    return jnp.issubdtype(x.dtype, jnp.inexact)


# -- cond -------------------------------------------------------------------------------------
@BatchInterpreter.register(cond_p)
def cond_batched(interp: BatchInterpreter, eqn: JaxprEqn, invals: list) -> list:
    index, ops = invals[0], invals[1:]
    if index.axis is None:
        return cond_rule(interp, eqn, invals)
    branches = eqn.params["branches"]
    if effects_forbid_select(branches):
        raise MissingRuleError(
            "vmap: a lax.cond/lax.switch whose predicate is batched has a branch with I/O "
            "callbacks or state effects; vmap runs every branch and selects, which would run those "
            "effects for branches that were not taken. Make the predicate unbatched, or move the "
            "effect out of the branch."
        )
    which = interp.front(index)
    ops = [interp.front(v) for v in ops]
    results = []
    for i, branch in enumerate(branches):
        taken = which == i
        guarded = [
            lax.select(per_element(taken, x), x, lax.stop_gradient(x)) if _inexact(x) else x for x in ops
        ]
        with interp.keeping_only(taken):
            outs = interp.run(branch, *[Batched(x, 0) for x in guarded])
        results.append([interp.front(o) for o in outs])
    if len(branches) == 1:
        return [Batched(o, 0) for o in results[0]]
    return [Batched(lax.select_n(per_element(which, cases[0]), *cases), 0) for cases in zip(*results)]


# -- while ------------------------------------------------------------------------------------
@BatchInterpreter.register(while_p)
def while_batched(interp: BatchInterpreter, eqn: JaxprEqn, invals: list) -> list:
    p = eqn.params
    cn, bn = p["cond_nconsts"], p["body_nconsts"]
    cond_consts, body_consts, init = invals[:cn], invals[cn : cn + bn], invals[cn + bn :]
    carry_batched = _carry_fixed_point(interp, p, body_consts, init)
    init = [interp.coerce(v, b) for v, b in zip(init, carry_batched)]
    if not _predicate_batched(interp, p, cond_consts, init):
        return while_rule(interp, eqn, [*cond_consts, *body_consts, *init])
    for hook in BATCHED_WHILE_HOOKS:
        hook(eqn, interp.size)
    return _while_any(interp, p, cond_consts, body_consts, init)


def _carry_fixed_point(interp: BatchInterpreter, p: dict, body_consts: list, init: list) -> list:
    """Which carries are batched once the loop body has run any number of times."""
    k_arrays, k_specs, k_counts = flatten_values(interp, body_consts)

    def once(carry_specs: list) -> list:
        vals = [interp.coerce(v, s) for v, s in zip(init, carry_specs)]
        c_arrays, _, c_counts = flatten_values(interp, vals)
        traced = trace_body(
            interp,
            p["body_jaxpr"],
            [typeof(a) for a in k_arrays + c_arrays],
            k_specs + carry_specs,
            k_counts + c_counts,
            n_lead=len(body_consts),
            state_avals=[],
        )
        return traced.out_specs

    return _fixed_point_specs(interp, [v.axis is not None for v in init], once)


def _predicate_batched(interp: BatchInterpreter, p: dict, cond_consts: list, init: list) -> bool:
    arrays, specs, counts = flatten_values(interp, [*cond_consts, *init])
    traced = trace_body(
        interp,
        p["cond_jaxpr"],
        [typeof(a) for a in arrays],
        specs,
        counts,
        n_lead=len(cond_consts),
        state_avals=[],
    )
    return bool(traced.out_specs[0])


def _while_any(interp: BatchInterpreter, p: dict, cond_consts: list, body_consts: list, init: list) -> list:
    """Loop while any element's condition holds; finished elements keep their carry. The loop is
    traced once per source body, input types and batch axes (``body_cache``), so the same loop
    batched again binds the same ``while`` and JAX's compilation caches hit."""
    consts = [*cond_consts, *body_consts]
    axes = tuple(v.axis for v in consts)
    arrays = [v.value for v in consts] + [interp.front(v) for v in init]
    avals = tuple(typeof(a) for a in arrays)
    n_cond, n_consts = len(cond_consts), len(consts)

    def loop(*xs: Any) -> list:
        batched = [Batched(x, d) for x, d in zip(xs, axes)]

        def predicate(carry: list) -> Any:
            (out,) = interp.run(p["cond_jaxpr"], *batched[:n_cond], *[Batched(c, 0) for c in carry])
            return interp.front(out)

        def body(carry: list) -> list:
            going = predicate(carry)
            with interp.keeping_only(going):
                new = interp.run(p["body_jaxpr"], *batched[n_cond:], *[Batched(c, 0) for c in carry])
            fronted = (interp.front(v) for v in new)
            return [lax.select(per_element(going, n), n, c) for n, c in zip(fronted, carry)]

        return lax.while_loop(lambda c: jnp.any(predicate(c)), body, list(xs[n_consts:]))

    def build() -> ClosedJaxpr:
        jaxpr, _, closed_over = trace_to_jaxpr(loop, avals, name="vmap_while")
        return ClosedJaxpr(jaxpr, closed_over)

    if jit_disabled():  # the loop runs now, step by step in Python (checks see concrete values)
        return [Batched(c, 0) for c in loop(*arrays)]
    config = interp.body_cache_key()
    key = None if config is None else (config, "while_any", p["cond_jaxpr"], avals, axes)
    carry = EvalInterpreter().run(cached_body(p["body_jaxpr"], key, build), *arrays)
    return [Batched(c, 0) for c in carry]
