"""foldax.vmap(f, dims=...) on named-dimension Tensors: against a Python loop over the mapped
dimension (indexing by name) and against the same function applied to the whole Tensor where it
broadcasts by name anyway; errors."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import foldax
from foldax.errors import FoldaxValueError
from foldax.tensors import batch, channel, is_tensor, spatial, stack, sum as tsum, tensor

RNG = np.random.default_rng(0)
DATA = RNG.normal(size=(3, 4, 2)).astype(np.float32)


def per_example(v):
    """Not expressible by name broadcasting alone: a matrix norm of the native array."""
    return v * jnp.linalg.norm(v.native("x,vector"))


def loop(f, t, name):
    return stack([f(getattr(t, name)[i]) for i in range(t.shape.get_size(name))], batch(name))


def test_named_dim_anywhere_matches_a_loop():
    for order in [
        (batch("b"), spatial("x"), channel(vector="u,v")),
        (spatial("x"), batch("b"), channel(vector="u,v")),
    ]:
        data = DATA if order[0].names == ("b",) else DATA.transpose(1, 0, 2)
        t = tensor(jnp.asarray(data), *order)
        out = foldax.vmap(per_example, dims="b")(t)
        assert out.shape.names[0] == "b" and set(out.shape.names) == {"b", "x", "vector"}
        expected = loop(per_example, t, "b")
        chex.assert_trees_all_close(out.native("b,x,vector"), expected.native("b,x,vector"), rtol=1e-6)


def test_broadcasting_function_equals_the_whole_tensor_result():
    t = tensor(jnp.asarray(DATA), batch("b"), spatial("x"), channel(vector="u,v"))
    f = lambda v: tsum(v**2, "x")  # noqa: E731
    chex.assert_trees_all_close(foldax.vmap(f, dims="b")(t).native("b,vector"), f(t).native("b,vector"))
    chex.assert_trees_all_close(foldax.vmap(f, dims=batch)(t).native("b,vector"), f(t).native("b,vector"))


def test_unmapped_tensors_and_arrays_are_shared_by_every_element():
    t = tensor(jnp.asarray(DATA), batch("b"), spatial("x"), channel(vector="u,v"))
    w = tensor(np.array([1.0, -2.0], np.float32), channel(vector="u,v"))  # no 'b': unmapped
    scale = jnp.float32(3.0)
    f = lambda v, w, s: tsum(v * w, "vector") * s  # noqa: E731
    out = foldax.vmap(f, dims="b")(t, w, scale)
    expected = loop(lambda v: f(v, w, scale), t, "b")
    chex.assert_trees_all_close(out.native("b,x"), expected.native("b,x"), rtol=1e-6)


def test_two_dims_and_non_tensor_outputs():
    data = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    t = tensor(jnp.asarray(data), batch("b"), batch("seed"), spatial("x"))
    out, total = foldax.vmap(lambda v: (v * 2, jnp.sum(v.native())), dims="b,seed")(t)
    assert out.shape.names == ("b", "seed", "x")
    chex.assert_trees_all_close(out.native("b,seed,x"), 2 * data)
    assert not is_tensor(total)
    chex.assert_trees_all_close(total, data.sum(-1))


def test_mapped_numpy_tensor_becomes_a_variable():
    seen = []

    def f(v):
        seen.append(v.default_backend)
        return v + 1

    t = tensor(DATA, batch("b"), spatial("x"), channel(vector="u,v"))
    out = foldax.vmap(f, dims="b")(t)
    assert seen == ["jax"]
    chex.assert_trees_all_close(out.native("b,x,vector"), DATA + 1)


def test_composes_with_jit_and_grad():
    t = tensor(jnp.asarray(DATA), batch("b"), spatial("x"), channel(vector="u,v"))
    w = jnp.ones(2)

    def loss(w, v):
        return jnp.sum(tsum(v * tensor(w, channel(vector="u,v")), "vector").native() ** 2)

    per_example = foldax.jit(foldax.vmap(lambda v, w: jax.grad(loss)(w, v), dims="b"))(t, w)
    expected = jnp.stack([jax.grad(loss)(w, t.b[i]) for i in range(3)])
    chex.assert_trees_all_close(per_example, expected, rtol=1e-5)


def test_errors():
    t = tensor(jnp.asarray(DATA), batch("b"), spatial("x"), channel(vector="u,v"))
    with pytest.raises(
        FoldaxValueError,
        match=r"no Tensor argument has such a dimension; the "
        r"Tensor arguments' shapes are \(bᵇ=3",
    ):
        foldax.vmap(per_example, dims="batchsize")(t)
    with pytest.raises(FoldaxValueError, match="no argument is a Tensor"):
        foldax.vmap(lambda x: x, dims="b")(jnp.ones(3))
    other = tensor(jnp.ones((5, 2)), batch("b"), channel(vector="u,v"))
    with pytest.raises(
        FoldaxValueError,
        match=r"mapped along 'b' have different sizes: args\[0\] "
        r"has b=3; args\[1\] has b=5",
    ):
        foldax.vmap(lambda a, c: a, dims="b")(t, other)
    with pytest.raises(
        FoldaxValueError, match="in_axes, out_axes, axis_size and spmd_axis_name cannot be given"
    ):
        foldax.vmap(per_example, in_axes=1, dims="b")
