"""Elementwise math on tensors, broadcast by dim name: `sin`, `exp`, ..., `maximum`, `clip`, `where`.

Each function accepts Tensors, Python numbers and rank-0 arrays. NumPy-backed inputs compute in
NumPy right away (constants); any JAX input makes the result JAX-backed.

Example:
    >>> sin(tensor([0., 1.], spatial('x'))).default_backend
    'numpy'
"""

from __future__ import annotations

from typing import Any

from foldax.tensors.tensor import Tensor, elementwise


def sin(x: Any) -> Tensor:
    """Elementwise sine.

    Arguments:
        x: a Tensor, a Python number or a rank-0 array.

    Returns:
        A Tensor with ``x``'s dims, NumPy-backed if ``x`` is, JAX-backed otherwise.

    Raises:
        FoldaxTypeError: ``x`` is an array of rank > 0 that is not a Tensor (its axes have no
            names), or not a number.

    Example:
        >>> from foldax.tensors import sin, wrap
        >>> sin(wrap(0.))
        float64 0.0
    """
    return elementwise('sin', x, where='sin(x)')


def cos(x: Any) -> Tensor:
    """Elementwise cosine.

    Arguments:
        x: a Tensor, a Python number or a rank-0 array.

    Returns:
        A Tensor with ``x``'s dims, NumPy-backed if ``x`` is, JAX-backed otherwise.

    Raises:
        FoldaxTypeError: ``x`` is an array of rank > 0 that is not a Tensor (its axes have no
            names), or not a number.

    Example:
        >>> from foldax.tensors import cos, wrap
        >>> cos(wrap(0.))
        float64 1.0
    """
    return elementwise('cos', x, where='cos(x)')


def tan(x: Any) -> Tensor:
    """Elementwise tangent.

    Arguments:
        x: a Tensor, a Python number or a rank-0 array.

    Returns:
        A Tensor with ``x``'s dims, NumPy-backed if ``x`` is, JAX-backed otherwise.

    Raises:
        FoldaxTypeError: ``x`` is an array of rank > 0 that is not a Tensor (its axes have no
            names), or not a number.

    Example:
        >>> from foldax.tensors import tan, wrap
        >>> tan(wrap(0.))
        float64 0.0
    """
    return elementwise('tan', x, where='tan(x)')


def exp(x: Any) -> Tensor:
    """Elementwise e ** x.

    Arguments:
        x: a Tensor, a Python number or a rank-0 array.

    Returns:
        A Tensor with ``x``'s dims, NumPy-backed if ``x`` is, JAX-backed otherwise.

    Raises:
        FoldaxTypeError: ``x`` is an array of rank > 0 that is not a Tensor (its axes have no
            names), or not a number.

    Example:
        >>> from foldax.tensors import exp, wrap
        >>> exp(wrap(0.))
        float64 1.0
    """
    return elementwise('exp', x, where='exp(x)')


def log(x: Any) -> Tensor:
    """Elementwise natural logarithm.

    Arguments:
        x: a Tensor, a Python number or a rank-0 array.

    Returns:
        A Tensor with ``x``'s dims, NumPy-backed if ``x`` is, JAX-backed otherwise.

    Raises:
        FoldaxTypeError: ``x`` is an array of rank > 0 that is not a Tensor (its axes have no
            names), or not a number.

    Example:
        >>> from foldax.tensors import log, wrap
        >>> log(wrap(1.))
        float64 0.0
    """
    return elementwise('log', x, where='log(x)')


def sqrt(x: Any) -> Tensor:
    """Elementwise square root.

    Arguments:
        x: a Tensor, a Python number or a rank-0 array.

    Returns:
        A Tensor with ``x``'s dims, NumPy-backed if ``x`` is, JAX-backed otherwise.

    Raises:
        FoldaxTypeError: ``x`` is an array of rank > 0 that is not a Tensor (its axes have no
            names), or not a number.

    Example:
        >>> from foldax.tensors import sqrt, wrap
        >>> sqrt(wrap(4.))
        float64 2.0
    """
    return elementwise('sqrt', x, where='sqrt(x)')


def tanh(x: Any) -> Tensor:
    """Elementwise hyperbolic tangent.

    Arguments:
        x: a Tensor, a Python number or a rank-0 array.

    Returns:
        A Tensor with ``x``'s dims, NumPy-backed if ``x`` is, JAX-backed otherwise.

    Raises:
        FoldaxTypeError: ``x`` is an array of rank > 0 that is not a Tensor (its axes have no
            names), or not a number.

    Example:
        >>> from foldax.tensors import tanh, wrap
        >>> tanh(wrap(0.))
        float64 0.0
    """
    return elementwise('tanh', x, where='tanh(x)')


def abs_(x: Any) -> Tensor:
    """Elementwise absolute value (exported as ``abs``).

    Arguments:
        x: a Tensor, a Python number or a rank-0 array.

    Returns:
        A Tensor with ``x``'s dims, NumPy-backed if ``x`` is, JAX-backed otherwise.

    Raises:
        FoldaxTypeError: ``x`` is an array of rank > 0 that is not a Tensor (its axes have no
            names), or not a number.

    Example:
        >>> from foldax.tensors import abs, wrap
        >>> abs(wrap(-2.))
        float64 2.0
    """
    return elementwise('abs', x, where='abs(x)')


def sign(x: Any) -> Tensor:
    """Elementwise sign: -1, 0 or 1.

    Arguments:
        x: a Tensor, a Python number or a rank-0 array.

    Returns:
        A Tensor with ``x``'s dims, NumPy-backed if ``x`` is, JAX-backed otherwise.

    Raises:
        FoldaxTypeError: ``x`` is an array of rank > 0 that is not a Tensor (its axes have no
            names), or not a number.

    Example:
        >>> from foldax.tensors import sign, wrap
        >>> sign(wrap(-2.))
        float64 -1.0
    """
    return elementwise('sign', x, where='sign(x)')


def floor(x: Any) -> Tensor:
    """Elementwise floor.

    Arguments:
        x: a Tensor, a Python number or a rank-0 array.

    Returns:
        A Tensor with ``x``'s dims, NumPy-backed if ``x`` is, JAX-backed otherwise.

    Raises:
        FoldaxTypeError: ``x`` is an array of rank > 0 that is not a Tensor (its axes have no
            names), or not a number.

    Example:
        >>> from foldax.tensors import floor, wrap
        >>> floor(wrap(1.5))
        float64 1.0
    """
    return elementwise('floor', x, where='floor(x)')


def ceil(x: Any) -> Tensor:
    """Elementwise ceiling.

    Arguments:
        x: a Tensor, a Python number or a rank-0 array.

    Returns:
        A Tensor with ``x``'s dims, NumPy-backed if ``x`` is, JAX-backed otherwise.

    Raises:
        FoldaxTypeError: ``x`` is an array of rank > 0 that is not a Tensor (its axes have no
            names), or not a number.

    Example:
        >>> from foldax.tensors import ceil, wrap
        >>> ceil(wrap(1.5))
        float64 2.0
    """
    return elementwise('ceil', x, where='ceil(x)')


def round_(x: Any) -> Tensor:
    """Elementwise rounding, halves to even as NumPy (exported as ``round``).

    Arguments:
        x: a Tensor, a Python number or a rank-0 array.

    Returns:
        A Tensor with ``x``'s dims, NumPy-backed if ``x`` is, JAX-backed otherwise.

    Raises:
        FoldaxTypeError: ``x`` is an array of rank > 0 that is not a Tensor (its axes have no
            names), or not a number.

    Example:
        >>> from foldax.tensors import round, wrap
        >>> round(wrap(2.5))
        float64 2.0
    """
    return elementwise('round', x, where='round(x)')


def maximum(x: Any, y: Any) -> Tensor:
    """Elementwise maximum, broadcast by dim name.

    Arguments:
        x: a Tensor, a Python number or a rank-0 array.
        y: a Tensor, a Python number or a rank-0 array.

    Returns:
        A Tensor with the union of the arguments' dims.

    Raises:
        FoldaxTypeError: an argument is an array of rank > 0 that is not a Tensor, or not a
            number.
        FoldaxValueError: a dim shared by the arguments has different sizes.

    Example:
        >>> from foldax.tensors import maximum, spatial, tensor
        >>> t = tensor([-1., 0.5, 2.], spatial('x'))
        >>> maximum(t, 0)
        (0.000, 0.500, 2.000) along xˢ
    """
    return elementwise('maximum', x, y, where='maximum(x, y)')


def minimum(x: Any, y: Any) -> Tensor:
    """Elementwise minimum, broadcast by dim name.

    Arguments:
        x: a Tensor, a Python number or a rank-0 array.
        y: a Tensor, a Python number or a rank-0 array.

    Returns:
        A Tensor with the union of the arguments' dims.

    Raises:
        FoldaxTypeError: an argument is an array of rank > 0 that is not a Tensor, or not a
            number.
        FoldaxValueError: a dim shared by the arguments has different sizes.

    Example:
        >>> from foldax.tensors import minimum, spatial, tensor
        >>> t = tensor([-1., 0.5, 2.], spatial('x'))
        >>> minimum(t, 0)
        (-1.000, 0.000, 0.000) along xˢ
    """
    return elementwise('minimum', x, y, where='minimum(x, y)')


def clip(x: Any, lower: Any, upper: Any) -> Tensor:
    """``x`` limited to ``[lower, upper]``, all three broadcast by dim name.

    Arguments:
        x: a Tensor, a Python number or a rank-0 array.
        lower: the lower bound (a Tensor, a Python number or a rank-0 array).
        upper: the upper bound (a Tensor, a Python number or a rank-0 array).

    Returns:
        A Tensor with the union of the arguments' dims.

    Raises:
        FoldaxTypeError: an argument is an array of rank > 0 that is not a Tensor, or not a
            number.
        FoldaxValueError: a dim shared by the arguments has different sizes.

    Example:
        >>> from foldax.tensors import clip, spatial, tensor
        >>> t = tensor([-1., 0.5, 2.], spatial('x'))
        >>> clip(t, 0, 1)
        (0.000, 0.500, 1.000) along xˢ
    """
    return elementwise('clip', x, lower, upper, where='clip(x, lower, upper)')


def where(condition: Any, value_true: Any, value_false: Any) -> Tensor:
    """``value_true`` where ``condition`` holds, else ``value_false``; all three broadcast by dim name.

    Arguments:
        condition: a boolean operand (a Tensor, a Python number or a rank-0 array).
        value_true: the values where ``condition`` holds.
        value_false: the values elsewhere.

    Returns:
        A Tensor with the union of the arguments' dims.

    Raises:
        FoldaxTypeError: an argument is an array of rank > 0 that is not a Tensor, or not a
            number.
        FoldaxValueError: a dim shared by the arguments has different sizes.

    Example:
        >>> from foldax.tensors import where, spatial, tensor
        >>> t = tensor([-1., 0.5, 2.], spatial('x'))
        >>> where(t > 0, t, 0)
        (0.000, 0.500, 2.000) along xˢ
    """
    return elementwise(
        'where', condition, value_true, value_false, where='where(condition, value_true, value_false)'
    )
