"""matrix_from_function against the dense Jacobian (jax.jacfwd) and the function itself."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse
from jax.experimental import sparse

from foldax.errors import NonLinearError
from foldax.transforms.linear import matrix_from_function


def lap1d(u):
    return jnp.roll(u, 1) + jnp.roll(u, -1) - 2 * u


def lap2d(u):
    p = jnp.pad(u, 1)
    return p[2:, 1:-1] + p[:-2, 1:-1] + p[1:-1, 2:] + p[1:-1, :-2] - 4 * u


def upwind(u):
    return (u[1:] - u[:-1]) / 0.1


def padded_scaled(u):
    return jnp.pad(u, (2, 1)) * np.linspace(1.0, 2.0, u.size + 3).astype(np.float32) + 3.0


def concatenated(u):
    return jnp.concatenate([u[::2] * 2, jnp.cumsum(u), u.reshape(2, -1).T.ravel()])


def dense_mix(u):
    w = np.arange(24.0, dtype=np.float32).reshape(4, 6) / 10
    return w @ u + jnp.sum(u) - u[2]


CASES = [
    ("lap1d", lap1d, (6,)),
    ("lap2d", lap2d, (4, 5)),
    ("upwind", upwind, (7,)),
    ("padded_scaled", padded_scaled, (5,)),
    ("concatenated", concatenated, (6,)),
    ("dense_mix", dense_mix, (6,)),
]


@pytest.mark.parametrize("name,f,shape", CASES, ids=[c[0] for c in CASES])
def test_matrix_equals_dense_jacobian_and_bias_equals_f_at_zero(name, f, shape):
    x0 = np.zeros(shape, np.float32)
    matrix, bias = matrix_from_function(f, x0)
    assert isinstance(matrix, scipy.sparse.spmatrix) or scipy.sparse.issparse(matrix)
    jac = np.asarray(jax.jacfwd(f)(jnp.asarray(x0))).reshape(-1, x0.size)
    np.testing.assert_allclose(matrix.toarray(), jac, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(bias, np.asarray(f(jnp.asarray(x0))).ravel(), rtol=1e-6)
    x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    np.testing.assert_allclose(
        matrix @ x.ravel() + bias, np.asarray(f(jnp.asarray(x))).ravel(), rtol=1e-5, atol=1e-5
    )


def test_scaling_by_a_variable_gives_bcoo():
    f = lambda x, a: a * x[:-1]  # noqa: E731 - ΦML's page example
    matrix, bias = matrix_from_function(f, np.zeros(3, np.float32), jnp.asarray(2.0))
    assert isinstance(matrix, sparse.BCOO) and matrix.nse == 2
    jac = jax.jacfwd(f)(jnp.zeros(3), 2.0)
    np.testing.assert_allclose(matrix.todense(), jac)
    constant = matrix_from_function(f, np.zeros(3, np.float32), np.float32(2.0))[0]
    assert scipy.sparse.issparse(constant)
    np.testing.assert_allclose(constant.toarray(), jac)


def test_cost_grows_with_nonzeros_stored_not_with_dense_size():
    matrix, _ = matrix_from_function(lap2d, np.zeros((200, 300), np.float32))
    assert matrix.shape == (60000, 60000) and matrix.nnz == 5 * 60000 - 2 * (200 + 300)


def test_non_linear_function_names_the_primitive():
    with pytest.raises(NonLinearError, match=r"'sin' at .*test_linear.py"):
        matrix_from_function(lambda x: jnp.sin(x) + x, np.zeros(3))
    with pytest.raises(NonLinearError, match=r"'mul'.*both depend on the input"):
        matrix_from_function(lambda x: x * x, np.zeros(3))
