"""Checking keys: a typed PRNG key array, and a single key where one is needed.

Example:
    >>> import jax
    >>> from foldax.transforms.random.validation import is_typed_key, one_key
    >>> is_typed_key(jax.random.key(0)), is_typed_key(jax.random.PRNGKey(0))
    (True, False)
    >>> one_key(jax.random.key(0), "split(key=...)").shape
    ()
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from foldax.errors import FoldaxTypeError, FoldaxValueError


def is_typed_key(x: Any) -> bool:
    """Whether ``x`` is an array of typed PRNG keys (``key<impl>`` dtype).

    Arguments:
        x: any value.

    Returns:
        ``True`` for a typed key array (any shape), ``False`` otherwise (legacy ``uint32`` keys
        included).

    Example:
        >>> import jax
        >>> from foldax import random
        >>> random.is_typed_key(random.key(0)), random.is_typed_key(jax.random.PRNGKey(0))
        (True, False)
    """
    return jnp.issubdtype(getattr(x, "dtype", np.float32), jax.dtypes.prng_key)


def typed_key(key: Any, where: str) -> Any:
    """``key`` if it is a typed key array, else a clear error (naming ``where``)."""
    if is_typed_key(key):
        return key
    dtype = getattr(key, "dtype", None)
    if dtype is not None and np.dtype(dtype) == np.uint32:
        raise FoldaxTypeError(
            f"{where}: got a legacy uint32 key array of shape {tuple(np.shape(key))} (as made by "
            f"jax.random.PRNGKey); foldax.random needs a typed key. Fix: create keys with "
            f"foldax.random.key(seed), or convert this one with jax.random.wrap_key_data(key)."
        )
    hint = (
        (
            " This looks like a shape: the first argument is the key, so without a key write "
            "shape=... (e.g. normal(shape=(3,)) inside foldax.random.keyed)."
        )
        if isinstance(key, (tuple, list, int))
        else ""
    )
    raise FoldaxTypeError(
        f"{where}: expected a typed PRNG key (foldax.random.key(seed)), found "
        f"{type(key).__name__}{'' if dtype is None else f' of dtype {dtype}'}.{hint}"
    )


def one_key(key: Any, where: str) -> Any:
    """``key`` if it is a single typed key (shape ``()``), else a clear error (naming ``where``)."""
    key = typed_key(key, where)
    if np.shape(key) != ():
        raise FoldaxValueError(
            f"{where}: needs a single key, but was given a key array of shape "
            f"{tuple(np.shape(key))}. Fix: pick one (keys[i]) or map over them, e.g. "
            f"foldax.vmap(lambda k: {where.split('(')[0]}(k, ...))(keys)."
        )
    return key
