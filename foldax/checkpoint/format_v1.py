"""Reading files of foldax's first checkpoint format (``"foldax-1"``), so they still load.

``foldax.save`` wrote it before format 2 (:mod:`foldax.checkpoint.format`): a NumPy ``.npy``
record holding the UTF-8 JSON header as a ``uint8`` vector, then one ``.npy`` record per leaf,
in ``jax.tree.leaves`` order (``equinox.tree_serialise_leaves``)::

    {"format": "foldax-1", "leaves": [["[0].w", [3, 2], "float32"], ...]}

It has no checksums (a flipped data byte goes unnoticed: save the tree again with
``foldax.save`` to get them) and could not hold typed PRNG keys. Reading it runs no code, as
for format 2: ``.npy`` headers are parsed by NumPy's literal-only header reader, never by
``np.load``, and object (pickled) records are refused. dtypes NumPy does not know (bfloat16,
the float8 and 4-bit types) were written as raw bytes (``V2``, ``V1``) and are reinterpreted as
the dtype the header names.

Example:
    >>> import io, json, numpy as np
    >>> header = json.dumps({"format": "foldax-1", "leaves": [["['w']", [2], "float32"]]})
    >>> f = io.BytesIO()
    >>> np.save(f, np.frombuffer(header.encode(), np.uint8)); np.save(f, np.ones(2, np.float32))
    >>> _ = f.seek(0)
    >>> records, data = read(f, "load(path='old.eqx')")
    >>> records[0].path, data[0]
    ("['w']", array([1., 1.], dtype=float32))
"""

from __future__ import annotations

import json
import math
from typing import IO, Any

import numpy as np

from foldax.checkpoint.dtypes import dtype_from_name
from foldax.checkpoint.format import damaged
from foldax.checkpoint.leaves import Record, short

FORMAT = "foldax-1"
NPY_MAGIC = b"\x93NUMPY"
_RESAVE = (
    "Load it with the foldax version that wrote it and save it again with this one, or "
    "load another checkpoint."
)


def is_first_format(f: IO[bytes]) -> bool:
    """Whether the file starts like a ``.npy`` record (format 1 does; format 2 never does).
    The file position is left at the start."""
    head = f.read(len(NPY_MAGIC))
    f.seek(0)
    return head == NPY_MAGIC


def read(f: IO[bytes], source: str) -> tuple[list[Record], list[np.ndarray]]:
    """The leaf records and the leaves' data (little-endian, of the dtypes the header names).
    ``source`` names the call and file in errors (``"load(path='m.eqx')"``).

    Raises:
        CheckpointError: the file is a ``.npy`` file but not a foldax checkpoint, is
            truncated, has trailing bytes, or holds a leaf that cannot be read back (a pickled
            object, a record of another shape or dtype than its header says).
    """
    try:
        header = json.loads(_read_array(f, source, "in the header").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, _NotFoldax) as e:
        raise damaged(
            source,
            "in the header, before any leaf",
            f"the file is not a foldax checkpoint (it is a NumPy .npy file: {e})",
            "Load files written by foldax.save.",
        ) from None
    records = _records(header, source)
    data = []
    for r in records:
        where = f"leaf {r.path} (a file of foldax's first format, {FORMAT!r})"
        array = _read_array(f, source, where)
        data.append(_as_recorded(array, r, source, where))
    if f.read(1):
        last = f"after the last leaf {records[-1].path}" if records else "after the header"
        raise damaged(source, last, "the file has trailing bytes that no leaf accounts for")
    return records, data


class _NotFoldax(Exception):
    """The first record is not a foldax header."""


def _read_array(f: IO[bytes], source: str, where: str) -> np.ndarray:
    """The next ``.npy`` record, read with NumPy's literal header parser (no unpickling)."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran_order, dtype = read_header(f)
    except (ValueError, SyntaxError, EOFError) as e:
        if where == "in the header":
            raise _NotFoldax(f"its first record cannot be read: {e}") from None
        cause = (
            "the file is truncated inside this leaf"
            if str(e).startswith("EOF")
            else f"its .npy record header cannot be read ({e})"
        )
        raise damaged(source, where, cause) from None
    if dtype.hasobject:
        if where == "in the header":
            raise _NotFoldax("its first record holds Python objects")
        raise damaged(
            source,
            where,
            "the leaf was written as pickled Python objects, which loading never unpickles (it runs code)",
            _RESAVE,
        )
    size = math.prod(shape) * dtype.itemsize
    raw = f.read(size)
    if len(raw) < size:
        if where == "in the header":
            raise _NotFoldax("its first record is truncated")
        raise damaged(
            source, where, f"the file is truncated inside this leaf ({len(raw)} of its {size} bytes)"
        )
    array = np.frombuffer(raw, dtype)
    return array.reshape(shape[::-1]).T if fortran_order else array.reshape(shape)


def _records(header: Any, source: str) -> list[Record]:
    """The header's leaves ``[path, shape, dtype]`` as records, checked field by field."""
    if not (
        isinstance(header, dict) and header.get("format") == FORMAT and isinstance(header.get("leaves"), list)
    ):
        raise damaged(
            source,
            "in the header, before any leaf",
            f"the file is not a foldax "
            f"checkpoint (it is a NumPy .npy file whose first record is "
            f"{short(header)}, not a {FORMAT!r} header)",
            "Load files written by foldax.save.",
        )
    records = []
    for i, entry in enumerate(header["leaves"]):
        if not (
            isinstance(entry, list)
            and len(entry) == 3
            and isinstance(entry[0], str)
            and isinstance(entry[1], list)
            and all(type(d) is int and d >= 0 for d in entry[1])
            and isinstance(entry[2], str)
        ):
            raise damaged(
                source,
                f"header record of leaf {i}",
                f"the {FORMAT!r} header is damaged: [path, shape, dtype] expected, found {short(entry)}",
            )
        path, shape, name = entry
        if dtype_from_name(name) is None:
            raise damaged(
                source,
                f"leaf {path}",
                f"the file (of foldax's first format, "
                f"{FORMAT!r}) holds a value of dtype {name}, which cannot be loaded "
                f"back",
                _RESAVE,
            )
        nbytes = math.prod(shape) * np.dtype(dtype_from_name(name)).itemsize
        records.append(Record(path, tuple(shape), name, tuple(shape), name, nbytes))
    return records


def _as_recorded(array: np.ndarray, record: Record, source: str, where: str) -> np.ndarray:
    """``array`` as the dtype its header record names: NumPy's byte order made little-endian,
    raw bytes (``V2`` for bfloat16) reinterpreted; anything else is damage."""
    dtype = dtype_from_name(record.dtype)
    if dtype is None:  # _records refuses these first; kept as an error, not an assert
        raise damaged(
            source, where, f"the header names dtype {record.dtype}, which cannot be loaded back", _RESAVE
        )
    if array.dtype.kind == "V" and array.dtype.itemsize == dtype.itemsize and not array.dtype.names:
        array = array.view(dtype)
    if array.dtype != dtype and array.dtype.newbyteorder("<") == dtype:
        array = array.astype(dtype)
    if array.dtype != dtype or array.shape != record.shape:
        raise damaged(
            source,
            where,
            f"the header says shape {record.shape} and dtype "
            f"{record.dtype}, the data has shape {array.shape} and dtype "
            f"{array.dtype}",
        )
    return np.array(array, order="C")  # a writable copy (0-d stays 0-d)
