"""Composition: every nesting of jit, grad and vmap to depth three equals the same nesting of
JAX's transformations (``grad`` is JAX's and, where it exists, also ``foldax.grad``). The
flagship per-example gradients and the other orderings are in ``test_vmap_composed.py``."""

from __future__ import annotations

import itertools

import chex
import jax
import jax.numpy as jnp
import pytest
from corpus import scaled_identity, soft_clip
from jax import lax

import foldax

GRADS = {"jax.grad": jax.grad}
if hasattr(foldax, "grad"):
    GRADS["foldax.grad"] = foldax.grad


def base(x):
    """Custom derivatives and a cond whose predicate becomes batched under vmap."""
    y = soft_clip(x) * jnp.cos(x) + scaled_identity(x) ** 2
    return lax.cond(y.sum() > 0, lambda v: v * 2 + jnp.cumsum(v), jnp.sin, y)


def build(names: tuple, jit, vmap, grad):
    """``names[0](names[1](...(base)))``; grad differentiates the summed output, so every
    transformation maps an array to one of the same shape."""
    wrap = {"jit": jit, "vmap": vmap, "grad": lambda f: grad(lambda x: f(x).sum())}
    f = base
    for name in reversed(names):
        f = wrap[name](f)
    return f


def input_for(names: tuple) -> jax.Array:
    n = names.count("vmap")
    return jnp.linspace(-1.0, 1.5, 3 * 2**n).reshape((2,) * n + (3,))


NESTINGS = [
    names for depth in (1, 2, 3) for names in itertools.product(("jit", "grad", "vmap"), repeat=depth)
]
CASES = [(names, g) for names in NESTINGS for g in GRADS if "grad" in names or g == "jax.grad"]


@pytest.fixture(scope="module")
def nested_results():
    """All nestings, foldax's and JAX's, evaluated in one jax.jit (one compilation); an error
    raised while tracing one nesting is kept for that nesting's test."""
    errors = {}

    @jax.jit
    def run_all(inputs):
        out = {}
        for names, g in CASES:
            x = inputs[len(names), names.count("vmap")]
            try:
                ours = build(names, foldax.jit, foldax.vmap, GRADS[g])(x)
            except Exception as e:  # noqa: BLE001 -- re-raised by the test of this nesting
                errors[names, g] = e
                continue
            out["/".join(names) + ":" + g] = (ours, build(names, jax.jit, jax.vmap, jax.grad)(x))
        return out

    inputs = {(len(n), n.count("vmap")): input_for(n) for n, _ in CASES}
    return run_all(inputs), errors


@pytest.mark.parametrize("names,grad", CASES, ids=["(".join(n) + f"[{g}]" for n, g in CASES])
def test_nesting_matches_jax(nested_results, names, grad):
    results, errors = nested_results
    if (names, grad) in errors:
        raise errors[names, grad]
    ours, theirs = results["/".join(names) + ":" + grad]
    chex.assert_trees_all_close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "names",
    [
        ("vmap", "vmap"),
        ("grad", "vmap"),
        ("vmap", "grad"),
        ("vmap", "jit"),
        ("grad", "jit"),
        ("grad", "jit", "vmap"),
    ],
)
@pytest.mark.parametrize("grad", list(GRADS))
def test_nesting_eagerly(names, grad):
    x = input_for(names)
    chex.assert_trees_all_close(
        build(names, foldax.jit, foldax.vmap, GRADS[grad])(x),
        build(names, jax.jit, jax.vmap, jax.grad)(x),
        rtol=1e-5,
        atol=1e-6,
    )
