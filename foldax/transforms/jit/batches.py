"""Spotting NumPy batches passed as constants: warn at the second value of a same-shaped array.

A NumPy argument is a constant, compiled in by value, so a training loop that feeds NumPy
batches from a data loader (grain, tf.data, PyTorch) would compile once per batch. The first
time a function is traced again because a NumPy leaf of the same shape and dtype changed value
(everything else being equal), ``foldax.jit`` warns, naming the argument and the fix:
``variable_args=`` or ``jnp.asarray``.

Example:
    >>> import warnings, foldax, numpy as np, jax.numpy as jnp
    >>> f = foldax.jit(lambda w, batch: w * batch)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     for i in range(2):
    ...         _ = f(jnp.ones(2), np.full(2, float(i)))
    >>> "variable_args=('batch',)" in str(caught[0].message)
    True
"""

from __future__ import annotations

from typing import Any, Callable, Hashable

import numpy as np

from foldax.transforms.core.trace import variable_paths

_MAX_LAYOUTS = 256  # call layouts remembered per function


class BatchWatch:
    """Remembers the first constants seen per call layout; tells once when a NumPy leaf of the
    same shape and dtype comes back with another value."""

    def __init__(self) -> None:
        self._first: dict[Hashable, tuple] = {}
        self.warned = False

    def changed(
        self,
        key: tuple,
        name: str,
        param_of: Callable[[str], str | None],
        arg_name: Callable[[str], str] = str,
    ) -> str | None:
        """The warning for a new entry's ``key`` ``(treedef, static, aux, consts)``, or None.
        ``param_of(path)`` gives the parameter name of a leaf path such as ``args[1]``, and
        ``arg_name(path)`` the leaf's name as JAX's messages write it (``batch['x']``)."""
        if self.warned:
            return None
        treedef, static, aux, consts = key
        layout = (treedef, static, aux, tuple((i, _array_type(c.value)) for i, c in consts))
        hashes = tuple(hash(c) for _, c in consts)  # not the arrays: they would be kept alive
        if len(self._first) > _MAX_LAYOUTS:
            self._first.clear()
        first = self._first.setdefault(layout, hashes)
        if first is hashes:
            return None
        moved = [
            i for a, b, (i, c) in zip(first, hashes, consts) if a != b and _array_type(c.value) is not None
        ]
        if not moved:
            return None
        self.warned = True
        self._first.clear()
        mask = [False] * treedef.num_leaves
        mask[moved[0]] = True
        path = variable_paths(treedef, mask)[0]
        param, where = param_of(path), arg_name(path)
        a = consts[[i for i, _ in consts].index(moved[0])][1].value
        fix = (
            f"list it in jit(..., variable_args=('{param}',)) so it is traced as a variable"
            if param
            else "pass it through variable_args= so it is traced as a variable"
        )
        return (
            f"foldax.jit: {name} was called with a second value of the NumPy argument {where} "
            f"({a.dtype}{list(np.shape(a))}). NumPy arguments are constants, compiled in by "
            f"value, so every new value (each batch from a data loader) compiles again. Fix: "
            f"{fix}, or pass jnp.asarray({where})."
        )


def _array_type(x: Any) -> tuple | None:
    """``(shape, dtype)`` of a NumPy array or scalar, None for other constants."""
    if isinstance(x, (np.ndarray, np.generic)):
        return (np.shape(x), x.dtype)
    return None
