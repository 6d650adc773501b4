"""foldax.save / foldax.load round trips, compared bitwise with the saved tree."""

import doctest
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P
from trees import assert_bitwise_equal, make_model, sample, training_state

import foldax
from foldax.checkpoint.dtypes import DTYPES
from foldax.errors import FoldaxOverflowError, FoldaxTypeError


@pytest.mark.parametrize("name", sorted(DTYPES))
def test_every_dtype_roundtrips_bit_exactly(tmp_path, name):
    host = sample(name)
    tree = {"numpy": host, "scalar": host[0, 0]}
    if name != "float0" and (
        name not in {"int64", "uint64", "float64", "complex128"} or jax.config.jax_enable_x64
    ):
        tree["jax"] = jnp.asarray(host)
    foldax.save(tmp_path / "c.ckpt", tree)
    assert_bitwise_equal(foldax.load(tmp_path / "c.ckpt", tree), tree)


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg", "unsafe_rbg"])
@pytest.mark.parametrize("shape", [(), (3, 2)])
def test_typed_keys_roundtrip_with_their_implementation(tmp_path, impl, shape):
    key = jax.random.key(3, impl=impl)
    keys = jax.random.split(key, shape) if shape else key
    foldax.save(tmp_path / "k.ckpt", {"keys": keys})
    like = {
        "keys": jax.random.split(jax.random.key(0, impl=impl), shape)
        if shape
        else jax.random.key(0, impl=impl)
    }
    loaded = foldax.load(tmp_path / "k.ckpt", like)["keys"]
    assert_bitwise_equal(loaded, keys)
    assert jax.random.key_impl(loaded) == jax.random.key_impl(keys)
    np.testing.assert_array_equal(
        jax.random.normal(loaded.reshape(-1)[0], (4,)), jax.random.normal(keys.reshape(-1)[0], (4,))
    )


def test_model_optimiser_state_and_key_roundtrip(tmp_path):
    state = training_state(0)
    foldax.save(tmp_path / "train.ckpt", state)
    like = training_state(1)
    loaded = foldax.load(tmp_path / "train.ckpt", like)
    assert_bitwise_equal(loaded, state)
    assert type(loaded["step"]) is int


def test_static_and_value_fields_come_from_like(tmp_path):
    foldax.save(tmp_path / "m.ckpt", make_model(0, scale=2.0, act="relu"))
    loaded = foldax.load(tmp_path / "m.ckpt", make_model(1, scale=2.0, act="relu"))
    assert_bitwise_equal(loaded, make_model(0, scale=2.0, act="relu"))


def test_leaf_kinds_follow_like(tmp_path):
    tree = {
        "py": (True, 3, 0.25, 1 + 2j),
        "np": np.arange(3),
        "npscalar": np.float16(1.5),
        "jax": jnp.arange(3.0),
    }
    foldax.save(tmp_path / "c.ckpt", tree)
    assert_bitwise_equal(foldax.load(tmp_path / "c.ckpt", tree), tree)
    # ShapeDtypeStructs describe the leaves without values and give jax.Arrays.
    like = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype),
        {"np": tree["np"], "jax": tree["jax"]},
    )
    loaded = foldax.load(tmp_path / "c.ckpt", {**tree, **like})
    assert isinstance(loaded["np"], jax.Array)
    np.testing.assert_array_equal(loaded["np"], tree["np"])


def test_sharding_comes_from_like(tmp_path):
    mesh = jax.make_mesh((len(jax.devices()),), ("data",))
    sharding = NamedSharding(mesh, P("data"))
    x = jax.device_put(jnp.arange(8.0 * len(jax.devices())), sharding)
    keys = jax.device_put(jax.random.split(jax.random.key(0), len(jax.devices())), sharding)
    foldax.save(tmp_path / "s.ckpt", (x, keys))
    like = (jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), jnp.zeros_like(keys))
    loaded = foldax.load(tmp_path / "s.ckpt", (like[0], jax.device_put(like[1], sharding)))
    assert loaded[0].sharding == sharding and loaded[1].sharding == sharding
    assert_bitwise_equal(loaded, (x, keys))


def test_empty_tree_roundtrips(tmp_path):
    foldax.save(tmp_path / "e.ckpt", {})
    assert foldax.load(tmp_path / "e.ckpt", {}) == {}


@pytest.mark.parametrize(
    "leaf, reference",
    [
        (2**70, lambda: jnp.asarray(2**70)),
        (-(2**63) - 1, lambda: jnp.asarray(-(2**63) - 1)),
    ],
)
def test_python_ints_beyond_64_bits_are_refused(tmp_path, leaf, reference):
    with pytest.raises(OverflowError):  # what JAX raises for the same value
        reference()
    foldax.save(tmp_path / "c.ckpt", {"ok": 1})
    with pytest.raises(FoldaxOverflowError, match=r"leaf \['opt'\]\['count'\] is the Python int"):
        foldax.save(tmp_path / "c.ckpt", {"opt": {"count": leaf}})
    assert foldax.load(tmp_path / "c.ckpt", {"ok": 0}) == {"ok": 1}


@pytest.mark.parametrize(
    "leaf, found",
    [
        (np.array([1, "a"], dtype=object), "dtype object"),
        (np.array(["ab"]), "dtype <U2"),
        ("relu", "is a str"),
        (print, "is a builtin_function_or_method"),
    ],
)
def test_leaves_that_cannot_be_loaded_back_are_refused(tmp_path, leaf, found):
    with pytest.raises(TypeError):  # what JAX raises for the same leaf
        jnp.asarray(leaf)
    with pytest.raises(FoldaxTypeError, match=rf"leaf \[1\]\['act'\] .*{found}"):
        foldax.save(tmp_path / "c.ckpt", (jnp.ones(2), {"act": leaf}))
    assert not list(tmp_path.iterdir())


def test_tracers_are_refused(tmp_path):
    @jax.jit
    def f(x):
        foldax.save(tmp_path / "c.ckpt", {"x": x})
        return x

    with pytest.raises(FoldaxTypeError, match=r"leaf \['x'\] is a tracer .*outside"):
        f(jnp.ones(2))


@pytest.mark.parametrize(
    "module", ["dtypes", "leaves", "format", "atomic", "structure", "single_file", "manager", "orbax_dtypes"]
)
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(f"foldax.checkpoint.{module}"))
    assert result.failed == 0 and result.attempted > 0
