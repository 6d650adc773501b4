"""How a traced function sees its NumPy arguments: read-only arrays that index like jax arrays.

``foldax.jit`` computes with NumPy arguments at trace time and keys its cache by their value, so
the function must not change them (the caller's array, and with it the key, would change). Each
NumPy argument reaches the function as a read-only view, a ``ConstantArray``: NumPy code runs on it
as on any array (results are ``ConstantArray`` s too, writable, as NumPy keeps subclasses), and
two things that need a traced value work as in ``jax.jit``, where the argument would be a tracer:
indexing with a traced index (``c[i]``) and ``c.at[...]`` both go through ``jnp``.

Example:
    >>> import foldax, jax.numpy as jnp, numpy as np
    >>> foldax.jit(lambda c, i: c[i] * 2)(np.arange(4.0), 3)
    Array(6., dtype=float32)
    >>> foldax.jit(lambda c: c.at[0].set(9.0))(np.zeros(2))
    Array([9., 0.], dtype=float32)
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from foldax._compat import Tracer
from foldax.errors import FoldaxTypeError, FoldaxValueError


class ConstantArray(np.ndarray):
    """A NumPy array inside a traced function; traced indices and ``.at`` go through ``jnp``."""

    def __getitem__(self, index: Any) -> Any:
        if _holds_tracer(index):
            return jnp.asarray(self)[index]
        return super().__getitem__(index)

    @property
    def at(self) -> Any:
        """``jnp.asarray(self).at``: functional updates, as on a ``jax.Array``."""
        return jnp.asarray(self).at


def read_only(x: np.ndarray) -> ConstantArray:
    """A read-only ``ConstantArray`` view of ``x`` (no copy)."""
    view = x.view(ConstantArray)
    view.flags.writeable = False
    return view


def read_only_leaves(leaves: list) -> list:
    """``leaves`` with every NumPy array replaced by its read-only view."""
    return [read_only(x) if type(x) is np.ndarray else x for x in leaves]


def _holds_tracer(index: Any) -> bool:
    if isinstance(index, Tracer):
        return True
    if isinstance(index, tuple):
        return any(_holds_tracer(i) for i in index)
    return isinstance(index, list) and any(isinstance(i, Tracer) for i in index)


@contextlib.contextmanager
def explained_constant_misuse(name: str) -> Iterator[None]:
    """Turn the two ways a traced function can misuse a NumPy constant into foldax errors that
    show the fix: writing into a NumPy argument, and handing a traced value to NumPy."""
    try:
        yield
    except ValueError as e:
        if "read-only" not in str(e):
            raise
        raise FoldaxValueError(
            f"{name} writes into a NumPy argument, which is read-only inside foldax.jit: its value "
            f"is part of the cache key and was used at trace time. Fix: write into a copy "
            f"(c = c.copy()), or use the functional c.at[i].set(v). (NumPy: {e})"
        ) from e
    except (jax.errors.TracerArrayConversionError, jax.errors.TracerIntegerConversionError) as e:
        first = str(e).strip().splitlines()[0]
        raise FoldaxTypeError(
            f"{name} gives a traced value to NumPy, which needs a concrete one: a NumPy function "
            f"called on a traced array (np.sin(x)), or a NumPy array that is not an argument "
            f"indexed with a traced index (c[i]). Fix: use jnp (jnp.sin(x), jnp.asarray(c)[i], "
            f"jnp.asarray(c).at[i].set(v)), or pass c as an argument. (JAX: {first})"
        ) from e
