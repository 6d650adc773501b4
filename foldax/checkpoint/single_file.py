"""One file per tree: ``foldax.save(path, tree)`` and ``foldax.load(path, like)``.

``save`` writes every leaf of ``tree`` (a model, an optimiser state, typed PRNG keys, any pytree of
arrays and numbers) in the format of :mod:`foldax.checkpoint.format`, atomically: a crash or a
kill during the save leaves the previous file at ``path`` as it was. ``load`` reads it back into
the structure of ``like``: static and value fields of dataclass models, and everything else that
is not a leaf, come from ``like`` (build ``like`` the way the saved model was built), and each
leaf takes ``like``'s kind (jax.Array with its sharding, NumPy array, Python number).

Example:
    >>> import foldax, jax, jax.numpy as jnp, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "model.ckpt")
    >>> foldax.save(path, {"w": jnp.arange(3.0), "key": jax.random.key(1)})
    >>> foldax.load(path, {"w": jnp.zeros(3), "key": jax.random.key(0)})["w"]
    Array([0., 1., 2.], dtype=float32)
"""

from __future__ import annotations

import os
import pathlib
from typing import IO, Any

import numpy as np

from foldax.checkpoint import format as fmt, format_v1
from foldax.checkpoint.atomic import atomic_write
from foldax.checkpoint.dtypes import known_dtype
from foldax.checkpoint.leaves import Record, decode, encode
from foldax.checkpoint.structure import check_structure
from foldax.errors import CheckpointNotFoundError
from foldax.pytrees.tree import flatten, leaves_with_paths, unflatten


def save(path: str | pathlib.Path, tree: Any) -> None:
    """Write the leaves of ``tree`` to ``path``, atomically replacing any file there.

    Arguments:
        path: the checkpoint file. Its directory must exist.
        tree: any pytree whose leaves are jax.Arrays (typed PRNG keys included), NumPy arrays
            or scalars of a dtype JAX supports, or Python bools, ints (64-bit), floats, complexes.

    Returns:
        ``None``; the file at ``path`` holds the new checkpoint, whole.

    Raises:
        FoldaxTypeError: a leaf is something else (a string, a function, an object array, a
            tracer); the message names its path. Nothing is written.
        FoldaxOverflowError: a leaf is a Python int beyond 64 bits. Nothing is written.
        CheckpointNotFoundError: the directory of ``path`` does not exist (a
            ``FileNotFoundError``, as ``open`` raises).
        OSError: the file could not be written; the previous file at ``path`` is intact.

    Example:
        >>> import foldax, numpy as np, tempfile, os
        >>> foldax.save(os.path.join(tempfile.mkdtemp(), "c.ckpt"), {"step": 3, "m": np.ones(2)})
    """
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(directory):
        raise CheckpointNotFoundError(
            f"save(path={os.fspath(path)!r}): the directory {directory!r} does not exist. "
            f"Create it first: os.makedirs({directory!r}, exist_ok=True)."
        )
    encoded = [encode(p, leaf) for p, leaf in leaves_with_paths(tree)]
    records = [fmt.with_checksum(record, data) for record, data in encoded]
    with atomic_write(path) as f:
        f.write(fmt.encode_header(records))
        for _, data in encoded:
            f.write(data.reshape(-1).view(np.uint8).data)


def load(path: str | pathlib.Path, like: Any) -> Any:
    """Read a tree saved by ``save`` into the structure of ``like``.

    Files of foldax's first format (``"foldax-1"``, written before the atomic, checksummed
    format) load too (:mod:`foldax.checkpoint.format_v1`).

    Arguments:
        path: a file written by ``save``.
        like: a tree of the same structure, leaf shapes and dtypes (its values are not used;
            ``jax.ShapeDtypeStruct`` leaves are accepted and give jax.Arrays).

    Returns:
        ``like`` with every leaf replaced by the saved one.

    Raises:
        CheckpointNotFoundError: there is no file at ``path``.
        CheckpointError: (a ``FoldaxValueError``) the file is empty, truncated, has trailing
            bytes, is not a foldax checkpoint, is damaged (a checksum does not match), or holds
            leaves of another structure, shape or dtype than ``like``. The message names the
            file, the leaf path and the cause.

    Example:
        >>> import foldax, numpy as np, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "c.ckpt")
        >>> foldax.save(path, {"step": 3})
        >>> foldax.load(path, {"step": 0})
        {'step': 3}
    """
    file = os.fspath(path)
    source = f"load(path={file!r})"
    try:
        f = open(file, "rb")  # noqa: SIM115 (closed by the `with f` below, once it is known to exist)
    except FileNotFoundError:
        raise CheckpointNotFoundError(
            f"load(path={file!r}): there is no such file. Pass the path given to foldax.save."
        ) from None
    with f:
        if format_v1.is_first_format(f):  # written before format 2: still loads
            records, data = format_v1.read(f, source)
        else:
            records, start = fmt.read_header(f, source)
            _check_size(records, os.fstat(f.fileno()).st_size - start, source)
            data = None
        like_leaves = leaves_with_paths(like)
        check_structure(records, like_leaves, source)
        blocks = data if data is not None else (_read_block(f, r, source) for r in records)
        leaves = [decode(r, block, x) for r, block, (_, x) in zip(records, blocks, like_leaves)]
    return unflatten(flatten(like)[1], leaves)


def _check_size(records: list[Record], available: int, source: str) -> None:
    """Truncation (naming the first leaf cut short) and trailing bytes, from the header's sizes."""
    end = 0
    for r in records:
        end += r.nbytes
        if end > available:
            raise fmt.damaged(
                source,
                f"leaf {r.path}",
                f"the file is truncated inside this leaf "
                f"({available} bytes of leaf data, {sum(x.nbytes for x in records)} "
                f"expected)",
            )
    if available > end:
        last = f"after the last leaf {records[-1].path}" if records else "after the header"
        raise fmt.damaged(
            source, last, f"the file has {available - end} trailing bytes that no leaf accounts for"
        )


def _read_block(f: IO[bytes], record: Record, source: str) -> np.ndarray:
    data = np.empty(record.data_shape, known_dtype(record.data_dtype))
    raw = data.reshape(-1).view(np.uint8)
    if f.readinto(raw.data) != record.nbytes:  # type: ignore[attr-defined]
        raise fmt.damaged(source, f"leaf {record.path}", "the file changed while it was read")
    if fmt.checksum(raw) != record.crc32:
        raise fmt.damaged(
            source,
            f"leaf {record.path}",
            "the leaf's checksum does not match: its bytes were altered after saving",
        )
    return data
