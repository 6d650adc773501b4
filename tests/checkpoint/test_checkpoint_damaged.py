"""Every damaged or foreign file fails to load with a CheckpointError (a FoldaxValueError)
naming the file, the leaf and the cause; no other exception escapes."""

import json
import struct
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from trees import forbid_unpickling, make_model, training_state

import foldax
from foldax.checkpoint import format as fmt
from foldax.errors import CheckpointError, CheckpointNotFoundError, FoldaxValueError


def small_tree():
    return {"w": jnp.arange(6.0).reshape(2, 3), "key": jax.random.key(0), "step": 4}


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "c.ckpt"
    foldax.save(path, small_tree())
    return path


def assert_load_fails(path, cause, leaf=None, like=None):
    with pytest.raises(CheckpointError) as info:
        foldax.load(path, small_tree() if like is None else like)
    message = str(info.value)
    assert isinstance(info.value, FoldaxValueError) and isinstance(info.value, ValueError)
    assert repr(str(path)) in message and cause in message, message
    assert leaf is None or leaf in message, message
    return message


def regions(path):
    """Byte offsets where each part of the file starts: header, checksum, each leaf."""
    with open(path, "rb") as f:
        records, start = fmt.read_header(f, str(path))
    (length,) = struct.unpack("<Q", path.read_bytes()[8:16])
    offsets, at = {}, start
    for r in records:
        offsets[r.path] = at
        at += r.nbytes
    return 16, 16 + length, offsets


def test_empty_file(saved):
    saved.write_bytes(b"")
    assert_load_fails(saved, "the file is empty", "before any leaf")


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="no such file") as info:
        foldax.load(tmp_path / "nothing.ckpt", small_tree())
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "content",
    [
        b"hello, world\n",
        b"\x89",
        b"{}",
        b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (0,), }",
    ],
)
def test_not_a_foldax_file(saved, content):
    saved.write_bytes(content)
    assert_load_fails(
        saved,
        "not a foldax checkpoint" if len(content) >= 8 or content[:1] != b"\x89" else "truncated",
        "before any leaf",
    )


def test_numpy_file_is_not_foldax(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(3.0))
    assert_load_fails(tmp_path / "x.npy", "not a foldax checkpoint")


def positions(path, size):
    """Every byte next to a boundary between the file's parts (magic, header length, header,
    checksum, each leaf), and every 5th byte elsewhere: each region and each edge is covered
    without loading the file once per byte."""
    header_start, checksum_start, offsets = regions(path)
    edges = {0, len(fmt.MAGIC), header_start, checksum_start, checksum_start + 4, *offsets.values(), size}
    near = {e + d for e in edges for d in (-2, -1, 0, 1, 2)}
    return sorted(i for i in near | set(range(0, size, 5)) if 0 <= i < size)


def test_truncated_at_every_part(saved):
    """A prefix ending in or next to every part of the file is refused; a cut inside a leaf
    names that leaf."""
    data = saved.read_bytes()
    _, _, offsets = regions(saved)
    like = small_tree()
    for n in positions(saved, len(data)):
        saved.write_bytes(data[:n])
        if n == 0:
            assert_load_fails(saved, "empty", like=like)
        elif n >= min(offsets.values()):
            cut = [p for p, at in offsets.items() if at <= n][-1]
            assert_load_fails(saved, "truncated inside this leaf", f"leaf {cut}", like=like)
        else:
            assert_load_fails(saved, "truncated", like=like)


def test_trailing_bytes(saved):
    saved.write_bytes(saved.read_bytes() + b"\x00")
    assert_load_fails(saved, "1 trailing bytes", "after the last leaf ['w']")


def test_flipped_bytes_are_detected_in_every_part(saved):
    data = saved.read_bytes()
    _, checksum_start, offsets = regions(saved)
    like = small_tree()
    for i in positions(saved, len(data)):
        damaged = bytearray(data)
        damaged[i] ^= 0x01
        saved.write_bytes(bytes(damaged))
        if i >= min(offsets.values()):
            leaf = max((at, p) for p, at in offsets.items() if at <= i)[1]
            assert_load_fails(saved, "the leaf's checksum does not match", f"leaf {leaf}", like=like)
        elif i < len(fmt.MAGIC):
            assert_load_fails(saved, "not a foldax checkpoint", "before any leaf", like=like)
        else:  # the header's length, the header, its checksum
            assert len(fmt.MAGIC) <= i < checksum_start + 4
            message = assert_load_fails(saved, "", "in the header, before any leaf", like=like)
            assert any(
                cause in message
                for cause in (
                    "the header's checksum does not match",
                    "truncated inside the header",
                    "more than any header",
                )
            ), message


def rewrite_header(path, change):
    """Replace the header by ``change(header)`` with a valid checksum, keeping the leaf blocks."""
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[8:16])
    header = json.loads(data[16 : 16 + length])
    body = json.dumps(change(header)).encode()
    path.write_bytes(
        fmt.MAGIC
        + struct.pack("<Q", len(body))
        + body
        + struct.pack("<I", zlib.crc32(body))
        + data[16 + length + 4 :]
    )


def set_in(keys, value):
    def change(header):
        target = header
        for k in keys[:-1]:
            target = target[k]
        if value is KeyError:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
        return header

    return change


@pytest.mark.parametrize(
    "change, place, expected",
    [
        (lambda h: [h], "in the header", "a JSON object"),
        (lambda h: "text", "in the header", "a JSON object"),
        (set_in(["format"], "foldax-1"), "field 'format'", "'foldax-checkpoint'"),
        (set_in(["version"], 3), "field 'version'", "version 2"),
        (set_in(["leaves"], KeyError), "field 'leaves'", "found nothing"),
        (set_in(["leaves"], {"a": 1}), "field 'leaves'", "a list of leaf records"),
        (set_in(["leaves", 0], 7), "header record of leaf 0", "a JSON object"),
        (set_in(["leaves", 0, "path"], None), "leaf 0, field 'path'", "a string"),
        (set_in(["leaves", 1, "shape"], [-1]), "leaf 1 (['step']), field 'shape'", "non-negative"),
        (set_in(["leaves", 1, "shape"], [True]), "field 'shape'", "non-negative ints"),
        (set_in(["leaves", 2, "data_dtype"], "object"), "field 'data_dtype'", "a dtype JAX supports"),
        (set_in(["leaves", 2, "data_dtype"], "float64"), "field 'nbytes'", "48 (the size"),
        (set_in(["leaves", 2, "nbytes"], 12), "field 'nbytes'", "24 (the size"),
        (set_in(["leaves", 2, "crc32"], "0"), "field 'crc32'", "a CRC-32"),
        (set_in(["leaves", 2, "crc32"], 2**32), "field 'crc32'", "a CRC-32"),
        (set_in(["leaves", 2, "key_impl"], 5), "field 'key_impl'", "null or a PRNG"),
        (set_in(["leaves", 2, "shape"], [6]), "leaf 2 (['w'])", "data of shape [6]"),
    ],
)
def test_header_of_the_wrong_shape(saved, change, place, expected):
    rewrite_header(saved, change)
    message = assert_load_fails(saved, "valid JSON but not a foldax header", place)
    assert expected in message, message


def test_header_that_is_not_json(saved):
    data = saved.read_bytes()
    (length,) = struct.unpack("<Q", data[8:16])
    body = b"\xff" * length
    saved.write_bytes(data[:16] + body + struct.pack("<I", zlib.crc32(body)) + data[16 + length + 4 :])
    assert_load_fails(saved, "not valid JSON", "before any leaf")


def test_huge_header_length(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[:8] + struct.pack("<Q", 2**62) + data[16:])
    assert_load_fails(saved, "more than any header")


@pytest.mark.parametrize(
    "like, leaf, cause",
    [
        ({**small_tree(), "w": jnp.zeros((3, 2))}, "['w']", "shape (3, 2) and dtype float32"),
        ({**small_tree(), "w": jnp.zeros((2, 3), jnp.bfloat16)}, "['w']", "dtype bfloat16"),
        ({**small_tree(), "key": jax.random.key(0, impl="rbg")}, "['key']", "dtype key<rbg>"),
        ({**small_tree(), "key": jnp.zeros(2, jnp.uint32)}, "['key']", "dtype uint32"),
        ({**small_tree(), "step": 4.0}, "['step']", "dtype float64"),
        ({**small_tree(), "step": "four"}, "['step']", "a str, which is not an array"),
        (
            {"key": jax.random.key(0), "w": jnp.zeros((2, 3))},
            "['step']",
            "the file holds 3 leaves, `like` has 2",
        ),
        (
            {**small_tree(), "x": jnp.zeros(())},
            "['x']",
            "`like`'s ['x'] has no counterpart (the file holds 3 leaves, `like` has 4)",
        ),
        ({"kez": jax.random.key(0), "step": 0, "w": jnp.zeros((2, 3))}, "['kez']", "the file holds"),
    ],
)
def test_like_of_another_structure_shape_or_dtype(saved, like, leaf, cause):
    message = assert_load_fails(saved, cause, leaf, like=like)
    assert "Build `like` with the same configuration" in message


def test_model_of_another_configuration(tmp_path):
    foldax.save(tmp_path / "train.ckpt", training_state(0))
    like = training_state(0)
    like["model"] = make_model(0).__class__(jnp.zeros((4, 2)), jnp.zeros(2))
    assert_load_fails(tmp_path / "train.ckpt", "shape (3, 2)", "['model'].w", like=like)


def test_loading_runs_no_code(saved, monkeypatch):
    """Neither pickle nor np.load (whose allow_pickle could unpickle) is ever called."""
    forbid_unpickling(monkeypatch)
    loaded = foldax.load(saved, small_tree())
    np.testing.assert_array_equal(loaded["w"], small_tree()["w"])
