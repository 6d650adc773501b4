"""Elementwise math, compared with the NumPy function on the same data; JAX-backed tensors agree;
binary and ternary functions broadcast by name like the operators."""

import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings, strategies as st

import foldax.tensors as ft
from foldax.tensors import Shape, batch, channel, spatial, tensor, wrap

UNARY = ['sin', 'cos', 'tan', 'exp', 'log', 'sqrt', 'tanh', 'abs', 'sign', 'floor', 'ceil', 'round']
POSITIVE_ONLY = {'log', 'sqrt'}


@st.composite
def permuted(draw):
    names = draw(st.permutations(['b', 'x', 'c']))
    types = {'b': 'batch', 'x': 'spatial', 'c': 'channel'}
    shape = Shape(names, [draw(st.integers(1, 3)) for _ in names], [types[n] for n in names])
    data = np.random.default_rng(draw(st.integers(0, 999))).uniform(-3, 3, shape.sizes)
    return data, shape


@settings(max_examples=25, deadline=None)
@given(permuted(), st.sampled_from(UNARY))
def test_unary_functions_match_numpy(case, name):
    data, shape = case
    data = np.abs(data) + 0.1 if name in POSITIVE_ONLY else data
    expected = getattr(np, name)(data)
    result = getattr(ft, name)(wrap(data, shape))
    assert result.shape == shape and result.default_backend == 'numpy'
    np.testing.assert_allclose(result.numpy(shape), expected)
    jax_result = getattr(ft, name)(tensor(data, shape, backend='jax'))
    assert jax_result.default_backend == 'jax'
    expected32 = getattr(np, name)(data.astype(np.float32))  # the same float32 input (tan amplifies rounding)
    np.testing.assert_allclose(jax_result.numpy(shape), expected32, rtol=1e-5, atol=1e-6)


def test_binary_and_ternary_functions_broadcast_by_name():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 2))  # (x, c)
    b = rng.normal(size=(2, 4))  # (c, b)
    ta, tb = wrap(a, spatial('x'), channel('c')), wrap(b, channel('c'), batch('b'))
    a_, b_ = a[:, :, None], b[None, :, :]  # both as (x, c, b)
    order = 'x,c,b'
    np.testing.assert_allclose(ft.maximum(ta, tb).numpy(order), np.maximum(a_, b_))
    np.testing.assert_allclose(ft.minimum(ta, tb).numpy(order), np.minimum(a_, b_))
    np.testing.assert_allclose(ft.where(ta > tb, ta, tb).numpy(order), np.where(a_ > b_, a_, b_))
    np.testing.assert_allclose(ft.where(ta > 0, ta, 0).numpy('x,c'), np.where(a > 0, a, 0))
    np.testing.assert_allclose(ft.clip(ta, -0.5, tb).numpy(order), np.clip(a_, -0.5, b_))
    assert ft.where(tensor(jnp.array(True)), ta, tb).default_backend == 'jax'


def test_functions_accept_numbers():
    assert float(ft.sin(2.0)) == np.sin(2.0)
    assert float(ft.maximum(1, 2.5)) == 2.5
    assert ft.exp(0.0).default_backend == 'numpy'


def test_math_errors_name_the_function(check_error):
    check_error(
        lambda: ft.sin([1.0, 2.0]),
        TypeError,
        "sin(x): got a raw list of shape (2,), whose axes have no names; wrap it first, "
        "e.g. tensor(data, spatial('x'))",
    )
    check_error(
        lambda: ft.where(wrap(np.ones(2) > 0, spatial('x')), wrap(np.ones(3), spatial('x')), 0),
        ValueError,
        "where(condition, value_true, value_false): dim 'x' has size 2 in (xˢ=2) but 3 in "
        "(xˢ=3); shared dims must have equal sizes: slice one, e.g. t.x[:2]",
    )
