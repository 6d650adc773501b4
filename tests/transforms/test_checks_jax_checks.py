"""JAX's own checks (``checkify.check``, ``debug_check``, ``check_error``) inside foldax.checkify,
against jax.experimental.checkify on the same function: same error message, same outputs, under
jit/cond/scan/while/vmap; foldax's Error accepted by JAX's ``check_error``; chex.chexify on
foldax's checkify; float division by zero and NaNs out of collectives."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.experimental import checkify as jc
from test_checks import USER_CASES, nonpositive

import foldax

SETS = [
    (foldax.user_checks, jc.user_checks),
    (foldax.float_checks, jc.float_checks),
    (foldax.all_checks, jc.all_checks),
]


def assert_checkify_agrees_with_jax(f, args, errors=(foldax.user_checks, jc.user_checks), jit=True):
    """``f`` checkified by foldax and by JAX: the messages (compared) and the outputs (equal)."""
    wrap = jax.jit if jit else (lambda g: g)
    e1, o1 = wrap(foldax.checkify(f, errors=errors[0]))(*args)
    e2, o2 = wrap(jc.checkify(f, errors=errors[1]))(*args)
    chex.assert_trees_all_close(o1, o2)
    assert e1.get() == e2.get(), (e1.get(), e2.get())
    return e1


# -- jc.check in every control-flow position (the cases foldax.check is tested on) ---------------
@pytest.mark.parametrize("name,make,cases", USER_CASES, ids=[c[0] for c in USER_CASES])
@pytest.mark.parametrize("jit", [True, False], ids=["jit", "eager"])
def test_jax_check_inside_foldax_checkify_matches_jax(name, make, cases, jit):
    for args in cases:
        assert_checkify_agrees_with_jax(make(jc.check), args, jit=jit)


@pytest.mark.parametrize("inner", [jax.jit, foldax.jit, jax.remat], ids=["jax.jit", "foldax.jit", "remat"])
def test_jax_check_inside_an_inner_jit(inner):
    f = inner(nonpositive(jc.check))
    for x in (jnp.float32(1.0), jnp.float32(-2.0)):
        assert_checkify_agrees_with_jax(f, (x,), jit=False)


def test_debug_check_is_functionalised_and_dropped_when_user_checks_are_off():
    def f(x):
        jc.debug_check(jnp.all(x != x), "{x} cannot be {x}", x=x)
        return x

    for jit in (True, False):
        err = assert_checkify_agrees_with_jax(f, (jnp.ones(()),), jit=jit)
        assert err.get() == "1.0 cannot be 1.0 (`check` failed)"
        assert_checkify_agrees_with_jax(f, (jnp.ones(()),), errors=(frozenset(), frozenset()), jit=jit)
    f(jnp.ones(()))  # without checkify it does nothing, as in JAX


def test_jax_check_of_a_constant_predicate_is_functionalised():
    assert_checkify_agrees_with_jax(lambda: jc.check(False, "hi!"), (), jit=False)
    assert_checkify_agrees_with_jax(
        lambda: lax.cond(True, lambda: jc.check(False, "hi!"), lambda: jc.check(False, "bye!")), (), jit=False
    )


def test_mixed_foldax_and_jax_checks_report_the_first_failure():
    def f(x):
        foldax.check(jnp.all(x > -5), "foldax: {}", x)
        jc.check(jnp.all(x > 0), "jax: {}", x)
        return x

    for x, expected in [
        (jnp.array([1.0]), None),
        (jnp.array([-1.0]), "jax: [-1.] (`check` failed)"),
        (jnp.array([-9.0]), "foldax: [-9.] (`check` failed)"),
    ]:
        assert foldax.checkify(f)(x)[0].get() == expected


# -- check_error: eager, inside checkify, on scanned and vmapped errors ----------------------------
def test_check_error_of_foldax_error_eagerly_raises_jax_runtime_error():
    err, _ = foldax.checkify(nonpositive(jc.check))(jnp.float32(-2.0))
    reference, _ = jc.checkify(nonpositive(jc.check))(jnp.float32(-2.0))
    assert isinstance(err, jc.Error)
    with pytest.raises(jc.JaxRuntimeError) as theirs:
        jc.check_error(reference)
    with pytest.raises(jc.JaxRuntimeError) as ours:
        jc.check_error(err)
    assert str(ours.value).startswith(str(theirs.value))
    with pytest.raises(foldax.errors.CheckError) as thrown:
        err.throw()
    assert isinstance(thrown.value, jc.JaxRuntimeError)
    assert str(thrown.value).startswith(str(theirs.value))
    ok, _ = foldax.checkify(nonpositive(jc.check))(jnp.float32(2.0))
    jc.check_error(ok)  # nothing failed: nothing raised


@pytest.mark.parametrize("jit", [jax.jit, foldax.jit], ids=["jax.jit", "foldax.jit"])
def test_discharge_and_recharge_a_python_bool_predicate_as_jax(jit):
    """JAX's test_discharge_recharge: ``jit(checkify(f))`` then ``check_error`` outside. The
    Python bool is traced, so the function is traced once; a failing call raises as JAX's."""
    traces = []

    def make(checkify):
        def f(pred):
            traces.append(None)  # (not the tracer: it must not leak)
            jc.check(pred, "foo {}", jnp.int32(1))

        checked = jit(checkify(f))

        def run(pred):
            err, out = checked(pred)
            jc.check_error(err)
            return out

        return run

    ours, theirs = make(foldax.checkify), make(jc.checkify)
    ours(True), ours(True)
    assert len(traces) == 1
    with pytest.raises(jc.JaxRuntimeError) as ours_error:
        ours(False)
    assert len(traces) == 1
    with pytest.raises(jc.JaxRuntimeError) as theirs_error:
        theirs(False)
    assert str(ours_error.value).startswith(str(theirs_error.value))


@pytest.mark.parametrize("outer", [foldax.checkify, jc.checkify], ids=["foldax", "jax"])
def test_check_error_of_scanned_errors_is_checkified(outer):
    def body(carry, x):
        jc.check(jnp.all(x > 0), "should be positive, got {}", x)
        return carry, x

    def f(x):
        def checked_body(carry, x):
            err, (carry, x) = foldax.checkify(body)(carry, x)
            return carry, (x, err)

        _, (xs, errs) = lax.scan(checked_body, (None,), x)
        jc.check_error(errs)
        return xs

    def g(x):  # the same with JAX's checkify inside
        _, (xs, errs) = lax.scan(
            lambda c, x: (lambda e, o: (o[0], (o[1], e)))(*jc.checkify(body)(c, x)), (None,), x
        )
        jc.check_error(errs)
        return xs

    for x in (jnp.array([1, 2]), jnp.array([1, 0, -1])):
        assert outer(f)(x)[0].get() == jc.checkify(g)(x)[0].get()


def test_check_error_of_a_vmapped_error():
    f = jc.checkify(lambda x: (jc.check(jnp.all(x > 0), "bad {}", x), x)[1])
    g = foldax.checkify(lambda x: (jc.check(jnp.all(x > 0), "bad {}", x), x)[1])

    def outer(checkified):
        def h(xs):
            errs, out = jax.vmap(checkified)(xs)
            jc.check_error(errs)
            return out

        return h

    xs = jnp.array([1.0, -2.0, -3.0])
    assert foldax.checkify(outer(g))(xs)[0].get() == jc.checkify(outer(f))(xs)[0].get()


# -- vmap: the error JAX reports ------------------------------------------------------------------
@pytest.mark.parametrize("vmap", [jax.vmap, foldax.vmap], ids=["jax.vmap", "foldax.vmap"])
def test_vmap_of_checkify_lists_every_failing_element_as_jax(vmap):
    f = lambda x, i: x[i] / i  # noqa: E731
    args = (jnp.ones((4, 2)), jnp.array([5, 0, 1, 100]))
    e1, _ = vmap(foldax.checkify(f, errors=foldax.automatic_checks))(*args)
    e2, _ = jax.vmap(jc.checkify(f, errors=jc.automatic_checks))(*args)
    assert e1.get() == e2.get()
    assert len(e1.get().splitlines()) == 3


@pytest.mark.parametrize("vmap", [jax.vmap, foldax.vmap], ids=["jax.vmap", "foldax.vmap"])
def test_checkify_of_vmap_of_jax_check_as_jax(vmap):
    xs = jnp.array([1.0, -2.0, 3.0, -4.0])
    e1, _ = foldax.checkify(vmap(nonpositive(jc.check)))(xs)
    e2, _ = jc.checkify(jax.vmap(nonpositive(jc.check)))(xs)
    assert e1.get() == e2.get()


# -- automatic checks JAX has ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float16, jnp.bfloat16, jnp.int32])
@pytest.mark.parametrize("divisor", [[1, 0, 1], [1, 2, 1]], ids=["zero", "nonzero"])
def test_division_by_zero_of_every_dtype_as_jax(dtype, divisor):
    args = (jnp.ones(3, dtype), jnp.array(divisor, dtype))
    for ours, theirs in SETS[1:]:
        assert_checkify_agrees_with_jax(lambda x, y: x / y, args, errors=(ours, theirs))


def test_float_division_by_zero_is_reported_before_the_nan_it_makes():
    err = assert_checkify_agrees_with_jax(
        lambda x, y: x / y, (jnp.zeros(3), jnp.zeros(3)), errors=(foldax.float_checks, jc.float_checks)
    )
    assert err.get() == "division by zero"


def test_nan_out_of_psum_is_reported_as_jax():
    f = lambda x, y: lax.psum((x, y), axis_name="i")  # noqa: E731
    args = (jnp.array([-jnp.inf, 0.0, jnp.inf]), jnp.ones((3, 2)))
    for vmap in (jax.vmap, foldax.vmap):
        e1, o1 = foldax.checkify(vmap(f, axis_name="i"), errors=foldax.nan_checks)(*args)
        e2, o2 = jc.checkify(jax.vmap(f, axis_name="i"), errors=jc.nan_checks)(*args)
        chex.assert_trees_all_close(o1, o2)
        assert e1.get() == e2.get() == "nan generated by primitive: psum."
    ok, _ = foldax.checkify(jax.vmap(f, axis_name="i"), errors=foldax.nan_checks)(
        jnp.ones(3), jnp.ones((3, 2))
    )
    assert ok.get() is None


# -- chex.chexify with foldax's checkify -----------------------------------------------------------
def chexified_sum():
    @functools.partial(chex.chexify, async_check=False)
    @jax.jit
    def finite_sum(x):
        chex.assert_tree_all_finite(x)
        return jnp.sum(x)

    return finite_sum


def test_chexify_works_with_foldax_checkify(monkeypatch):
    bad = jnp.array([1.0, np.nan])
    with pytest.raises(AssertionError) as theirs:
        chexified_sum()(bad)
    monkeypatch.setattr(jc, "checkify", foldax.checkify)
    finite_sum = chexified_sum()
    assert finite_sum(jnp.ones(3)) == jnp.sum(jnp.ones(3))
    with pytest.raises(AssertionError) as ours:
        finite_sum(bad)
    assert str(ours.value).splitlines()[0] == str(theirs.value).splitlines()[0]
