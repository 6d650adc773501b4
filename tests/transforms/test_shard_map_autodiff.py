"""foldax's autodiff through ``jax.shard_map`` (the JVP interpreter differentiates inside the
body; JAX's partial evaluation and transpose rules take it from there) against JAX's own
transformations of the same function, also composed with vmap and jit (8 host devices)."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import pytest
from jax.sharding import AxisType, PartitionSpec as P

import foldax

MESH = jax.make_mesh((4, 2), ("d", "e"), axis_types=(AxisType.Auto,) * 2)
reduce_sin = jax.shard_map(
    lambda a, b: jax.lax.psum((jnp.sin(a) * b).sum(), "d"), mesh=MESH, in_specs=(P("d"), P()), out_specs=P()
)
pair = jax.shard_map(
    lambda a, b: (a * b, jnp.cos(a)), mesh=MESH, in_specs=(P("d"), P()), out_specs=(P("d"), P("d"))
)


def scalar(w, x):
    return reduce_sin(x, w)


def vector(w, x):
    y, c = pair(x, w)
    return (y * c).sum() + w


X, W = jnp.linspace(-1, 1, 8), jnp.float32(2.0)
XS = jnp.stack([X, 2 * X])

TRANSFORMS = {
    "grad": lambda t, f: t.grad(f, argnums=(0, 1))(W, X),
    "jvp": lambda t, f: t.jvp(f, (W, X), (jnp.float32(0.5), X * 0.3)),
    "jacfwd": lambda t, f: t.jacfwd(f, argnums=1)(W, X),
    "jacrev": lambda t, f: t.jacrev(f, argnums=1)(W, X),
    "jit(grad)": lambda t, f: t.jit(t.grad(f, argnums=(0, 1)))(W, X),
    "grad(vmap)": lambda t, f: t.grad(lambda w, xs: t.vmap(f, in_axes=(None, 0))(w, xs).sum())(W, XS),
    "vmap(grad)": lambda t, f: t.vmap(t.grad(f, argnums=1), in_axes=(None, 0))(W, XS),
}


@pytest.mark.parametrize("fun", [scalar, vector], ids=["psum", "two outputs"])
@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_autodiff_through_shard_map_matches_jax(name, fun):
    run = TRANSFORMS[name]
    with jax.check_tracer_leaks(False):  # JAX's own jit(grad) of a shard_map psum trips its checker
        expected = run(jax, fun)
    chex.assert_trees_all_close(run(foldax, fun), expected, rtol=1e-5, atol=1e-6)
