"""Indexing by dim name: ``t.x[1]``, ``t.x[:-1]``, ``t[{'x': slice(1, None)}]``, ``t.vector['y']``.

A selection per dim is an int (the dim is removed), a slice (kept, sliced), an item name (removed),
comma-separated item names ``'x,y'`` or a list of ints / item names (kept, with those items).

Example:
    >>> import numpy as np
    >>> from foldax.tensors.shape import spatial, channel
    >>> native, shape = select(np.zeros((4, 2)), spatial(x=4) & channel(vector='x,y'),
    ...                        {'x': slice(1, None), 'vector': 'y'})
    >>> native.shape, shape
    ((3,), (xˢ=3))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from foldax.errors import FoldaxError, FoldaxIndexError, FoldaxTypeError, FoldaxValueError
from foldax.tensors.shape import ItemNames, Shape, parse_names

Selection = int | slice | str | list[int] | list[str] | tuple[int, ...] | tuple[str, ...]


class UnknownDimError(FoldaxError, AttributeError):
    """``tensor.name`` where the tensor has no dim called `name` (also an ``AttributeError``).

    Example:
        >>> from foldax.tensors import UnknownDimError, spatial, tensor
        >>> try:
        ...     tensor([1., 2.], spatial('x')).y
        ... except UnknownDimError as e:
        ...     print(isinstance(e, AttributeError))
        True
    """


def select(native: Any, shape: Shape, selection: dict[str, Selection]) -> tuple[Any, Shape]:
    """Applies a ``{dim name: selection}`` dict to a native whose axes are in the order of `shape`."""
    if not isinstance(selection, dict):
        raise FoldaxTypeError(
            f"tensor[{selection!r}]: index a tensor by name with a dict such as "
            f"{{'x': slice(1, None)}} or through the dim: tensor.x[1:]"
        )
    index: list[Any] = [slice(None)] * shape.rank
    known = shape.known_sizes('tensor[...]')
    sizes: list[int | None] = list(known)
    items: list[ItemNames] = list(shape.item_names)
    for name, sel in selection.items():
        if not isinstance(name, str) or name not in shape.names:
            raise FoldaxValueError(
                f"tensor[{{{name!r}: ...}}]: the tensor has no dim {name!r}; its shape is "
                f"{shape!r}, so index one of {shape.names}"
            )
        i = shape.index(name)
        index[i], sizes[i], items[i] = _select_dim(name, known[i], shape.item_names[i], sel)
    keep = [i for i, s in enumerate(sizes) if s is not None]
    new_shape = Shape(
        [shape.names[i] for i in keep],
        [sizes[i] for i in keep],
        [shape.types[i] for i in keep],
        [items[i] for i in keep],
    )
    if all(isinstance(ix, slice) and ix == slice(None) for ix in index):
        return native, new_shape
    return _apply(native, index), new_shape


def _apply(native: Any, index: list[Any]) -> Any:
    """Applies ints and slices at once, then each list on its own axis (lists never combine NumPy-style)."""
    basic = tuple(slice(None) if isinstance(ix, list) else ix for ix in index)
    if any(ix != slice(None) for ix in basic):
        native = native[basic]
    axis = 0
    for ix in index:
        if isinstance(ix, list):
            native = native[(slice(None),) * axis + (np.asarray(ix, dtype=np.intp),)]
        if not isinstance(ix, int):
            axis += 1
    return native


def _select_dim(name: str, size: int, items: Any, sel: Selection) -> tuple[Any, Any, Any]:
    """Returns (native index, new size or None if removed, new item names) for one dim."""
    where = f"tensor.{name}[{sel!r}]"
    if isinstance(sel, str):
        names = parse_names(sel)
        positions = [_item_position(where, name, items, n) for n in names]
        if ',' not in sel and len(positions) == 1:
            return positions[0], None, None
        return positions, len(positions), tuple(names)
    if isinstance(sel, slice):
        kept = range(size)[sel]
        return sel, len(kept), None if items is None else tuple(items[p] for p in kept)
    if isinstance(sel, (list, tuple)):
        positions = [
            _item_position(where, name, items, s) if isinstance(s, str) else _position(where, name, size, s)
            for s in sel
        ]
        return positions, len(positions), None if items is None else tuple(items[p] for p in positions)
    if hasattr(sel, '__index__') and not isinstance(sel, bool):
        return _position(where, name, size, sel), None, None
    raise FoldaxTypeError(
        f"{where}: a selection must be an int, a slice, item names or a list of them, "
        f"but got {type(sel).__name__}; use e.g. tensor.{name}[0], tensor.{name}[1:] "
        f"or tensor.{name}[[0, 2]]"
    )


def _position(where: str, name: str, size: int, index: Any) -> int:
    if isinstance(index, bool) or not hasattr(index, '__index__'):
        raise FoldaxTypeError(
            f"{where}: {index!r} ({type(index).__name__}) is not a position; use ints or item names"
        )
    index = int(index)
    if not -size <= index < size:
        raise FoldaxIndexError(
            f"{where}: index {index} is out of range for dim '{name}' of size {size}; "
            f"use an index in [-{size}, {size})"
        )
    return index % size


def _item_position(where: str, name: str, items: Any, item: str) -> int:
    if items is None:
        raise FoldaxValueError(
            f"{where}: dim '{name}' has no item names, so {item!r} cannot be looked up; "
            f"index by position, e.g. tensor.{name}[0], or give item names: channel({name}='a,b')"
        )
    if item not in items:
        raise FoldaxValueError(f"{where}: dim '{name}' has no item {item!r}; its items are {items}")
    return items.index(item)
