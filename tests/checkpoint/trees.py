"""Trees the checkpoint tests save: a dataclass model with every field kind, optax state, keys,
arrays of every dtype, and a bitwise comparison of two trees."""

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import optax

import foldax
from foldax.checkpoint.dtypes import DTYPES


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
    return {
        "model": optax.apply_updates(model, updates),
        "opt": state,
        "step": 1,
        "key": jax.random.fold_in(jax.random.key(seed), 7),
    }


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


SUB_BYTE = {"int2", "int4", "uint2", "uint4", "float4_e2m1fn"}


def sample(name: str, shape=(4, 5)) -> np.ndarray:
    """Arbitrary bit patterns (NaNs and infinities included); sub-byte types get every value."""
    dtype = DTYPES[name]
    if name == "float0":
        return np.zeros(shape, dtype)
    if name == "bool":
        return np.random.default_rng(0).integers(0, 2, shape).astype(bool)
    if name in SUB_BYTE:
        info = ml_dtypes.finfo(dtype) if name.startswith("float") else ml_dtypes.iinfo(dtype)
        values = (
            np.arange(np.prod(shape)) % 4
            if name.startswith("float")
            else (np.arange(np.prod(shape)) % (int(info.max) - int(info.min) + 1) + int(info.min))
        )
        return values.astype(dtype).reshape(shape)
    raw = np.random.default_rng(0).integers(0, 256, (*shape, dtype.itemsize), dtype=np.uint8)
    return raw.view(dtype).reshape(shape)


def forbid_unpickling(monkeypatch):
    """Make pickle and np.load (whose allow_pickle could unpickle) fail if called."""
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("load must not unpickle")

    for module, name in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (np, "load")]:
        monkeypatch.setattr(module, name, refuse)
