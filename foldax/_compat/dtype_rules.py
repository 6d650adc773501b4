"""JAX's dtype rules that foldax's derivatives follow: float0, tangent dtypes, weak types.

Example:
    >>> import numpy as np
    >>> from foldax._compat.dtype_rules import float0, primal_tangent_dtype
    >>> primal_tangent_dtype(np.dtype("int32")) == float0
    True
"""

from __future__ import annotations

from typing import Any

from jax._src import core, dtypes

float0 = dtypes.float0


def primal_tangent_dtype(dtype: Any) -> Any:
    """JAX's tangent dtype of values of ``dtype``: the dtype itself for every inexact dtype (the
    ML dtypes bfloat16 and float8_* included), float0 for integers and booleans, and what a key
    type's rules say for extended dtypes."""
    return core.primal_dtype_to_tangent_dtype(dtype)


def convert_element_type(x: Any, dtype: Any, weak_type: bool) -> Any:
    """``x`` as ``dtype``, weakly typed or not (as JAX gives Jacobian blocks the input's type)."""
    from jax._src.lax import lax as _lax

    return _lax._convert_element_type(x, dtype, weak_type)
