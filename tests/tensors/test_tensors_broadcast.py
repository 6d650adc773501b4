"""Arithmetic broadcasts by dim name: compared with an element-by-element NumPy reference on the
same data stored with its axes in random orders, for NumPy- and JAX-backed tensors."""

import itertools
import operator

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from foldax.errors import FoldaxError
from foldax.tensors import Shape, spatial, tensor, wrap

UNIVERSE = [('b', 'batch'), ('x', 'spatial'), ('y', 'spatial'), ('c', 'channel')]

OPS = {
    '+': operator.add,
    '-': operator.sub,
    '*': operator.mul,
    '/': operator.truediv,
    '//': operator.floordiv,
    '%': operator.mod,
    '**': operator.pow,
    '==': operator.eq,
    '!=': operator.ne,
    '<': operator.lt,
    '<=': operator.le,
    '>': operator.gt,
    '>=': operator.ge,
}
INT_OPS = {'&': operator.and_, '|': operator.or_, '^': operator.xor}


@st.composite
def operands(draw, count=2, dtype=np.float64):
    """`count` operands over a shared universe of sizes, each a random subset of dims in random order."""
    sizes = {name: draw(st.integers(1, 3)) for name, _ in UNIVERSE}
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    result = []
    for _ in range(count):
        names = draw(st.permutations([n for n, _ in UNIVERSE]))[: draw(st.integers(0, len(UNIVERSE)))]
        shape = Shape(names, [sizes[n] for n in names], [dict(UNIVERSE)[n] for n in names])
        data = rng.integers(1, 6, shape.sizes) if dtype == np.int64 else rng.uniform(0.5, 2.0, shape.sizes)
        result.append((data, shape))
    return sizes, result


def reference(op, sizes, operands):
    """Loops over every index of the union of the operands' dims, in universe order."""
    names = [n for n, _ in UNIVERSE if any(n in s for _, s in operands)]
    out = np.empty([sizes[n] for n in names], dtype=object)
    for index in itertools.product(*[range(sizes[n]) for n in names]):
        at = dict(zip(names, index))
        values = [data[tuple(at[n] for n in shape.names)] for data, shape in operands]
        out[index] = op(*values)
    return names, out.astype(np.asarray(out.flat[0]).dtype if out.size else float)


def check(result, names, expected, rtol=1e-12, atol=0.0):
    assert sorted(result.shape.names) == sorted(names)
    np.testing.assert_allclose(result.numpy(names), expected, rtol=rtol, atol=atol)


@settings(max_examples=20, deadline=None)  # each new shape compiles JAX ops: keep this small
@given(operands(), st.sampled_from(sorted(OPS)))
def test_binary_operators_broadcast_by_name(case, symbol):
    sizes, ops = case
    (a, sa), (b, sb) = ops
    names, expected = reference(OPS[symbol], sizes, ops)
    result = OPS[symbol](wrap(a, sa), wrap(b, sb))
    assert result.default_backend == 'numpy'
    check(result, names, expected)
    jax_result = OPS[symbol](tensor(a, sa, backend='jax'), wrap(b, sb))
    assert jax_result.default_backend == 'jax'
    check(
        jax_result, names, expected.astype(jax_result.dtype), rtol=1e-5, atol=1e-5
    )  # float32 (% cancels digits)


@settings(max_examples=15, deadline=None)
@given(operands(dtype=np.int64), st.sampled_from(sorted(INT_OPS)))
def test_bitwise_operators_broadcast_by_name(case, symbol):
    sizes, ops = case
    (a, sa), (b, sb) = ops
    names, expected = reference(INT_OPS[symbol], sizes, ops)
    result = INT_OPS[symbol](wrap(a, sa), wrap(b, sb))
    assert sorted(result.shape.names) == sorted(names)
    np.testing.assert_array_equal(result.numpy(names), expected)  # integers: exactly NumPy's


@settings(max_examples=15, deadline=None)
@given(operands(count=1), st.sampled_from([2, 0.5, np.float32(3.0), np.array(1.5), jnp.array(2.0)]))
def test_numbers_and_rank0_arrays_combine(case, scalar):
    sizes, ops = case
    ((a, sa),) = ops
    t = wrap(a, sa)
    for op in [operator.add, operator.mul, operator.sub, operator.truediv, operator.pow, operator.lt]:
        names, expected = reference(lambda v: op(v, np.asarray(scalar)), sizes, ops)
        check(op(t, scalar), names, expected, rtol=1e-6, atol=1e-6)
        names, expected = reference(lambda v: op(np.asarray(scalar), v), sizes, ops)
        check(op(scalar, t), names, expected, rtol=1e-6, atol=1e-6)
    assert (t + scalar).default_backend == ('jax' if isinstance(scalar, jnp.ndarray) else 'numpy')


@settings(max_examples=15, deadline=None)
@given(operands(count=1))
def test_unary_operators(case):
    sizes, ops = case
    ((a, sa),) = ops
    shifted = [(a - 1, sa)]
    for op in [operator.neg, operator.pos, abs]:
        names, expected = reference(op, sizes, shifted)
        check(op(wrap(a - 1, sa)), names, expected)
    bools = wrap(a > 1, sa)
    np.testing.assert_array_equal((~bools).numpy(sa), ~(a > 1))


def test_numpy_dtype_rules_hold():
    t = tensor(np.ones(2, np.float32))
    assert (t * 2.5).dtype == np.float32  # Python numbers are weak, as in NumPy and JAX
    assert (tensor(np.ones(2, np.int64)) / 2).dtype == np.float64


def test_mismatched_sizes_raise_with_both_shapes(check_error):
    check_error(
        lambda: wrap(np.ones(3), spatial('x')) + wrap(np.ones(4), spatial('x')),
        ValueError,
        "tensor + other: dim 'x' has size 3 in (xˢ=3) but 4 in (xˢ=4); shared dims must "
        "have equal sizes: slice one, e.g. t.x[:3]",
    )


@pytest.mark.parametrize(
    'use, message',
    [
        (
            lambda t: t * np.ones(3),
            "tensor * other: got a raw ndarray of shape (3,), whose axes have no names; "
            "wrap it first, e.g. tensor(data, spatial('x'))",
        ),
        (
            lambda t: [1, 2] - t,
            "other - tensor: got a raw list of shape (2,), whose axes have no names; "
            "wrap it first, e.g. tensor(data, spatial('x'))",
        ),
    ],
    ids=['ndarray', 'list'],
)
def test_raw_arrays_with_axes_raise(use, message):
    t = wrap(np.ones(3), spatial('x'))
    with pytest.raises(FoldaxError) as raised:
        use(t)
    assert isinstance(raised.value, TypeError), type(raised.value).__mro__
    assert str(raised.value) == message


def test_unrelated_objects_defer_to_python():
    t = wrap(np.ones(3), Shape(('x',), (3,), ('spatial',)))
    assert (t == None) is False  # noqa: E711  (NotImplemented -> identity comparison)

    class Other:
        def __radd__(self, other):
            return 'other handled it'

    assert t + Other() == 'other handled it'
