"""Reductions by name and by type, compared with NumPy reductions over the matching axes of the same
data stored with its axes permuted; NumPy- and JAX-backed tensors agree."""

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import foldax.tensors as ft
from foldax.errors import FoldaxError
from foldax.tensors import Shape, batch, channel, non_batch, spatial, tensor, wrap

NAMES = ('b', 'x', 'y', 'c')
TYPES = ('batch', 'spatial', 'spatial', 'channel')
REDUCTIONS = {
    'sum': np.sum,
    'mean': np.mean,
    'max': np.max,
    'min': np.min,
    'prod': np.prod,
    'std': np.std,
    'any': np.any,
    'all': np.all,
}
FILTERS = {'batch': ft.batch, 'spatial': ft.spatial, 'channel': ft.channel, 'non_batch': ft.non_batch}


@st.composite
def reduced(draw):
    order = draw(st.permutations(range(len(NAMES))))
    sizes = [draw(st.integers(1, 3)) for _ in NAMES]
    shape = Shape([NAMES[i] for i in order], [sizes[i] for i in order], [TYPES[i] for i in order])
    data = np.random.default_rng(draw(st.integers(0, 999))).uniform(-1, 1, shape.sizes)
    dim = draw(
        st.one_of(
            st.none(),
            st.sampled_from(NAMES),
            st.lists(st.sampled_from(NAMES), unique=True, min_size=1).map(lambda names: ','.join(names)),
            st.lists(st.sampled_from(NAMES), unique=True),
            st.sampled_from(sorted(FILTERS)),
        )
    )
    return data, shape, dim


def reduced_names(shape, dim):
    if dim is None:
        return list(shape.names)
    if isinstance(dim, str) and dim in FILTERS:
        types = {
            'batch': ['batch'],
            'spatial': ['spatial'],
            'channel': ['channel'],
            'non_batch': ['spatial', 'channel'],
        }[dim]
        return [n for n, t in zip(shape.names, shape.types) if t in types]
    return dim.split(',') if isinstance(dim, str) else list(dim)


@settings(max_examples=25, deadline=None)
@given(reduced(), st.sampled_from(sorted(REDUCTIONS)))
def test_reductions_match_numpy(case, name):
    data, shape, dim = case
    values = data > 0 if name in ('any', 'all') else data
    names = reduced_names(shape, dim)
    expected = REDUCTIONS[name](values, axis=tuple(shape.index(n) for n in names))
    kept = [n for n in shape.names if n not in names]
    argument = FILTERS[dim] if isinstance(dim, str) and dim in FILTERS else dim
    for backend in ['numpy', 'jax']:
        result = getattr(ft, name)(tensor(values, shape, backend=backend), argument)
        assert result.shape == shape.without(names)
        assert result.default_backend == backend
        np.testing.assert_allclose(result.numpy(kept), expected, rtol=1e-5, atol=1e-6)


@settings(max_examples=15, deadline=None)
@given(reduced())
def test_l2_loss_keeps_batch_dims(case):
    data, shape, _ = case
    axes = tuple(i for i, t in enumerate(shape.types) if t != 'batch')
    expected = np.sum(data**2, axis=axes) / 2
    result = ft.l2_loss(wrap(data, shape))
    assert result.shape == shape.batch
    np.testing.assert_allclose(result.numpy(), expected)
    np.testing.assert_allclose(ft.batch_reduce_sum(result).numpy(), np.sum(expected))


def test_l2_loss_of_numbers_raw_arrays_and_complex():
    assert float(ft.l2_loss(3.0)) == 3.0**2 / 2
    np.testing.assert_allclose(ft.l2_loss(jnp.arange(3.0)), np.sum(np.arange(3.0) ** 2) / 2)
    z = np.array([1 + 2j, 3 - 1j])
    np.testing.assert_allclose(ft.l2_loss(wrap(z, spatial('x'))).numpy(), np.sum(np.abs(z) ** 2) / 2)


@pytest.mark.parametrize('name', sorted(REDUCTIONS))
@pytest.mark.parametrize('dtype', [np.float32, np.int32, np.bool_])
def test_reducing_no_dims_is_numpys_reduction_over_no_axes(name, dtype):
    data = np.array([[1, 0, 3], [4, 5, 7]]).astype(dtype)
    expected = REDUCTIONS[name](data, axis=())  # std: zeros; mean: floats; any/all: booleans
    for backend in ['numpy', 'jax']:
        result = getattr(ft, name)(tensor(data, batch('b'), spatial('x'), backend=backend), [])
        assert result.shape == batch(b=2) & spatial(x=3)
        assert np.dtype(result.dtype).kind == expected.dtype.kind
        np.testing.assert_array_equal(result.numpy('b,x'), expected)


def test_helpers_for_transformations():
    t = ft.zeros(batch(b=2) & spatial(x=3))
    assert ft.is_tensor(t) and not ft.is_tensor(np.zeros(3))
    assert ft.non_batch_shape(t) == spatial(x=3)
    assert ft.non_batch_shape(2.0) == Shape()
    assert ft.batch_reduce_sum(jnp.float32(2.0)) == 2.0
    summed = ft.batch_reduce_sum(wrap(np.arange(3.0), batch('b')))
    assert summed.shape == Shape() and float(summed) == np.sum(np.arange(3.0))
    unbatched = wrap(np.arange(3.0), spatial('x'))  # no batch dims: nothing to sum
    np.testing.assert_array_equal(ft.batch_reduce_sum(unbatched).numpy('x'), np.arange(3.0))
    data = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(
        ft.batch_reduce_sum(wrap(data, batch('b'), spatial('x'))).numpy('x'), data.sum(0)
    )


@pytest.mark.parametrize('data', [[1.0, -1.0], [1.0, 2.0], [-1.0, -2.0]])
def test_property_reductions(data):
    t = wrap(np.array(data), spatial('x'))
    assert bool((t > 0).any) == np.any(np.array(data) > 0)
    assert bool((t > 0).all) == np.all(np.array(data) > 0)


ERRORS = [
    (
        lambda t: ft.sum(t, 'q'),
        ValueError,
        "sum(value, dim='q'): dims ['q'] are not in shape (bᵇ=2, xˢ=3); use names from ('b', 'x')",
    ),
    (
        lambda t: ft.mean(t, 3),
        TypeError,
        "mean(value, dim=3): got int, which does not select dims; use a name such as 'x', 'x,y', a list of names, a Shape, "
        "or a type such as spatial",
    ),
    (
        lambda t: ft.max(t, len),
        TypeError,
        "max(value, dim=len): 'len' is not a dim filter; use a name such as 'x', a Shape, or one of batch, dual, instance, "
        "spatial, channel, non_batch",
    ),
    (
        lambda t: ft.std(np.ones(3)),
        TypeError,
        "std(value): got a raw ndarray of shape (3,), whose axes have no names; wrap it first, e.g. "
        "tensor(data, spatial('x'))",
    ),
    (
        lambda t: ft.non_batch_shape(t.shape),
        TypeError,
        "non_batch_shape(value) takes a Tensor, not a Shape; use shape.non_batch",
    ),
    (
        lambda t: ft.sum('abc'),
        TypeError,
        "sum(value): got str, which is not a Tensor or a number; wrap data with tensor(data, *dims)",
    ),
]


@pytest.mark.parametrize('make, builtin, message', ERRORS)
def test_reduction_errors(make, builtin, message):
    t = ft.zeros(batch(b=2) & spatial(x=3))
    with pytest.raises(FoldaxError) as raised:
        make(t)
    assert isinstance(raised.value, builtin), type(raised.value).__mro__
    assert str(raised.value) == message


def test_non_batch_filter_is_phiml_default():
    t = wrap(np.arange(6.0).reshape(2, 3), batch('b'), channel('c'))
    np.testing.assert_allclose(ft.sum(t, non_batch).numpy(), np.arange(6.0).reshape(2, 3).sum(1))
