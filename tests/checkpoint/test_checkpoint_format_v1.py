"""Files of foldax's first checkpoint format ("foldax-1") still load, bit for bit, without
running code; damaged ones fail with a CheckpointError naming the file, the leaf and the cause.
The files are written by the first format's own writer (foldax.save before format 2: an .npy
JSON header, then equinox.tree_serialise_leaves)."""

import json

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest
from trees import assert_bitwise_equal, forbid_unpickling, training_state

import foldax
from foldax.errors import CheckpointError
from foldax.pytrees.tree import leaves_with_paths


def save_v1(path, tree):
    """foldax.save of the first format, as it was (git show 0ee5009^:foldax/serialisation.py)."""
    described = [
        [p, list(np.shape(x)), str(np.asarray(x).dtype) if not hasattr(x, "dtype") else str(x.dtype)]
        for p, x in leaves_with_paths(tree)
    ]
    header = np.frombuffer(json.dumps({"format": "foldax-1", "leaves": described}).encode(), dtype=np.uint8)
    with open(path, "wb") as f:
        np.save(f, header)
        eqx.tree_serialise_leaves(f, tree)


def v1_tree():
    """What the first format could hold: a model and its optax state (no typed keys), arrays of
    dtypes NumPy lacks, NumPy and Python scalars."""
    state = training_state(0)
    del state["key"]
    return {
        **state,
        "bf16": jnp.arange(6, dtype=jnp.bfloat16).reshape(2, 3),
        "f8": jnp.linspace(-2, 2, 5).astype(jnp.float8_e4m3fn),
        "host": np.arange(4, dtype=np.int16),
        "scale": np.float32(0.5),
        "rate": 1e-3,
        "flag": True,
    }


@pytest.fixture
def v1_file(tmp_path):
    path = tmp_path / "model.eqx"
    save_v1(path, v1_tree())
    return path


def test_first_format_loads_bit_for_bit_without_running_code(v1_file, monkeypatch):
    forbid_unpickling(monkeypatch)
    assert_bitwise_equal(foldax.load(v1_file, v1_tree()), v1_tree())


def assert_load_fails(path, where, cause):
    with pytest.raises(CheckpointError) as info:
        foldax.load(path, v1_tree())
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert repr(str(path)) in message and where in message and cause in message, message


def test_truncated_first_format_file_names_the_leaf(v1_file):
    """Cut 3 bytes into the last leaf's data (``step``, an int64 .npy record of 128 + 8 bytes),
    then into the one before it (``scale``)."""
    data = v1_file.read_bytes()
    *_, (before_last, _), (last, _) = leaves_with_paths(v1_tree())
    for cut, leaf in [(3, last), (128 + 8 + 3, before_last)]:
        v1_file.write_bytes(data[:-cut])
        assert_load_fails(v1_file, f"leaf {leaf}", "truncated inside this leaf")


def test_trailing_bytes_after_a_first_format_file(v1_file):
    v1_file.write_bytes(v1_file.read_bytes() + b"\x00")
    assert_load_fails(v1_file, "after the last leaf ['step']", "trailing bytes")


def test_pickled_leaf_of_the_first_format_is_refused(tmp_path):
    """The first format pickled a Python int beyond 64 bits; loading never unpickles."""
    path = tmp_path / "big.eqx"
    save_v1(path, {"n": 2**70})
    with pytest.raises(
        CheckpointError,
        match=r"leaf \['n'\].*dtype object, which cannot be "
        r"loaded back.*save it again with this one",
    ):
        foldax.load(path, {"n": 0})


def test_npy_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.arange(3.0))
    assert_load_fails(path, "in the header, before any leaf", "not a foldax checkpoint (it is a NumPy")
