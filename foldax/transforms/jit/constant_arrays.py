"""How a traced function sees its NumPy arguments: read-only arrays that index like jax arrays.

``foldax.jit`` computes with NumPy arguments at trace time and keys its cache by their value, so
the function must not change them (the caller's array, and with it the key, would change). Each
NumPy argument reaches the function as a read-only view, a ``ConstantArray``: NumPy code runs on it
as on any array (results are ``ConstantArray`` s too, writable, as NumPy keeps subclasses), and
two things that need a traced value work as in ``jax.jit``, where the argument would be a tracer:
indexing with a traced index (``c[i]``) and ``c.at[...]`` both go through ``jnp``. As on a
jax array, ``c += 1`` makes a new array and ``c[0] = 1`` raises JAX's ``TypeError``.

Example:
    >>> import foldax, jax.numpy as jnp, numpy as np
    >>> foldax.jit(lambda c, i: c[i] * 2)(np.arange(4.0), 3)
    Array(6., dtype=float32)
    >>> foldax.jit(lambda c: c.at[0].set(9.0))(np.zeros(2))
    Array([9., 0.], dtype=float32)
"""

from __future__ import annotations

import contextlib
import operator
from typing import Any, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from foldax._compat import Tracer
from foldax.errors import ConstantWriteError, TracerToIntegerError, TracerToNumpyError


class ConstantArray(np.ndarray):
    """A NumPy array inside a traced function; traced indices and ``.at`` go through ``jnp``."""

    def __getitem__(self, index: Any) -> Any:
        if _holds_tracer(index):
            return jnp.asarray(self)[index]
        return super().__getitem__(index)

    def __setitem__(self, index: Any, value: Any) -> None:
        if self.flags.writeable:  # an array NumPy code made inside the function
            return super().__setitem__(index, value)
        raise ConstantWriteError(
            f"{_JAX_IMMUTABLE} foldax.jit: this is a NumPy argument, read-only inside the "
            f"function: its value is part of the cache key and was used at trace time. Fix: "
            f"c = c.at[i].set(v), or write into a copy (c = c.copy())."
        )

    @property
    def at(self) -> Any:
        """``jnp.asarray(self).at``: functional updates, as on a ``jax.Array``."""
        return jnp.asarray(self).at


# JAX's words for item assignment into one of its arrays (a traced NumPy argument in jax.jit)
_JAX_IMMUTABLE = (
    "JAX arrays are immutable and do not support in-place item assignment. Instead of "
    "x[idx] = y, use x = x.at[idx].set(y) or another .at[] method: "
    "https://docs.jax.dev/en/latest/_autosummary/jax.numpy.ndarray.at.html"
)


def _rebinding(op: Any) -> Any:
    """An in-place operator of a ``ConstantArray`` that makes a new array, as ``x += y`` does
    on a jax array (and on the tracer ``jax.jit`` makes of a NumPy argument, or of what NumPy
    code computed from it): another name for the old array keeps its value."""

    def method(self: ConstantArray, other: Any) -> Any:
        return op(self, other)

    method.__name__ = f"__i{op.__name__.strip('_')}__"
    return method


for _op in (
    operator.add,
    operator.sub,
    operator.mul,
    operator.truediv,
    operator.floordiv,
    operator.mod,
    operator.pow,
    operator.matmul,
    operator.lshift,
    operator.rshift,
    operator.and_,
    operator.or_,
    operator.xor,
):
    setattr(ConstantArray, f"__i{_op.__name__.strip('_')}__", _rebinding(_op))


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
    """Turn the ways a traced function can misuse a NumPy constant into foldax errors that
    show the fix: writing into a NumPy argument, and handing a traced value to NumPy (JAX's
    words first, where ``jax.jit`` raises the same error)."""
    try:
        yield
    except ValueError as e:
        if "read-only" not in str(e) or isinstance(e, ConstantWriteError):
            raise
        raise ConstantWriteError(
            f"{name} writes into a NumPy argument, which is read-only inside foldax.jit: its value "
            f"is part of the cache key and was used at trace time. Fix: write into a copy "
            f"(c = c.copy()), or use the functional c.at[i].set(v). (NumPy: {e})"
        ) from e
    except (jax.errors.TracerArrayConversionError, jax.errors.TracerIntegerConversionError) as e:
        error = (
            TracerToIntegerError
            if isinstance(e, jax.errors.TracerIntegerConversionError)
            else TracerToNumpyError
        )
        raise error(
            f"{str(e).rstrip()}\n\n{name}: in foldax.jit, NumPy arguments are constants and "
            f"jax.Arrays are traced; a traced value reaches NumPy when a NumPy function is called "
            f"on a traced array (np.sin(x)) or a NumPy array that is not an argument is indexed "
            f"with a traced index (c[i]). Fix: use jnp (jnp.sin(x), jnp.asarray(c)[i], "
            f"jnp.asarray(c).at[i].set(v)), or pass c as an argument."
        ) from e
