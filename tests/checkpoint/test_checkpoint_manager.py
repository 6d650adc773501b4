"""foldax.CheckpointManager (orbax-checkpoint underneath): round trips compared bitwise with the
saved trees, orbax's step policies, asynchronous saves and interrupted saves."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P
from trees import assert_bitwise_equal, make_model, sample, training_state

import foldax
from foldax.checkpoint.dtypes import DTYPES
from foldax.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    FoldaxOverflowError,
    FoldaxTypeError,
    FoldaxValueError,
)


@pytest.fixture
def manager(tmp_path):
    with foldax.CheckpointManager(tmp_path / "run") as m:
        yield m


def roundtrip(manager, tree, like=None, step=0):
    manager.save(step, tree, force=True)
    manager.wait_until_finished()
    return manager.restore(tree if like is None else like, step=step)


@pytest.mark.parametrize("name", sorted(set(DTYPES) - {"float0"}))
def test_every_dtype_roundtrips_bit_exactly(manager, name):
    host = sample(name)
    tree = {"numpy": host, "scalar": host[0, 0]}
    if name not in {"int64", "uint64", "float64", "complex128"} or jax.config.jax_enable_x64:
        tree["jax"] = jnp.asarray(host)
    assert_bitwise_equal(roundtrip(manager, tree), tree)


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg", "unsafe_rbg"])
def test_typed_keys_roundtrip_with_their_implementation(manager, impl):
    keys = {
        "one": jax.random.key(3, impl=impl),
        "many": jax.random.split(jax.random.key(4, impl=impl), (3, 2)),
    }
    like = jax.tree.map(
        lambda k: jax.random.wrap_key_data(jnp.zeros_like(jax.random.key_data(k)), impl=impl), keys
    )
    loaded = roundtrip(manager, keys, like)
    assert_bitwise_equal(loaded, keys)
    np.testing.assert_array_equal(
        jax.random.normal(loaded["one"], (4,)), jax.random.normal(keys["one"], (4,))
    )


def test_model_optimiser_state_and_key_roundtrip(manager):
    state = training_state(0)
    loaded = roundtrip(manager, state, training_state(1))
    assert_bitwise_equal(loaded, state)
    assert type(loaded["step"]) is int


def test_static_and_value_fields_come_from_like(manager):
    loaded = roundtrip(manager, make_model(0, 2.0, "relu"), make_model(1, 2.0, "relu"))
    assert_bitwise_equal(loaded, make_model(0, 2.0, "relu"))


def test_restore_reshards_onto_the_like_sharding(manager):
    devices = np.array(jax.devices())
    saved_sharding = NamedSharding(jax.make_mesh((devices.size,), ("data",)), P("data"))
    x = jax.device_put(jnp.arange(8.0 * devices.size).reshape(devices.size, 8), saved_sharding)
    keys = jax.device_put(jax.random.split(jax.random.key(1), devices.size), saved_sharding)
    manager.save(0, {"x": x, "keys": keys})
    manager.wait_until_finished()
    mesh = jax.make_mesh((2, devices.size // 2), ("a", "b"))
    target = NamedSharding(mesh, P(None, ("a", "b")))
    key_target = NamedSharding(mesh, P("b"))
    like = {
        "x": jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=target),
        "keys": jax.device_put(jax.random.split(jax.random.key(0), devices.size), key_target),
    }
    loaded = manager.restore(like)
    assert loaded["x"].sharding == target and loaded["keys"].sharding == key_target
    assert_bitwise_equal(loaded, {"x": x, "keys": keys})


def test_steps_kept_and_saved_follow_the_options(tmp_path):
    """Compared with the rule orbax documents: the first step, then multiples of the interval;
    the latest ``max_to_keep`` are kept."""
    with foldax.CheckpointManager(tmp_path, max_to_keep=3, save_interval_steps=4) as m:
        saved = [step for step in range(1, 23) if m.save(step, {"w": jnp.full(2, step)})]
        m.wait_until_finished()
        expected = [1] + [s for s in range(1, 23) if s % 4 == 0]
        assert saved == expected
        assert m.all_steps() == expected[-3:] and m.latest_step() == expected[-1]
        for step in expected[-3:]:
            np.testing.assert_array_equal(m.restore({"w": jnp.zeros(2, int)}, step)["w"], np.full(2, step))


def test_async_save_does_not_depend_on_the_tree_after_returning(manager):
    x = jnp.arange(1000.0)
    host = np.arange(5)
    reference = {"x": np.asarray(x).copy(), "host": host.copy()}
    manager.save(0, {"x": x, "host": host})
    x.delete()  # the training step donated it
    host[:] = -1  # or changed it in place
    manager.wait_until_finished()
    loaded = manager.restore({"x": jnp.zeros(1000), "host": np.zeros(5, int)})
    np.testing.assert_array_equal(loaded["x"], reference["x"])
    np.testing.assert_array_equal(loaded["host"], reference["host"])


def test_restore_without_a_step_is_a_clear_error(manager):
    with pytest.raises(
        CheckpointNotFoundError,
        match=r"holds no finished step \(finished steps: "
        r"\[\]\)",
    ):
        manager.restore({"w": jnp.zeros(2)})
    manager.save(3, {"w": jnp.zeros(2)})
    with pytest.raises(CheckpointNotFoundError, match=r"holds no step 4 \(finished steps: \[3\]\)") as e:
        manager.restore({"w": jnp.zeros(2)}, step=4)
    assert isinstance(e.value, FileNotFoundError)


def test_like_of_another_structure_is_a_clear_error(manager):
    manager.save(0, training_state(0))
    like = {**training_state(0), "model": make_model(0).__class__(jnp.zeros((4, 2)), jnp.zeros(2))}
    with pytest.raises(
        CheckpointError,
        match=r"restore\(step=0\).*the file holds \['model'\]\.w "
        r"with shape \(3, 2\).*shape \(4, 2\)",
    ):
        manager.restore(like)


def test_damaged_step_is_a_clear_error(manager):
    manager.save(0, {"w": jnp.arange(3.0)})
    manager.wait_until_finished()
    step_dir = os.path.join(manager.directory, "0", "leaves")
    for name in os.listdir(step_dir):
        if name.startswith("_") or name in {"manifest.ocdbt"}:
            continue
        target = os.path.join(step_dir, name)
        if os.path.isdir(target):
            for root, _, files in os.walk(target):
                for f in files:
                    os.remove(os.path.join(root, f))
    with pytest.raises(CheckpointError, match=r"restore\(step=0\).*in the leaves") as e:
        manager.restore({"w": jnp.zeros(3)})
    assert isinstance(e.value, FoldaxValueError)


@pytest.mark.parametrize("leaf, error", [(2**70, FoldaxOverflowError), ("text", FoldaxTypeError)])
def test_unsavable_leaves_are_refused(manager, leaf, error):
    with pytest.raises(error, match=r"leaf \['bad'\]"):
        manager.save(0, {"bad": leaf})
    assert manager.all_steps() == []


def test_bad_steps(manager):
    manager.save(3, {"w": jnp.ones(2)})
    manager.wait_until_finished()
    assert not manager.save(3, {"w": jnp.zeros(2)})  # orbax skips steps not after the latest
    with pytest.raises(FoldaxValueError, match=r"step 3 is already saved"):
        manager.save(3, {"w": jnp.zeros(2)}, force=True)
    for step in (-1, 2.5, True):
        with pytest.raises(FoldaxValueError, match=r"steps are non-negative ints"):
            manager.save(step, {"w": jnp.zeros(2)})
    np.testing.assert_array_equal(manager.restore({"w": jnp.zeros(2)})["w"], np.ones(2))


@pytest.mark.parametrize("option, value", [("max_to_keep", 0), ("save_interval_steps", 0)])
def test_bad_options(tmp_path, option, value):
    with pytest.raises(FoldaxValueError, match=rf"CheckpointManager\({option}={value}\)"):
        foldax.CheckpointManager(tmp_path, **{option: value})


KILLED_SAVER = textwrap.dedent("""
    import sys, jax.numpy as jnp, foldax
    manager = foldax.CheckpointManager(sys.argv[1])
    manager.save(1, {"w": jnp.full(8, 1.0)})
    manager.wait_until_finished()
    print("step 1 saved", flush=True)
    manager.save(2, {"w": jnp.full(%d, 2.0)})
    manager.wait_until_finished()
    print("step 2 saved", flush=True)
""") % (32 * 2**20,)  # 128 MiB: the save of step 2 takes a while


def test_an_interrupted_step_is_never_restored(tmp_path):
    directory = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_SAVER, str(directory)], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        assert proc.stdout.readline() == "step 1 saved\n"
        while proc.poll() is None and not any(
            "tmp" in p.name and p.name.startswith("2") for p in directory.iterdir()
        ):
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    with foldax.CheckpointManager(directory) as m:
        assert m.all_steps() == [1] and m.latest_step() == 1
        np.testing.assert_array_equal(m.restore({"w": jnp.zeros(8)})["w"], np.full(8, 1.0))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_save_their_shards_and_one_restores_all(tmp_path):
    """2 processes x 2 devices save a tree sharded over 4 devices, each restores its shards;
    then this process (8 devices) restores it onto an 8-device mesh. Compared with NumPy."""
    worker = pathlib.Path(__file__).with_name("multiprocess_worker.py")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("XLA_FLAGS", None)
    port, directory = free_port(), tmp_path / "run"
    procs = [
        subprocess.Popen(
            [sys.executable, str(worker), str(i), "2", str(port), str(directory)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
        for i in range(2)
    ]
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=240)[0])
    finally:
        for proc in procs:
            proc.kill()
    assert [p.returncode for p in procs] == [0, 0], outputs
    x = np.arange(16.0, dtype=np.float32).reshape(8, 2)
    key_data = np.asarray(jax.random.key_data(jax.random.split(jax.random.key(0), 8)))
    for i, out in enumerate(outputs):
        local = json.loads(
            next(line for line in out.splitlines() if line.startswith("RESULT "))[len("RESULT ") :]
        )
        np.testing.assert_array_equal(np.concatenate(local["x"]), x[4 * i : 4 * i + 4])
        np.testing.assert_array_equal(np.concatenate(local["keys"]), key_data[4 * i : 4 * i + 4])
        assert local["step"] == 3 and local["host"] == [1.0] * 3 and local["sharding_kept"]
    mesh = jax.make_mesh((len(jax.devices()),), ("d",))
    like = {
        "x": jax.ShapeDtypeStruct((8, 2), jnp.float32, sharding=NamedSharding(mesh, P("d"))),
        "keys": jax.random.split(jax.random.key(1), 8),
        "step": 0,
        "host": np.zeros(3),
    }
    with foldax.CheckpointManager(directory) as m:
        restored = m.restore(like)
    expected = {
        "x": jnp.asarray(x),
        "keys": jax.random.wrap_key_data(jnp.asarray(key_data)),
        "step": 3,
        "host": np.ones(3),
    }
    assert_bitwise_equal(restored, expected)
    assert restored["x"].sharding == NamedSharding(mesh, P("d"))
