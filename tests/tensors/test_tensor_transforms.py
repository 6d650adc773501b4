"""Transformations on named-dimension tensors and on dataclasses holding them, compared with
the same computation on the native arrays under JAX's transformations."""

import chex
import jax
import jax.numpy as jnp
import numpy as np

import foldax
from foldax import tensors as t


@foldax.dataclass
class Field:
    values: t.Tensor  # variable
    scale: float = foldax.field(kind="static", default=2.0)


def energy(field):
    return t.l2_loss(field.values * field.scale)


def native_energy(v, scale=2.0):
    return jnp.sum((v * scale) ** 2, axis=-1) / 2  # batch dim 'b' first, spatial 'x' last


def test_jit_grad_on_a_dataclass_holding_a_batched_tensor():
    v = jnp.arange(6.0).reshape(2, 3)
    field = Field(t.tensor(v, t.batch("b"), t.spatial("x")))
    value = foldax.jit(energy)(field)
    np.testing.assert_allclose(value.native(), native_energy(v), rtol=1e-6)
    grads = foldax.grad(energy)(field)  # batched scalar: summed over 'b'
    ref = jax.grad(lambda v: jnp.sum(native_energy(v)))(v)
    np.testing.assert_allclose(grads.values.native(), ref, rtol=1e-6)
    assert grads.values.shape == field.values.shape and grads.scale == 2.0


def test_checkify_on_tensors_reports_the_values():
    def f(x):
        foldax.check(jnp.all(x.native() > 0), "x must be positive, got {}", x.native())
        return t.log(x)

    x = t.tensor(jnp.array([1.0, -2.0]), t.spatial("x"))
    error, out = foldax.checkify(f)(x)
    ref_error, _ = jax.experimental.checkify.checkify(
        lambda v: (
            jax.experimental.checkify.check(jnp.all(v > 0), "x must be positive, got {}", v),
            jnp.log(v),
        )[1]
    )(x.native())
    assert error.get() == ref_error.get()
    np.testing.assert_allclose(out.native(), jnp.log(x.native()))
    nan_error, _ = foldax.checkify(f, errors=foldax.nan_checks)(x)
    assert "nan generated" in nan_error.get()


def test_vmap_over_a_named_batch_dim_equals_whole_tensor_math():
    v = t.tensor(jnp.arange(12.0).reshape(4, 3), t.batch("b"), t.spatial("x"))
    per_element = foldax.vmap(lambda x: t.sum(x * x, "x"), dims="b")(v)
    chex.assert_trees_all_close(per_element.native(), jnp.sum(v.native() ** 2, axis=1))
