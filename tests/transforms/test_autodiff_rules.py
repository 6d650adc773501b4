"""Custom rules are honoured, not differentiated through (custom_jvp in both modes and under
jacfwd's batched tangents, custom_vjp's fwd/bwd in reverse mode and twice), remat keeps its
recomputation, and scan/cond transposes agree with JAX — each compared with JAX."""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import pytest

import foldax
from foldax.errors import NonDifferentiableError

X = jnp.array([0.4, -0.7, 1.3])


@jax.custom_jvp
def log1pexp(x):
    return jnp.log1p(jnp.exp(x))


@log1pexp.defjvp
def _log1pexp_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return log1pexp(x), t * jax.nn.sigmoid(x) * 0.5  # scaled on purpose: must be used as is


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def power(x, n):
    return x**n


@power.defjvp
def _power_jvp(n, primals, tangents):
    (x,), (t,) = primals, tangents
    return power(x, n), n * x ** (n - 1) * t + 0.25 * t


@jax.custom_jvp
def sym_zero_rule(x, y):
    return x * y


def _sym_zero_jvp(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    tx = jnp.zeros_like(x) if type(tx) is jax.custom_derivatives.SymbolicZero else tx
    ty = jnp.zeros_like(y) if type(ty) is jax.custom_derivatives.SymbolicZero else ty
    return x * y, tx * y * 3 + x * ty


sym_zero_rule.defjvp(_sym_zero_jvp, symbolic_zeros=True)


def custom_jvp_user(x):
    return jnp.sum(log1pexp(x) * power(x, 3) + sym_zero_rule(x, 2.0))


def test_custom_jvp_rule_is_used_in_every_mode():
    both = jax.jit(
        lambda x: (
            (
                foldax.grad(custom_jvp_user)(x),
                foldax.jvp(custom_jvp_user, (x,), (x,)),
                foldax.jacfwd(jax.grad(custom_jvp_user))(x),
                foldax.hessian(custom_jvp_user)(x),
            ),
            (
                jax.grad(custom_jvp_user)(x),
                jax.jvp(custom_jvp_user, (x,), (x,)),
                jax.jacfwd(jax.grad(custom_jvp_user))(x),
                jax.hessian(custom_jvp_user)(x),
            ),
        )
    )
    ours, expected = both(X)
    chex.assert_trees_all_close(ours, expected, rtol=1e-5)


@jax.custom_vjp
def clip_gradient(x, lo, hi):
    return x


def _clip_fwd(x, lo, hi):
    return x, (lo, hi)


def _clip_bwd(res, g):
    lo, hi = res
    return jnp.clip(g, lo, hi), None, None


clip_gradient.defvjp(_clip_fwd, _clip_bwd)


@jax.custom_vjp
def smooth_abs(x):
    return jnp.sqrt(x**2 + 0.1)


smooth_abs.defvjp(lambda x: (smooth_abs(x), x), lambda x, g: (g * x / jnp.sqrt(x**2 + 0.1),))


def custom_vjp_user(x):
    return jnp.sum(clip_gradient(x * 3, -0.5, 0.5) ** 2 + smooth_abs(x) * x)


def test_custom_vjp_rule_is_used_in_reverse_mode_and_twice():
    both = jax.jit(
        lambda x: (
            (
                foldax.grad(custom_vjp_user)(x),
                foldax.jacrev(lambda v: smooth_abs(v) * v)(x),
                foldax.grad(lambda v: foldax.grad(custom_vjp_user)(v).sum())(x),
                foldax.vjp(clip_gradient, x, -0.5, 0.5)[1](x * 4),
            ),
            (
                jax.grad(custom_vjp_user)(x),
                jax.jacrev(lambda v: smooth_abs(v) * v)(x),
                jax.grad(lambda v: jax.grad(custom_vjp_user)(v).sum())(x),
                jax.vjp(clip_gradient, x, -0.5, 0.5)[1](x * 4),
            ),
        )
    )
    ours, expected = both(X)
    chex.assert_trees_all_close(ours, expected, rtol=1e-5)


def test_custom_vjp_closing_over_a_differentiated_value():
    def f(x, s):
        @jax.custom_vjp
        def scaled(v):
            return v * s

        scaled.defvjp(lambda v: (v * s, None), lambda _, g: (g * s,))
        return jnp.sum(scaled(x))

    with pytest.raises(jax.errors.UnexpectedTracerError):  # JAX fails too, less clearly
        jax.grad(f, 1)(X, 2.0)
    # f's bwd closes over a tracer of the trace itself, so its jaxpr holds one by construction:
    # JAX's leak checker (on for the suite) would report that before foldax's message.
    with jax.check_tracer_leaks(False), pytest.raises(NonDifferentiableError, match="closes over") as ours:
        foldax.grad(f, 1)(X, 2.0)
    assert "'scaled'" in str(ours.value) and "closed-over value" in str(ours.value)


def remat_user(x):
    inner = jax.checkpoint(lambda v: jnp.sin(jnp.sin(v)) * v, policy=jax.checkpoint_policies.nothing_saveable)
    return jnp.sum(inner(x) ** 2)


def test_remat_keeps_its_recomputation():
    jaxpr = jax.make_jaxpr(foldax.grad(remat_user))(X)
    assert any(e.primitive.name == "checkpoint" or e.primitive.name == "remat2" for e in jaxpr.jaxpr.eqns)
    chex.assert_trees_all_close(foldax.grad(remat_user)(X), jax.grad(remat_user)(X))


def scan_with_everything(x):
    """Linear and non-linear consts, carries started from constants, several xs and ys."""
    w = jnp.cos(x)

    def body(carry, inputs):
        a, b, i = carry
        row, k = inputs
        a = a * jnp.tanh(row) + w * b
        b = b + jnp.sin(a[0]) * k
        return (a, b, i + 1), (a * k, b)

    (a, b, _), (ys, bs) = jax.lax.scan(body, (x, 0.0, 0), (jnp.outer(x, x), jnp.arange(3.0)))
    return jnp.sum(a) + b + jnp.sum(ys * x) + jnp.sum(bs)


def test_scan_transpose_matches_jax_and_batched():
    both = jax.jit(
        lambda x: (
            (
                foldax.grad(scan_with_everything)(x),
                foldax.jacrev(lambda v: jax.lax.cumsum(v) * scan_with_everything(v))(x),
            ),
            (
                jax.grad(scan_with_everything)(x),
                jax.jacrev(lambda v: jax.lax.cumsum(v) * scan_with_everything(v))(x),
            ),
        )
    )
    ours, expected = both(X)
    chex.assert_trees_all_close(ours, expected, rtol=1e-5)


def cond_in_scan(x):
    def body(c, v):
        c = jax.lax.cond(v > 0, lambda u: u * v + 1.0, lambda u: jnp.sin(u) - v, c)
        return c, c**2

    c, ys = jax.lax.scan(body, x[0], x)
    return c + jnp.sum(ys)


def test_cond_inside_scan_forward_and_reverse():
    both = jax.jit(
        lambda x: (
            (foldax.grad(cond_in_scan)(x), foldax.jacfwd(cond_in_scan)(x)),
            (jax.grad(cond_in_scan)(x), jax.jacfwd(cond_in_scan)(x)),
        )
    )
    ours, expected = both(X)
    chex.assert_trees_all_close(ours, expected, rtol=1e-5)


def _indexed_loop(x, t):
    def body(i, c):
        return c * jnp.sin(jax.lax.dynamic_index_in_dim(x, i, keepdims=False)) + c

    return jax.lax.fori_loop(0, 3, body, t)


def primal_outputs_reused(x):
    """Higher-order equations whose primal outputs are used again next to their tangents:
    cond and jit outputs squared, a remat around a loop with a counter, a loop in a jit."""
    y = jax.lax.cond(x.sum() > 0, jnp.sin, jnp.cos, x)
    u, v = jax.jit(lambda a: (jnp.sin(a), a * 2))(x)
    looped = jax.checkpoint(_indexed_loop)(x, x[0]) + jax.jit(_indexed_loop)(x, x[1])
    return jnp.sum(y * y * x + u * v) * looped


def test_higher_order_equations_with_primal_outputs():
    both = jax.jit(
        lambda x: (
            (foldax.grad(primal_outputs_reused)(x), foldax.jacrev(lambda v: v * primal_outputs_reused(v))(x)),
            (jax.grad(primal_outputs_reused)(x), jax.jacrev(lambda v: v * primal_outputs_reused(v))(x)),
        )
    )
    ours, expected = both(X)
    chex.assert_trees_all_close(ours, expected, rtol=1e-5)
