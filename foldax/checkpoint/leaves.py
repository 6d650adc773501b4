"""One leaf of a checkpoint: what is written for it, what ``like`` expects, what is read back.

Every leaf becomes a C-ordered little-endian byte block. A typed PRNG key is written as its
``jax.random.key_data`` (uint32 words) with the name of its implementation, and read back with
``jax.random.wrap_key_data``. A leaf that could not be read back (a Python int beyond 64 bits,
an object or string array, a tracer, a function) is refused when saving.

Example:
    >>> import jax
    >>> record, data = encode("['key']", jax.random.key(0))
    >>> record.dtype, record.key_impl, data.dtype.name, data.shape
    ('key<fry>', 'threefry2x32', 'uint32', (2,))
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from foldax._compat import Tracer
from foldax.checkpoint.dtypes import dtype_from_name, dtype_name, is_savable
from foldax.errors import FoldaxOverflowError, FoldaxTypeError, FoldaxValueError

_PYTHON_SCALARS = {bool: "bool", int: "int64", float: "float64", complex: "complex128"}


@dataclasses.dataclass(frozen=True)
class Record:
    """What the header says of one leaf.

    ``shape``/``dtype`` are the leaf as the user sees it (``"key<fry>"`` for a typed key);
    ``data_shape``/``data_dtype`` are the stored block (a key's ``key_data``); ``nbytes`` and
    ``crc32`` describe the block in the file.
    """

    path: str
    shape: tuple[int, ...]
    dtype: str
    data_shape: tuple[int, ...]
    data_dtype: str
    nbytes: int
    crc32: int = 0
    key_impl: str | None = None


def is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def describe(path: str, leaf: Any) -> Record:
    """The header record of ``leaf`` (without size and checksum), refusing what cannot be loaded
    back. Nothing is copied: sharded arrays spread over processes are described too.

    Raises:
        FoldaxTypeError: ``leaf`` is not an array or number, is an object/string array, or is
            a tracer (``save`` called under a transformation).
        FoldaxOverflowError: ``leaf`` is a Python int outside the 64-bit range.
    """
    if isinstance(leaf, Tracer):
        raise FoldaxTypeError(
            f"save(tree=...): leaf {path} is a tracer ({leaf.aval.str_short()}): save was called "
            f"inside a transformation (jit, grad, vmap, ...). Save concrete values: return them "
            f"from the transformed function and call the save outside it."
        )
    if type(leaf) in _PYTHON_SCALARS:
        _python_scalar(path, leaf)
        dtype = _PYTHON_SCALARS[type(leaf)]
        return Record(path, (), dtype, (), dtype, 0)
    if not isinstance(leaf, (jax.Array, np.ndarray, np.generic)):
        raise FoldaxTypeError(
            f"save(tree=...): leaf {path} is a {type(leaf).__name__} ({short(leaf)}), which is "
            f"not an array or number and cannot be written. Make it a static field of a "
            f"foldax.dataclass (its value then comes from `like` when loading), or leave it out "
            f"of the saved tree."
        )
    shape = tuple(leaf.shape)
    if is_key(leaf):
        data = jax.eval_shape(jax.random.key_data, leaf)
        return Record(
            path,
            shape,
            dtype_name(leaf.dtype),
            tuple(data.shape),
            dtype_name(data.dtype),
            0,
            key_impl=str(jax.random.key_impl(leaf)),  # type: ignore[arg-type]
        )
    if not is_savable(leaf.dtype):
        raise FoldaxTypeError(
            f"save(tree=...): leaf {path} is an array of dtype {leaf.dtype} (shape {shape}), "
            f"which cannot be loaded back without running code. Convert it to a numeric dtype, "
            f"or leave it out of the saved tree."
        )
    return Record(path, shape, dtype_name(leaf.dtype), shape, dtype_name(leaf.dtype), 0)


def stored_value(record: Record, leaf: Any) -> Any:
    """What is stored for ``leaf``: a typed key's ``key_data``, a NumPy array for a Python or
    NumPy number (a copy, so that later changes to ``leaf`` do not reach the file), else the
    array itself."""
    if record.key_impl is not None:
        return jax.random.key_data(leaf)
    if isinstance(leaf, jax.Array):
        return leaf
    return np.array(leaf, dtype=dtype_from_name(record.data_dtype))


def encode(path: str, leaf: Any) -> tuple[Record, np.ndarray]:
    """The header record (without checksum) and the little-endian C-ordered host array to write.

    Raises:
        FoldaxTypeError, FoldaxOverflowError: as ``describe``.
        FoldaxValueError: ``leaf`` is a jax.Array spread over several processes.
    """
    record = describe(path, leaf)
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
        raise FoldaxValueError(
            f"save(tree=...): leaf {path} is sharded over several processes, so no process "
            f"holds all of it. Save such trees with foldax.CheckpointManager, where each "
            f"process writes its own shards."
        )
    data = np.asarray(stored_value(record, leaf), dtype=dtype_from_name(record.data_dtype), order="C")
    return dataclasses.replace(record, nbytes=data.nbytes), data


def _python_scalar(path: str, x: complex) -> None:
    if type(x) is int and not -(2**63) <= x < 2**63:
        raise FoldaxOverflowError(
            f"save(tree=...): leaf {path} is the Python int {short(x)}, which needs more than 64 "
            f"bits, so no dtype holds it. Store it as a float, split it into 64-bit parts, or "
            f"make it a static field of a foldax.dataclass."
        )


def expected(leaf: Any) -> tuple[tuple[int, ...], str] | None:
    """``(shape, dtype name)`` that a leaf of ``like`` asks for; ``None`` if it is no array."""
    if type(leaf) in _PYTHON_SCALARS:
        return (), _PYTHON_SCALARS[type(leaf)]
    if isinstance(leaf, (jax.Array, jax.ShapeDtypeStruct, np.ndarray, np.generic)):
        return tuple(leaf.shape), dtype_name(leaf.dtype)
    return None


def decode(record: Record, data: Any, like: Any) -> Any:
    """The loaded leaf from its stored value (a NumPy array, or a jax.Array restored by orbax),
    of the same kind as ``like``'s: a jax.Array placed with ``like``'s sharding (a
    ShapeDtypeStruct's too), a NumPy array or scalar, or a Python number."""
    if isinstance(like, (jax.Array, jax.ShapeDtypeStruct)):
        x = data if isinstance(data, jax.Array) else jax.device_put(data)
        if record.key_impl is not None:
            x = jax.random.wrap_key_data(x, impl=record.key_impl)
        sharding = _sharding(like)
        return x if sharding is None or x.sharding == sharding else jax.device_put(x, sharding)
    data = np.asarray(data.addressable_data(0) if isinstance(data, jax.Array) else data)
    if isinstance(like, np.ndarray):
        return data
    if isinstance(like, np.generic):
        return data[()]
    return data.item()


def _sharding(like: Any) -> Any:
    if isinstance(like, Tracer):
        return None
    sharding = getattr(like, "sharding", None)
    if isinstance(like, jax.Array) and not like.is_fully_addressable:
        return None
    return sharding


def short(x: Any) -> str:
    """``repr(x)``, cut to 60 characters for error messages."""
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."
