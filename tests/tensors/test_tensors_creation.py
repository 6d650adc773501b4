"""Creating tensors: conventions compared with ΦML (`tensor`, `wrap`), values with NumPy (`stack`,
`concat`, `zeros`, `ones`), backends with the input's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from phiml import math as pm

import foldax.tensors as ft
from foldax.errors import FoldaxError
from foldax.tensors import batch, channel, dual, spatial, tensor, wrap

DATA = [
    [1, 2],
    [1.0, 2.0],
    [True, False],
    2.5,
    [[1.0, 2.0], [3.0, 4.0]],
    np.arange(3.0),
    np.arange(3, dtype=np.int32),
]


@pytest.mark.parametrize('data', DATA, ids=repr)
@pytest.mark.parametrize('func', ['tensor', 'wrap'])
def test_conventions_match_phiml(func, data):
    two_d = np.ndim(data) == 2
    ours = getattr(ft, func)(data, *((spatial('x'), channel('c')) if two_d else ()))
    theirs = getattr(pm, func)(data, *((pm.spatial('x'), pm.channel('c')) if two_d else ()))
    assert repr(ours.shape) == repr(theirs.shape)
    assert ours.dtype.name == repr(theirs.dtype)
    assert ours.default_backend == 'numpy'
    np.testing.assert_array_equal(ours.numpy(ours.shape), theirs.numpy(theirs.shape))


def test_wrap_does_not_copy_and_keeps_backends():
    array = np.arange(3.0)
    assert wrap(array, spatial('x')).native() is array
    jarray = jnp.arange(3.0)
    assert wrap(jarray, spatial('x')).native() is jarray
    assert tensor(jarray, spatial('x')).default_backend == 'jax'
    assert tensor([1.0, 2.0], backend='jax').default_backend == 'jax'
    assert tensor(jarray, spatial('x'), backend='numpy').default_backend == 'numpy'


def test_dims_get_sizes_from_data_and_keep_item_names():
    t = tensor(np.zeros((2, 3)), batch('values'), channel(vector='a,b,c'))
    assert t.shape == batch(values=2) & channel(vector='a,b,c')
    assert tensor(t, spatial('x'), channel('y')).shape == spatial(x=2) & channel(y=3)
    assert tensor(t) is t


def test_stack_matches_numpy():
    a, b = np.arange(3.0), np.arange(3.0, 6.0)
    s = ft.stack([wrap(a, spatial('x')), wrap(b, spatial('x'))], batch('b'))
    assert s.shape == batch(b=2) & spatial(x=3)  # the new batch dim goes first, by type
    np.testing.assert_array_equal(s.numpy('b,x'), np.stack([a, b]))
    c = ft.stack({'u': wrap(a, spatial('x')), 'v': 1.0}, channel('vector'))
    assert c.shape == spatial(x=3) & channel(vector='u,v')
    np.testing.assert_array_equal(c.numpy('x,vector'), np.stack([a, np.ones(3)], axis=-1))
    assert tensor([wrap(a, spatial('x')), wrap(b, spatial('x'))], batch('b')).shape == s.shape
    assert (
        ft.stack([tensor(jnp.ones(3), spatial('x')), wrap(a, spatial('x'))], dual('k')).default_backend
        == 'jax'
    )


def test_stack_broadcasts_by_name():
    a = wrap(np.arange(3.0), spatial('x'))
    b = wrap(np.arange(2.0), channel('c'))
    s = ft.stack([a, b], batch('k'))
    np.testing.assert_array_equal(
        s.numpy('k,x,c'), np.stack(np.broadcast_arrays(np.arange(3.0)[:, None], np.arange(2.0)[None, :]))
    )


def test_concat_matches_numpy():
    a = np.arange(6.0).reshape(2, 3)  # (x, c)
    b = np.arange(9.0).reshape(3, 3) + 10  # (c, x)
    ta = wrap(a, spatial('x'), channel('c'))
    tb = wrap(b, channel('c'), spatial('x'))
    result = ft.concat([ta, tb], 'x')
    assert result.shape == spatial(x=5) & channel(c=3)
    np.testing.assert_array_equal(result.numpy('x,c'), np.concatenate([a, b.T]))
    named = ft.concat([wrap(np.ones(2), channel(v='a,b')), wrap(np.zeros(1), channel(v='c'))], channel('v'))
    assert named.shape.get_item_names('v') == ('a', 'b', 'c')


def test_filled_and_random_tensors():
    shape = batch(b=2) & spatial(x=3)
    np.testing.assert_array_equal(ft.zeros(shape).numpy('b,x'), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(ft.ones(batch(b=2), spatial(x=3)).numpy('b,x'), np.ones((2, 3), np.float32))
    assert ft.zeros(shape).dtype == pm.zeros(pm.batch(b=2)).native().dtype
    for ours, theirs in [(ft.random_uniform, pm.random_uniform), (ft.random_normal, pm.random_normal)]:
        numpy_random = ours(shape)
        assert numpy_random.default_backend == 'numpy' and numpy_random.shape == shape
        assert numpy_random.dtype == theirs(pm.batch(b=2)).native().dtype
        jax_random = ours(shape, key=jax.random.key(0))
        assert jax_random.default_backend == 'jax' and jax_random.shape == shape
    uniform = ft.random_uniform(spatial(x=1000), low=2, high=3).numpy()
    assert uniform.min() >= 2 and uniform.max() < 3
    like = ft.zeros_like(tensor(jnp.ones(3), spatial('x')))
    assert like.default_backend == 'jax'
    np.testing.assert_array_equal(
        ft.ones_like(wrap(np.zeros(2, np.int32), spatial('x'))).numpy(), np.ones(2, np.int32)
    )


ERRORS = [
    (
        lambda: tensor(np.zeros((2, 3))),
        ValueError,
        "tensor(data, *dims): data has 2 axes (2, 3) but the dims () name 0; name its axes, e.g. "
        "tensor(data, batch('b'), spatial('x'))",
    ),
    (
        lambda: tensor(np.zeros((2, 3)), spatial('x')),
        ValueError,
        "tensor(data, *dims): data has 2 axes (2, 3) but the dims (xˢ) name 1; give one dim per axis, in order",
    ),
    (
        lambda: wrap(np.zeros(2), spatial(x=3)),
        ValueError,
        "wrap(data, *dims): dim 'x' has size 3 but the data's axis has size 2; make them agree, or leave the size "
        "open, e.g. spatial('x')",
    ),
    (
        lambda: wrap(np.zeros(2), channel(v='a,b,c')),
        ValueError,
        "wrap(data, *dims): dim 'v' has 3 item names ('a', 'b', 'c') but the data's axis has size 2; make them agree, "
        "or leave the size open, e.g. spatial('v')",
    ),
    (
        lambda: tensor([1, 2], 'x'),
        TypeError,
        "tensor(data, *dims): every dim must be a Shape, but got str 'x'; use e.g. tensor(data, spatial('x'), channel('c'))",
    ),
    (
        lambda: tensor(['a', 'b']),
        TypeError,
        "tensor(data): data must be a number, a (nested) list of numbers, a NumPy or a jax array, but got list; "
        "convert it first, e.g. np.asarray(data)",
    ),
    (
        lambda: tensor([1.0], backend='torch'),
        ValueError,
        "tensor(backend='torch'): use backend='numpy', 'jax' or None (keep)",
    ),
    (
        lambda: ft.zeros(batch('b')),
        ValueError,
        "zeros(*shape): dims ['b'] of (bᵇ) have no size; give sizes, e.g. zeros(batch(b=3))",
    ),
    (
        lambda: ft.ones((2, 3)),
        TypeError,
        "ones(*shape): every argument must be a Shape, but got tuple; use e.g. ones(spatial(x=3))",
    ),
    (
        lambda: ft.stack([], batch('b')),
        ValueError,
        "stack(values, dim): values must be a non-empty list, tuple or dict, but got list []",
    ),
    (
        lambda: ft.stack([1.0, 2.0], batch(b=3)),
        ValueError,
        "stack(values, (bᵇ=3)): dim has size 3 but 2 values are given; leave the size open, e.g. batch('b')",
    ),
    (
        lambda: ft.stack([wrap(np.ones(2), spatial('x'))], spatial('x')),
        ValueError,
        "stack(values, (xˢ)): the values already have a dim 'x' ((xˢ=2)); stack along a new name, or use "
        "concat(values, 'x')",
    ),
    (
        lambda: ft.stack([1.0], 'b'),
        TypeError,
        "stack(values, dim): dim must be a Shape with one dim, but got 'b'; use e.g. stack(values, batch('b'))",
    ),
    (
        lambda: ft.concat([wrap(np.ones(2), spatial('x')), wrap(np.ones(2), spatial('y'))], 'x'),
        ValueError,
        "concat(values, 'x'): values[1] has no dim 'x' (found (yˢ=2)); every value needs that dim: add it with "
        "stack([v], ...) or index the right dim",
    ),
    (
        lambda: ft.concat(
            [
                wrap(np.ones((2, 3)), spatial('x'), channel('c')),
                wrap(np.ones((2, 2)), spatial('x'), channel('c')),
            ],
            'x',
        ),
        ValueError,
        "concat(values): dim 'c' has size 3 in (xˢ, cᶜ=3) but 2 in (xˢ, cᶜ=2); shared dims must have equal "
        "sizes: slice one, e.g. t.c[:2]",
    ),
    (
        lambda: ft.Tensor([1, 2], spatial(x=2)),
        TypeError,
        "Tensor(native, shape): native must be a NumPy or JAX array, but got list; use tensor(data, *dims) to convert data",
    ),
    (
        lambda: ft.Tensor(np.ones(2), spatial(x=3)),
        ValueError,
        "Tensor(native, shape): the native array has shape (2,) but (xˢ=3) has sizes (3,); give one dim per axis, in order",
    ),
]


@pytest.mark.parametrize('make, builtin, message', ERRORS)
def test_creation_errors(make, builtin, message):
    with pytest.raises(FoldaxError) as raised:
        make()
    assert isinstance(raised.value, builtin), type(raised.value).__mro__
    assert str(raised.value) == message
