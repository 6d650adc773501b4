"""foldax's grad / vjp / jvp / jacfwd / jacrev against JAX's on a corpus covering every
differentiable primitive group of jax.lax (the shared corpus plus linear algebra, scatter,
sorting, cumulative, windowed and batched-contraction primitives and more control flow), with
hypothesis drawing the inputs. Each function's comparison is compiled once (one jax.jit holding
both sides), then run on every drawn input."""

from __future__ import annotations

import functools

import chex
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from corpus import CORPUS, OTHER_INEXACT_DTYPES, assert_agrees_with_jax
from hypothesis import given, settings
from jax import lax

import foldax
from foldax.errors import NonDifferentiableError


def linalg_decompositions(x):
    a = x[:3, :3] + 3 * jnp.eye(3)
    spd = a @ a.T + jnp.diag(jnp.array([1.0, 2.0, 3.0]))
    q, r = jnp.linalg.qr(a)
    w, v = jnp.linalg.eigh(spd)
    s = jnp.linalg.svd(a, compute_uv=False)
    lower = jnp.linalg.cholesky(spd)
    tri = jax.scipy.linalg.solve_triangular(lower, x[3, :3], lower=True)
    return jnp.concatenate(
        [
            w,
            s,
            (q * jnp.sign(jnp.diag(r))).ravel(),
            v[:, 0] * jnp.sign(v[0, 0]),
            tri,
            jnp.linalg.det(a)[None],
            jnp.linalg.inv(a).ravel(),
        ]
    )


def scatter_variants(x):
    idx = jnp.array([3, 0, 5])
    flat = x.ravel()
    return jnp.concatenate(
        [
            flat.at[idx].set(x[0, :3] * 2),
            flat.at[idx].mul(x[1, :3], unique_indices=True),
            flat.at[jnp.array([[0], [2]])].get(mode="clip").ravel(),
            jnp.take_along_axis(x, jnp.argsort(x, axis=1), axis=1).ravel(),
        ]
    )


def sort_and_cumulative(x):
    flat = x.ravel() * 0.5
    top, _ = lax.top_k(flat, 3)
    return jnp.concatenate([jnp.cumprod(flat), top, jnp.sort(x, axis=0).ravel()])


def windows_and_contractions(x):
    pooled = lax.reduce_window(x, -jnp.inf, lax.max, (2, 2), (1, 1), "VALID")
    avg = lax.reduce_window(x, 0.0, lax.add, (2, 2), (2, 2), "VALID")
    batched = jnp.einsum("bij,bjk->bik", x.reshape(2, 2, 4), x.reshape(2, 4, 2))
    img = x.reshape(1, 2, 2, 4)
    kernel = jnp.stack([x[0, :2], x[1, :2]]).reshape(2, 1, 1, 2)
    conv = lax.conv_general_dilated(img, kernel, (1, 1), "SAME", rhs_dilation=(1, 2), feature_group_count=2)
    return jnp.concatenate(
        [pooled.ravel(), avg.ravel(), batched.ravel(), conv.ravel(), jnp.pad(x[0], (1, 2), mode="reflect")]
    )


def more_elementwise(x):
    y = x * 0.5
    return jnp.concatenate(
        [
            jnp.arctan2(y, 1.5 + y**2).ravel(),
            ((jnp.abs(y) + 1) ** y[::-1]).ravel(),
            jax.scipy.special.erf(y).ravel(),
            jax.scipy.special.gammaln(2 + y**2).ravel(),
            jnp.where(y > 0, jnp.expm1(y), lax.rsqrt(1 + y**2)).ravel(),
            jnp.clip(y, -0.3, 0.4).ravel(),
            jnp.maximum(y, y.T).ravel(),
            jax.nn.softmax(y, axis=1).ravel(),
            jax.nn.logsumexp(y, axis=0),
            jnp.remainder(y, 0.7).ravel(),
            jnp.floor(y).ravel() * y.ravel(),
        ]
    )


def nested_control(x):
    def body(carry, row):
        a, b = carry
        a = lax.cond(row[0] > 0, lambda u: u * row, lambda u: u + jnp.sin(row), a)
        return (a, b + jnp.dot(a, row)), a.sum() * b

    (a, b), ys = lax.scan(body, (x[0], 0.5), x[1:], reverse=True)
    inner = jax.checkpoint(lambda u: lax.map(jnp.tanh, u), policy=jax.checkpoint_policies.nothing_saveable)(x)
    return jnp.concatenate([a, b[None], ys, inner.ravel()])


def foldax_jit_inside(x):
    return foldax.jit(lambda u, k: jnp.sin(u) * k)(x, 3.0).ravel()


CASES = {name: fn for name, fn, _ in CORPUS}
CASES.update(
    linalg_decompositions=linalg_decompositions,
    scatter_variants=scatter_variants,
    sort_and_cumulative=sort_and_cumulative,
    windows_and_contractions=windows_and_contractions,
    more_elementwise=more_elementwise,
    nested_control=nested_control,
    foldax_jit_inside=foldax_jit_inside,
)
NO_REVERSE = {"control_while"}  # a while loop of unknown trip count (JAX refuses too)
NO_FORWARD = {"custom_derivatives"}  # holds a custom_vjp function (JAX refuses jvp too)
BASE = jnp.asarray(np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32))


def inputs(data):
    """Drawn by hypothesis: a scaled, shifted and perturbed matrix, a tangent and a cotangent."""
    scale = data.draw(st.floats(0.4, 1.6), label="scale")
    shift = data.draw(st.floats(-0.5, 0.5), label="shift")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    rng = np.random.default_rng(seed)
    x = BASE * scale + shift + 0.1 * rng.normal(size=(4, 4)).astype(np.float32)
    return x, jnp.asarray(rng.normal(size=(4, 4)).astype(np.float32)), rng


@functools.cache
def compiled(name):
    fn = CASES[name]
    weights = jnp.cos(jnp.arange(jax.eval_shape(fn, BASE).size, dtype=jnp.float32))

    def loss(x):
        return jnp.sum(fn(x).ravel() * weights)

    def side(grad, vjp, jvp, x, t, ct):
        out = {}
        if name not in NO_REVERSE:
            out["grad"] = grad(loss)(x)
            out["vjp"] = vjp(fn, x)[1](ct)
        if name not in NO_FORWARD:
            out["jvp"] = jvp(fn, (x,), (t,))
        return out

    return jax.jit(
        lambda x, t, ct: (
            side(foldax.grad, foldax.vjp, foldax.jvp, x, t, ct),
            side(jax.grad, jax.vjp, jax.jvp, x, t, ct),
        )
    )


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=2, deadline=None, derandomize=True)
@given(data=st.data())
def test_derivatives_match_jax(name, data):
    x, t, rng = inputs(data)
    ct = jnp.asarray(rng.normal(size=jax.eval_shape(CASES[name], x).shape).astype(np.float32))
    ours, expected = compiled(name)(x, t, ct)
    chex.assert_trees_all_close(ours, expected, rtol=2e-4, atol=2e-5)


JACOBIAN_CASES = ["elementwise", "gather_scatter", "control_scan", "linear_algebra", "nested_control"]


@pytest.mark.parametrize("name", JACOBIAN_CASES)
def test_jacobians_match_jax(name):
    fn = CASES[name]
    both = jax.jit(
        lambda x: ((foldax.jacfwd(fn)(x), foldax.jacrev(fn)(x)), (jax.jacfwd(fn)(x), jax.jacrev(fn)(x)))
    )
    ours, expected = both(BASE)
    chex.assert_trees_all_close(ours, expected, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("name", ["elementwise", "control_scan", "custom_derivatives"])
def test_eagerly(name):
    fn = CASES[name]
    loss = lambda x: jnp.sum(fn(x) ** 2)  # noqa: E731
    chex.assert_trees_all_close(foldax.grad(loss)(BASE), jax.grad(loss)(BASE), rtol=2e-4, atol=2e-5)


def test_refusal_of_a_jax_rule_gets_a_foldax_sentence():
    def f(x):
        return jnp.sum(x.ravel().at[jnp.array([0, 0])].mul(x[0, :2]))

    with pytest.raises(NotImplementedError, match="unique_indices"):
        jax.grad(f)(BASE)
    with pytest.raises(foldax.errors.MissingRuleError, match="'scatter-mul'.*unique_indices"):
        foldax.grad(f)(BASE)


def test_refusals_match_jax():
    with pytest.raises(NonDifferentiableError, match="while_loop"):
        foldax.grad(lambda x: jnp.sum(CASES["control_while"](x)))(BASE)
    with pytest.raises(NonDifferentiableError, match="custom_vjp"):
        foldax.jvp(CASES["custom_derivatives"], (BASE,), (BASE,))


def _side(names, ours, x, t, cts):
    """foldax's (``ours``) or JAX's derivatives of every named case, at ``x`` with tangent
    ``t`` and cotangents ``cts``."""
    grad, vjp, jvp = (foldax.grad, foldax.vjp, foldax.jvp) if ours else (jax.grad, jax.vjp, jax.jvp)
    out = {}
    for name in names:
        fn = CASES[name]
        loss = lambda x, fn=fn: jnp.sum(fn(x).ravel()).real  # noqa: E731
        out[name] = {}
        if name not in NO_REVERSE:
            out[name]["grad"] = grad(loss)(x)
            out[name]["vjp"] = vjp(fn, x)[1](cts.get(name))
        if name not in NO_FORWARD:
            out[name]["jvp"] = jvp(fn, (x,), (t,))
    return out


@pytest.mark.parametrize("dtype", OTHER_INEXACT_DTYPES, ids=lambda d: d.name)
def test_every_inexact_dtype_matches_jax(dtype):
    """The shared corpus in every other float and complex dtype: where JAX cannot differentiate
    (or even run) a case in this dtype, foldax raises the same builtin error type; the rest
    must agree, with JAX's tangent dtypes."""
    x = BASE.astype(dtype)
    t = jnp.asarray(np.random.default_rng(1).normal(size=BASE.shape)).astype(dtype)
    cts = {}
    for name, fn, _ in CORPUS:
        try:
            out = jax.eval_shape(fn, x)
            cts[name] = jnp.cos(jnp.arange(out.size)).reshape(out.shape).astype(out.dtype)
        except Exception:  # noqa: BLE001 - both sides will raise it below
            pass

    assert_agrees_with_jax(
        lambda names, ours, x, t: _side(names, ours, x, t, cts),
        (x, t),
        [name for name, _, _ in CORPUS],
        dtype,
    )
