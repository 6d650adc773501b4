"""The functions that build shapes of one dim type: `batch`, `dual`, `instance`, `spatial`,
`channel`, and `non_batch`; given a Shape or Tensor instead of names, each returns its dims of that
type, so they also serve as dim filters (``sum(x, spatial)``).

Example:
    >>> from foldax.tensors import batch, channel
    >>> batch(b=2) & channel(vector='x,y')
    (bᵇ=2, vectorᶜ=x,y)
"""

from __future__ import annotations

import re
from typing import Any

from foldax.errors import FoldaxTypeError, FoldaxValueError
from foldax.tensors.shape_type import (
    BATCH,
    CHANNEL,
    DUAL,
    INSTANCE,
    SPATIAL,
    ItemNames,
    Shape,
    concat_shapes,
    dim_filter,
    parse_names,
)

_NAME = re.compile(r'~?[A-Za-z_]\w*$')


def _build(dim_type: str, func: str, args: tuple, kwargs: dict) -> Shape:
    if len(args) == 1 and not kwargs and not isinstance(args[0], str):
        shape = args[0] if isinstance(args[0], Shape) else getattr(args[0], 'shape', None)
        if isinstance(shape, Shape):
            return shape._of_types((dim_type,))
        raise FoldaxTypeError(
            f"{func}() takes dim names or a Shape/Tensor to filter, but got "
            f"{type(args[0]).__name__}; use e.g. {func}('x'), {func}(x=3) or {func}(tensor)"
        )
    dims: list[tuple[str, int | None, ItemNames]] = [
        (name, None, None) for arg in args for name in _arg_names(func, arg)
    ]
    dims += [(name, *_size_and_items(func, name, value)) for name, value in kwargs.items()]
    names = [_checked_name(func, dim_type, name) for name, _, _ in dims]
    return concat_shapes(Shape(names, [d[1] for d in dims], [dim_type] * len(dims), [d[2] for d in dims]))


def _arg_names(func: str, arg: Any) -> tuple[str, ...]:
    if not isinstance(arg, str):
        raise FoldaxTypeError(
            f"{func}() takes dim names as str, but got {type(arg).__name__} {arg!r}; "
            f"use e.g. {func}('x,y') or {func}(x=3)"
        )
    return parse_names(arg)


def _checked_name(func: str, dim_type: str, name: str) -> str:
    if dim_type == DUAL and not name.startswith('~'):
        name = '~' + name
    if not _NAME.match(name) or (name.startswith('~') and dim_type != DUAL):
        raise FoldaxValueError(
            f"{func}(): dim name {name!r} is not a valid name; use letters, digits and "
            f"underscores, starting with a letter (a '~' prefix only for dual dims)"
        )
    return name


def _size_and_items(func: str, name: str, value: Any) -> tuple[int | None, ItemNames]:
    if isinstance(value, str):
        value = parse_names(value)
    if isinstance(value, (tuple, list)):
        if not all(isinstance(v, str) for v in value) or len(set(value)) != len(value):
            raise FoldaxValueError(
                f"{func}({name}={value!r}): item names must be distinct strings; "
                f"use e.g. {func}({name}='x,y')"
            )
        return len(value), tuple(value)
    if value is None:
        return None, None
    if isinstance(value, bool) or not hasattr(value, '__index__'):
        raise FoldaxTypeError(
            f"{func}({name}={value!r}): a size must be an int or item names, but got "
            f"{type(value).__name__}; use e.g. {func}({name}=3) or {func}({name}='a,b')"
        )
    if int(value) < 0:
        raise FoldaxValueError(f"{func}({name}={value}): a size must not be negative; use a size >= 0")
    return int(value), None


@dim_filter(BATCH)
def batch(*names: Any, **sizes: Any) -> Shape:
    """Batch dims, or the batch dims of a Shape/Tensor.

    Arguments:
        *names: dim names (``'x'``, ``'x,y'``), or one Shape or Tensor whose batch dims to return.
        **sizes: dims with a size (``x=3``) or item names (``vector='x,y'``).

    Returns:
        A Shape of batch dims, in the order given.

    Raises:
        FoldaxTypeError: a name is not a str, a size is not an int or item names, or the single
            argument is neither a name nor a Shape/Tensor.
        FoldaxValueError: a name is not valid, a size is negative, or a dim is given twice.

    Example:
        >>> from foldax.tensors import batch
        >>> batch(b=2)
        (bᵇ=2)
    """
    return _build(BATCH, 'batch', names, sizes)


@dim_filter(DUAL)
def dual(*names: Any, **sizes: Any) -> Shape:
    """Dual dims (names get a ``~`` prefix), or the dual dims of a Shape/Tensor.

    Arguments:
        *names: dim names (``'x'``, ``'x,y'``), or one Shape or Tensor whose dual dims to return.
        **sizes: dims with a size (``x=3``) or item names (``vector='x,y'``).

    Returns:
        A Shape of dual dims, in the order given.

    Raises:
        FoldaxTypeError: a name is not a str, a size is not an int or item names, or the single
            argument is neither a name nor a Shape/Tensor.
        FoldaxValueError: a name is not valid, a size is negative, or a dim is given twice.

    Example:
        >>> from foldax.tensors import dual
        >>> dual(x=3)
        (~xᵈ=3)
    """
    return _build(DUAL, 'dual', names, sizes)


@dim_filter(INSTANCE)
def instance(*names: Any, **sizes: Any) -> Shape:
    """Instance dims, or those of a Shape/Tensor.

    Arguments:
        *names: dim names (``'x'``, ``'x,y'``), or one Shape or Tensor whose instance dims to return.
        **sizes: dims with a size (``x=3``) or item names (``vector='x,y'``).

    Returns:
        A Shape of instance dims, in the order given.

    Raises:
        FoldaxTypeError: a name is not a str, a size is not an int or item names, or the single
            argument is neither a name nor a Shape/Tensor.
        FoldaxValueError: a name is not valid, a size is negative, or a dim is given twice.

    Example:
        >>> from foldax.tensors import instance
        >>> instance(points=5)
        (pointsⁱ=5)
    """
    return _build(INSTANCE, 'instance', names, sizes)


@dim_filter(SPATIAL)
def spatial(*names: Any, **sizes: Any) -> Shape:
    """Spatial dims, or those of a Shape/Tensor.

    Arguments:
        *names: dim names (``'x'``, ``'x,y'``), or one Shape or Tensor whose spatial dims to return.
        **sizes: dims with a size (``x=3``) or item names (``vector='x,y'``).

    Returns:
        A Shape of spatial dims, in the order given.

    Raises:
        FoldaxTypeError: a name is not a str, a size is not an int or item names, or the single
            argument is neither a name nor a Shape/Tensor.
        FoldaxValueError: a name is not valid, a size is negative, or a dim is given twice.

    Example:
        >>> from foldax.tensors import spatial
        >>> spatial(x=64, y=32)
        (xˢ=64, yˢ=32)
    """
    return _build(SPATIAL, 'spatial', names, sizes)


@dim_filter(CHANNEL)
def channel(*names: Any, **sizes: Any) -> Shape:
    """Channel dims, or those of a Shape/Tensor.

    Arguments:
        *names: dim names (``'x'``, ``'x,y'``), or one Shape or Tensor whose channel dims to return.
        **sizes: dims with a size (``x=3``) or item names (``vector='x,y'``).

    Returns:
        A Shape of channel dims, in the order given.

    Raises:
        FoldaxTypeError: a name is not a str, a size is not an int or item names, or the single
            argument is neither a name nor a Shape/Tensor.
        FoldaxValueError: a name is not valid, a size is negative, or a dim is given twice.

    Example:
        >>> from foldax.tensors import channel
        >>> channel(vector='x,y')
        (vectorᶜ=x,y)
    """
    return _build(CHANNEL, 'channel', names, sizes)


@dim_filter(DUAL, INSTANCE, SPATIAL, CHANNEL)
def non_batch(value: Any) -> Shape:
    """All but the batch dims of a Shape/Tensor; also a dim filter: ``sum(x, non_batch)``.

    Arguments:
        value: a Shape or Tensor.

    Returns:
        A Shape.

    Raises:
        FoldaxTypeError: ``value`` is neither a Shape nor a Tensor.

    Example:
        >>> from foldax.tensors import batch, non_batch, spatial
        >>> non_batch(batch(b=2) & spatial(x=3))
        (xˢ=3)
    """
    return _shape_of(value, 'non_batch').non_batch


def _shape_of(value: Any, func: str) -> Shape:
    shape = value if isinstance(value, Shape) else getattr(value, 'shape', None)
    if not isinstance(shape, Shape):
        raise FoldaxTypeError(
            f"{func}() needs a Shape or Tensor, but got {type(value).__name__}; "
            f"wrap raw data first: tensor(data, spatial('x'))"
        )
    return shape
