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
    """Elementwise sine. Example: ``sin(wrap(0.))`` -> ``float64 0.0``."""
    return elementwise('sin', x, where='sin(x)')


def cos(x: Any) -> Tensor:
    """Elementwise cosine. Example: ``cos(wrap(0.))`` -> ``float64 1.0``."""
    return elementwise('cos', x, where='cos(x)')


def tan(x: Any) -> Tensor:
    """Elementwise tangent. Example: ``tan(wrap(0.))`` -> ``float64 0.0``."""
    return elementwise('tan', x, where='tan(x)')


def exp(x: Any) -> Tensor:
    """Elementwise e ** x. Example: ``exp(wrap(0.))`` -> ``float64 1.0``."""
    return elementwise('exp', x, where='exp(x)')


def log(x: Any) -> Tensor:
    """Elementwise natural logarithm. Example: ``log(wrap(1.))`` -> ``float64 0.0``."""
    return elementwise('log', x, where='log(x)')


def sqrt(x: Any) -> Tensor:
    """Elementwise square root. Example: ``sqrt(wrap(4.))`` -> ``float64 2.0``."""
    return elementwise('sqrt', x, where='sqrt(x)')


def tanh(x: Any) -> Tensor:
    """Elementwise hyperbolic tangent. Example: ``tanh(wrap(0.))`` -> ``float64 0.0``."""
    return elementwise('tanh', x, where='tanh(x)')


def abs_(x: Any) -> Tensor:
    """Elementwise absolute value (exported as ``abs``). Example: ``abs_(wrap(-2.))`` -> ``float64 2.0``."""
    return elementwise('abs', x, where='abs(x)')


def sign(x: Any) -> Tensor:
    """Elementwise sign: -1, 0 or 1. Example: ``sign(wrap(-2.))`` -> ``float64 -1.0``."""
    return elementwise('sign', x, where='sign(x)')


def floor(x: Any) -> Tensor:
    """Elementwise floor. Example: ``floor(wrap(1.5))`` -> ``float64 1.0``."""
    return elementwise('floor', x, where='floor(x)')


def ceil(x: Any) -> Tensor:
    """Elementwise ceiling. Example: ``ceil(wrap(1.5))`` -> ``float64 2.0``."""
    return elementwise('ceil', x, where='ceil(x)')


def round_(x: Any) -> Tensor:
    """Elementwise rounding, halves to even as NumPy (exported as ``round``).

    Example: ``round_(wrap(2.5))`` -> ``float64 2.0``."""
    return elementwise('round', x, where='round(x)')


def maximum(x: Any, y: Any) -> Tensor:
    """Elementwise maximum, broadcast by name. Example: ``maximum(t, 0)``."""
    return elementwise('maximum', x, y, where='maximum(x, y)')


def minimum(x: Any, y: Any) -> Tensor:
    """Elementwise minimum, broadcast by name. Example: ``minimum(t, 0)``."""
    return elementwise('minimum', x, y, where='minimum(x, y)')


def clip(x: Any, lower: Any, upper: Any) -> Tensor:
    """Limits `x` to [lower, upper], all broadcast by name. Example: ``clip(t, 0, 1)``."""
    return elementwise('clip', x, lower, upper, where='clip(x, lower, upper)')


def where(condition: Any, value_true: Any, value_false: Any) -> Tensor:
    """`value_true` where `condition` holds, else `value_false`; all three broadcast by name.

    Example: ``where(t > 0, t, 0)`` keeps the positive values of ``t``.
    """
    return elementwise(
        'where', condition, value_true, value_false, where='where(condition, value_true, value_false)'
    )
