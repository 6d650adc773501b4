"""Tensor as a JAX pytree, and NumPy-backed tensors as constants: their arithmetic runs in NumPy while
a function is traced, so it adds no equations to the jaxpr. References are JAX on raw arrays."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import foldax.tensors as ft
from foldax.errors import FoldaxError, TracerControlFlowError
from foldax.tensors import Tensor, batch, channel, spatial, tensor, wrap


def test_tensor_is_a_pytree_with_the_shape_as_aux_data():
    t = wrap(np.arange(6.0).reshape(2, 3), batch('b'), spatial('x'))
    leaves, treedef = jax.tree_util.tree_flatten(t)
    assert len(leaves) == 1 and leaves[0] is t.native()
    rebuilt = jax.tree_util.tree_unflatten(treedef, [leaves[0] * 2])
    assert isinstance(rebuilt, Tensor) and rebuilt.shape == t.shape
    ((path, _),) = jax.tree_util.tree_flatten_with_path(t)[0]
    assert jax.tree_util.keystr(path) == '.native'
    same = jax.tree_util.tree_structure(wrap(np.zeros((2, 3)), batch('b'), spatial('x')))
    transposed = jax.tree_util.tree_structure(wrap(np.zeros((3, 2)), spatial('x'), batch('b')))
    assert treedef == same and treedef != transposed


def test_jit_of_jax_backed_tensors_matches_raw_jax():
    data = jnp.arange(6.0).reshape(2, 3)

    def ours(t):
        return ft.sum(ft.sin(t) * t.x[0], 'b')

    def reference(a):
        return jnp.sum(jnp.sin(a) * a[:, :1], axis=0)

    result = jax.jit(ours)(tensor(data, batch('b'), spatial('x')))
    assert result.shape == spatial(x=3) and result.default_backend == 'jax'
    chex.assert_trees_all_close(result.native(), jax.jit(reference)(data))


def test_grad_through_tensors_matches_raw_jax():
    data = jnp.arange(3.0)
    grad = jax.grad(lambda t: ft.l2_loss(t * 3).native())(tensor(data, spatial('x')))
    chex.assert_trees_all_close(grad.native(), jax.grad(lambda a: jnp.sum((a * 3) ** 2) / 2)(data))
    assert grad.shape == spatial(x=3)


def test_numpy_arithmetic_adds_no_equations():
    b_native = np.array([1, 2])
    b = wrap(b_native)
    a = tensor(jnp.array([1.0, 2.0]))
    ours = jax.make_jaxpr(lambda a: a + ft.sin(b**2))(a)
    reference = jax.make_jaxpr(lambda a: a + np.sin(b_native**2))(a.native())  # NumPy done by hand
    assert len(ours.jaxpr.eqns) == len(reference.jaxpr.eqns) == 1
    traced_b = jax.make_jaxpr(lambda a, b: a + ft.sin(b**2))(a, tensor(b_native, backend='jax'))
    raw_traced_b = jax.make_jaxpr(lambda a, b: a + jnp.sin(b**2))(a.native(), jnp.asarray(b_native))
    assert len(traced_b.jaxpr.eqns) == len(raw_traced_b.jaxpr.eqns) > 1
    np.testing.assert_allclose(
        jax.jit(lambda a: a + ft.sin(b**2))(a).numpy(), np.array([1.0, 2.0]) + np.sin(b_native**2), rtol=1e-6
    )


def test_backend_follows_inputs_while_tracing():
    seen = {}
    constant = wrap(np.arange(3.0), spatial('x'))

    def f(variable):
        seen['constant'] = (constant * 2 + 1).default_backend
        seen['mixed'] = (constant * variable).default_backend
        seen['reduced'] = ft.sum(constant).default_backend
        return constant * variable

    jax.jit(f)(tensor(jnp.ones(3), spatial('x')))
    assert seen == {'constant': 'numpy', 'mixed': 'jax', 'reduced': 'numpy'}


def test_python_control_flow_on_constants_inside_jit():
    def f(x):
        z = ft.sin(wrap(2) ** 2)  # seed 001: NumPy, known while tracing
        return z * x if z > 1 else z / x

    result = jax.jit(f)(tensor(1.0))
    np.testing.assert_allclose(result.numpy(), np.sin(4.0) / 1.0, rtol=1e-6)
    result = jax.jit(lambda x: x * 2 if (ft.sin(wrap(2) ** 2) > 1).all else x / 2)(tensor(4.0))
    assert float(result) == 2.0


@pytest.mark.parametrize(
    'use, what, dtype',
    [
        (lambda t: bool(t > 0), 'bool(tensor)', 'bool'),
        (lambda t: float(t), 'float(tensor)', 'float32'),
        (lambda t: int(t), 'int(tensor)', 'float32'),
        (lambda t: t.numpy(), 'numpy()', 'float32'),
        (lambda t: np.asarray(t), 'np.asarray(tensor)', 'float32'),
    ],
)
def test_control_flow_on_tracers_raises(use, what, dtype):
    def f(t):
        use(t)
        return t

    with pytest.raises(TracerControlFlowError) as info:
        jax.jit(f)(tensor(1.0))
    assert isinstance(info.value, TypeError)
    assert str(info.value) == (
        f"{what} needs concrete values, but () {dtype} jax tracer is being traced; use "
        f"where(...) instead of Python control flow, or pass the value as a NumPy-backed "
        f"(constant) tensor"
    )


def test_concrete_conversions():
    t = wrap(np.array([1.5, -2.0]), channel('vector'))
    np.testing.assert_array_equal(np.asarray(t), t.native())
    assert float(t.vector[0]) == 1.5 and int(t.vector[1]) == -2
    assert list(t) == [1.5, -2.0]
    np.testing.assert_array_equal(
        tensor(jnp.ones((2, 3)), spatial('x'), batch('b')).native('b,x,extra').shape, (3, 2, 1)
    )


@pytest.mark.parametrize(
    'use, builtin, message',
    [
        (
            lambda t: bool(t),
            ValueError,
            "bool(tensor) needs a tensor without dims, but got shape (xˢ=2); reduce it first: t.all, t.any, or foldax.tensors.all(t, dim)",
        ),
        (
            lambda t: float(t),
            ValueError,
            "float(tensor) needs a tensor without dims, but got shape (xˢ=2); index or reduce it first, e.g. t.x[0] or sum(t)",
        ),
        (
            lambda t: t.native('y'),
            ValueError,
            "native(order='y'): the order must name every dim of (xˢ=2) once, but omits ['x']; use e.g. order=['x']",
        ),
        (
            lambda t: iter(wrap(np.ones((1, 1)), spatial('x'), spatial('y'))),
            TypeError,
            "iterating a tensor needs exactly one dim, but got shape (xˢ=1, yˢ=1); iterate over one dim, "
            "e.g. [t.x[i] for i in ...]",
        ),
        (
            lambda t: t['a'],
            ValueError,
            "tensor['a'] selects item names of the only channel dim, but (xˢ=2) has 0 channel dims; use tensor.dim['a']",
        ),
    ],
)
def test_conversion_errors(use, builtin, message):
    with pytest.raises(FoldaxError) as raised:
        use(wrap(np.ones(2), spatial('x')))
    assert isinstance(raised.value, builtin), type(raised.value).__mro__
    assert str(raised.value) == message
