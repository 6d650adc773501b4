"""Printing: compared with ΦML's printing of the same data, and with the strings ΦML's documentation
shows (seeds 000-002)."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from phiml import math as pm

import foldax.tensors as ft
from foldax.tensors import Shape, batch, channel, spatial, tensor, wrap
from foldax.tensors.printing import format_tensor

ANSI = re.compile(r'\x1b\[[0-9;]*m')
UNIVERSE = [
    ('b', 'batch', None),
    ('~d', 'dual', None),
    ('i', 'instance', None),
    ('x', 'spatial', None),
    ('vector', 'channel', None),
    ('c', 'channel', ('r', 'g', 'b')),
    ('~vector', 'dual', None),
]
DTYPES = [np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_, np.float16, np.complex128]


def phiml_repr(data, shape):
    dims = [
        getattr(pm, t)(**{n.lstrip('~'): items or size})
        for n, size, t, items in zip(shape.names, shape.sizes, shape.types, shape.item_names)
    ]
    return ANSI.sub('', repr(pm.wrap(data, *dims)))


@st.composite
def printable(draw):
    dims = draw(st.lists(st.sampled_from(UNIVERSE), unique_by=lambda d: d[0].lstrip('~'), max_size=3))
    sizes = [
        len(items) if items else draw(st.integers(0 if len(dims) == 1 else 1, 4)) for _, _, items in dims
    ]
    shape = Shape([d[0] for d in dims], sizes, [d[1] for d in dims], [d[2] for d in dims])
    dtype = draw(st.sampled_from(DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 999)))
    # quarter steps: means of up to 64 values are exact, so ΦML's and foldax's digits cannot differ by rounding
    values = rng.integers(-8, 9, shape.sizes) * (0.25 if np.issubdtype(dtype, np.inexact) else 1)
    if dtype == np.uint8:
        values = np.abs(values)
    if draw(st.booleans()) and values.size and np.issubdtype(dtype, np.floating):
        values.flat[0] = draw(st.sampled_from([np.nan, np.inf, 1e5, 1e-5]))
    return values.astype(dtype), shape


@settings(max_examples=25, deadline=None)
@given(printable())
def test_printing_matches_phiml(case):
    data, shape = case
    assert repr(wrap(data, shape)) == phiml_repr(data, shape)


@pytest.mark.parametrize(
    'data, dims',
    [
        (np.arange(20.0, dtype=np.float32) * 1e4, (spatial('x'),)),
        (np.ones(20, np.float32), (spatial('x'),)),
        (np.ones(20, bool), (spatial('x'),)),
        (np.arange(60.0).reshape(6, 10), (batch('b'), channel('c'))),
        (np.array([1 + 1j, 2, 3, 4, 5, 6, 7, 8]), (spatial('x'),)),
        (np.array([1.0, np.nan] * 5), (spatial('x'),)),
        (np.arange(4.0).reshape(2, 2), (spatial('x'), ft.dual('x'))),
        (np.zeros((3, 3, 0)), (spatial('x'), spatial('y'), spatial('z'))),
        (np.float32(-0.7568025), ()),
        (np.array(3, np.int64), ()),
        (np.array(True), ()),
    ],
)
def test_printing_special_cases_match_phiml(data, dims):
    ours = wrap(data, *dims)
    assert repr(ours) == phiml_repr(data, ours.shape)


def test_documented_strings():
    # seed 000: "b = (1, 2) int64"
    assert str(tensor([1, 2])) == '(1, 2) int64'
    assert f"{wrap([1, 2])}" == '(1, 2) int64'
    # seed 002: a batched gradient
    assert str(tensor([0.0, 2.0, 4.0], batch('values'))) == '(0.000, 2.000, 4.000) along valuesᵇ'
    # seed 001: scalars
    assert str(2 * tensor(1.0)) == '2.0'
    z = ft.sin(wrap(2) ** 2)
    assert str(z) == ANSI.sub(
        '', repr(pm.sin(pm.wrap(2) ** 2))
    )  # 'float64 -0.7568024953079282' in phiml 1.16
    assert str(jax.jit(lambda x: z / x)(tensor(jnp.float32(1.0)))) == '-0.7568025'
    # seed 000: a + sin(b ** 2), traced with a JAX array, b NumPy-backed
    b = wrap([1, 2])
    assert str(jax.jit(lambda a: a + ft.sin(b**2))(tensor([1, 2]))) == '(1.841, 1.243)'


def test_tracers_print_shape_dtype_and_backend():
    seen = []

    def record(x):
        seen.append(str(x))
        return 2 * x

    with jax.enable_x64(True):
        doubled = jax.jit(record)(tensor([1, 2]))
        assert str(doubled) == '(2, 4) int64'  # seed 001
    jax.jit(record)(tensor(1.0))
    assert seen == [
        '(vectorᶜ=2) int64 jax tracer',  # seeds 000, 001
        '() float32 jax tracer',
    ]  # seed 001


def test_format_layouts(check_error):
    t = wrap(np.array([0.5, 1.25]), spatial('x'))
    assert f"{t:.1f}" == '(0.5, 1.2) along xˢ float64'
    assert f"{t:summary}" == '(xˢ=2) float64 0.875 ± 0.375 (5e-01...1e+00)'
    assert f"{t:numpy}" == str(np.array([0.5, 1.25]))
    check_error(
        lambda: format_tensor(t.native(), t.shape, layout='full'),
        ValueError,
        "layout='full' is not a print layout; use one of ('auto', 'summary', 'row', 'numpy')",
    )


def test_placeholder_children_print_their_kind():
    abstract = jax.eval_shape(lambda t: t * 2, tensor(jnp.ones(3), spatial('x')))
    assert str(abstract) == '(xˢ=3) float32 ShapeDtypeStruct'
    placeholder = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(tensor([1.0])), [None])
    assert str(placeholder) == '(vectorᶜ=1) NoneType'
