"""Reductions by dim name or type: `sum_`, `mean`, `max_`, `min_`, `prod`, `std`, `any_`, `all_`, plus
`l2_loss` and `batch_reduce_sum`. (Exported without the trailing underscore: ``sum``, ``max`` ...)

`dim` selects the reduced dims: ``None`` (all), a name ``'x'``, names ``'x,y'`` or ``['x', 'y']``, a
Shape, or a type filter such as `spatial`, `batch` or `non_batch`.

Example:
    >>> t = tensor(np.ones((2, 3)), batch('b'), spatial('x'))
    >>> sum_(t, 'x'), sum_(t, spatial).shape, sum_(t).shape
    ((3.000, 3.000) along bᵇ float64, (bᵇ=2), ())
"""

from __future__ import annotations

from typing import Any

from foldax.errors import FoldaxTypeError
from foldax.tensors.natives import is_native, namespace
from foldax.tensors.shape import DimSpec, Shape, resolve_names
from foldax.tensors.tensor import Tensor, as_operand, as_tensor


def _reduce(func: str, op: str, value: Any, dim: DimSpec) -> Tensor:
    value = as_tensor(value, f"{func}(value)")
    shape = value.shape
    names = resolve_names(
        shape, dim, where=f"{func}(value, dim={getattr(dim, '__name__', None) or repr(dim)})"
    )
    # no dims (dim=[]) is still a reduction, over no axes, as NumPy's axis=(): std gives zeros,
    # any/all booleans, mean of integers floats
    axes = tuple(shape.index(n) for n in names)
    native = value.native()
    return Tensor._make(getattr(namespace(native), op)(native, axis=axes), shape.without(names))


def sum_(value: Any, dim: DimSpec = None) -> Tensor:
    """Sums over ``dim`` (exported as ``sum``).

    Arguments:
        value: a Tensor (or a Python number or rank-0 array).
        dim: the dims reduced: ``None`` (all), a name ``'x'``, names ``'x,y'`` or ``['x', 'y']``, a
            Shape, or a type filter such as ``spatial`` or ``batch``.

    Returns:
        A Tensor with the other dims of ``value``.

    Raises:
        FoldaxTypeError: ``value`` is an array of rank > 0 that is not a Tensor, or ``dim`` is not
            one of the forms above.
        FoldaxValueError: ``dim`` names a dim ``value`` does not have.

    Example:
        >>> import numpy as np
        >>> from foldax.tensors import sum, batch, spatial, tensor
        >>> t = tensor(np.arange(6.).reshape(2, 3), batch('b'), spatial('x'))
        >>> sum(t, 'x')
        (3.000, 12.000) along bᵇ float64
    """
    return _reduce('sum', 'sum', value, dim)


def mean(value: Any, dim: DimSpec = None) -> Tensor:
    """The mean over ``dim``.

    Arguments:
        value: a Tensor (or a Python number or rank-0 array).
        dim: the dims reduced: ``None`` (all), a name ``'x'``, names ``'x,y'`` or ``['x', 'y']``, a
            Shape, or a type filter such as ``spatial`` or ``batch``.

    Returns:
        A Tensor with the other dims of ``value``.

    Raises:
        FoldaxTypeError: ``value`` is an array of rank > 0 that is not a Tensor, or ``dim`` is not
            one of the forms above.
        FoldaxValueError: ``dim`` names a dim ``value`` does not have.

    Example:
        >>> import numpy as np
        >>> from foldax.tensors import mean, batch, spatial, tensor
        >>> t = tensor(np.arange(6.).reshape(2, 3), batch('b'), spatial('x'))
        >>> mean(t, 'x')
        (1.000, 4.000) along bᵇ float64
    """
    return _reduce('mean', 'mean', value, dim)


def max_(value: Any, dim: DimSpec = None) -> Tensor:
    """The maximum over ``dim`` (exported as ``max``).

    Arguments:
        value: a Tensor (or a Python number or rank-0 array).
        dim: the dims reduced: ``None`` (all), a name ``'x'``, names ``'x,y'`` or ``['x', 'y']``, a
            Shape, or a type filter such as ``spatial`` or ``batch``.

    Returns:
        A Tensor with the other dims of ``value``.

    Raises:
        FoldaxTypeError: ``value`` is an array of rank > 0 that is not a Tensor, or ``dim`` is not
            one of the forms above.
        FoldaxValueError: ``dim`` names a dim ``value`` does not have.

    Example:
        >>> import numpy as np
        >>> from foldax.tensors import max, batch, spatial, tensor
        >>> t = tensor(np.arange(6.).reshape(2, 3), batch('b'), spatial('x'))
        >>> max(t, 'x')
        (2.000, 5.000) along bᵇ float64
    """
    return _reduce('max', 'max', value, dim)


def min_(value: Any, dim: DimSpec = None) -> Tensor:
    """The minimum over ``dim`` (exported as ``min``).

    Arguments:
        value: a Tensor (or a Python number or rank-0 array).
        dim: the dims reduced: ``None`` (all), a name ``'x'``, names ``'x,y'`` or ``['x', 'y']``, a
            Shape, or a type filter such as ``spatial`` or ``batch``.

    Returns:
        A Tensor with the other dims of ``value``.

    Raises:
        FoldaxTypeError: ``value`` is an array of rank > 0 that is not a Tensor, or ``dim`` is not
            one of the forms above.
        FoldaxValueError: ``dim`` names a dim ``value`` does not have.

    Example:
        >>> import numpy as np
        >>> from foldax.tensors import min, batch, spatial, tensor
        >>> t = tensor(np.arange(6.).reshape(2, 3), batch('b'), spatial('x'))
        >>> min(t, 'x')
        (0.000, 3.000) along bᵇ float64
    """
    return _reduce('min', 'min', value, dim)


def prod(value: Any, dim: DimSpec = None) -> Tensor:
    """The product over ``dim``.

    Arguments:
        value: a Tensor (or a Python number or rank-0 array).
        dim: the dims reduced: ``None`` (all), a name ``'x'``, names ``'x,y'`` or ``['x', 'y']``, a
            Shape, or a type filter such as ``spatial`` or ``batch``.

    Returns:
        A Tensor with the other dims of ``value``.

    Raises:
        FoldaxTypeError: ``value`` is an array of rank > 0 that is not a Tensor, or ``dim`` is not
            one of the forms above.
        FoldaxValueError: ``dim`` names a dim ``value`` does not have.

    Example:
        >>> import numpy as np
        >>> from foldax.tensors import prod, batch, spatial, tensor
        >>> t = tensor(np.arange(6.).reshape(2, 3), batch('b'), spatial('x'))
        >>> prod(t, 'x')
        (0.000, 60.000) along bᵇ float64
    """
    return _reduce('prod', 'prod', value, dim)


def std(value: Any, dim: DimSpec = None) -> Tensor:
    """The (population, ddof=0) standard deviation over ``dim``.

    Arguments:
        value: a Tensor (or a Python number or rank-0 array).
        dim: the dims reduced: ``None`` (all), a name ``'x'``, names ``'x,y'`` or ``['x', 'y']``, a
            Shape, or a type filter such as ``spatial`` or ``batch``.

    Returns:
        A Tensor with the other dims of ``value``.

    Raises:
        FoldaxTypeError: ``value`` is an array of rank > 0 that is not a Tensor, or ``dim`` is not
            one of the forms above.
        FoldaxValueError: ``dim`` names a dim ``value`` does not have.

    Example:
        >>> import numpy as np
        >>> from foldax.tensors import std, batch, spatial, tensor
        >>> t = tensor(np.arange(6.).reshape(2, 3), batch('b'), spatial('x'))
        >>> std(t, 'x')
        (0.816, 0.816) along bᵇ float64
    """
    return _reduce('std', 'std', value, dim)


def any_(value: Any, dim: DimSpec = None) -> Tensor:
    """True where any value along ``dim`` is true (exported as ``any``).

    Arguments:
        value: a Tensor (or a Python number or rank-0 array).
        dim: the dims reduced: ``None`` (all), a name ``'x'``, names ``'x,y'`` or ``['x', 'y']``, a
            Shape, or a type filter such as ``spatial`` or ``batch``.

    Returns:
        A Tensor with the other dims of ``value``.

    Raises:
        FoldaxTypeError: ``value`` is an array of rank > 0 that is not a Tensor, or ``dim`` is not
            one of the forms above.
        FoldaxValueError: ``dim`` names a dim ``value`` does not have.

    Example:
        >>> import numpy as np
        >>> from foldax.tensors import any, batch, spatial, tensor
        >>> t = tensor(np.arange(6.).reshape(2, 3), batch('b'), spatial('x'))
        >>> any(t > 4, 'x')
        (False, True) along bᵇ
    """
    return _reduce('any', 'any', value, dim)


def all_(value: Any, dim: DimSpec = None) -> Tensor:
    """True where all values along ``dim`` are true (exported as ``all``).

    Arguments:
        value: a Tensor (or a Python number or rank-0 array).
        dim: the dims reduced: ``None`` (all), a name ``'x'``, names ``'x,y'`` or ``['x', 'y']``, a
            Shape, or a type filter such as ``spatial`` or ``batch``.

    Returns:
        A Tensor with the other dims of ``value``.

    Raises:
        FoldaxTypeError: ``value`` is an array of rank > 0 that is not a Tensor, or ``dim`` is not
            one of the forms above.
        FoldaxValueError: ``dim`` names a dim ``value`` does not have.

    Example:
        >>> import numpy as np
        >>> from foldax.tensors import all, batch, spatial, tensor
        >>> t = tensor(np.arange(6.).reshape(2, 3), batch('b'), spatial('x'))
        >>> all(t > 2, 'x')
        (False, True) along bᵇ
    """
    return _reduce('all', 'all', value, dim)


def l2_loss(value: Any) -> Any:
    """``sum(value ** 2) / 2`` over all non-batch dims; batch dims are kept. A raw array has no batch
    dims, so all its axes are summed (and a raw array is returned).

    Arguments:
        value: a Tensor, a NumPy or JAX array, or a number.

    Returns:
        A Tensor over ``value``'s batch dims (a raw array for a raw array of rank > 0).

    Raises:
        FoldaxTypeError: ``value`` is not a Tensor, array or number.

    Example:
        >>> from foldax.tensors import l2_loss, tensor
        >>> l2_loss(tensor([3., 4.]))
        12.5
    """
    if is_native(value) and not isinstance(value, Tensor) and value.ndim:
        xp = namespace(value)
        return xp.sum(_squared(xp, value)) / 2
    value = as_tensor(value, 'l2_loss(value)')
    squared = Tensor._make(_squared(namespace(value.native()), value.native()), value.shape)
    return sum_(squared, value.shape.non_batch) / 2


def _squared(xp: Any, native: Any) -> Any:
    return xp.real(native * xp.conj(native)) if xp.iscomplexobj(native) else native * native


def batch_reduce_sum(value: Any) -> Any:
    """Sums a Tensor over its batch dims only: turns a batched scalar loss into a scalar (used by grad).
    Anything that is not a Tensor, or a Tensor without batch dims, is returned unchanged.

    Arguments:
        value: anything.

    Returns:
        ``value`` summed over its batch dims, or ``value`` itself.

    Example:
        >>> import numpy as np
        >>> from foldax.tensors import batch, batch_reduce_sum, tensor
        >>> batch_reduce_sum(tensor(np.arange(3.), batch('b')))
        float64 3.0
    """
    return sum_(value, value.shape.batch) if isinstance(value, Tensor) and value.shape.batch else value


def non_batch_shape(value: Any) -> Shape:
    """The non-batch dims of a Tensor; a number or rank-0 array has none. Raw arrays of rank > 0 raise.

    Arguments:
        value: a Tensor, a Python number or a rank-0 array.

    Returns:
        A Shape.

    Raises:
        FoldaxTypeError: ``value`` is a Shape, an array of rank > 0 or not a number.

    Example:
        >>> from foldax.tensors import batch, non_batch_shape, spatial, zeros
        >>> non_batch_shape(zeros(batch(b=2) & spatial(x=3)))
        (xˢ=3)
    """
    if isinstance(value, Tensor):
        return value.shape.non_batch
    if isinstance(value, Shape):
        raise FoldaxTypeError("non_batch_shape(value) takes a Tensor, not a Shape; use shape.non_batch")
    return as_operand(value, 'non_batch_shape(value)')[1]
