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
import inspect
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

    Arguments:
        seed: a scalar integer (Python int, NumPy integer or int array of shape ``()``).
        impl: the PRNG implementation's name (``'threefry2x32'``, ``'rbg'``, ...), or ``None``
            for JAX's default.

    Returns:
        A ``jax.Array`` of shape ``()`` holding one key (dtype ``key<impl>``).

    Raises:
        FoldaxTypeError: ``seed`` is not a scalar integer.

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

    Arguments:
        key: one typed key (shape ``()``); ``None`` inside ``foldax.random.keyed`` splits a fresh
            subkey.
        num: how many keys, or a tuple: the shape of the key array.

    Returns:
        A key array of shape ``(num,)`` (or ``num``).

    Raises:
        FoldaxTypeError: ``key`` is not a typed key.
        FoldaxValueError: ``key`` holds more than one key, or ``num`` is not a non-negative int
            (or tuple of them).

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

    Arguments:
        key: one typed key (shape ``()``); ``None`` inside ``foldax.random.keyed`` folds into a
            fresh subkey.
        data: an integer (32 bits are used), traced or not.

    Returns:
        A key of shape ``()``, different for each ``data``.

    Raises:
        FoldaxTypeError: ``key`` is not a typed key.
        FoldaxValueError: ``key`` holds more than one key.

    Example:
        >>> from foldax import random
        >>> random.fold_in(random.key(0), 1).shape
        ()
    """
    return jax.random.fold_in(single_key(key, "fold_in(key=...)"), data)


def key_data(keys: Any) -> jax.Array:
    """The raw ``uint32`` data of typed keys (``jax.random.key_data``).

    Arguments:
        keys: a typed key array of any shape.

    Returns:
        A ``uint32`` array of shape ``keys.shape + (words,)`` (2 words for threefry).

    Raises:
        FoldaxTypeError: ``keys`` are not typed keys.

    Example:
        >>> from foldax import random
        >>> random.key_data(random.split(random.key(0), 3)).shape
        (3, 2)
    """
    return jax.random.key_data(typed_key(keys, "key_data(keys=...)"))


def wrap_key_data(key_bits_array: Any, *, impl: Any = None, dtype: Any = None) -> jax.Array:
    """Typed keys from their raw ``uint32`` data (``jax.random.wrap_key_data``): the conversion
    of legacy ``jax.random.PRNGKey`` keys.

    Arguments:
        key_bits_array: ``uint32`` data of shape ``(..., words)``.
        impl: the PRNG implementation the data is for (``None``: JAX's default).
        dtype: a key dtype to use instead of ``impl``.

    Returns:
        A typed key array of shape ``key_bits_array.shape[:-1]``.

    Raises:
        TypeError: JAX's, when the data does not fit the implementation.

    Example:
        >>> import jax
        >>> from foldax import random
        >>> random.wrap_key_data(jax.random.PRNGKey(0)) == random.key(0)
        Array(True, dtype=bool)
    """
    return jax.random.wrap_key_data(key_bits_array, impl=impl, dtype=dtype)


def clone(key: Any) -> jax.Array:
    """A copy of ``key`` that may be consumed again (``jax.random.clone``): key-reuse checks
    count it as a new key.

    Arguments:
        key: a typed key array.

    Returns:
        The same keys, as new values for ``check_key_reuse``.

    Raises:
        TypeError: JAX's, when ``key`` is not a key array.

    Example:
        >>> from foldax import random
        >>> k = random.key(0)
        >>> f = random.check_key_reuse(lambda k: random.normal(k) + random.normal(random.clone(k)))
        >>> f(k).shape
        ()
    """
    return jax.random.clone(key)


# -- distributions ----------------------------------------------------------------------------
_KEY_DOC = (
    "a typed key of shape ``()`` (``foldax.random.key``); ``None`` inside ``foldax.random.keyed`` "
    "draws from a fresh subkey"
)
_KEY_RAISES = """    Raises:
        FoldaxTypeError: ``key`` is not a typed key (a legacy ``uint32`` key from
            ``jax.random.PRNGKey`` included: convert it with ``jax.random.wrap_key_data``).
        FoldaxValueError: ``key`` holds more than one key, or is ``None`` outside ``keyed``.
"""


def _distribution(jax_fn: Callable, example_args: str, example_shape: str) -> Callable:
    """``jax_fn`` drawing from a checked key, documented with JAX's parameters and an example
    ``jax_fn(key, *example_args)`` whose result has shape ``example_shape``."""
    name = jax_fn.__name__

    @functools.wraps(jax_fn)
    def draw(key: Any = None, *args: Any, **kwargs: Any) -> jax.Array:
        return jax_fn(single_key(key, f"{name}(key=...)"), *args, **kwargs)

    others = [p for p in inspect.signature(jax_fn).parameters if p != "key"]
    arguments = "".join(f"        {p}: as in ``jax.random.{name}``.\n" for p in others)
    draw.__doc__ = (
        f"``jax.random.{name}`` drawing from ``key``, which is checked first.\n\n"
        f"    Arguments:\n        key: {_KEY_DOC}.\n{arguments}\n"
        f"    Returns:\n        The draws, a ``jax.Array`` as ``jax.random.{name}`` returns them.\n\n"
        f"{_KEY_RAISES}\n"
        f"    Example:\n        >>> from foldax import random\n"
        f"        >>> import jax.numpy as jnp\n"
        f"        >>> random.{name}(random.key(0), {example_args}).shape\n        {example_shape}\n"
    )
    return draw


normal = _distribution(jax.random.normal, "(2, 3)", "(2, 3)")
uniform = _distribution(jax.random.uniform, "(2,), minval=-1.0, maxval=1.0", "(2,)")
bernoulli = _distribution(jax.random.bernoulli, "0.5, (3,)", "(3,)")
categorical = _distribution(jax.random.categorical, "jnp.zeros((2, 4)), axis=-1", "(2,)")
randint = _distribution(jax.random.randint, "(2,), 0, 10", "(2,)")
permutation = _distribution(jax.random.permutation, "5", "(5,)")
choice = _distribution(jax.random.choice, "5, (2,), replace=False", "(2,)")
truncated_normal = _distribution(jax.random.truncated_normal, "-1.0, 1.0, (2,)", "(2,)")
exponential = _distribution(jax.random.exponential, "(2,)", "(2,)")
gamma = _distribution(jax.random.gamma, "2.0, (2,)", "(2,)")
beta = _distribution(jax.random.beta, "2.0, 3.0, (2,)", "(2,)")
gumbel = _distribution(jax.random.gumbel, "(2,)", "(2,)")
laplace = _distribution(jax.random.laplace, "(2,)", "(2,)")
logistic = _distribution(jax.random.logistic, "(2,)", "(2,)")
poisson = _distribution(jax.random.poisson, "3.0, (2,)", "(2,)")
dirichlet = _distribution(jax.random.dirichlet, "jnp.ones(3)", "(3,)")
multivariate_normal = _distribution(jax.random.multivariate_normal, "jnp.zeros(2), jnp.eye(2)", "(2,)")
bits = _distribution(jax.random.bits, "(2,)", "(2,)")


def dropout(key: Any, rate: float, x: Any, deterministic: bool = False) -> Any:
    """Inverted dropout: zero each element of ``x`` with probability ``rate`` and scale the rest
    by ``1 / (1 - rate)``; ``deterministic=True`` (or ``rate=0``) returns ``x``.

    Arguments:
        key: one typed key (shape ``()``); ``None`` inside ``foldax.random.keyed`` draws from a
            fresh subkey.
        rate: the probability of dropping an element, in ``[0, 1)``.
        x: the array.
        deterministic: return ``x`` unchanged (evaluation mode).

    Returns:
        An array shaped and typed like ``x``.

    Raises:
        FoldaxValueError: ``rate`` is outside ``[0, 1)``, or ``key`` holds more than one key.
        FoldaxTypeError: ``key`` is not a typed key.

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
