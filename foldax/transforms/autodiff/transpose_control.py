"""Transpose rules of the higher-order primitives, for ``TransposeInterpreter``.

* ``jit``: its body is transposed into a new body, bound as one ``jit`` call (as JAX does).
* ``closed_call``, ``call`` and ``custom_jvp_call`` (a linear ``custom_jvp`` call, e.g.
  inside a user's JVP rule): their body is transposed in place by a child interpreter.
* ``remat``: the transposed body (recomputation included) is bound as a new ``remat``, so the
  residuals are recomputed in the backward pass as the user asked.
* ``cond``: each branch is transposed into a new branch; ``cond`` is bound on the same index.
* ``scan``: the body is transposed into a reverse scan whose carry holds the cotangents of the
  carry and of the linear loop-invariant inputs, scanning over the residuals and the cotangents
  of the outputs.
* ``while``: reverse mode cannot run a loop of unknown trip count backwards; a clear error.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from foldax.transforms.autodiff.transpose import Cotangent, TransposeInterpreter
    >>> closed = jax.make_jaxpr(lambda t: jax.lax.cond(True, lambda u: 2 * u, lambda u: -u, t))(1.0)
    >>> TransposeInterpreter().transpose(closed, [Cotangent(closed.in_avals[0])], [1.0])
    [Array(2., dtype=float32, weak_type=True)]
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp

from foldax._compat import (
    UNSPECIFIED,
    ClosedJaxpr,
    JaxprEqn,
    add_jaxvals,
    call_p,
    closed_call_p,
    cond_p,
    convert_constvars_jaxpr,
    custom_jvp_call_p,
    eqn_source_line,
    jit_p,
    remat_p,
    scan_p,
    trace_to_jaxpr,
    typeof,
    while_p,
)
from foldax.errors import NonDifferentiableLoopError
from foldax.transforms.autodiff.transpose import Cotangent, TransposeInterpreter
from foldax.transforms.core.body_cache import cached_body
from foldax.transforms.core.higher_order import Traced, merge_branch_consts

register = TransposeInterpreter.register_transpose


def _is_linear(x: Any) -> bool:
    return type(x) is Cotangent


def _strong(x: Any) -> Any:
    """``x`` without a weak type, so loop carries keep one exact type."""
    return jax.lax.convert_element_type(x, typeof(x).dtype) if typeof(x).weak_type else x


def trace_transposed(
    interp: TransposeInterpreter,
    body: ClosedJaxpr,
    linear: Sequence[bool],
    residuals: Sequence,
    cts: Sequence,
) -> Traced:
    """``body`` transposed, traced as a jaxpr ``(*consts, *residuals, *nonzero cts) -> cts`` of
    its linear inputs (zeros materialised), with its leading consts. Cached per ``body``
    (``body_cache``): the same body transposed the same way is the same jaxpr."""
    n_res = len(residuals)
    res_avals = tuple(typeof(x) for x in residuals)
    ct_avals = tuple(None if c is None else typeof(c) for c in cts)

    def transposed(*arrays: Any) -> list:
        res, ct_it = iter(arrays[:n_res]), iter(arrays[n_res:])
        args = [Cotangent(a) if lin else next(res) for a, lin in zip(body.in_avals, linear)]
        full = [None if c is None else next(ct_it) for c in cts]
        outs = interp.child().transpose(body, args, full)
        return [interp.instantiate(o, a) for o, a, lin in zip(outs, body.in_avals, linear) if lin]

    def build() -> Traced:
        avals = [*res_avals, *[a for a in ct_avals if a is not None]]
        jaxpr, _, consts = trace_to_jaxpr(transposed, avals, name="transpose")
        return Traced(convert_constvars_jaxpr(jaxpr), consts, [], [], 0)

    key = (interp.body_cache_key(), tuple(linear), res_avals, ct_avals)
    return cached_body(body, key, build)


def _scatter(linear: Sequence[bool], outs: Sequence) -> list:
    it = iter(outs)
    return [next(it) if lin else None for lin in linear]


# -- jit: one transposed call ------------------------------------------------------------------
@register(jit_p)
def _jit_transpose(interp: TransposeInterpreter, eqn: JaxprEqn, invals: list, cts: list) -> list:
    """The body transposed and bound as one ``jit`` call, as JAX's own rule does: evaluated now
    it is compiled once (not primitive by primitive, each compiled alone), and an outer trace
    records one call. Residuals keep their input's sharding and layout, cotangents their
    output's (with a basis axis in front, the compiler chooses)."""
    p = eqn.params
    linear = [_is_linear(x) for x in invals]
    residuals = [x for x in invals if not _is_linear(x)]
    traced = trace_transposed(interp, p["jaxpr"], linear, residuals, cts)
    consts = traced.consts
    plain = interp.basis is None

    def io(ins: Sequence, outs: Sequence, default: Any) -> tuple[tuple, tuple]:
        given = [s for s, lin in zip(ins, linear) if not lin]
        given += [s if plain else default for s, c in zip(outs, cts) if c is not None]
        returned = tuple(s if plain else default for s, lin in zip(ins, linear) if lin)
        return (default,) * len(consts) + tuple(given), returned

    in_shardings, out_shardings = io(p["in_shardings"], p["out_shardings"], UNSPECIFIED)
    in_layouts, out_layouts = io(p["in_layouts"], p["out_layouts"], None)
    args = [*consts, *residuals, *[c for c in cts if c is not None]]
    outs = jit_p.bind(
        *args,
        **dict(
            p,
            jaxpr=traced.closed,
            in_shardings=in_shardings,
            out_shardings=out_shardings,
            in_layouts=in_layouts,
            out_layouts=out_layouts,
            donated_invars=(False,) * len(args),
        ),
    )
    return _scatter(linear, outs)


# -- other calls: transposed in place -----------------------------------------------------------
@register(closed_call_p, call_p, custom_jvp_call_p)
def _call_transpose(interp: TransposeInterpreter, eqn: JaxprEqn, invals: list, cts: list) -> list:
    body = eqn.params["call_jaxpr"]
    body = body if isinstance(body, ClosedJaxpr) else ClosedJaxpr(body, ())
    args = [Cotangent(x.aval) if _is_linear(x) else x for x in invals]
    return interp.child().transpose(body, args, cts)


# -- remat: keep the recomputation in the backward pass -----------------------------------------
@register(remat_p)
def _remat_transpose(interp: TransposeInterpreter, eqn: JaxprEqn, invals: list, cts: list) -> list:
    linear = [_is_linear(x) for x in invals]
    residuals = [x for x in invals if not _is_linear(x)]
    traced = trace_transposed(interp, ClosedJaxpr(eqn.params["jaxpr"], ()), linear, residuals, cts)
    outs = remat_p.bind(
        *traced.consts,
        *residuals,
        *[c for c in cts if c is not None],
        jaxpr=traced.jaxpr,
        prevent_cse=eqn.params["prevent_cse"],
        differentiated=True,
        policy=eqn.params["policy"],
    )
    return _scatter(linear, outs)


# -- cond ---------------------------------------------------------------------------------------
@register(cond_p)
def _cond_transpose(interp: TransposeInterpreter, eqn: JaxprEqn, invals: list, cts: list) -> list:
    index, ops = invals[0], invals[1:]
    linear = [_is_linear(x) for x in ops]
    residuals = [x for x in ops if not _is_linear(x)]
    traced = [trace_transposed(interp, branch, linear, residuals, cts) for branch in eqn.params["branches"]]
    consts, branches = merge_branch_consts(traced)
    outs = cond_p.bind(
        index,
        *consts,
        *residuals,
        *[c for c in cts if c is not None],
        **dict(eqn.params, branches=tuple(branches)),
    )
    return [None] + _scatter(linear, outs)


# -- scan ---------------------------------------------------------------------------------------
@register(scan_p)
def _scan_transpose(interp: TransposeInterpreter, eqn: JaxprEqn, invals: list, cts: list) -> list:
    """A reverse scan: carry (cts of linear consts, cts of the carry), xs (residuals, cts of ys).

    Every carry is treated as linear: a residual initial carry (such as materialised zeros)
    simply drops its cotangent.
    """
    p = eqn.params
    nc, ncarry, body = p["num_consts"], p["num_carry"], p["jaxpr"]
    consts, xs = invals[:nc], invals[nc + ncarry :]
    lin_consts, lin_xs = [_is_linear(x) for x in consts], [_is_linear(x) for x in xs]
    ires = [x for x in consts if not _is_linear(x)]
    eres = [x for x in xs if not _is_linear(x)]
    out_avals = [v.aval for v in eqn.outvars]
    ct_carry = [_strong(interp.instantiate(c, a)) for c, a in zip(cts[:ncarry], out_avals)]
    ct_ys = [interp.instantiate(c, a) for c, a in zip(cts[ncarry:], out_avals[ncarry:])]
    if interp.basis is not None:  # the scanned axis must come first
        ct_ys = [jnp.moveaxis(c, 0, 1) for c in ct_ys]
    acc = [_strong(interp.zeros(x.aval)) for x in consts if _is_linear(x)]
    body_avals = body.in_avals
    n_ires, n_acc, n_eres = len(ires), len(acc), len(eres)

    def transposed_body(*arrays: Any) -> list:
        ires_v, rest = arrays[:n_ires], arrays[n_ires:]
        acc_v, ctc, rest = rest[:n_acc], rest[n_acc : n_acc + ncarry], rest[n_acc + ncarry :]
        eres_v, cty = rest[:n_eres], rest[n_eres:]
        ires_it, eres_it = iter(ires_v), iter(eres_v)
        args = (
            [Cotangent(a) if lin else next(ires_it) for a, lin in zip(body_avals, lin_consts)]
            + [Cotangent(a) for a in body_avals[nc : nc + ncarry]]
            + [Cotangent(a) if lin else next(eres_it) for a, lin in zip(body_avals[nc + ncarry :], lin_xs)]
        )
        outs = interp.child().transpose(body, args, list(ctc) + list(cty))
        ct_consts = [o for o, lin in zip(outs[:nc], lin_consts) if lin]
        new_acc = [a if c is None else add_jaxvals(a, c) for a, c in zip(acc_v, ct_consts)]
        ct_prev = [
            _strong(interp.instantiate(o, a))
            for o, a in zip(outs[nc : nc + ncarry], body_avals[nc : nc + ncarry])
        ]
        ct_xs = [
            interp.instantiate(o, a)
            for o, a, lin in zip(outs[nc + ncarry :], body_avals[nc + ncarry :], lin_xs)
            if lin
        ]
        return new_acc + ct_prev + ct_xs

    stacked = [typeof(x) for x in eres + ct_ys]
    avals = [typeof(x) for x in ires + acc + ct_carry] + [a.update(shape=a.shape[1:]) for a in stacked]
    jaxpr, _, hoisted = trace_to_jaxpr(transposed_body, avals, name="transpose")
    jaxpr = convert_constvars_jaxpr(jaxpr)
    outs = scan_p.bind(
        *hoisted,
        *ires,
        *acc,
        *ct_carry,
        *eres,
        *ct_ys,
        **dict(
            p,
            jaxpr=ClosedJaxpr(jaxpr, ()),
            reverse=not p["reverse"],
            num_consts=len(hoisted) + n_ires,
            num_carry=n_acc + ncarry,
        ),
    )
    ct_consts, ct_init, ct_xs = outs[:n_acc], outs[n_acc : n_acc + ncarry], outs[n_acc + ncarry :]
    if interp.basis is not None:
        ct_xs = [jnp.moveaxis(c, 1, 0) for c in ct_xs]
    return _scatter(lin_consts, ct_consts) + list(ct_init) + _scatter(lin_xs, ct_xs)


# -- while: no reverse mode -------------------------------------------------------------------------
@register(while_p)
def _while_transpose(interp: TransposeInterpreter, eqn: JaxprEqn, invals: list, cts: list) -> list:
    raise NonDifferentiableLoopError(
        f"Reverse-mode differentiation does not work for lax.while_loop or lax.fori_loop with "
        f"dynamic start/stop values. Try using lax.scan, or using fori_loop with static "
        f"start/stop. Reverse-mode differentiation (grad, vjp, jacrev) of the while loop at "
        f"{eqn_source_line(eqn)}: the number of iterations is unknown until the loop runs; "
        f"fori_loop bounds given as Python or NumPy numbers are static. Forward mode (jvp, "
        f"jacfwd) works on any loop."
    )
