"""Dtypes orbax's storage (TensorStore) lacks, stored as one it has, losslessly.

TensorStore has no ``uint2``, ``uint4`` or ``float8_e4m3``. Sub-byte integers are stored by value
as (u)int8; other types by their bits (a same-width unsigned integer). Both directions run as
JAX operations on jax.Arrays, so shardings are kept and each process converts only its shards.

Example:
    >>> import jax.numpy as jnp
    >>> x = jnp.arange(4, dtype=jnp.uint4)
    >>> stored = to_storage(x, "uint4")
    >>> stored.dtype, from_storage(stored, "uint4").dtype
    (dtype('uint8'), dtype(uint4))
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np

from foldax.checkpoint.dtypes import known_dtype


@functools.cache
def storage_dtype(name: str) -> np.dtype:
    """The dtype in which TensorStore holds arrays of dtype ``name``."""
    import tensorstore as ts  # orbax's storage layer; imported with orbax, on first use

    dtype = known_dtype(name)
    try:
        ts.dtype(name)
        return dtype
    except ValueError:
        bits = jax.dtypes.itemsize_bits(dtype)
        if bits < 8 and jax.numpy.issubdtype(dtype, np.integer):
            return np.dtype(np.int8 if jax.numpy.issubdtype(dtype, np.signedinteger) else np.uint8)
        return np.dtype(f"u{bits // 8}")


def _convert(x: Any, dtype: np.dtype) -> Any:
    """Value conversion between integer types, bit cast between types of one width."""
    if x.dtype == dtype:
        return x
    same_width = jax.dtypes.itemsize_bits(x.dtype) == jax.dtypes.itemsize_bits(dtype)
    if isinstance(x, jax.Array):
        return jax.lax.bitcast_convert_type(x, dtype) if same_width else x.astype(dtype)
    return x.view(dtype) if same_width else x.astype(dtype)


def to_storage(x: Any, name: str) -> Any:
    """``x`` (of dtype ``name``) as TensorStore can hold it."""
    return _convert(x, storage_dtype(name))


def from_storage(x: Any, name: str) -> Any:
    """The inverse of ``to_storage``."""
    return _convert(x, known_dtype(name))
