"""``add``, ``sub`` and ``mul`` of constants computed with NumPy where that is bit for bit XLA's result.

Folding computes arithmetic on constants eagerly through XLA (``eager``), compiling one
executable per primitive, parameters and shape: a trace at a shape never seen before compiles
``add``, ``sub`` and ``mul`` afresh, tens of milliseconds each, where ``jax.jit``'s trace
computes nothing. These three operations are exactly rounded in IEEE arithmetic, so NumPy's
result is XLA's bit for bit, except where XLA on CPU flushes subnormal inputs and results to
zero, and where a NaN's payload and sign depend on the order of the operands. Integers wrap
around in both. So NumPy computes them here for integers, and for ``float32``/``float64`` when no
input or result is NaN, subnormal or within a factor two of the underflow threshold (where
flushing depends on when tininess is detected); everything else is left to XLA: other dtypes
(``float16``, ``bfloat16``, float8, complex, ``int4``, extended), arrays committed to a device
or spread over several processes, and inputs JAX would first convert (``float64`` values with
x64 off).

Example:
    >>> import numpy as np
    >>> from jax import lax
    >>> exact_arithmetic(lax.add_p, [np.float32([1, 2]), np.float32([0.5, 0.25])])
    array([1.5 , 2.25], dtype=float32)
    >>> exact_arithmetic(lax.mul_p, [np.float32([1e-30]), np.float32([1e-10])]) is None  # subnormal
    True
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from jax import lax

from foldax.transforms.core.mesh import process_local

UFUNCS = {lax.add_p: np.add, lax.sub_p: np.subtract, lax.mul_p: np.multiply}
INTEGERS = frozenset(np.dtype(f"{kind}{size}") for kind in "iu" for size in (1, 2, 4, 8))
FLOATS = frozenset(map(np.dtype, ("float32", "float64")))


def exact_arithmetic(primitive: Any, args: Sequence) -> np.ndarray | None:
    """``primitive`` (``add``, ``sub`` or ``mul``) of the two constants ``args``, computed with
    NumPy, or ``None`` when NumPy's result could differ from XLA's (see the module docstring) or
    the output belongs elsewhere than on the default device.

    Arguments:
        primitive: a JAX primitive.
        args: its concrete inputs.

    Returns:
        The NumPy result, in the inputs' common dtype, or ``None``.
    """
    ufunc = UFUNCS.get(primitive)
    if ufunc is None or len(args) != 2:
        return None
    if any(getattr(a, "committed", False) or not process_local(a) for a in args):
        return None  # the result stays where a committed input is; NumPy cannot read others
    x, y = np.asarray(args[0]), np.asarray(args[1])
    if x.dtype != y.dtype or not (x.dtype in INTEGERS or x.dtype in FLOATS):
        return None
    with np.errstate(all="ignore"):  # overflow: infinity or wrap-around, as in XLA
        out = ufunc(x, y)
    if x.dtype in FLOATS and not all(_clear_of_underflow(a) for a in (x, y, out)):
        return None
    return np.asarray(out)


def _clear_of_underflow(a: np.ndarray) -> bool:
    """Whether every element is zero, infinite or at least twice the smallest normal number in
    magnitude (no NaN, no subnormal, nothing XLA might flush to zero)."""
    limit = _LIMITS[a.dtype]
    magnitude = np.abs(a)
    if a.size == 0 or magnitude.min() >= limit:  # no zero, NaN or tiny value: one pass
        return True
    return bool(np.all((magnitude >= limit) | (a == 0)))


_LIMITS = {dtype: 2 * np.finfo(dtype).smallest_normal for dtype in FLOATS}
