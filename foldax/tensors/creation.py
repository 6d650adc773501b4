"""Creating tensors: `tensor`, `wrap`, `zeros`, `ones`, `random_uniform`, `random_normal`.

New tensors are NumPy-backed (constants) unless given jax data or a jax random key, as in ΦML.

Example:
    >>> tensor([1, 2])
    (1, 2) int64
    >>> wrap([0., 2., 4.], batch('values'))
    (0.000, 2.000, 4.000) along valuesᵇ
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from foldax.errors import FoldaxTypeError, FoldaxValueError
from foldax.tensors.natives import JAX, NUMPY, is_jax, is_native, is_number
from foldax.tensors.shape import Shape, channel, concat_shapes
from foldax.tensors.tensor import Tensor

DEFAULT_FLOAT = np.float32
"""The dtype of floats converted from Python data (ΦML's default precision is 32 bit)."""

_RNG = np.random.default_rng()


def tensor(data: Any, *dims: Shape, backend: str | None = None) -> Tensor:
    """A Tensor from `data` with axes named by `dims` (in order). Python numbers and lists become NumPy
    arrays (floats as float32), NumPy and jax arrays are kept; `backend='jax'` or ``'numpy'`` converts.
    Without dims, 1-D data gets the channel dim ``vector`` and 0-D data no dim. A list of Tensors is stacked.

    Arguments:
        data: a number, a (nested) list of numbers, a NumPy or jax array, or a list of Tensors.
        *dims: one dim per axis of ``data``, in order (sizes may be left out).
        backend: ``'numpy'`` or ``'jax'`` to convert, ``None`` to keep the data's.

    Returns:
        A Tensor.

    Raises:
        FoldaxTypeError: ``data`` is not a number, a (nested) list of numbers, a NumPy or a jax
            array, a Tensor or a list of Tensors.
        FoldaxValueError: ``dims`` name more or fewer dims than ``data`` has axes, or sizes that
            differ from the axes', or ``backend`` is none of the values above.

    Example:
        >>> from foldax.tensors import spatial, tensor
        >>> tensor([1., 2.], spatial('x'))
        (1.000, 2.000) along xˢ
    """
    result = _create('tensor', data, dims, float_precision=True)
    if backend not in (None, NUMPY, JAX):
        raise FoldaxValueError(f"tensor(backend={backend!r}): use backend='numpy', 'jax' or None (keep)")
    if backend == JAX and not is_jax(result.native()):
        return Tensor._make(jnp.asarray(result.native()), result.shape)
    if backend == NUMPY and is_jax(result.native()):
        return Tensor._make(np.asarray(result.numpy()), result.shape)
    return result


def wrap(data: Any, *dims: Shape) -> Tensor:
    """A Tensor around `data` without copying NumPy or jax arrays (a Python number becomes a NumPy scalar
    array, a list a NumPy array with floats as float32).

    Arguments:
        data: a number, a (nested) list of numbers, a NumPy or jax array.
        *dims: one dim per axis of ``data``, in order.

    Returns:
        A Tensor whose native array is ``data`` itself (for an array).

    Raises:
        FoldaxTypeError: ``data`` is not a number, a (nested) list of numbers, a NumPy or a jax
            array, a Tensor or a list of Tensors.
        FoldaxValueError: ``dims`` name more or fewer dims than ``data`` has axes, or sizes that
            differ from the axes'.

    Example:
        >>> import numpy as np
        >>> from foldax.tensors import spatial, wrap
        >>> wrap(np.arange(3), spatial('x'))
        (0, 1, 2) along xˢ int64
    """
    return _create('wrap', data, dims, float_precision=False)


def _create(func: str, data: Any, dims: tuple, float_precision: bool) -> Tensor:
    for dim in dims:
        if not isinstance(dim, Shape):
            raise FoldaxTypeError(
                f"{func}(data, *dims): every dim must be a Shape, but got {type(dim).__name__} "
                f"{dim!r}; use e.g. {func}(data, spatial('x'), channel('c'))"
            )
    shape = concat_shapes(*dims)
    if isinstance(data, Tensor):
        return data if not dims else _relabel(func, data, shape)
    if isinstance(data, (list, tuple)) and data and any(isinstance(d, Tensor) for d in data):
        from foldax.tensors.combine import stack

        if shape.rank != 1:
            raise FoldaxValueError(
                f"{func}(list of tensors, *dims) stacks along exactly one new dim, but got "
                f"dims {shape!r}; use e.g. {func}([a, b], batch('b'))"
            )
        return stack(list(data), shape)
    native = _to_native(func, data, float_precision)
    return Tensor._make(native, _fit_shape(func, shape, native))


def _to_native(func: str, data: Any, float_precision: bool) -> Any:
    if is_native(data):
        return data
    if is_number(data):
        return (
            np.asarray(data, DEFAULT_FLOAT)
            if float_precision and isinstance(data, float)
            else np.asarray(data)
        )
    if isinstance(data, (list, tuple)):
        native = np.asarray(data)
        if native.dtype.kind in 'biufc':
            return native.astype(DEFAULT_FLOAT) if native.dtype == np.float64 else native
    raise FoldaxTypeError(
        f"{func}(data): data must be a number, a (nested) list of numbers, a NumPy or a jax "
        f"array, but got {type(data).__name__}; convert it first, e.g. np.asarray(data)"
    )


def _fit_shape(func: str, shape: Shape, native: Any) -> Shape:
    sizes = tuple(native.shape)
    if not shape.rank and len(sizes) == 1:
        return channel(vector=sizes[0])
    if shape.rank != len(sizes):
        hint = "" if shape.rank else f"; name its axes, e.g. {func}(data, batch('b'), spatial('x'))"
        raise FoldaxValueError(
            f"{func}(data, *dims): data has {len(sizes)} axes {sizes} but the dims {shape!r} "
            f"name {shape.rank}{hint or '; give one dim per axis, in order'}"
        )
    for name, size, items, actual in zip(shape.names, shape.sizes, shape.item_names, sizes):
        if size is not None and size != actual:
            given = f"{size} item names {items}" if items else f"size {size}"
            raise FoldaxValueError(
                f"{func}(data, *dims): dim '{name}' has {given} but the data's axis has size "
                f"{actual}; make them agree, or leave the size open, e.g. spatial('{name}')"
            )
    return Shape(shape.names, sizes, shape.types, shape.item_names)


def _relabel(func: str, value: Tensor, shape: Shape) -> Tensor:
    return Tensor._make(value.native(), _fit_shape(func, shape, value.native()))


# --- filled tensors ---------------------------------------------------------------------------


def _full_shape(func: str, shape: tuple) -> tuple[Shape, tuple[int, ...]]:
    """The dims given to a creation function, concatenated, and their sizes (all given)."""
    for dim in shape:
        if not isinstance(dim, Shape):
            raise FoldaxTypeError(
                f"{func}(*shape): every argument must be a Shape, but got {type(dim).__name__}; "
                f"use e.g. {func}(spatial(x=3))"
            )
    result = concat_shapes(*shape)
    return result, result.known_sizes(f"{func}(*shape)", call=func)


def zeros(*shape: Shape, dtype: Any = DEFAULT_FLOAT) -> Tensor:
    """A NumPy-backed tensor of zeros.

    Arguments:
        *shape: the dims, with sizes (``spatial(x=3)``, ``batch(b=2) & channel(c=3)``).
        dtype: the NumPy dtype.

    Returns:
        A Tensor of zeros with the dims of ``shape``, in order.

    Raises:
        FoldaxValueError: a dim has no size.
        FoldaxTypeError: an argument of ``shape`` is not a Shape.

    Example:
        >>> from foldax.tensors import spatial, zeros
        >>> zeros(spatial(x=2))
        (0.000, 0.000) along xˢ
    """
    full, sizes = _full_shape('zeros', shape)
    return Tensor._make(np.zeros(sizes, dtype), full)


def ones(*shape: Shape, dtype: Any = DEFAULT_FLOAT) -> Tensor:
    """A NumPy-backed tensor of ones.

    Arguments:
        *shape: the dims, with sizes (``spatial(x=3)``, ``batch(b=2) & channel(c=3)``).
        dtype: the NumPy dtype.

    Returns:
        A Tensor of ones with the dims of ``shape``, in order.

    Raises:
        FoldaxValueError: a dim has no size.
        FoldaxTypeError: an argument of ``shape`` is not a Shape.

    Example:
        >>> from foldax.tensors import channel, ones
        >>> ones(channel(vector='x,y'))
        (x=1.000, y=1.000)
    """
    full, sizes = _full_shape('ones', shape)
    return Tensor._make(np.ones(sizes, dtype), full)


def zeros_like(value: Tensor) -> Tensor:
    """Zeros with the shape, dtype and backend of ``value``.

    Arguments:
        value: a Tensor.

    Returns:
        A Tensor of zeros.

    Raises:
        FoldaxTypeError: ``value`` is not a Tensor.

    Example:
        >>> from foldax.tensors import spatial, tensor, zeros_like
        >>> zeros_like(tensor([1., 2.], spatial('x')))
        (0.000, 0.000) along xˢ
    """
    return _like('zeros_like', value, 0)


def ones_like(value: Tensor) -> Tensor:
    """Ones with the shape, dtype and backend of ``value``.

    Arguments:
        value: a Tensor.

    Returns:
        A Tensor of ones.

    Raises:
        FoldaxTypeError: ``value`` is not a Tensor.

    Example:
        >>> from foldax.tensors import ones_like, spatial, tensor
        >>> ones_like(tensor([1., 2.], spatial('x')))
        (1.000, 1.000) along xˢ
    """
    return _like('ones_like', value, 1)


def _like(func: str, value: Tensor, fill: int) -> Tensor:
    if not isinstance(value, Tensor):
        raise FoldaxTypeError(f"{func}(value): value must be a Tensor, but got {type(value).__name__}")
    xp = jnp if is_jax(value.native()) else np
    return Tensor._make(xp.full(value.shape.sizes, fill, value.dtype), value.shape)


def random_uniform(
    *shape: Shape,
    low: float = 0.0,
    high: float = 1.0,
    dtype: Any = DEFAULT_FLOAT,
    key: jax.Array | None = None,
) -> Tensor:
    """Uniform random values in [low, high): NumPy-backed, or JAX-backed when a jax random `key` is given.

    Arguments:
        *shape: the dims, with sizes (``spatial(x=3)``, ``batch(b=2) & channel(c=3)``).
        low: the lower bound (included).
        high: the upper bound (excluded).
        dtype: the dtype.
        key: a jax random key, or ``None`` for NumPy's generator.

    Returns:
        A Tensor with the dims of ``shape``.

    Raises:
        FoldaxValueError: a dim has no size.
        FoldaxTypeError: an argument of ``shape`` is not a Shape.

    Example:
        >>> import jax
        >>> from foldax.tensors import batch, random_uniform
        >>> u = random_uniform(batch(b=3), key=jax.random.key(0))
        >>> u.shape, u.default_backend, bool(((u >= 0) & (u < 1)).all)
        ((bᵇ=3), 'jax', True)
    """
    full, sizes = _full_shape('random_uniform', shape)
    if key is not None:
        return Tensor._make(jax.random.uniform(key, sizes, dtype, low, high), full)
    return Tensor._make(_RNG.uniform(low, high, sizes).astype(dtype), full)


def random_normal(*shape: Shape, dtype: Any = DEFAULT_FLOAT, key: jax.Array | None = None) -> Tensor:
    """Standard normal random values: NumPy-backed, or JAX-backed when a jax random `key` is given.

    Arguments:
        *shape: the dims, with sizes (``spatial(x=3)``, ``batch(b=2) & channel(c=3)``).
        dtype: the dtype.
        key: a jax random key, or ``None`` for NumPy's generator.

    Returns:
        A Tensor with the dims of ``shape``.

    Raises:
        FoldaxValueError: a dim has no size.
        FoldaxTypeError: an argument of ``shape`` is not a Shape.

    Example:
        >>> from foldax.tensors import random_normal, spatial
        >>> random_normal(spatial(x=4)).shape
        (xˢ=4)
    """
    full, sizes = _full_shape('random_normal', shape)
    if key is not None:
        return Tensor._make(jax.random.normal(key, sizes, dtype), full)
    return Tensor._make(_RNG.standard_normal(sizes).astype(dtype), full)
