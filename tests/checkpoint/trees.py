"""Trees the checkpoint tests save: a dataclass model with every field kind, optax state, keys,
and a bitwise comparison of two trees."""
import jax
import jax.numpy as jnp
import numpy as np
import optax

import foldax


@foldax.dataclass
class Model:
    w: jax.Array
    b: jax.Array
    scale: float = foldax.field(kind="value", default=1.0)
    act: str = foldax.field(kind="static", default="tanh")


def make_model(seed: int, scale: float = 1.0, act: str = "tanh") -> Model:
    k1, k2 = jax.random.split(jax.random.key(seed))
    return Model(jax.random.normal(k1, (3, 2)), jax.random.normal(k2, (2,)), scale, act)


def training_state(seed: int) -> dict:
    """A model after one Adam step, its optimiser state, a step counter and a typed key."""
    model = make_model(seed)
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))
    state = opt.init(model)
    grads = jax.tree.map(jnp.ones_like, model)
    updates, state = opt.update(grads, state, model)
    return {"model": optax.apply_updates(model, updates), "opt": state, "step": 1,
            "key": jax.random.fold_in(jax.random.key(seed), 7)}


def bits(x):
    """``(kind, dtype, shape, bytes)`` of a leaf: typed keys by their key data."""
    if hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        return ("key", str(x.dtype), x.shape, np.asarray(jax.random.key_data(x)).tobytes())
    a = np.asarray(x)
    return (type(x).__name__, a.dtype.name, a.shape, a.tobytes())


def assert_bitwise_equal(got, want):
    """Same structure (static and value fields included), leaf kinds, dtypes, shapes and bytes."""
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        assert bits(g) == bits(w)
