"""Exact, cheap keys for constant values: dtype and bits, a digest for large arrays.

A constant is part of a compiled program's identity *by value*, so its key must tell apart
every two values a program could compute differently with: ``-0.0`` from ``0.0``, ``-0j`` from
``0j``, ``bfloat16`` from ``float16`` bits; and it must be equal for equal bits, NaN included
(``float('nan') != float('nan')``, but the same NaN must not retrace). Small arrays are keyed by
their bytes; arrays above ``DIGEST_MIN_BYTES`` by a 128-bit xxHash (XXH3) of their memory, read
in place without a copy. The digest of an array nobody can write to (it and every array it views
are read-only, or it is a ``jax.Array``) is remembered for as long as the array lives.

Example:
    >>> import numpy as np
    >>> scalar_key(0.0) == scalar_key(-0.0), scalar_key(float("nan")) == scalar_key(float("nan"))
    (False, True)
    >>> array_key(np.zeros(3)) == array_key(np.zeros(3)), array_key(np.zeros(3)) == array_key(-np.zeros(3))
    (True, False)
"""

from __future__ import annotations

import functools
import struct
import weakref
from typing import Any, Hashable

import numpy as np
import xxhash

DIGEST_MIN_BYTES = 4096  # arrays up to this size are keyed by their bytes, larger by a digest
_remembered: dict[int, tuple[weakref.ref, tuple[Any, ...]]] = {}  # id -> (ref, key) of frozen arrays


def scalar_key(x: bool | int | float | complex) -> Hashable:
    """The key of a Python number: its type and exact bits (floats and complex by IEEE bits)."""
    t = type(x)
    if t is float:
        return (float, struct.pack("<d", x))
    if t is complex:
        return (complex, struct.pack("<dd", x.real, x.imag))
    return (t, x)


def array_key(a: np.ndarray | np.generic) -> tuple[Any, ...]:
    """The key of a NumPy array or scalar: dtype, shape and bytes (or their digest)."""
    if isinstance(a, np.generic):
        return ("npscalar", a.dtype, a.tobytes())
    if a.nbytes <= DIGEST_MIN_BYTES:
        return ("ndarray", a.dtype, a.shape, a.tobytes())
    frozen = _is_frozen(a)
    if frozen:
        hit = _remembered.get(id(a))
        if hit is not None and hit[0]() is a:
            return hit[1]
    key = ("ndarray", a.dtype, a.shape, _digest(a))
    if frozen:
        _remember(a, key)
    return key


def jax_array_key(x: Any) -> tuple[Any, ...]:
    """The key of a concrete ``jax.Array`` by value (it is immutable, so the key is remembered)."""
    hit = _remembered.get(id(x))
    if hit is not None and hit[0]() is x:
        return hit[1]
    key: tuple[Any, ...] = ("jax",) + array_key(np.asarray(x))[1:]
    _remember(x, key)
    return key


def _digest(a: np.ndarray) -> bytes:
    """XXH3-128 of the array's bytes in C order, read in place when it is contiguous."""
    data = a if a.flags.c_contiguous else np.ascontiguousarray(a)
    try:
        return xxhash.xxh3_128_digest(data)  # type: ignore[arg-type]  # its buffer: the same bytes
    except (TypeError, ValueError, BufferError):  # a dtype NumPy exports no buffer for
        buffer: Any = data.view(np.uint8).reshape(-1) if data.ndim else data.tobytes()
        return xxhash.xxh3_128_digest(buffer)


def _is_frozen(a: np.ndarray) -> bool:
    """Whether no one can change ``a``'s memory through NumPy: it and all it views are read-only
    (a base that is not an ndarray, such as ``bytes``, counts as immutable only if ``bytes``)."""
    base: Any = a
    while base is not None:
        if isinstance(base, np.ndarray):
            if base.flags.writeable:
                return False
            base = base.base
        else:
            return isinstance(base, bytes)
    return True


def _forget(i: int, _ref: Any) -> None:
    _remembered.pop(i, None)


def _remember(x: Any, key: tuple[Any, ...]) -> None:
    i = id(x)
    try:
        ref = weakref.ref(x, functools.partial(_forget, i))
    except TypeError:  # not weakly referenceable: not remembered
        return
    _remembered[i] = (ref, key)
