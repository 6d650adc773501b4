"""Named-dimension tensors, as in ΦML: batch, dual, instance, spatial and channel dims.

NumPy-backed tensors are constants (computed in NumPy at once, also while traced); JAX-backed tensors
are variables. `Tensor` is a JAX pytree (child: the native array; aux data: the Shape).

Example:
    >>> from foldax.tensors import tensor, spatial, channel, sum
    >>> v = tensor([[1., 2.], [3., 4.]], spatial('x'), channel(vector='x,y'))
    >>> sum(v, 'x'), v.vector['y'], v.x[1:].shape
    ((x=4.000, y=6.000), (2.000, 4.000) along xˢ, (xˢ=1, vectorᶜ=x,y))
"""

from foldax.tensors.combine import concat, stack
from foldax.tensors.creation import (
    ones,
    ones_like,
    random_normal,
    random_uniform,
    tensor,
    wrap,
    zeros,
    zeros_like,
)
from foldax.tensors.indexing import UnknownDimError
from foldax.tensors.math import (
    abs_ as abs,
    ceil,
    clip,
    cos,
    exp,
    floor,
    log,
    maximum,
    minimum,
    round_ as round,
    sign,
    sin,
    sqrt,
    tan,
    tanh,
    where,
)
from foldax.tensors.reductions import (
    all_ as all,
    any_ as any,
    batch_reduce_sum,
    l2_loss,
    max_ as max,
    mean,
    min_ as min,
    non_batch_shape,
    prod,
    std,
    sum_ as sum,
)
from foldax.tensors.shape import (
    EMPTY_SHAPE,
    Shape,
    batch,
    channel,
    concat_shapes,
    dual,
    instance,
    merge_shapes,
    non_batch,
    spatial,
)
from foldax.tensors.tensor import BoundDim, Tensor, is_tensor

__all__ = [
    # shapes
    'Shape',
    'EMPTY_SHAPE',
    'batch',
    'dual',
    'instance',
    'spatial',
    'channel',
    'non_batch',
    'merge_shapes',
    'concat_shapes',
    # tensors and creation
    'Tensor',
    'BoundDim',
    'UnknownDimError',
    'tensor',
    'wrap',
    'zeros',
    'ones',
    'zeros_like',
    'ones_like',
    'random_uniform',
    'random_normal',
    'stack',
    'concat',
    # math
    'sin',
    'cos',
    'tan',
    'exp',
    'log',
    'sqrt',
    'tanh',
    'abs',
    'sign',
    'floor',
    'ceil',
    'round',
    'maximum',
    'minimum',
    'clip',
    'where',
    # reductions
    'sum',
    'mean',
    'max',
    'min',
    'prod',
    'std',
    'any',
    'all',
    'l2_loss',
    # helpers for the transformations
    'is_tensor',
    'batch_reduce_sum',
    'non_batch_shape',
]
