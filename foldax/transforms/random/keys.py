"""``foldax.random``: typed PRNG keys and the usual distributions, each drawing from an explicit key.

Thin wrappers on ``jax.random`` that check their key first: a typed key (``key(seed)``; legacy
``uint32`` keys from ``jax.random.PRNGKey`` are refused with the conversion to use), and a single
key where one is needed. Keys are ordinary ``jax.Array`` leaves, so every transformation accepts
them inside any pytree. Passing ``key=None`` inside ``foldax.random.keyed(f)`` draws from a fresh
subkey of the key given to the keyed function (see ``keyed``). Draws from a constant key (a
NumPy/Python seed) are computed at trace time, like any other constant.

Example:
    >>> from foldax import random
    >>> key = random.key(0)
    >>> key, *subkeys = random.split(key, 9)
    >>> len(subkeys), random.normal(subkeys[0], (2,)).shape
    (8, (2,))
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from foldax._compat import register_source_exclusion
from foldax.errors import FoldaxTypeError, FoldaxValueError
from foldax.transforms.random.keyed import keyless_key
from foldax.transforms.random.validation import one_key, typed_key

register_source_exclusion(os.path.abspath(__file__))

Shape = Sequence[int]


# -- key validation ----------------------------------------------------------------------------
def single_key(key: Any, where: str) -> Any:
    """A typed key of shape ``()``; ``None`` draws from ``keyed``'s key (inside ``keyed``)."""
    return keyless_key(where) if key is None else one_key(key, where)


# -- keys ---------------------------------------------------------------------------------------
def key(seed: Any, impl: str | None = None) -> jax.Array:
    """A typed PRNG key from an integer seed (``jax.random.key``).

    Example:
        >>> from foldax import random
        >>> random.key(42).dtype
        key<fry>
    """
    dtype = seed.dtype if hasattr(seed, "dtype") else np.asarray(seed).dtype
    if isinstance(seed, bool) or not jnp.issubdtype(dtype, jnp.integer) or np.ndim(seed) != 0:
        raise FoldaxTypeError(
            f"key(seed={seed!r}): the seed must be a scalar integer (a Python int, NumPy integer "
            f"or an int array of shape ()), found {np.dtype(dtype).name}{list(np.shape(seed))}. "
            f"For many keys use foldax.random.split(key(seed), n)."
        )
    return jax.random.key(seed, impl=impl)


def split(key: Any, num: int | tuple[int, ...] = 2) -> jax.Array:
    """``num`` new keys from one key (``key, *subkeys = split(key, 9)`` works).

    Example:
        >>> from foldax import random
        >>> random.split(random.key(0), 3).shape
        (3,)
    """
    _check_num(num, "split")
    return jax.random.split(single_key(key, "split(key=...)"), num)


def _check_num(num: Any, where: str) -> None:
    nums = num if isinstance(num, tuple) else (num,)
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in nums):
        raise FoldaxValueError(f"{where}(num={num!r}): num must be a non-negative int or a tuple of them.")


def fold_in(key: Any, data: Any) -> jax.Array:
    """A new key from ``key`` and integer ``data`` (``fold_in(key, i)`` per step or example).

    Example:
        >>> from foldax import random
        >>> random.fold_in(random.key(0), 1).shape
        ()
    """
    return jax.random.fold_in(single_key(key, "fold_in(key=...)"), data)


def key_data(keys: Any) -> jax.Array:
    """The raw ``uint32`` data of typed keys (``jax.random.key_data``)."""
    return jax.random.key_data(typed_key(keys, "key_data(keys=...)"))


wrap_key_data = jax.random.wrap_key_data
clone = jax.random.clone


# -- distributions ----------------------------------------------------------------------------
def _distribution(jax_fn: Callable) -> Callable:
    name = jax_fn.__name__

    @functools.wraps(jax_fn)
    def draw(key: Any = None, *args: Any, **kwargs: Any) -> jax.Array:
        return jax_fn(single_key(key, f"{name}(key=...)"), *args, **kwargs)

    draw.__doc__ = (
        f"``jax.random.{name}`` drawing from ``key`` (a typed key of shape ()); "
        f"``key=None`` inside ``foldax.random.keyed`` draws from a fresh subkey.\n\n"
        f"    Example:\n        >>> from foldax import random\n"
        f"        >>> random.{name}  # doctest: +ELLIPSIS\n        <function {name} ...>\n"
    )
    return draw


normal = _distribution(jax.random.normal)
uniform = _distribution(jax.random.uniform)
bernoulli = _distribution(jax.random.bernoulli)
categorical = _distribution(jax.random.categorical)
randint = _distribution(jax.random.randint)
permutation = _distribution(jax.random.permutation)
choice = _distribution(jax.random.choice)
truncated_normal = _distribution(jax.random.truncated_normal)
exponential = _distribution(jax.random.exponential)
gamma = _distribution(jax.random.gamma)
beta = _distribution(jax.random.beta)
gumbel = _distribution(jax.random.gumbel)
laplace = _distribution(jax.random.laplace)
logistic = _distribution(jax.random.logistic)
poisson = _distribution(jax.random.poisson)
dirichlet = _distribution(jax.random.dirichlet)
multivariate_normal = _distribution(jax.random.multivariate_normal)
bits = _distribution(jax.random.bits)


def dropout(key: Any, rate: float, x: Any, deterministic: bool = False) -> Any:
    """Inverted dropout: zero each element of ``x`` with probability ``rate`` and scale the rest
    by ``1 / (1 - rate)``; ``deterministic=True`` (or ``rate=0``) returns ``x``.

    Example:
        >>> from foldax import random
        >>> import jax.numpy as jnp
        >>> y = random.dropout(random.key(0), 0.5, jnp.ones(1000))
        >>> sorted(set(y.tolist()))
        [0.0, 2.0]
    """
    if not 0 <= float(rate) < 1:
        raise FoldaxValueError(
            f"dropout(rate={rate!r}): the rate must be in [0, 1) (the probability of dropping an element)."
        )
    if deterministic or rate == 0:
        return x
    keep = bernoulli(key, 1.0 - rate, jnp.shape(x))
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros((), jnp.result_type(x)))
