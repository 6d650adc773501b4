"""Generic handling of higher-order primitives for every interpreter.

Each rule re-traces the primitive's body (or bodies) with a *child* interpreter into a jaxpr over
raw arrays, using the interpreter's boundary protocol (``to_arrays``/``from_arrays``,
``join``/``coerce``, ``get_state``/``set_state``), and binds the same primitive with the new
body. Values captured while re-tracing are hoisted into explicit leading inputs. Branch outputs
and loop carries are joined to a fixed point, so e.g. a carry that gains a tangent in the loop
body gets one from the start. Shardings, layouts and donation of ``jit`` survive for every
input/output whose array is unchanged. An interpreter whose values change shape across the
boundary (``vmap``) registers its own rules for the primitives where that matters.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from foldax.transforms.core.interpreter import Interpreter
    >>> class Plain(Interpreter):
    ...     def default_rule(self, eqn, invals):
    ...         return [eqn.primitive.bind(*invals, **eqn.params)]
    >>> closed = jax.make_jaxpr(lambda x: jax.lax.cond(x > 0, jnp.sin, jnp.cos, x))(1.0)
    >>> Plain().run(closed, 1.0)
    [Array(0.84147096, dtype=float32, weak_type=True)]
"""

from __future__ import annotations

from functools import reduce
from typing import Any, Callable, Sequence

from foldax._compat import (
    UNSPECIFIED,
    ClosedJaxpr,
    Jaxpr,
    JaxprEqn,
    closed_call_p,
    cond_p,
    convert_constvars_jaxpr,
    custom_jvp_call_p,
    custom_vjp_call_p,
    jit_p,
    make_jaxpr_obj,
    new_var,
    remat_p,
    scan_p,
    trace_to_jaxpr,
    typeof,
    weakref_cache,
    while_p,
)
from foldax.errors import MissingRuleError
from foldax.transforms.core.body_cache import CACHE_SIZE

MAX_FIXED_POINT_ITERATIONS = 32


# -- flattening interpreter values to arrays -------------------------------------------------
def flatten_values(interp: Any, values: Sequence, stacked: bool = False) -> tuple[list, list, list[int]]:
    """The arrays, specs and array counts of ``values`` (``stacked``: scan's xs/ys)."""
    to_arrays = interp.to_stacked_arrays if stacked else interp.to_arrays
    arrays, specs, counts = [], [], []
    for v in values:
        arrs, spec = to_arrays(v)
        arrays.extend(arrs)
        specs.append(spec)
        counts.append(len(arrs))
    return arrays, specs, counts


def unflatten_values(
    interp: Any, arrays: Sequence, specs: Sequence, counts: Sequence[int], stacked: bool = False
) -> list:
    from_arrays = interp.from_stacked_arrays if stacked else interp.from_arrays
    out, i = [], 0
    for spec, n in zip(specs, counts):
        out.append(from_arrays(list(arrays[i : i + n]), spec))
        i += n
    return out


class Traced:
    """A re-traced body: open ``jaxpr`` whose leading inputs are the hoisted ``consts``;
    ``closed`` is it as a closed jaxpr, one object per Traced (so a cached Traced binds the same
    closed jaxpr each time, and JAX's caches keyed on it hit)."""

    def __init__(self, jaxpr: Jaxpr, consts: list, out_specs: list, out_counts: list, n_state_out: int):
        self.jaxpr, self.consts = jaxpr, consts
        self.closed = ClosedJaxpr(jaxpr, ())
        self.out_specs, self.out_counts, self.n_state_out = out_specs, out_counts, n_state_out


def trace_body(
    interp: Any,
    body: ClosedJaxpr,
    values_avals: Sequence,
    specs: Sequence,
    counts: Sequence[int],
    *,
    n_lead: int,
    state_avals: Sequence,
    out_specs: Sequence | None = None,
    keep_state_out: bool = True,
    out_filter: Callable[[list], list] | None = None,
) -> Traced:
    """Trace ``child.run(body, *values)`` as a function of raw arrays.

    Input layout: the arrays of the first ``n_lead`` values, then the state arrays, then the
    arrays of the other values. Output layout: the state (unless ``keep_state_out`` is False),
    then the arrays of the outputs (coerced to ``out_specs`` if given). The result is cached
    per ``body`` (``body_cache``, through the interpreter's ``reuse_body``) for an interpreter
    with a ``body_cache_key``.
    """
    n_lead_arrays = sum(counts[:n_lead])
    n_state = len(state_avals)
    record: dict[str, Any] = {}

    def flat(*arrays: Any) -> list:
        child = interp.child()
        child.set_state(list(arrays[n_lead_arrays : n_lead_arrays + n_state]))
        value_arrays = list(arrays[:n_lead_arrays]) + list(arrays[n_lead_arrays + n_state :])
        values = unflatten_values(child, value_arrays, specs, counts)
        outs = child.run(body, *values)
        if out_filter is not None:
            outs = out_filter(outs)
        if out_specs is not None:
            outs = [child.coerce(o, s) for o, s in zip(outs, out_specs)]
        flat_outs, o_specs, o_counts = flatten_values(child, outs)
        record["specs"], record["counts"] = o_specs, o_counts
        state = child.get_state() if keep_state_out else []
        return list(state) + flat_outs

    def build() -> Traced:
        avals = list(values_avals[:n_lead_arrays]) + list(state_avals) + list(values_avals[n_lead_arrays:])
        jaxpr, _, consts = trace_to_jaxpr(flat, avals, name=getattr(interp, "transformation", "body"))
        jaxpr = convert_constvars_jaxpr(jaxpr)
        return Traced(jaxpr, consts, record["specs"], record["counts"], n_state if keep_state_out else 0)

    config = interp.body_cache_key()
    key = None
    if config is not None and out_filter is None:
        layout = (tuple(values_avals), tuple(specs), tuple(counts), n_lead, tuple(state_avals))
        key = (config, layout, None if out_specs is None else tuple(out_specs), keep_state_out)
    return interp.reuse_body(body, key, build)


def _bind(primitive: Any, args: Sequence, params: dict) -> list:
    out = primitive.bind(*args, **primitive.get_bind_params(params))
    return list(out) if primitive.multiple_results else [out]


def _finish(interp: Any, outs: Sequence, traced: Traced) -> list:
    interp.set_state(list(outs[: traced.n_state_out]))
    return unflatten_values(interp, outs[traced.n_state_out :], traced.out_specs, traced.out_counts)


def _avals(arrays: Sequence) -> list:
    return [typeof(a) for a in arrays]


def _fixed_point_specs(interp: Any, specs: list, trace_once: Callable[[list], list]) -> list:
    """Join loop-carry specs with the body's output specs until nothing changes."""
    for _ in range(MAX_FIXED_POINT_ITERATIONS):
        out = trace_once(specs)
        joined = [interp.join(a, b) for a, b in zip(specs, out)]
        if joined == list(specs):
            return joined
        specs = joined
    raise MissingRuleError(
        f"{interp.transformation}: loop carry specs did not reach a fixed point after "
        f"{MAX_FIXED_POINT_ITERATIONS} iterations; register a rule for this loop primitive."
    )


# -- call-like primitives -------------------------------------------------------------------
def _call_rule(body_param: str, closed_body: bool) -> Callable:
    def rule(interp: Any, eqn: JaxprEqn, invals: list) -> list:
        body = eqn.params[body_param]
        body = body if closed_body else ClosedJaxpr(body, ())
        arrays, specs, counts = flatten_values(interp, invals)
        state = interp.get_state()
        traced = trace_body(interp, body, _avals(arrays), specs, counts, n_lead=0, state_avals=_avals(state))
        params = dict(eqn.params)
        params[body_param] = traced.closed if closed_body else traced.jaxpr
        if eqn.primitive is jit_p:
            params.update(_jit_io_params(interp, eqn, traced, counts, len(state)))
        outs = _bind(eqn.primitive, [*traced.consts, *state, *arrays], params)
        return _finish(interp, outs, traced)

    return rule


def _jit_io_params(interp: Any, eqn: JaxprEqn, traced: Traced, counts: list, n_state: int) -> dict:
    """Keep each input's/output's sharding, layout and donation where its array is unchanged;
    the interpreter says what sharding an array it reshaped gets (``boundary_sharding``)."""
    p = eqn.params
    in_avals = [v.aval for v in traced.jaxpr.invars]
    origin: list[int | None] = [None] * (len(traced.consts) + n_state)
    for i, n in enumerate(counts):
        origin += [i] * n

    def pick(
        seq: Sequence,
        default: Any,
        src: list,
        avals_new: list,
        avals_old: list,
        reshaped: Callable | None = None,
    ) -> tuple:
        out = []
        for j, i in enumerate(src):
            if i is None:
                out.append(default)
            elif avals_new[j].shape == avals_old[i].shape:
                out.append(seq[i])
            else:
                out.append(default if reshaped is None else reshaped(seq[i], avals_old[i], avals_new[j]))
        return tuple(out)

    def resharded(sharding: Any, old: Any, new: Any) -> Any:
        return interp.boundary_sharding(sharding, old, new, p.get("ctx_mesh"))

    old_in = [v.aval for v in eqn.invars]
    out_origin: list[int | None] = [None] * traced.n_state_out
    for i, n in enumerate(traced.out_counts):
        out_origin += [i] * n
    old_out = [v.aval for v in eqn.outvars]
    new_out = [v.aval for v in traced.jaxpr.outvars]
    return {
        "in_shardings": pick(p["in_shardings"], UNSPECIFIED, origin, in_avals, old_in, resharded),
        "in_layouts": pick(p["in_layouts"], None, origin, in_avals, old_in),
        "donated_invars": pick(p["donated_invars"], False, origin, in_avals, old_in),
        "out_shardings": pick(p["out_shardings"], UNSPECIFIED, out_origin, new_out, old_out, resharded),
        "out_layouts": pick(p["out_layouts"], None, out_origin, new_out, old_out),
    }


# -- cond -------------------------------------------------------------------------------------
def _plain_array(interp: Any, value: Any, what: str, eqn: JaxprEqn) -> Any:
    arrays, _ = interp.to_arrays(value)
    if len(arrays) != 1:
        raise MissingRuleError(
            f"{interp.transformation}: the {what} of '{eqn.primitive}' is not a plain array for "
            f"this interpreter; register a rule for '{eqn.primitive}'."
        )
    return arrays[0]


def merge_branch_consts(traced: list[Traced]) -> tuple[list, list[ClosedJaxpr]]:
    """Give every branch the same leading const inputs (each ignores the others'); the branches
    as closed jaxprs. Without any const, they are the Traced's own; with consts, the same
    merged jaxprs for the same Traced's (so cached branches stay the same objects and the
    ``cond`` binding them compiles once)."""
    all_consts = [c for t in traced for c in t.consts]
    if not all_consts:
        return [], [t.closed for t in traced]
    return all_consts, list(_merged_branches(*traced))


@weakref_cache(maxsize=CACHE_SIZE)
def _merged_branches(*traced: Traced) -> tuple[ClosedJaxpr, ...]:
    jaxprs = []
    for k, t in enumerate(traced):
        invars = []
        for j, other in enumerate(traced):
            n = len(other.consts)
            invars += t.jaxpr.invars[:n] if j == k else [new_var(typeof(c)) for c in other.consts]
        invars += t.jaxpr.invars[len(t.consts) :]
        info = t.jaxpr.debug_info  # its argument names no longer match the inputs
        info = info.with_unknown_names() if info is not None else None
        jaxprs.append(ClosedJaxpr(make_jaxpr_obj([], invars, t.jaxpr.outvars, t.jaxpr.eqns, info), ()))
    return tuple(jaxprs)


def cond_rule(interp: Any, eqn: JaxprEqn, invals: list) -> list:
    index = _plain_array(interp, invals[0], "index", eqn)
    arrays, specs, counts = flatten_values(interp, invals[1:])
    state = interp.get_state()
    branches = eqn.params["branches"]

    def trace_all(out_specs: list | None) -> list[Traced]:
        return [
            trace_body(
                interp,
                b,
                _avals(arrays),
                specs,
                counts,
                n_lead=0,
                state_avals=_avals(state),
                out_specs=out_specs,
            )
            for b in branches
        ]

    traced = trace_all(None)
    joined = reduce(lambda a, b: [interp.join(x, y) for x, y in zip(a, b)], [t.out_specs for t in traced])
    if any(t.out_specs != joined for t in traced):
        traced = trace_all(joined)
    consts, jaxprs = merge_branch_consts(traced)
    params = dict(eqn.params, branches=tuple(jaxprs))
    outs = _bind(cond_p, [index, *consts, *state, *arrays], params)
    return _finish(interp, outs, traced[0])


# -- while ------------------------------------------------------------------------------------
def while_rule(interp: Any, eqn: JaxprEqn, invals: list) -> list:
    p = eqn.params
    cn, bn = p["cond_nconsts"], p["body_nconsts"]
    cond_vals, body_vals, init = invals[:cn], invals[cn : cn + bn], invals[cn + bn :]
    state = interp.get_state()
    b_arrays, b_specs, b_counts = flatten_values(interp, body_vals)

    def trace_body_with(carry_specs: list, init_vals: list, out_specs: list | None) -> Traced:
        c_arrays, _, c_counts = flatten_values(interp, init_vals)
        return trace_body(
            interp,
            p["body_jaxpr"],
            _avals(b_arrays + c_arrays),
            b_specs + carry_specs,
            b_counts + c_counts,
            n_lead=len(body_vals),
            state_avals=_avals(state),
            out_specs=out_specs,
        )

    def once(carry_specs: list) -> list:
        vals = [interp.coerce(v, s) for v, s in zip(init, carry_specs)]
        return trace_body_with(carry_specs, vals, None).out_specs

    carry_specs = _fixed_point_specs(interp, [interp.to_arrays(v)[1] for v in init], once)
    init = [interp.coerce(v, s) for v, s in zip(init, carry_specs)]
    body = trace_body_with(carry_specs, init, carry_specs)
    c_arrays, _, c_counts = flatten_values(interp, init)
    k_arrays, k_specs, k_counts = flatten_values(interp, cond_vals)

    cond = trace_body(
        interp,
        p["cond_jaxpr"],
        _avals(k_arrays + c_arrays),
        k_specs + carry_specs,
        k_counts + c_counts,
        n_lead=len(cond_vals),
        state_avals=_avals(state),
        keep_state_out=False,
    )
    if len(cond.jaxpr.outvars) != 1:
        raise MissingRuleError(
            f"{interp.transformation}: the predicate of 'while' is not a plain array for this "
            f"interpreter; register a rule for 'while'."
        )
    params = dict(
        p,
        cond_jaxpr=cond.closed,
        body_jaxpr=body.closed,
        cond_nconsts=len(cond.consts) + len(k_arrays),
        body_nconsts=len(body.consts) + len(b_arrays),
    )
    outs = _bind(while_p, [*cond.consts, *k_arrays, *body.consts, *b_arrays, *state, *c_arrays], params)
    return _finish(interp, outs, body)


# -- scan -------------------------------------------------------------------------------------
def scan_rule(interp: Any, eqn: JaxprEqn, invals: list) -> list:
    p = eqn.params
    nc, ncarry = p["num_consts"], p["num_carry"]
    consts, init, xs = invals[:nc], invals[nc : nc + ncarry], invals[nc + ncarry :]
    state = interp.get_state()
    k_arrays, k_specs, k_counts = flatten_values(interp, consts)
    x_arrays, x_specs, x_counts = flatten_values(interp, xs, stacked=True)
    x_avals = [a.update(shape=a.shape[1:]) for a in _avals(x_arrays)]

    def trace_with(carry_specs: list, init_vals: list, out_specs: list | None) -> Traced:
        c_arrays, _, c_counts = flatten_values(interp, init_vals)
        return trace_body(
            interp,
            p["jaxpr"],
            _avals(k_arrays) + _avals(c_arrays) + x_avals,
            k_specs + carry_specs + x_specs,
            k_counts + c_counts + x_counts,
            n_lead=nc,
            state_avals=_avals(state),
            out_specs=out_specs,
        )

    def once(carry_specs: list) -> list:
        vals = [interp.coerce(v, s) for v, s in zip(init, carry_specs)]
        return trace_with(carry_specs, vals, None).out_specs[:ncarry]

    carry_specs = _fixed_point_specs(interp, [interp.to_arrays(v)[1] for v in init], once)
    init = [interp.coerce(v, s) for v, s in zip(init, carry_specs)]
    first = trace_with(carry_specs, init, None)
    body = trace_with(carry_specs, init, carry_specs + first.out_specs[ncarry:])
    c_arrays, _, _ = flatten_values(interp, init)
    params = dict(
        p,
        jaxpr=body.closed,
        num_consts=len(body.consts) + len(k_arrays),
        num_carry=len(state) + len(c_arrays),
    )
    outs = _bind(scan_p, [*body.consts, *k_arrays, *state, *c_arrays, *x_arrays], params)
    interp.set_state(list(outs[: body.n_state_out]))
    outs = outs[body.n_state_out :]
    n_carry_arrays = sum(body.out_counts[:ncarry])
    carry = unflatten_values(interp, outs[:n_carry_arrays], body.out_specs[:ncarry], body.out_counts[:ncarry])
    ys = unflatten_values(
        interp, outs[n_carry_arrays:], body.out_specs[ncarry:], body.out_counts[ncarry:], stacked=True
    )
    return carry + ys


# -- custom derivatives: interpreted through their primal body --------------------------------
def custom_call_rule(interp: Any, eqn: JaxprEqn, invals: list) -> list:
    """Interpret the primal body of a ``custom_jvp``/``custom_vjp`` function.

    Interpreters that must keep the custom rule for an outer differentiation (autodiff itself,
    ``vmap``) register their own rule for these primitives.
    """
    return interp.run(eqn.params["call_jaxpr"], *invals)


HIGHER_ORDER_RULES: dict[Any, Callable] = {
    jit_p: _call_rule("jaxpr", closed_body=True),
    closed_call_p: _call_rule("call_jaxpr", closed_body=True),
    remat_p: _call_rule("jaxpr", closed_body=False),
    cond_p: cond_rule,
    while_p: while_rule,
    scan_p: scan_rule,
    custom_jvp_call_p: custom_call_rule,
    custom_vjp_call_p: custom_call_rule,
}
