"""Shapes with named, typed dimensions: batch, dual, instance, spatial and channel.

A `Shape` is an immutable, hashable tuple of dims; each dim has a name, a size (``None``
until used with data), a type and optional item names. Dual dim names carry a ``~`` prefix.

The names live in two modules, re-exported here: the `Shape` type, how shapes combine and how
dims are selected in ``shape_type.py``; the functions building shapes of one dim type in
``dim_constructors.py``.

Example:
    >>> spatial(x=64, y=32)
    (xˢ=64, yˢ=32)
    >>> batch(b=2) & channel(vector='x,y')
    (bᵇ=2, vectorᶜ=x,y)
"""

from foldax.tensors.dim_constructors import batch, channel, dual, instance, non_batch, spatial
from foldax.tensors.shape_type import (
    BATCH,
    CHANNEL,
    DIM_TYPES,
    DUAL,
    EMPTY_SHAPE,
    INSTANCE,
    SPATIAL,
    SUPERSCRIPT,
    DimSpec,
    ItemNames,
    Shape,
    concat_shapes,
    dim_filter,
    merge_shapes,
    parse_names,
    resolve_names,
)

__all__ = [
    'BATCH',
    'CHANNEL',
    'DIM_TYPES',
    'DUAL',
    'EMPTY_SHAPE',
    'INSTANCE',
    'SPATIAL',
    'SUPERSCRIPT',
    'DimSpec',
    'ItemNames',
    'Shape',
    'batch',
    'channel',
    'concat_shapes',
    'dim_filter',
    'dual',
    'instance',
    'merge_shapes',
    'non_batch',
    'parse_names',
    'resolve_names',
    'spatial',
]
