"""JAX's random-key primitives and the key operations foldax's key transforms apply to whole
key arrays.

Example:
    >>> import jax
    >>> from foldax._compat.prng import split_keys
    >>> split_keys(jax.random.key(0), (2, 3)).shape
    (2, 3)
"""

from __future__ import annotations

from typing import Any

from jax._src import random as _jax_random
from jax._src.random import prng as _prng

random_bits_p = _prng.random_bits_p
random_split_p = _prng.random_split_p
random_fold_in_p = _prng.random_fold_in_p
random_seed_p = _prng.random_seed_p
random_wrap_p = _prng.random_wrap_p
random_unwrap_p = _prng.random_unwrap_p
random_clone_p = _jax_random.random_clone_p
random_gamma_p = _jax_random.random_gamma_p


def split_keys(keys: Any, shape: tuple) -> Any:
    """``shape`` new keys per key of ``keys`` (any shape): result shape ``keys.shape + shape``."""
    return _prng.random_split(keys, shape)


def fold_in_keys(keys: Any, data: Any) -> Any:
    """Elementwise ``fold_in`` of a key array (any shape) with uint32 ``data``."""
    return _prng.random_fold_in(keys, data)
