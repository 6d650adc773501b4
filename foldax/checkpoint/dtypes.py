"""The dtypes a checkpoint can hold, by name: every dtype JAX supports, and nothing else.

A file names its leaves' dtypes (``"bfloat16"``, ``"float8_e4m3fn"``, ``"int4"``, ``"key<fry>"``);
loading looks the name up in this fixed table, so a name read from a file never reaches
``np.dtype(...)`` or ``getattr`` on its own: an unknown name is simply not found.

Example:
    >>> import jax.numpy as jnp
    >>> dtype_from_name("bfloat16") == jnp.bfloat16, dtype_name(jnp.dtype("int4"))
    (True, 'int4')
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

# NumPy's own dtypes and the ml_dtypes ones JAX exports (only those this JAX has).
_NAMES = (
    "bool",
    "int2",
    "int4",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint2",
    "uint4",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float4_e2m1fn",
    "float8_e3m4",
    "float8_e4m3",
    "float8_e4m3b11fnuz",
    "float8_e4m3fn",
    "float8_e4m3fnuz",
    "float8_e5m2",
    "float8_e5m2fnuz",
    "float8_e8m0fnu",
    "bfloat16",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
)
DTYPES: dict[str, np.dtype] = {
    name: np.dtype(getattr(jnp, name)).newbyteorder("<") for name in _NAMES if hasattr(jnp, name)
}
DTYPES["float0"] = np.dtype(jax.dtypes.float0)


def dtype_name(dtype: Any) -> str:
    """The name a checkpoint stores for ``dtype``: NumPy's name (byte order dropped), or JAX's
    ``key<impl>`` for typed PRNG keys."""
    if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        return str(dtype)
    if np.dtype(dtype) == DTYPES["float0"]:
        return "float0"
    return np.dtype(dtype).name


def dtype_from_name(name: str) -> np.dtype | None:
    """The little-endian NumPy dtype stored under ``name``, or ``None`` if no dtype has it."""
    return DTYPES.get(name)


def known_dtype(name: str) -> np.dtype:
    """The dtype stored under ``name``, a name already accepted by ``dtype_from_name``."""
    return DTYPES[name]


def is_savable(dtype: Any) -> bool:
    """Whether arrays of ``dtype`` can be written (object, string and record arrays cannot)."""
    return dtype_name(dtype) in DTYPES
