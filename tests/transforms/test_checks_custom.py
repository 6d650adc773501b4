"""Checks inside custom_jvp/custom_vjp functions, against jax.experimental.checkify: the body is
checked when it runs (checkify of the function, of its jvp or grad), and an outer differentiation
of the checkified function, which runs the custom rule instead, adds no checks (the error's
``_metadata`` is empty, as JAX's is)."""

import chex
import jax
import jax.numpy as jnp
import pytest
from jax.experimental import checkify as jc

import foldax

CHECKIFY = {"foldax": (foldax.checkify, foldax.float_checks), "jax": (jc.checkify, jc.float_checks)}
POINTS = [3.0, float("inf")]


def custom_jvp_sin():
    @jax.custom_jvp
    def sin(x):
        return jnp.sin(x)

    @sin.defjvp
    def sin_jvp(primals, tangents):
        (x,), (xdot,) = primals, tangents
        return sin(x), jnp.cos(x) * xdot

    return sin


def custom_vjp_sin(forward_input=False):
    """``sin`` with a custom VJP (its residual is ``2x``, or ``x`` itself: a forwarded input)."""

    @jax.custom_vjp
    def sin(x):
        return jnp.sin(x)

    def fwd(x):
        return jnp.sin(x), (x if forward_input else 2.0 * x)

    def bwd(r, g):
        return (jnp.cos(r if forward_input else r / 2.0) * g,)

    sin.defvjp(fwd, bwd)
    return sin


FUNCTIONS = {"custom_jvp": custom_jvp_sin, "custom_vjp": custom_vjp_sin}


def checkified(which, make):
    checkify, errors = CHECKIFY[which]
    return checkify(make(), errors=errors)


@pytest.mark.parametrize("make", FUNCTIONS.values(), ids=FUNCTIONS)
@pytest.mark.parametrize("x", POINTS)
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_checkify_of_custom_function_checks_its_body_as_jax(make, x, jit):
    wrap = jax.jit if jit else (lambda f: f)
    (e1, y1), (e2, y2) = (wrap(checkified(w, make))(x) for w in CHECKIFY)
    assert e1.get() == e2.get()
    assert len(e1._metadata) == len(e2._metadata) > 0
    chex.assert_trees_all_close(y1, y2)


@pytest.mark.parametrize("jvp", [jax.jvp, foldax.jvp], ids=["jax.jvp", "foldax.jvp"])
@pytest.mark.parametrize("x", POINTS)
def test_jvp_of_checkify_runs_the_rule_and_adds_no_checks(jvp, x):
    (err, y), (errdot, ydot) = jvp(checkified("foldax", custom_jvp_sin), (x,), (1.0,))
    (jerr, jy), (jerrdot, jydot) = jax.jvp(checkified("jax", custom_jvp_sin), (x,), (1.0,))
    assert err.get() == jerr.get() is None
    assert err._metadata == jerr._metadata == {}
    assert errdot._metadata == jerrdot._metadata == {}
    chex.assert_trees_all_close((y, ydot), (jy, jydot))


@pytest.mark.parametrize("vjp", [jax.vjp, foldax.vjp], ids=["jax.vjp", "foldax.vjp"])
@pytest.mark.parametrize("make", FUNCTIONS.values(), ids=FUNCTIONS)
@pytest.mark.parametrize("x", POINTS)
def test_vjp_of_checkify_runs_the_rule_and_adds_no_checks(vjp, make, x):
    (err, y), _ = vjp(checkified("foldax", make), x)
    (jerr, jy), _ = jax.vjp(checkified("jax", make), x)
    assert err.get() == jerr.get() is None
    assert err._metadata == jerr._metadata == {}
    chex.assert_trees_all_close(y, jy)


@pytest.mark.parametrize("grad", [jax.grad, foldax.grad], ids=["jax.grad", "foldax.grad"])
@pytest.mark.parametrize("make", [custom_jvp_sin, custom_vjp_sin, lambda: custom_vjp_sin(True)])
def test_grad_of_checkify_uses_the_custom_rule(grad, make):
    g = grad(lambda x: checkified("foldax", make)(x)[1])(3.0)
    chex.assert_trees_all_close(g, jax.grad(make())(3.0))
    # JAX's checkify cannot differentiate its jitted checkified function; foldax's can
    g = grad(lambda x: jax.jit(checkified("foldax", make))(x)[1])(3.0)
    chex.assert_trees_all_close(g, jax.grad(make())(3.0))


@pytest.mark.parametrize("x", POINTS)
def test_checkify_of_jvp_and_of_grad_check_what_the_rules_run(x):
    def jvp_of(sin):
        return lambda x, t: jax.jvp(sin, (x,), (t,))

    for make, transform in [(custom_jvp_sin, jvp_of), (custom_vjp_sin, jax.grad)]:
        f = transform(make())
        args = (x, 1.0) if transform is jvp_of else (x,)
        e1, y1 = foldax.checkify(f, errors=foldax.float_checks)(*args)
        e2, y2 = jc.checkify(f, errors=jc.float_checks)(*args)
        assert e1.get() == e2.get()
        assert len(e1._metadata) > 0 and len(e2._metadata) > 0
        chex.assert_trees_all_close(y1, y2)


def test_user_check_in_a_custom_body_is_dropped_under_differentiation():
    """A foldax.check in the body: reported by checkify, absent under jvp of checkify."""

    @jax.custom_jvp
    def safe_log(x):
        foldax.check(x > 0, "log of {}", x)
        return jnp.log(x)

    safe_log.defjvp(lambda p, t: (jnp.log(p[0]), t[0] / p[0]))
    checked = foldax.checkify(safe_log)
    assert checked(-1.0)[0].get() == "log of -1.0 (`check` failed)"
    (err, y), (_, ydot) = foldax.jvp(checked, (-1.0,), (1.0,))
    assert err.get() is None and err._metadata == {}
    chex.assert_trees_all_close((y, ydot), (jnp.log(-1.0), -1.0))
