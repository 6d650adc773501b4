"""foldax.vmap against jax.vmap on the shared corpus (every higher-order primitive of the
interpreter core and a broad spread of lax primitives), with hypothesis drawing the batch size,
in_axes and out_axes."""

from __future__ import annotations

import chex
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from corpus import CORPUS, CORPUS_IDS, OTHER_INEXACT_DTYPES, assert_agrees_with_jax
from hypothesis import given, settings

import foldax


def batch_of(make, size: int, axis: int) -> jax.Array:
    """``size`` different inputs for a corpus function, stacked along ``axis``."""
    x = make()
    return jnp.moveaxis(jnp.stack([x * (0.5 + 0.25 * i) for i in range(size)]), 0, axis)


@pytest.mark.parametrize("name,fn,make", CORPUS, ids=CORPUS_IDS)
@settings(max_examples=3, deadline=None, derandomize=True)
@given(size=st.integers(1, 3), data=st.data())
def test_corpus_matches_jax_vmap(name, fn, make, size, data):
    ndim = make().ndim
    in_axis = data.draw(st.integers(-ndim - 1, ndim), label="in_axis")
    out_rank = np.ndim(jax.eval_shape(fn, make())) + 1
    out_axis = data.draw(st.integers(-out_rank, out_rank - 1), label="out_axis")
    xs = batch_of(make, size, in_axis % (ndim + 1))

    @jax.jit  # one compilation for both sides (eager op-by-op dispatch would dominate the time)
    def both(xs):
        return (
            foldax.vmap(fn, in_axes=in_axis, out_axes=out_axis)(xs),
            jax.vmap(fn, in_axes=in_axis, out_axes=out_axis)(xs),
        )

    ours, expected = both(xs)
    chex.assert_trees_all_close(ours, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name,fn,make", CORPUS[::4], ids=CORPUS_IDS[::4])
def test_corpus_eagerly(name, fn, make):
    xs = batch_of(make, 2, 0)
    chex.assert_trees_all_close(foldax.vmap(fn)(xs), jax.vmap(fn)(xs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", OTHER_INEXACT_DTYPES, ids=lambda d: d.name)
def test_every_inexact_dtype_matches_jax_vmap(dtype):
    """The corpus batched in every other float and complex dtype, against jax.vmap (refusals
    compared by builtin error type)."""
    fns = {name: fn for name, fn, _ in CORPUS}
    xs = {name: batch_of(make, 2, 0).astype(dtype) for name, _, make in CORPUS}

    def side(names, ours, xs):
        vmap = foldax.vmap if ours else jax.vmap
        return {name: vmap(fns[name])(xs[name]) for name in names}

    assert_agrees_with_jax(side, (xs,), sorted(fns), dtype)
