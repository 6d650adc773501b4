"""Weak types through differentiation, compared with JAX: a non-differentiated Python scalar
reaches JAX's JVP rules weakly typed (``x ** n`` under strict dtype promotion, where a strong int
next to a weak float has no promotion path), also when ``foldax.jit`` traced it and the outer
``grad`` folded it into a literal; zero gradients and tangents of weakly typed values are weakly
typed zeros."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import foldax

FUNCTIONS = {
    "pow": lambda x, n: x**n,
    "mul": lambda x, n: x * n,
    "sin_add": lambda x, n: jnp.sin(x + n),
    "pow_scaled": lambda x, n: (x**2) * n,
}
POINTS = {
    "python_float": 1.5,
    "weak_float32": jnp.asarray(1.5),
    "float32": jnp.float32(1.5),
    "float16": jnp.float16(1.5),
    "bfloat16": jnp.asarray(1.5, ml_dtypes.bfloat16),
}
# Python scalars and NumPy values are constants to foldax.grad (as concrete as in eager JAX);
# under foldax.jit a Python scalar is traced weakly typed, as under jax.jit.
SCALARS = {"int": 2, "zero": 0, "float": 2.0, "negative": -1}
ARRAYS = {"int32": jnp.int32(2), "weak_int": jnp.asarray(2), "int8": jnp.int8(2), "float32": jnp.float32(2.0)}


def _outcome(fun, *args):
    """The result's (dtype, weak type, value), or the builtin class of the error raised."""
    try:
        out = fun(*args)
    except Exception as e:  # noqa: BLE001 - compared with JAX's outcome
        return next(
            c for c in type(e).__mro__ if c.__module__ in ("builtins", "jax.dtypes", "jax._src.dtypes")
        )
    return np.dtype(out.dtype), jax.typeof(out).weak_type, float(out)


CASES = list(itertools.product(["standard", "strict"], FUNCTIONS, POINTS))


@pytest.mark.parametrize("promotion,fname,point", CASES)
@pytest.mark.parametrize("n", SCALARS.values(), ids=SCALARS.keys())
def test_grad_with_a_python_scalar_argument_matches_jax(promotion, fname, point, n):
    f, x = FUNCTIONS[fname], POINTS[point]
    with jax.numpy_dtype_promotion(promotion):
        assert _outcome(foldax.grad(f), x, n) == _outcome(jax.grad(f), x, n)
        jitted = _outcome(jax.grad(jax.jit(f)), x, n)
        assert _outcome(foldax.grad(foldax.jit(f)), x, n) == jitted
        assert _outcome(jax.grad(foldax.jit(f)), x, n) == jitted


@pytest.mark.parametrize("promotion,fname,point", CASES)
@pytest.mark.parametrize("n", ARRAYS.values(), ids=ARRAYS.keys())
def test_grad_with_an_array_argument_matches_jax_jit(promotion, fname, point, n):
    """A jax.Array argument is traced by foldax.grad (JAX's eager grad sees its value instead),
    so the reference is jax.grad of jax.jit."""
    f, x = FUNCTIONS[fname], POINTS[point]
    with jax.numpy_dtype_promotion(promotion):
        expected = _outcome(jax.grad(jax.jit(f)), x, n)
        assert _outcome(foldax.grad(f), x, n) == expected
        assert _outcome(foldax.grad(foldax.jit(f)), x, n) == expected


def test_the_weak_int_literal_of_a_jitted_call_stays_weak():
    """``grad(jit(f))(0., 0)`` in JAX's ``testPowIntPowerAtZero``: the folded exponent is a
    weakly typed literal, so ``_pow_jvp_lhs`` promotes it with the weak float under strict."""
    f = lambda x, n: x**n  # noqa: E731
    with jax.numpy_dtype_promotion("strict"):
        expected = _outcome(jax.grad(jax.jit(f)), 0.0, 0)
        assert _outcome(foldax.grad(foldax.jit(f)), 0.0, 0) == expected
        value, grad = foldax.value_and_grad(foldax.jit(f))(0.0, 0)
        want_value, want_grad = jax.value_and_grad(jax.jit(f))(0.0, 0)
        assert (jax.typeof(value), jax.typeof(grad)) == (jax.typeof(want_value), jax.typeof(want_grad))


@pytest.mark.parametrize("x", [1.5, jnp.asarray(1.5), jnp.float32(1.5), np.float32(1.5), np.ones(2)])
def test_zero_gradients_have_jax_s_weak_type(x):
    f = lambda x: jnp.sum(x**0)  # noqa: E731
    want, got = jax.grad(f)(x), foldax.grad(f)(x)
    assert jax.typeof(got) == jax.typeof(want)
    (want,), (got,) = jax.vjp(f, x)[1](1.0), foldax.vjp(f, x)[1](1.0)
    assert jax.typeof(got) == jax.typeof(want)


@pytest.mark.parametrize("x", [1.5, jnp.asarray(1.5), jnp.float32(1.5)])
def test_zero_output_tangents_have_jax_s_weak_type(x):
    f = lambda x: (x**0, jnp.zeros_like(x))  # noqa: E731
    want, got = jax.jvp(f, (x,), (x,)), foldax.jvp(f, (x,), (x,))
    assert jax.tree_util.tree_map(jax.typeof, got) == jax.tree_util.tree_map(jax.typeof, want)
