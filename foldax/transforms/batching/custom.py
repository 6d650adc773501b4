"""Batching ``custom_jvp`` and ``custom_vjp`` functions so that their rules survive.

The batched call is bound as a new ``custom_jvp_call``/``custom_vjp_call`` whose primal function,
JVP rule, forward and backward functions are the original ones run through the batching
interpreter. An outer differentiation (``foldax.grad`` or ``jax.grad`` of ``vmap(f)``) therefore
still uses the custom rule. Inputs are passed with their batch axis at 0; when any input is
batched every output is batched at 0, so the primal function and the rules agree on the outputs.

Example:
    >>> import jax, jax.numpy as jnp, foldax
    >>> @jax.custom_jvp
    ... def f(x):
    ...     return jnp.sin(x)
    >>> f.defjvp(lambda p, t: (f(p[0]), 10.0 * t[0]))
    <function <lambda> at ...>
    >>> jax.grad(lambda x: foldax.vmap(f)(x).sum())(jnp.ones(2))
    Array([10., 10.], dtype=float32)
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from foldax._compat import (
    CustomVJPException,
    JaxprEqn,
    SymbolicZero,
    Zero,
    bind_params,
    custom_jvp_call_p,
    custom_vjp_call_p,
    mapped_aval,
    trace_to_jaxpr,
    typeof,
    unmapped_aval,
    wrap_fun,
)
from foldax.transforms.batching.interpreter import Batched, BatchInterpreter, match_axis, move_axis


def _front(invals: Sequence[Batched]) -> tuple[list, list]:
    """The input arrays with batch axes moved to 0, and those axes (0 or None)."""
    arrays = [v.value if v.axis is None else move_axis(v.value, v.axis, 0) for v in invals]
    return arrays, [None if v.axis is None else 0 for v in invals]


def _run_all_batched(interp: BatchInterpreter, body: Any, axes: Sequence) -> Callable:
    """``body`` (a closed jaxpr) as a function of raw arrays with ``axes``; outputs at 0."""

    def fun(*xs: Any) -> list:
        outs = interp.run(body, *[Batched(x, d) for x, d in zip(xs, axes)])
        return [interp.front(o) for o in outs]

    return fun


def _in_axis_env(interp: BatchInterpreter, fun: Callable) -> Callable:
    """``fun`` run with the mapped axis named (custom rules may run after ``vmap`` returned)."""

    def run(*xs: Any) -> Any:
        with interp.axis_env():
            return fun(*xs)

    return run


def _is_zero(x: Any) -> bool:
    return isinstance(x, (Zero, SymbolicZero))


# -- custom_jvp -------------------------------------------------------------------------------
@BatchInterpreter.register(custom_jvp_call_p)
def custom_jvp_batched(interp: BatchInterpreter, eqn: JaxprEqn, invals: list) -> list:
    p = eqn.params
    args, axes = _front(invals)
    num_consts, jvp_jaxpr_fun = p["num_consts"], p["jvp_jaxpr_fun"]

    def jvp(*xs: Any) -> list:
        n = len(xs) // 2
        primals, tangents = xs[num_consts:n], xs[n + num_consts :]
        prim_axes = axes[num_consts:]
        zeros = [type(t) is SymbolicZero for t in tangents]
        jaxpr, consts, out_zeros = jvp_jaxpr_fun.call_wrapped(*zeros)
        ins = [Batched(x, d) for x, d in zip(primals, prim_axes)]
        ins += [Batched(t, d) for t, d, z in zip(tangents, prim_axes, zeros) if not z]
        outs = interp.run_jaxpr(jaxpr, [Batched(c, None) for c in consts], ins)
        out_primals = [interp.front(o) for o in outs[: len(out_zeros)]]
        nonzero = iter(outs[len(out_zeros) :])
        out_tangents = [
            SymbolicZero(typeof(x).to_tangent_aval()) if z else interp.front(next(nonzero))
            for x, z in zip(out_primals, out_zeros)
        ]
        return [*out_primals, *out_tangents]

    fun = _run_all_batched(interp, p["call_jaxpr"], axes)
    outs = custom_jvp_call_p.bind(
        *args,
        subfuns=(
            wrap_fun(fun, "vmap_custom_jvp_fun"),
            wrap_fun(_in_axis_env(interp, jvp), "vmap_custom_jvp_rule"),
        ),
        symbolic_zeros=p["symbolic_zeros"],
    )
    return [Batched(o, 0) for o in outs]


# -- custom_vjp -------------------------------------------------------------------------------
@BatchInterpreter.register(custom_vjp_call_p)
def custom_vjp_batched(interp: BatchInterpreter, eqn: JaxprEqn, invals: list) -> list:
    p = eqn.params
    args, axes = _front(invals)
    num_consts, fwd_jaxpr_thunk, out_trees = p["num_consts"], p["fwd_jaxpr_thunk"], p["out_trees"]
    n_out = len(eqn.outvars)
    residual_axes: list = []

    def fwd(*xs: Any) -> list:
        values, nonzeros = xs[::2], xs[1::2]
        if any(nonzeros[:num_consts]):
            raise CustomVJPException()
        jaxpr, consts = fwd_jaxpr_thunk.call_wrapped(*nonzeros[num_consts:])
        ins = [Batched(x, d) for x, d in zip(values[num_consts:], axes[num_consts:])]
        outs = interp.run_jaxpr(jaxpr, [Batched(c, None) for c in consts], ins)
        residuals, primals = outs[: len(outs) - n_out], outs[len(outs) - n_out :]
        residual_axes[:] = [None if r.axis is None else 0 for r in residuals]
        return [
            *(r.value if r.axis is None else interp.front(r) for r in residuals),
            *(interp.front(o) for o in primals),
        ]

    def res_axes() -> list:
        _, _, input_forwards = out_trees()
        pruned = iter(residual_axes)
        return [next(pruned) if f is None else axes[f] for f in input_forwards]

    bwd = _batched_bwd(interp, bind_params(eqn)["subfuns"][2], res_axes, axes)
    fun = _run_all_batched(interp, p["call_jaxpr"], axes)
    outs = custom_vjp_call_p.bind(
        *args,
        subfuns=(
            wrap_fun(fun, "vmap_custom_vjp_fun"),
            wrap_fun(_in_axis_env(interp, fwd), "vmap_custom_vjp_fwd"),
            wrap_fun(_in_axis_env(interp, bwd), "vmap_custom_vjp_bwd"),
        ),
        out_trees=out_trees,
        symbolic_zeros=p["symbolic_zeros"],
    )
    return [Batched(o, 0) for o in outs]


def _batched_bwd(
    interp: BatchInterpreter, bwd: Any, res_axes: Callable[[], list], in_axes: Sequence
) -> Callable:
    """The backward function on batched residuals and cotangents (all outputs at axis 0):
    ``bwd`` is traced per element and interpreted; each input's cotangent comes back with that
    input's batch axis (summed over the batch for an unbatched input)."""
    size = interp.size

    def batched(*xs: Any) -> list:
        r_axes = res_axes()
        axes = r_axes + [0] * (len(xs) - len(r_axes))
        zero = [_is_zero(x) for x in xs]
        per_element = [
            x if not z or d is None else type(x)(mapped_aval(size, d, x.aval))
            for x, d, z in zip(xs, axes, zero)
        ]
        nonzero = [(x, d) for x, d, z in zip(xs, axes, zero) if not z]
        avals = [typeof(x) if d is None else mapped_aval(size, d, typeof(x)) for x, d in nonzero]
        zero_out: list = []

        def flat(*nz: Any) -> list:
            it = iter(nz)
            outs = bwd.call_wrapped(*[x if z else next(it) for x, z in zip(per_element, zero)])
            zero_out[:] = [o if _is_zero(o) else None for o in outs]
            return [o for o in outs if not _is_zero(o)]

        jaxpr, _, consts = trace_to_jaxpr(flat, avals, name="vmap_custom_vjp_bwd")
        outs = iter(
            interp.run_jaxpr(jaxpr, [Batched(c, None) for c in consts], [Batched(x, d) for x, d in nonzero])
        )
        return [
            _zero_to_axis(z, d, size, interp.mesh_axis)
            if z is not None
            else match_axis(next(outs), d, size, sum_match=True, mesh_axis=interp.mesh_axis)
            for z, d in zip(zero_out, in_axes)
        ]

    return batched


def _zero_to_axis(z: Any, axis: int | None, size: int, mesh_axis: Any) -> Any:
    return z if axis is None else type(z)(unmapped_aval(size, axis, z.aval, mesh_axis))
