"""The single-file checkpoint format (version 2) and the checks that read it back.

Layout, in this order::

    magic        8 bytes   b"\\x89FOLDAX\\n"
    length       8 bytes   little-endian unsigned length L of the header
    header       L bytes   UTF-8 JSON, see below
    checksum     4 bytes   little-endian CRC-32 of the header bytes
    leaf blocks            each leaf's bytes, C order, little-endian, back to back, nothing after

The header is ``{"format": "foldax-checkpoint", "version": 2, "leaves": [record, ...]}`` with
one record per leaf, in ``jax.tree.leaves`` order::

    {"path": "[0].w", "shape": [3, 2], "dtype": "float32", "data_shape": [3, 2],
     "data_dtype": "float32", "nbytes": 24, "crc32": <CRC-32 of the block>,
     "key_impl": null}

A typed PRNG key has ``dtype`` ``"key<fry>"``, its ``key_impl`` (``"threefry2x32"``) and its
``jax.random.key_data`` as the block (``data_shape``/``data_dtype``). The header checksum catches
a flipped byte in the header, each block's checksum one in that leaf (CRC-32 detects every
error of up to 32 consecutive bits, so every flipped byte), and the file's size (known
from the header) a truncated file or trailing bytes. Nothing is unpickled: dtypes are looked up
by name in a fixed table, and blocks are read as raw bytes.

Example:
    >>> import io, numpy as np
    >>> from foldax.checkpoint.leaves import encode
    >>> record, data = encode("['w']", np.arange(3.0))
    >>> blob = encode_header([with_checksum(record, data)])
    >>> records, start = read_header(io.BytesIO(blob + data.tobytes()), "load(path='m.ckpt')")
    >>> records[0].path, records[0].shape, start == len(blob)
    ("['w']", (3,), True)
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct
import zlib
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from foldax.checkpoint.dtypes import dtype_from_name, known_dtype
from foldax.checkpoint.leaves import Record, short
from foldax.errors import CheckpointError

MAGIC = b"\x89FOLDAX\n"
FORMAT = "foldax-checkpoint"
VERSION = 2
_LENGTH = struct.Struct("<Q")
_CHECKSUM = struct.Struct("<I")
_MAX_HEADER = 1 << 31


def checksum(data: Any) -> int:
    """CRC-32 of a buffer (bytes, or a contiguous array's bytes)."""
    return zlib.crc32(memoryview(data).cast("B"))


def with_checksum(record: Record, data: np.ndarray) -> Record:
    return dataclasses.replace(record, crc32=checksum(data.reshape(-1).view(np.uint8)))


def encode_header(records: list[Record]) -> bytes:
    """Magic, length, JSON header and its checksum: everything before the first leaf block."""
    body = json.dumps(
        {"format": FORMAT, "version": VERSION, "leaves": [dataclasses.asdict(r) for r in records]}
    ).encode()
    return MAGIC + _LENGTH.pack(len(body)) + body + _CHECKSUM.pack(checksum(body))


def damaged(source: str, where: str, cause: str, fix: str | None = None) -> CheckpointError:
    """The error for a checkpoint that cannot be loaded. ``source`` names the call and the
    file (``"load(path='m.ckpt')"``), ``where`` the leaf or header part, ``cause`` what is wrong."""
    fix = fix or (
        "Load another checkpoint (an earlier one, or a backup), or save this one again with foldax.save."
    )
    return CheckpointError(f"{source}: {where}: {cause}. {fix}")


def read_header(f: IO[bytes], source: str) -> tuple[list[Record], int]:
    """The leaf records and the offset of the first block, checked against their checksum.
    ``source`` names the call and file in errors (``"load(path='m.ckpt')"``).

    Raises:
        CheckpointError: the file is empty, not a foldax checkpoint, truncated in its header,
            or its header is damaged or not a foldax header.
    """
    head = f.read(len(MAGIC) + _LENGTH.size)
    where = "in the header, before any leaf"
    if not head:
        raise damaged(
            source, where, "the file is empty (0 bytes): it was truncated, or never written by foldax.save"
        )
    if not MAGIC.startswith(head[: len(MAGIC)]):
        raise damaged(
            source,
            where,
            f"the file is not a foldax checkpoint (it starts with {head[:8]!r}, not {MAGIC!r})",
            "Load files written by foldax.save.",
        )
    if len(head) < len(MAGIC) + _LENGTH.size:
        raise damaged(source, where, f"the file is truncated after {len(head)} bytes")
    (length,) = _LENGTH.unpack(head[len(MAGIC) :])
    if length > _MAX_HEADER:
        raise damaged(source, where, f"the header claims {length} bytes, more than any header")
    body, stored = f.read(length), f.read(_CHECKSUM.size)
    if len(body) < length or len(stored) < _CHECKSUM.size:
        raise damaged(
            source,
            where,
            f"the file is truncated inside the header (it ends "
            f"{len(head) + len(body) + len(stored)} bytes in, the header needs "
            f"{len(head) + length + _CHECKSUM.size})",
        )
    if _CHECKSUM.pack(checksum(body)) != stored:
        raise damaged(
            source, where, "the header's checksum does not match: the header bytes were altered after saving"
        )
    try:
        header = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise damaged(source, where, f"the header is not valid JSON ({e})") from None
    return records_from_json(header, source), len(head) + length + _CHECKSUM.size


def records_from_json(header: Any, source: str, checksums: bool = True) -> list[Record]:
    """Validate a decoded JSON header field by field and build the records (``checksums=False``
    for headers that describe data stored elsewhere, without sizes and checksums)."""

    def bad(place: str, expected: str, found: Any) -> CheckpointError:
        found = "nothing" if found is _MISSING else short(found)
        return damaged(
            source,
            place,
            f"the header is valid JSON but not a foldax header: {expected} expected, found {found}",
        )

    def need(obj: Any, key: str, ok: Callable[[Any], bool], expected: str, place: str) -> Any:
        value = obj.get(key, _MISSING)
        if value is _MISSING or not ok(value):
            raise bad(f"{place}, field {key!r}", expected, value)
        return value

    where = "in the header"
    if not isinstance(header, dict):
        raise bad(where, "a JSON object", header)
    need(header, "format", lambda v: v == FORMAT, repr(FORMAT), where)
    need(header, "version", lambda v: v == VERSION, f"version {VERSION}", where)
    leaves = need(header, "leaves", lambda v: isinstance(v, list), "a list of leaf records", where)
    records = []
    for i, entry in enumerate(leaves):
        place = f"header record of leaf {i}"
        if not isinstance(entry, dict):
            raise bad(place, "a JSON object", entry)
        path = need(entry, "path", _is_str, "a string", place)
        place = f"header record of leaf {i} ({path})"
        shape = need(entry, "shape", _is_shape, "a list of non-negative ints", place)
        dtype = need(entry, "dtype", _is_str, "a dtype name", place)
        data_shape = need(entry, "data_shape", _is_shape, "a list of non-negative ints", place)
        data_dtype = need(
            entry,
            "data_dtype",
            lambda v: _is_str(v) and dtype_from_name(v) is not None,
            "a dtype JAX supports",
            place,
        )
        key_impl = need(
            entry, "key_impl", lambda v: v is None or _is_str(v), "null or a PRNG implementation name", place
        )
        size = math.prod(data_shape) * known_dtype(data_dtype).itemsize if checksums else 0
        need(entry, "nbytes", size.__eq__, f"{size} (the size of its data)", place)
        need(entry, "crc32", lambda v: type(v) is int and 0 <= v < 2**32, "a CRC-32", place)
        if key_impl is None and (data_shape, data_dtype) != (shape, dtype):
            raise bad(place, f"data of shape {shape} and dtype {dtype}", f"{data_shape} and {data_dtype}")
        records.append(
            Record(path, tuple(shape), dtype, tuple(data_shape), data_dtype, size, entry["crc32"], key_impl)
        )
    return records


_MISSING = object()


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_shape(v: Any) -> bool:
    return isinstance(v, list) and all(type(d) is int and d >= 0 for d in v)
