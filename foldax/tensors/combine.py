"""Combining tensors along a named dim: `stack` (a new dim) and `concat` (an existing dim).

Example:
    >>> a, b = tensor([1., 2.], spatial('x')), tensor([3., 4.], spatial('x'))
    >>> stack([a, b], batch('b')).shape, concat([a, b], 'x').shape
    ((bᵇ=2, xˢ=2), (xˢ=4))
"""

from __future__ import annotations

from typing import Any, Sequence

from foldax.errors import FoldaxTypeError, FoldaxValueError
from foldax.tensors.broadcast import expand
from foldax.tensors.natives import namespace
from foldax.tensors.shape import DIM_TYPES, Shape, merge_shapes
from foldax.tensors.tensor import Tensor, as_operand


def stack(values: Sequence[Any] | dict[str, Any], dim: Shape) -> Tensor:
    """Stacks tensors (or numbers) along the new dim `dim`, broadcasting their other dims by name. A dict's
    keys become the item names. The new dim goes before the first dim of a later type (batch, dual,
    instance, spatial, channel).

    Arguments:
        values: Tensors or numbers, as a list/tuple or a dict of item name -> value.
        dim: the new dim, a Shape with one dim (its size, if given, must be the number of values).

    Returns:
        A Tensor with ``dim`` and the union of the values' dims.

    Raises:
        FoldaxTypeError: ``dim`` is not a Shape with one dim, or a value is not a Tensor or number.
        FoldaxValueError: ``values`` is empty, ``dim``'s size differs from their number, the
            values already have ``dim``, or a shared dim differs in size.

    Example:
        >>> from foldax.tensors import channel, stack
        >>> stack({'x': 1., 'y': 2.}, channel('vector'))
        (x=1.000, y=2.000) float64
    """
    items = (
        tuple(values)
        if isinstance(values, dict)
        else dim.item_names[0]
        if isinstance(dim, Shape) and dim.rank == 1
        else None
    )
    values = list(values.values()) if isinstance(values, dict) else values
    if not isinstance(dim, Shape) or dim.rank != 1:
        raise FoldaxTypeError(
            f"stack(values, dim): dim must be a Shape with one dim, but got {dim!r}; "
            f"use e.g. stack(values, batch('b'))"
        )
    if not isinstance(values, (list, tuple)) or not values:
        raise FoldaxValueError(
            f"stack(values, dim): values must be a non-empty list, tuple or dict, but got "
            f"{type(values).__name__} {values!r}"
        )
    if dim.size is not None and dim.size != len(values):
        raise FoldaxValueError(
            f"stack(values, {dim!r}): dim has size {dim.size} but {len(values)} values are "
            f"given; leave the size open, e.g. {dim.type}('{dim.name.lstrip('~')}')"
        )
    operands = [as_operand(v, 'stack(values)') for v in values]
    base = _merge('stack', [shape for _, shape in operands])
    if dim.name in base:
        raise FoldaxValueError(
            f"stack(values, {dim!r}): the values already have a dim '{dim.name}' ({base!r}); "
            f"stack along a new name, or use concat(values, '{dim.name}')"
        )
    xp = namespace(*[native for native, _ in operands])
    dtype = xp.result_type(*[native for native, _ in operands])  # Python numbers adapt, as in arithmetic
    natives = [_broadcast(xp.asarray(native, dtype), shape, base) for native, shape in operands]
    position = next(
        (i for i, t in enumerate(base.types) if DIM_TYPES.index(t) > DIM_TYPES.index(dim.type)), base.rank
    )
    new = Shape(
        base.names[:position] + dim.names + base.names[position:],
        base.sizes[:position] + (len(values),) + base.sizes[position:],
        base.types[:position] + dim.types + base.types[position:],
        base.item_names[:position] + (items,) + base.item_names[position:],
    )
    return Tensor._make(xp.stack(natives, axis=position), new)


def concat(values: Sequence[Tensor], dim: str | Shape) -> Tensor:
    """Concatenates tensors along their existing dim `dim`, broadcasting their other dims by name.

    Arguments:
        values: a non-empty list or tuple of Tensors that all have ``dim``.
        dim: the dim's name, or a Shape with that one dim.

    Returns:
        A Tensor whose ``dim`` is as long as the values' together.

    Raises:
        FoldaxTypeError: ``dim`` is neither a name nor a Shape with one dim.
        FoldaxValueError: ``values`` is empty, a value lacks ``dim``, or another shared dim
            differs in size.

    Example:
        >>> from foldax.tensors import concat, spatial, tensor
        >>> a = tensor([1., 2.], spatial('x'))
        >>> concat([a, a], 'x')
        (1.000, 2.000, 1.000, 2.000) along xˢ
    """
    name = dim.name if isinstance(dim, Shape) and dim.rank == 1 else dim
    if not isinstance(name, str):
        raise FoldaxTypeError(
            f"concat(values, dim): dim must be a dim name or a Shape with one dim, but got "
            f"{dim!r}; use e.g. concat(values, 'x')"
        )
    if not isinstance(values, (list, tuple)) or not values:
        raise FoldaxValueError(
            f"concat(values, '{name}'): values must be a non-empty list or tuple of tensors"
        )
    for i, value in enumerate(values):
        if not isinstance(value, Tensor) or name not in value.shape:
            found = value.shape if isinstance(value, Tensor) else type(value).__name__
            raise FoldaxValueError(
                f"concat(values, '{name}'): values[{i}] has no dim '{name}' (found {found!r}); "
                f"every value needs that dim: add it with stack([v], ...) or index the right dim"
            )
    base = _merge('concat', [v.shape.with_size(name, None) for v in values])
    natives = [_broadcast(v.native(), v.shape, base.with_size(name, v.shape.get_size(name))) for v in values]
    items = [v.shape.get_item_names(name) for v in values]
    joined = None if any(i is None for i in items) else tuple(n for i in items for n in i)
    if joined is not None and len(set(joined)) != len(joined):
        joined = None
    xp = namespace(*natives)
    size = sum(v.shape.get_size(name) for v in values)
    return Tensor._make(xp.concatenate(natives, axis=base.index(name)), base.with_size(name, size, joined))


def _merge(func: str, shapes: list[Shape]) -> Shape:
    try:
        return merge_shapes(*shapes)
    except FoldaxValueError as err:
        raise FoldaxValueError(f"{func}(values): {err}") from None


def _broadcast(native: Any, shape: Shape, target: Shape) -> Any:
    """`native` expanded to `target` and broadcast to its full sizes."""
    native = expand(native, shape, target)
    xp = namespace(native)
    return native if tuple(xp.shape(native)) == target.sizes else xp.broadcast_to(native, target.sizes)
