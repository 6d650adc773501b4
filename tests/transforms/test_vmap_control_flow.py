"""Batched control flow and custom derivatives against jax.vmap (and JAX's differentiation of
it): cond/switch with batched predicates (values and NaN-free gradients), while loops with
batched conditions, scan with batched xs/carries along any axis, custom_jvp/custom_vjp rules that
must survive batching."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from corpus import scaled_identity, soft_clip
from jax import lax
from jax.experimental import checkify

import foldax

X = jnp.array([-1.5, -0.2, 0.3, 2.0])


def both(f, *args, **kwargs):
    """(foldax.vmap(f)(*args), jax.vmap(f)(*args)), compiled together."""
    return jax.jit(lambda *a: (foldax.vmap(f, **kwargs)(*a), jax.vmap(f, **kwargs)(*a)))(*args)


def assert_same(f, *args, **kwargs):
    ours, expected = both(f, *args, **kwargs)
    chex.assert_trees_all_close(ours, expected, rtol=1e-5, atol=1e-6)


# -- cond / switch ------------------------------------------------------------------------------
def safe_sqrt(x):
    return lax.cond(x > 0, jnp.sqrt, lambda v: v * 0.0, x)


def switch3(x, y):
    i = jnp.clip(jnp.round(x), 0, 2).astype(jnp.int32)
    return lax.switch(i, [lambda a, b: a * b, lambda a, b: jnp.sin(a) + b, lambda a, b: a - b], x, y)


def test_cond_with_batched_predicate():
    assert_same(safe_sqrt, X)
    assert_same(switch3, jnp.array([0.1, 1.2, 2.4, 5.0]), 3.0, in_axes=(0, None))


def test_cond_with_unbatched_predicate_and_batched_operand():
    f = lambda p, x: lax.cond(p > 0, jnp.sin, lambda v: jnp.zeros_like(v), x)  # noqa: E731
    assert_same(f, 1.0, X, in_axes=(None, 0))


def test_gradient_through_batched_cond_has_no_nan_from_the_untaken_branch():
    grad = lambda vmap: jax.grad(lambda x: vmap(safe_sqrt)(x).sum())(X)  # noqa: E731
    ours, expected = grad(foldax.vmap), grad(jax.vmap)
    assert not jnp.isnan(ours).any()
    chex.assert_trees_all_close(ours, expected)


def test_cond_returning_unbatched_and_batched_outputs():
    f = lambda x, c: lax.cond(x > 0, lambda: (x, c), lambda: (-x, c + 1))  # noqa: E731
    assert_same(f, X, jnp.float32(2.0), in_axes=(0, None))


# -- while ------------------------------------------------------------------------------------
def count_until(limit):
    return lax.while_loop(lambda c: c[0] < limit, lambda c: (c[0] + 1.0, c[1] * 1.5 + 1.0), (0.0, 1.0))


def test_while_with_batched_condition():
    assert_same(count_until, jnp.array([0.0, 1.0, 3.5, 6.0]))


def test_fori_loop_with_batched_trip_count():
    f = lambda n, x: lax.fori_loop(0, n, lambda i, c: c * 0.5 + i, x)  # noqa: E731
    assert_same(f, jnp.array([0, 1, 3, 5]), jnp.ones((4, 2)))


def test_while_whose_carry_becomes_batched_in_the_body():
    f = lambda x: lax.fori_loop(0, 3, lambda i, c: c + x, 0.0)  # noqa: E731
    assert_same(f, X)


def test_jvp_of_batched_while_matches_jax():
    f = lambda x: lax.while_loop(
        lambda c: c[0] < x,
        lambda c: (c[0] + 1.0, c[1] * x),  # noqa
        (0.0, x),
    )[1]
    jvp = lambda vmap: jax.jvp(vmap(f), (X + 3,), (jnp.ones(4),))  # noqa: E731
    chex.assert_trees_all_close(jvp(foldax.vmap), jvp(jax.vmap))


# -- scan -------------------------------------------------------------------------------------
def cumulative(xs, c0):
    return lax.scan(lambda c, x: (c * 0.9 + x, jnp.sin(c) * x), c0, xs)


@pytest.mark.parametrize("in_axes", [(0, None), (1, None), (1, 0), (None, 0), (2, 0)])
def test_scan_with_batch_axis_anywhere(in_axes):
    xs = jnp.arange(24.0).reshape(2, 3, 4) / 10
    c0 = jnp.ones((4, 4)) if in_axes[1] == 0 else jnp.ones(4)
    if in_axes == (0, None):
        xs, c0 = xs.reshape(2, 3, 4), jnp.ones(4)
    if in_axes == (None, 0):
        xs = xs[0]
        c0 = jnp.ones((3, 4))
    if in_axes == (1, 0):
        c0 = jnp.ones((3, 4))
    if in_axes == (2, 0):
        xs, c0 = jnp.arange(24.0).reshape(3, 2, 4) / 10, jnp.ones((4, 2))
    assert_same(cumulative, xs, c0, in_axes=in_axes, out_axes=(0, 1))


# -- custom_jvp / custom_vjp --------------------------------------------------------------------
@jax.custom_vjp
def two_outputs(x, y):
    return x * y, jnp.sin(x)


def _two_fwd(x, y):
    return two_outputs(x, y), (x, y, jnp.cos(x))


def _two_bwd(res, cts):
    x, y, c = res
    a, b = cts
    return a * y * 2 + b * c, a * x * 3  # deliberately not the true derivative


two_outputs.defvjp(_two_fwd, _two_bwd)


def loss_of(vmap, f, in_axes):
    def loss(*args):
        return sum(jnp.sum(t) for t in jax.tree_util.tree_leaves(vmap(f, in_axes=in_axes)(*args)))

    return loss


CUSTOM = [
    ("custom_jvp", lambda x, y: soft_clip(x) * y, (0, None)),
    ("custom_vjp", lambda x, y: scaled_identity(x) * y, (0, None)),
    ("custom_vjp_two_outputs", two_outputs, (0, None)),
    ("custom_vjp_both_batched", two_outputs, (0, 0)),
    ("custom_vjp_unbatched_batched", two_outputs, (None, 0)),
]


def loop_gradient(f, in_axes, x, y):
    """The gradient of the summed outputs by a Python loop over the examples (the reference)."""
    size = len(X)
    per_example = [
        jax.grad(lambda a, b: sum(jnp.sum(t) for t in jax.tree_util.tree_leaves(f(a, b))), argnums=(0, 1))(
            x if in_axes[0] is None else x[i], y if in_axes[1] is None else y[i]
        )
        for i in range(size)
    ]
    return tuple(
        sum(g[k] for g in per_example) if in_axes[k] is None else jnp.stack([g[k] for g in per_example])
        for k in range(2)
    )


@pytest.mark.parametrize("name,f,in_axes", CUSTOM, ids=[c[0] for c in CUSTOM])
def test_custom_rules_survive_batching(name, f, in_axes):
    x = X if in_axes[0] == 0 else jnp.float32(0.7)
    y = X[::-1] if in_axes[1] == 0 else jnp.float32(2.0)
    expected = loop_gradient(f, in_axes, x, y)
    for transform in (jax.grad, lambda g, **k: jax.jit(jax.grad(g, **k))):
        ours = transform(loss_of(foldax.vmap, f, in_axes), argnums=(0, 1))(x, y)
        chex.assert_trees_all_close(ours, expected, rtol=1e-5)
    if name != "custom_vjp_unbatched_batched":  # jax.vmap gets that one wrong (see below)
        chex.assert_trees_all_close(
            ours, jax.grad(loss_of(jax.vmap, f, in_axes), argnums=(0, 1))(x, y), rtol=1e-5
        )
    assert_same(f, x, y, in_axes=in_axes)


def test_jax_vmap_differs_from_the_loop_where_foldax_does_not():
    """jax 0.10 batches a custom_vjp with an unbatched output (here sin(x), x unmapped) by handing
    that output's total cotangent to the backward function of every example and then summing over
    the examples, counting it batch-size times. foldax batches every output of a custom_vjp call
    with a batched input, and agrees with the loop over examples."""
    x, y, in_axes = jnp.float32(0.7), X[::-1], (None, 0)
    loop = loop_gradient(two_outputs, in_axes, x, y)
    ours = jax.grad(loss_of(foldax.vmap, two_outputs, in_axes), argnums=(0, 1))(x, y)
    theirs = jax.grad(loss_of(jax.vmap, two_outputs, in_axes), argnums=(0, 1))(x, y)
    chex.assert_trees_all_close(ours, loop, rtol=1e-5)
    assert not jnp.allclose(theirs[0], loop[0])  # if JAX fixes this, drop the exception above


def test_custom_jvp_rule_survives_forward_mode_and_nesting():
    jac = lambda vmap: jax.jacfwd(vmap(soft_clip))(X)  # noqa: E731
    chex.assert_trees_all_close(jac(foldax.vmap), jac(jax.vmap))
    nested = lambda vmap: jax.grad(  # noqa: E731
        lambda x: vmap(vmap(lambda v: soft_clip(v) + scaled_identity(v)))(x).sum()
    )
    xs = jnp.arange(6.0).reshape(2, 3) / 3
    chex.assert_trees_all_close(nested(foldax.vmap)(xs), nested(jax.vmap)(xs))
    # the custom derivatives differ from the true ones, so equality shows the rules were used
    assert not jnp.allclose(nested(foldax.vmap)(xs), jax.grad(lambda x: (jnp.tanh(x) + x).sum())(xs))


def test_custom_vjp_closing_over_a_traced_value():
    def outer(vmap, x, s):
        @jax.custom_vjp
        def g(v):
            return v * s

        g.defvjp(lambda v: (v * s, s), lambda s_, ct: (ct * s_ * 10,))
        return vmap(g)(x).sum()

    grads = [jax.jit(jax.grad(lambda x, s: outer(v, x, s)))(X, 2.0) for v in (foldax.vmap, jax.vmap)]
    chex.assert_trees_all_close(*grads)


def test_custom_jvp_with_symbolic_zeros():
    @jax.custom_jvp
    def q(x, y):
        return x * y

    def q_jvp(primals, tangents):
        (x, y), (tx, ty) = primals, tangents
        zero = lambda t, like: jnp.zeros_like(like) if type(t) is jax.custom_derivatives.SymbolicZero else t  # noqa: E731
        return q(x, y), 5 * zero(tx, x) * y + 7 * zero(ty, y) * x

    q.defjvp(q_jvp, symbolic_zeros=True)
    for argnums in (0, 1, (0, 1)):
        grads = [jax.grad(loss_of(v, q, (0, None)), argnums=argnums)(X, 2.0) for v in (foldax.vmap, jax.vmap)]
        chex.assert_trees_all_close(*grads)


def test_custom_vjp_backward_with_a_collective_runs_after_vmap_returned():
    @jax.custom_vjp
    def f(x):
        return x * 2

    f.defvjp(lambda x: (x * 2, None), lambda _, ct: (lax.psum(ct, "i") * 10,))
    grads = [jax.grad(lambda x: v(f, axis_name="i")(x).sum())(X) for v in (foldax.vmap, jax.vmap)]
    chex.assert_trees_all_close(*grads)


def _nested_loops(x):
    def outer_body(c):
        i, y = c

        def body(d):
            checkify.check(d[1] < 100.0, "big {y}", y=d[1])
            return d[0] + 1, d[1] * 2.0

        return i + 1, jax.lax.while_loop(lambda d: d[0] < i, body, (0, y))[1]

    return jax.lax.while_loop(lambda c: c[0] < x.astype(int), outer_body, (0, x))[1]


def test_vmap_of_checkify_of_nested_batched_while_loops():
    """Constants folded inside the inner loop's body while it is batched stay values. Checkify
    of the vmap is refused as JAX refuses it; vmap of the checkify (which JAX 0.10.2 fails to
    batch) gives each element JAX's checkify's error of that element."""
    x = jnp.array([1.0, 3.0, 5.0])
    with pytest.raises(ValueError, match="checkify-of-vmap-of-while") as expected:
        checkify.checkify(jax.vmap(_nested_loops))(x)
    with pytest.raises(ValueError) as refused:
        foldax.checkify(foldax.vmap(_nested_loops))(x)
    assert str(refused.value).startswith(str(expected.value))
    err, out = foldax.vmap(foldax.checkify(_nested_loops))(x)
    per_element = [checkify.checkify(_nested_loops)(xi) for xi in x]
    np.testing.assert_array_equal(out, jnp.stack([o for _, o in per_element]))
    failed = [
        f"at mapped index {i}: {e.get()}" for i, (e, _) in enumerate(per_element) if e.get() is not None
    ]
    assert failed and err.get() == "\n".join(failed)
