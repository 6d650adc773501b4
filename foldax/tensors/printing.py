"""Printing tensors the way ΦML does.

* a tracer: ``(vectorᶜ=2) int64 jax tracer``; a placeholder: ``(xˢ=3) float32 ShapeDtypeStruct``
* a scalar: ``2.0``, or ``float64 -0.75...`` when the dtype is not one of bool, int32, float32
* fewer than `threshold` (8) values, in one row: ``(1, 2) int64``, ``(0.000, 2.000) along valuesᵇ``,
  ``(x=1.000, y=2.000)``, ``0.000; 1.000 (bᵇ=2, xˢ=1)``
* otherwise a summary: ``(xˢ=20) 9.50e+04 ± 5.8e+04 (0e+00...2e+05)``

Example:
    >>> import numpy as np
    >>> from foldax.tensors.shape import batch
    >>> format_tensor(np.array([0., 2., 4.], np.float32), batch(values=3))
    '(0.000, 2.000, 4.000) along valuesᵇ'
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from foldax.errors import FoldaxValueError
from foldax.tensors.natives import backend_of, is_native, is_tracer
from foldax.tensors.shape import CHANNEL, SUPERSCRIPT, Shape

LAYOUTS = ('auto', 'summary', 'row', 'numpy')


def format_tensor(
    native: Any, shape: Shape, layout: str = 'auto', float_format: str | None = None, threshold: int = 8
) -> str:
    """The text of a tensor holding `native` with `shape`; `layout` is one of ``'auto', 'summary', 'row', 'numpy'``."""
    if layout not in LAYOUTS:
        raise FoldaxValueError(f"layout={layout!r} is not a print layout; use one of {LAYOUTS}")
    if is_tracer(native):
        return f"{shape!r} {_dtype_name(native.dtype)} {backend_of(native)} tracer"
    if not is_native(native):  # a placeholder child, e.g. a jax.ShapeDtypeStruct from jax.eval_shape
        dtype = getattr(native, 'dtype', None)
        return f"{shape!r} {'' if dtype is None else _dtype_name(dtype) + ' '}{type(native).__name__}"
    values = np.asarray(native)
    if layout == 'numpy':
        with np.printoptions(threshold=threshold, **_formatter(float_format)):
            return str(values)
    if layout == 'summary' or (layout == 'auto' and (shape.rank == 0 or values.size >= threshold)):
        return _summary(values, shape, float_format)
    return _row(values, shape, float_format)


def _formatter(float_format: str | None) -> dict:
    return {'formatter': {'float_kind': ('{:' + float_format + '}').format}} if float_format else {}


def _dtype_name(dtype: Any) -> str:
    return np.dtype(dtype).name


def _unexpected_dtype(dtype: Any) -> bool:
    """ΦML shows the dtype unless it is bool, int32 or float32 (its default precision)."""
    return np.dtype(dtype) not in (np.dtype(bool), np.dtype(np.int32), np.dtype(np.float32))


def _with_dtype(text: str, dtype: Any) -> str:
    return f"{text} {_dtype_name(dtype)}" if _unexpected_dtype(dtype) else text


def _number(value: Any, dtype: Any, float_format: str | None) -> str:
    if float_format is not None:
        return format(value, float_format)
    if jnp.issubdtype(dtype, np.bool_):
        return str(bool(value))
    if jnp.issubdtype(dtype, np.integer):
        return format(int(value), 'd')
    if jnp.issubdtype(dtype, np.floating):
        return format(float(value), '.3f')
    return str(value)


def _vector(values: np.ndarray, items: Any, float_format: str | None) -> str:
    numbers = [_number(v, values.dtype, float_format) for v in values.reshape(-1)]
    if items is not None:
        numbers = [f"{item}={number}" for item, number in zip(items, numbers)]
    return f"({', '.join(numbers)})"


def _row(values: np.ndarray, shape: Shape, float_format: str | None) -> str:
    """All values in one line, like ΦML's ``format_row``."""
    if shape.rank == 1:
        content = _vector(values, shape.item_names[0], float_format)
        if shape.name == '~vector':
            content = '~' + content
        elif not (shape.name == 'vector' and shape.type == CHANNEL):
            content += f" along {shape.name}{SUPERSCRIPT[shape.type]}"
        return _with_dtype(content, values.dtype)
    outer, inner = shape.non_channel, shape.channel
    values = np.transpose(values, [shape.index(n) for n in outer.names + inner.names])
    rows = values.reshape((outer.volume, inner.volume))
    if inner.rank:
        items = inner.item_names[0] if inner.rank == 1 else None
        content = '; '.join(_vector(row, items, float_format) for row in rows)
    else:
        content = '; '.join(_number(v, values.dtype, float_format) for v in rows.reshape(-1))
    return _with_dtype(f"{content} {shape!r}", values.dtype)


def _summary(values: np.ndarray, shape: Shape, float_format: str | None) -> str:
    """Shape, dtype and a summary of the values, like ΦML's ``format_summary``."""
    tokens = [repr(shape)] if shape.rank else []
    if _unexpected_dtype(values.dtype):
        tokens.append(_dtype_name(values.dtype))
    dtype = values.dtype
    if shape.rank == 0:
        tokens.append(str(values))
    elif jnp.issubdtype(dtype, np.bool_):
        tokens.append(f"{int(values.sum())} / {values.size} True")
    elif jnp.issubdtype(dtype, np.integer) or jnp.issubdtype(dtype, np.floating):
        tokens.extend(_statistics(values, float_format))
    elif jnp.issubdtype(dtype, np.complexfloating):
        largest = np.abs(values).max()
        tokens.append(f"|...| < {largest}")
    return ' '.join(tokens)


def _statistics(values: np.ndarray, float_format: str | None) -> list:
    """Computed as ΦML does (in the values' own dtype), so that the printed digits agree."""
    is_finite = np.isfinite(values)
    finite = values[is_finite]
    low, high = (float(f(finite)) if finite.size else float('nan') for f in (np.min, np.max))
    mean = float(np.where(is_finite, values, 0).sum() / is_finite.sum()) if finite.size else float('nan')
    if low == high:
        const = f"const {mean:{float_format or ''}}"
        return [const if float(values.max()) == high else f"{const} / nan"]
    std = float(values.std())
    small_or_large = any(abs(v) < 0.001 or abs(v) > 1000 for v in (mean, std))
    mean_f, std_f = (
        (float_format or '.2e', float_format or '.1e') if small_or_large else (float_format or '.3f',) * 2
    )
    return [
        f"{mean:{mean_f}} ± {std:{std_f}}",
        f"({low:{float_format or '.0e'}}...{high:{float_format or '.0e'}})",
    ]
