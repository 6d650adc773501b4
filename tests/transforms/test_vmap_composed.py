"""foldax.vmap composed with other transformations: per-example gradients of a dataclass MLP
(equal to a Python loop over the examples and to JAX's jit(vmap(grad))), vmap(vmap),
grad(vmap), jacfwd/jacrev/hessian(vmap), vmap(jit), vmap(jacfwd), checkify and random keys."""

from __future__ import annotations

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from corpus import soft_clip
from jax.experimental import checkify as jax_checkify

import foldax

GRADS = {"jax.grad": jax.grad}
if hasattr(foldax, "grad"):
    GRADS["foldax.grad"] = foldax.grad


# -- the flagship: per-example gradients of a dataclass MLP ------------------------------------
@foldax.dataclass
class MLP:
    layers: list
    activation: str = foldax.field(kind="static", default="tanh")

    def __call__(self, x):
        act = getattr(jnp, self.activation)
        for i, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if i < len(self.layers) - 1:
                x = act(x)
        return x


def make_mlp(sizes, seed=0) -> MLP:
    rng = np.random.default_rng(seed)
    return MLP(
        [
            (
                jnp.asarray(rng.normal(size=(m, n)) / np.sqrt(m), jnp.float32),
                jnp.asarray(rng.normal(size=n) * 0.1, jnp.float32),
            )
            for m, n in zip(sizes[:-1], sizes[1:])
        ]
    )


def mlp_loss(model: MLP, x, y):
    return jnp.mean((model(x) - y) ** 2)


@pytest.mark.parametrize("grad", list(GRADS))
def test_per_example_gradients_of_a_dataclass_mlp(grad):
    model = make_mlp([4, 8, 8, 2])
    rng = np.random.default_rng(1)
    xs = jnp.asarray(rng.normal(size=(5, 4)), jnp.float32)
    ys = jnp.asarray(rng.normal(size=(5, 2)), jnp.float32)
    per_example = foldax.jit(foldax.vmap(GRADS[grad](mlp_loss), in_axes=(None, 0, 0)))
    ours = per_example(model, xs, ys)
    assert isinstance(ours, MLP) and ours.activation == "tanh"
    loop = [jax.grad(mlp_loss)(model, xs[i], ys[i]) for i in range(len(xs))]
    expected = jax.tree_util.tree_map(lambda *g: jnp.stack(g), *loop)
    chex.assert_trees_all_close(ours, expected, rtol=1e-5, atol=1e-6)
    jax_version = jax.jit(jax.vmap(jax.grad(mlp_loss), in_axes=(None, 0, 0)))(model, xs, ys)
    chex.assert_trees_all_close(ours, jax_version, rtol=1e-5, atol=1e-6)
    # the mean of the per-example gradients is the gradient of the batch loss
    batch = jax.grad(lambda m: jnp.mean(jax.vmap(mlp_loss, in_axes=(None, 0, 0))(m, xs, ys)))(model)
    chex.assert_trees_all_close(
        jax.tree_util.tree_map(lambda g: g.mean(0), ours), batch, rtol=1e-5, atol=1e-6
    )


# -- the orderings named in the issue ----------------------------------------------------------
def f2(x):
    return jnp.sin(x) * soft_clip(x) + jnp.cumsum(x)


X = jnp.linspace(-1.0, 1.0, 6).reshape(2, 3)


ORDERINGS = [
    "vmap(vmap)",
    "grad(vmap)",
    "jacfwd(vmap)",
    "jacrev(vmap)",
    "vmap(jit)",
    "vmap(jacfwd)",
    "hessian(vmap)",
    "vmap(grad)",
]
DIFF = {"jax": (jax.grad, jax.jacfwd, jax.jacrev, jax.hessian)}
if hasattr(foldax, "jacfwd"):
    DIFF["foldax"] = (foldax.grad, foldax.jacfwd, foldax.jacrev, foldax.hessian)


def build_ordering(how, vmap, jit, diff):
    grad, jacfwd, jacrev, hessian = diff
    return {
        "vmap(vmap)": lambda: vmap(vmap(f2))(X[..., None] * jnp.ones(2)),
        "grad(vmap)": lambda: grad(lambda x: vmap(f2)(x).sum())(X),
        "jacfwd(vmap)": lambda: jacfwd(vmap(f2))(X),
        "jacrev(vmap)": lambda: jacrev(vmap(f2))(X),
        "vmap(jit)": lambda: vmap(jit(f2))(X),
        "vmap(jacfwd)": lambda: vmap(jacfwd(f2))(X),
        "hessian(vmap)": lambda: hessian(lambda x: vmap(f2)(x).sum())(X[0]),
        "vmap(grad)": lambda: vmap(grad(lambda x: f2(x).sum()))(X),
    }[how]()


@pytest.mark.parametrize("diff", list(DIFF))
@pytest.mark.parametrize("how", ORDERINGS)
def test_named_orderings(how, diff):
    """foldax's vmap/jit with JAX's or foldax's differentiation vs JAX's transformations."""
    chex.assert_trees_all_close(
        build_ordering(how, foldax.vmap, foldax.jit, DIFF[diff]),
        build_ordering(how, jax.vmap, jax.jit, DIFF["jax"]),
        rtol=1e-5,
        atol=1e-6,
    )


# -- checkify and random keys ------------------------------------------------------------------
def checked(x):
    foldax.check(x > 0, "x must be positive, got {}", x)
    return jnp.log(x)


def checked_jax(x):
    jax_checkify.check(x > 0, "x must be positive, got {x}", x=x)
    return jnp.log(x)


CHECK_ORDERS = [("checkify", "vmap"), ("vmap", "checkify")] + list(
    itertools.permutations(("checkify", "jit", "vmap"))
)


@pytest.mark.parametrize("order", CHECK_ORDERS, ids=["(".join(o) for o in CHECK_ORDERS])
def test_checkify_composes_with_vmap(order):
    def build(checkify, jit, vmap, f):
        wrap = {"checkify": checkify, "jit": jit, "vmap": vmap}
        for name in reversed(order):
            f = wrap[name](f)
        return f

    ours = build(foldax.checkify, foldax.jit, foldax.vmap, checked)
    theirs = build(jax_checkify.checkify, jax.jit, jax.vmap, checked_jax)
    for xs in (jnp.array([1.0, 2.0, 3.0]), jnp.array([1.0, -2.0, 3.0])):
        (err, out), (jerr, jout) = ours(xs), theirs(xs)
        chex.assert_trees_all_close(out, jout)
        assert (err.get() is None) == (jerr.get() is None)
        if jerr.get() is not None:
            assert "x must be positive, got -2.0" in err.get()


def test_random_keys_under_vmap_jit_and_grad():
    keys = foldax.random.split(foldax.random.key(0), 4)

    def noisy_loss(w, key):
        return jnp.sum((w * foldax.random.normal(key, (3,))) ** 2)

    def noisy_loss_jax(w, key):
        return jnp.sum((w * jax.random.normal(key, (3,))) ** 2)

    w = jnp.arange(3.0)
    ours = foldax.jit(foldax.vmap(jax.grad(noisy_loss), in_axes=(None, 0)))(w, keys)
    theirs = jax.jit(jax.vmap(jax.grad(noisy_loss_jax), in_axes=(None, 0)))(w, keys)
    chex.assert_trees_all_close(ours, theirs)
    split = foldax.vmap(foldax.random.split)(keys)
    chex.assert_trees_all_close(
        foldax.random.key_data(split), jax.random.key_data(jax.vmap(jax.random.split)(keys))
    )
