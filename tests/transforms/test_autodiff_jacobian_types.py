"""The dtype and weak type of Jacobian blocks, compared with JAX's: ``jacrev`` gives each block
its input leaf's type (integer inputs with ``allow_int`` included), ``jacfwd`` its output leaf's;
``jacrev`` of an integer output is refused as in JAX."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import foldax
from foldax.errors import NonDifferentiableError

# bool inputs: jax.jacrev(allow_int=True) itself fails casting the float0 block to bool
# ("TypeError: a bytes-like object is required"); foldax gives False blocks.
INPUT_DTYPES = [np.float16, ml_dtypes.bfloat16, np.float32, np.int8, np.int32, np.uint8]


def _types(tree):
    return jax.tree_util.tree_map(lambda x: (np.dtype(x.dtype), jax.typeof(x).weak_type), tree)


def _mixed(x, y):
    z = x.astype(jnp.float32) * 2.0 + y
    return z, z.astype(jnp.bfloat16) * 3, jnp.float32(1.5)


@pytest.mark.parametrize("dtype", INPUT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_jacrev_blocks_have_the_input_type(dtype):
    args = (jnp.ones(3, dtype), jnp.arange(3.0))
    want = jax.jacrev(_mixed, argnums=(0, 1), allow_int=True)(*args)
    got = foldax.jacrev(_mixed, argnums=(0, 1), allow_int=True)(*args)
    assert _types(got) == _types(want)
    jax.tree_util.tree_map(
        lambda a, b: np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32)),
        got,
        want,
    )


@pytest.mark.parametrize("args", [(2, 1.0), (2.0, 1)], ids=["int_scalar", "float_scalar"])
def test_jacrev_of_python_scalars_keeps_weak_types(args):
    f = lambda x, y: x * 2.0 + y  # noqa: E731
    want = jax.jacrev(f, argnums=(0, 1), allow_int=True)(*args)
    got = foldax.jacrev(f, argnums=(0, 1), allow_int=True)(*args)
    assert _types(got) == _types(want)


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32])
def test_jacfwd_blocks_have_the_output_type(dtype):
    args = (jnp.ones(3, dtype), jnp.arange(3.0))
    want = jax.jacfwd(_mixed, argnums=(0, 1))(*args)
    got = foldax.jacfwd(_mixed, argnums=(0, 1))(*args)
    assert _types(got) == _types(want)


def test_jacrev_of_an_integer_output_is_refused_as_in_jax():
    f = lambda x: (x * 2).astype(jnp.int32)  # noqa: E731
    with pytest.raises(TypeError, match="jacrev requires real-valued outputs") as theirs:
        jax.jacrev(f)(jnp.ones(2))
    with pytest.raises(NonDifferentiableError) as ours:
        foldax.jacrev(f)(jnp.ones(2))
    assert isinstance(ours.value, type(theirs.value))
    assert "int32" in str(ours.value) and "vjp" in str(ours.value)
