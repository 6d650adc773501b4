"""Native arrays: which backend holds them and which array namespace computes with them.

A NumPy array or NumPy scalar is a constant and is computed with `numpy` right away (also while
a function is being traced); a `jax.Array` or tracer is a variable and is computed with `jax.numpy`.

Example:
    >>> import numpy as np, jax.numpy as jnp
    >>> backend_of(np.ones(2)), backend_of(jnp.ones(2)), namespace(np.ones(2), jnp.ones(2)).__name__
    ('numpy', 'jax', 'jax.numpy')
"""

from __future__ import annotations

from numbers import Number
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

NUMPY, JAX = 'numpy', 'jax'


def is_jax(native: Any) -> bool:
    """True for a `jax.Array` or a tracer (a variable)."""
    return isinstance(native, (jax.Array, jax.core.Tracer))


def is_numpy(native: Any) -> bool:
    """True for a NumPy array or NumPy scalar (a constant)."""
    return isinstance(native, (np.ndarray, np.generic))


def is_native(native: Any) -> bool:
    """True for anything a Tensor may hold: a NumPy array/scalar, a jax.Array or a tracer."""
    return is_numpy(native) or is_jax(native)


def is_tracer(native: Any) -> bool:
    """True for a jax tracer, whose values are not known while tracing."""
    return isinstance(native, jax.core.Tracer)


def is_number(value: Any) -> bool:
    """True for a Python number (bool, int, float, complex)."""
    return isinstance(value, Number) and not isinstance(value, (np.generic, np.ndarray))


def backend_of(*natives: Any) -> str:
    """``'jax'`` if any native is a jax array or tracer, else ``'numpy'``."""
    return JAX if any(is_jax(n) for n in natives) else NUMPY


def namespace(*natives: Any) -> ModuleType:
    """`jax.numpy` if any native is a jax array or tracer, else `numpy`."""
    return jnp if backend_of(*natives) == JAX else np
