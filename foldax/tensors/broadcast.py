"""Broadcasting by dimension name, never by position.

Operands are ``(native, Shape)`` pairs. Their shapes are merged by name (`merge_shapes`), and each
native is transposed into the merged order with size-1 axes inserted for the dims it lacks, so
that the array library's positional broadcasting then lines dims up by name.

Example:
    >>> import numpy as np
    >>> from foldax.tensors.shape import spatial, channel
    >>> shape, (a, b) = align([(np.zeros((3, 2)), spatial(x=3) & channel(c=2)), (np.ones(2), channel(c=2))])
    >>> shape, a.shape, b.shape
    ((xˢ=3, cᶜ=2), (3, 2), (1, 2))
"""

from __future__ import annotations

from typing import Any, Sequence

from foldax.tensors.natives import is_number, namespace
from foldax.tensors.shape import Shape, merge_shapes


def expand(native: Any, shape: Shape, target: Shape) -> Any:
    """Transposes `native` (axes in the order of `shape`) into the order of `target` and inserts
    size-1 axes for the dims of `target` it lacks. Does nothing where nothing is needed, so that a
    traced native gains no equations.

    Example: ``expand(np.zeros((2, 3)), spatial(y=2, x=3), spatial(x=3, z=4, y=2)).shape == (3, 1, 2)``.
    """
    if shape.rank == 0 or is_number(native):
        return native
    order = [n for n in target.names if n in shape.names]
    perm = [shape.index(n) for n in order]
    xp = namespace(native)
    if perm != list(range(len(perm))):
        native = xp.transpose(native, perm)
    new_shape = tuple(target.get_size(n) if n in shape.names else 1 for n in target.names)
    if new_shape != tuple(native.shape):
        native = xp.reshape(native, new_shape)
    return native


def align(operands: Sequence[tuple[Any, Shape]]) -> tuple[Shape, list[Any]]:
    """Merges the operands' shapes and expands every native to the merged shape's axes.

    Shared dims must agree in type and size (a `FoldaxValueError` names the dim and both shapes).
    """
    target = merge_shapes(*[shape for _, shape in operands])
    return target, [expand(native, shape, target) for native, shape in operands]
