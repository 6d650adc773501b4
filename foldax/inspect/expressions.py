"""Python expressions for the values found in a jaxpr: literals, constants, dtypes and params.

Plain values (numbers, strings, tuples, dtypes, the enums and named tuples JAX exports in
``jax.lax``) become source text; small constant arrays are written out with ``np.asarray``;
anything else (large constants, shardings, opaque objects) is put in a namespace under a name
the text refers to.

Example:
    >>> import numpy as np
    >>> from jax import lax

from foldax._compat import is_tracer, shaped_abstractify
    >>> names = Namespace()
    >>> names.value((1, np.float32(2.5), np.dtype("int32"), lax.Precision.HIGHEST))
    '(1, 2.5, np.dtype(np.int32), lax.Precision.HIGHEST)'
    >>> names.value(np.zeros((100, 100))), list(names.objects)
    ('const_0', ['const_0'])
"""

from __future__ import annotations

import enum
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from foldax._compat import is_tracer, shaped_abstractify

INLINE_MAX_SIZE = 16
_NUMPY_DTYPES = frozenset(
    [
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
        "complex64",
        "complex128",
    ]
)


def dtype_expr(dtype: Any) -> str | None:
    """``np.float32`` / ``jnp.bfloat16`` for a dtype, or ``None`` if it has no such name."""
    name = np.dtype(dtype).name if not jax.dtypes.issubdtype(dtype, jax.dtypes.extended) else None
    if name in _NUMPY_DTYPES:
        return "np.bool_" if name == "bool" else f"np.{name}"
    if name is not None and getattr(jnp, name, None) is not None:
        return f"jnp.{name}"
    return None


def _scalar(x: Any) -> str | None:
    """A Python literal for a finite Python or NumPy scalar (None if there is none)."""
    if isinstance(x, (bool, np.bool_)):
        return repr(bool(x))
    if isinstance(x, (int, np.integer)):
        return repr(int(x))
    if isinstance(x, np.floating):  # shortest text that reads back as the same value
        return str(x) if math.isfinite(float(x)) else f"float({str(float(x))!r})"
    if isinstance(x, float):
        return repr(x) if math.isfinite(x) else f"float({str(x)!r})"
    if isinstance(x, (complex, np.complexfloating)):
        return repr(complex(x)) if all(map(math.isfinite, (x.real, x.imag))) else None
    return None


def _lax_name(cls: type) -> str | None:
    for module, prefix in ((lax, "lax"), (getattr(lax, "linalg", None), "lax.linalg")):
        if module is not None and getattr(module, cls.__name__, None) is cls:
            return f"{prefix}.{cls.__name__}"
    return None


class Namespace:
    """Names for the objects generated source refers to but cannot spell out."""

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}
        self.notes: dict[str, str] = {}
        self._by_id: dict[int, str] = {}

    def inject(self, obj: Any, stem: str, note: str = "") -> str:
        name = self._by_id.get(id(obj))
        if name is None:
            name = f"{stem}_{len(self.objects)}"
            self.objects[name] = obj
            self.notes[name] = note or type(obj).__name__
            self._by_id[id(obj)] = name
        return name

    def array(self, value: Any) -> str:
        """An expression for a constant array: written out when small, else a name."""
        dt = dtype_expr(value.dtype) if hasattr(value, "dtype") else None
        if dt is not None and np.size(value) <= INLINE_MAX_SIZE and not is_tracer(value):
            host = np.asarray(value)
            items = [_scalar(v) for v in host.ravel()]
            if all(s is not None for s in items):
                if host.ndim == 0:
                    return f"{dt}({items[0]})"
                return f"np.asarray({host.tolist()!r}, dtype={dt})"
        return self.inject(value, "const", shaped_abstractify(value).str_short(short_dtypes=True))

    def value(self, v: Any) -> str:
        """A Python expression equal to the param value ``v``."""
        if v is None or isinstance(v, str):
            return repr(v)
        if isinstance(v, enum.Enum):
            owner = _lax_name(type(v))
            return f"{owner}.{v.name}" if owner else self.inject(v, "param")
        scalar = _scalar(v)
        if scalar is not None:
            return scalar
        if isinstance(v, np.dtype) or (isinstance(v, type) and issubclass(v, np.generic)):
            dt = dtype_expr(v)
            return f"np.dtype({dt})" if dt else self.inject(v, "dtype")
        if isinstance(v, tuple) and hasattr(v, "_fields"):
            owner = _lax_name(type(v))
            if owner is None:
                return self.inject(v, "param")
            fields = ", ".join(f"{f}={self.value(getattr(v, f))}" for f in v._fields)
            return f"{owner}({fields})"
        if isinstance(v, tuple):
            items = [self.value(x) for x in v]
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if isinstance(v, list):
            return "[" + ", ".join(self.value(x) for x in v) + "]"
        if isinstance(v, (np.ndarray, jax.Array)):
            return self.array(v)
        return self.inject(v, "param")
