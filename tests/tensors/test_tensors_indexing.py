"""Indexing by dim name, compared with NumPy indexing of the same data in a fixed axis order while the
tensor stores it with its axes permuted."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from foldax.errors import FoldaxError
from foldax.tensors import Shape, channel, spatial, tensor, wrap

NAMES = ('b', 'x', 'y', 'vector')
TYPES = ('batch', 'spatial', 'spatial', 'channel')
ITEMS = ('p', 'q', 'r')


def selection_for(size):
    return st.one_of(
        st.integers(-size, size - 1),
        st.builds(
            slice,
            st.integers(-size, size) | st.none(),
            st.integers(-size, size) | st.none(),
            st.sampled_from([None, 1, 2, -1]),
        ),
        st.lists(st.integers(0, size - 1), min_size=0, max_size=3),
    )


@st.composite
def indexed(draw):
    sizes = [draw(st.integers(1, 3)) for _ in NAMES]
    canonical = np.random.default_rng(draw(st.integers(0, 999))).normal(size=sizes)
    order = draw(st.permutations(range(len(NAMES))))
    items = [None, None, None, ITEMS[: sizes[3]]]
    shape = Shape(
        [NAMES[i] for i in order],
        [sizes[i] for i in order],
        [TYPES[i] for i in order],
        [items[i] for i in order],
    )
    chosen = draw(st.lists(st.sampled_from(range(len(NAMES))), unique=True, max_size=len(NAMES)))
    selection = {NAMES[i]: draw(selection_for(sizes[i])) for i in chosen}
    return canonical, np.transpose(canonical, order), shape, selection


def numpy_reference(canonical, selection):
    """Index one axis at a time in canonical order; returns the remaining names and the array."""
    names, array = list(NAMES), canonical
    for name in NAMES:
        if name in selection:
            axis = names.index(name)
            sel = selection[name]
            index = (slice(None),) * axis + (np.asarray(sel, dtype=int) if isinstance(sel, list) else sel,)
            array = array[index]
            if isinstance(sel, int):
                names.remove(name)
    return names, array


@settings(max_examples=15, deadline=None)  # each new shape compiles JAX ops: keep this small
@given(indexed())
def test_dict_indexing_matches_numpy(case):
    canonical, data, shape, selection = case
    names, expected = numpy_reference(canonical, selection)
    for backend in ['numpy', 'jax']:
        result = tensor(data, shape, backend=backend)[selection]
        assert sorted(result.shape.names) == sorted(names)
        np.testing.assert_allclose(result.numpy(names), expected, rtol=1e-6)
        assert result.default_backend == backend


@settings(max_examples=25, deadline=None)
@given(indexed())
def test_bound_dim_indexing_matches_dict(case):
    _, data, shape, selection = case
    t = wrap(data, shape)
    chained = t
    for name, sel in selection.items():
        chained = getattr(chained, name)[sel]
    np.testing.assert_array_equal(chained.numpy(chained.shape), t[selection].numpy(chained.shape))
    assert chained.shape == t[selection].shape


def test_item_names_select_and_follow_slices():
    data = np.arange(12.0).reshape(4, 3)
    t = wrap(data, spatial('x'), channel(vector='a,b,c'))
    np.testing.assert_array_equal(t.vector['b'].numpy(), data[:, 1])
    assert t.vector['b'].shape == spatial(x=4)
    np.testing.assert_array_equal(t.vector['c,a'].numpy('x,vector'), data[:, [2, 0]])
    assert t.vector['c,a'].shape.get_item_names('vector') == ('c', 'a')
    assert t.vector[1:].shape.get_item_names('vector') == ('b', 'c')
    assert t.vector[['a', 2]].shape.get_item_names('vector') == ('a', 'c')
    np.testing.assert_array_equal(t['b'].numpy(), data[:, 1])  # a str selects items of the only channel dim
    np.testing.assert_array_equal(t.x[:-1].numpy('x,vector'), data[:-1])
    np.testing.assert_array_equal(t.x[1].numpy(), data[1])
    np.testing.assert_array_equal(t[{'x': slice(1, None)}].numpy('x,vector'), data[1:])


def test_bound_dim_properties():
    t = wrap(np.zeros((4, 2)), spatial('x'), channel(vector='a,b'))
    assert (t.x.name, t.x.size, t.x.item_names) == ('x', 4, None)
    assert t.vector.item_names == ('a', 'b')
    assert repr(t.vector) == '(vectorᶜ=a,b) of a tensor'
    assert hasattr(t, 'x') and not hasattr(t, 'y')


ERRORS = [
    (
        lambda t: t.y,
        AttributeError,
        "Tensor has no attribute or dim 'y'; its shape is (xˢ=4, vectorᶜ=a,b), so access one of the dims ('x', 'vector')",
    ),
    (
        lambda t: t[{'y': 0}],
        ValueError,
        "tensor[{'y': ...}]: the tensor has no dim 'y'; its shape is (xˢ=4, vectorᶜ=a,b), so index one of ('x', 'vector')",
    ),
    (
        lambda t: t.x[4],
        IndexError,
        "tensor.x[4]: index 4 is out of range for dim 'x' of size 4; use an index in [-4, 4)",
    ),
    (
        lambda t: t.x[[0, 9]],
        IndexError,
        "tensor.x[[0, 9]]: index 9 is out of range for dim 'x' of size 4; use an index in [-4, 4)",
    ),
    (
        lambda t: t.vector['q'],
        ValueError,
        "tensor.vector['q']: dim 'vector' has no item 'q'; its items are ('a', 'b')",
    ),
    (
        lambda t: t.x['q'],
        ValueError,
        "tensor.x['q']: dim 'x' has no item names, so 'q' cannot be looked up; index by position, e.g. tensor.x[0], "
        "or give item names: channel(x='a,b')",
    ),
    (
        lambda t: t.x[1.5],
        TypeError,
        "tensor.x[1.5]: a selection must be an int, a slice, item names or a list of them, but got float; "
        "use e.g. tensor.x[0], tensor.x[1:] or tensor.x[[0, 2]]",
    ),
    (
        lambda t: t[0],
        TypeError,
        "tensor[0]: index a tensor by name with a dict such as {'x': slice(1, None)} or through the dim: tensor.x[1:]",
    ),
]


@pytest.mark.parametrize('make, builtin, message', ERRORS)
def test_indexing_errors(make, builtin, message):
    t = wrap(np.zeros((4, 2)), spatial('x'), channel(vector='a,b'))
    with pytest.raises(FoldaxError) as raised:
        make(t)
    assert isinstance(raised.value, builtin), type(raised.value).__mro__
    assert str(raised.value) == message
