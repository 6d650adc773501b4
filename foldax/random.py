"""``foldax.random``: typed PRNG keys, distributions on explicit keys, key-reuse detection and
``keyed`` (draws without a key, from subkeys of one key).

Example:
    >>> from foldax import random
    >>> key, sub = random.split(random.key(0))
    >>> random.uniform(sub, (2,)).shape
    (2,)
"""

from foldax.transforms.random.key_reuse import check_key_reuse, find_key_reuse
from foldax.transforms.random.keyed import keyed
from foldax.transforms.random.keys import (
    bernoulli,
    beta,
    bits,
    categorical,
    choice,
    clone,
    dirichlet,
    dropout,
    exponential,
    fold_in,
    gamma,
    gumbel,
    key,
    key_data,
    laplace,
    logistic,
    multivariate_normal,
    normal,
    permutation,
    poisson,
    randint,
    split,
    truncated_normal,
    uniform,
    wrap_key_data,
)
from foldax.transforms.random.validation import is_typed_key

__all__ = [
    "bernoulli",
    "beta",
    "bits",
    "categorical",
    "check_key_reuse",
    "choice",
    "clone",
    "dirichlet",
    "dropout",
    "exponential",
    "find_key_reuse",
    "fold_in",
    "gamma",
    "gumbel",
    "is_typed_key",
    "key",
    "key_data",
    "keyed",
    "laplace",
    "logistic",
    "multivariate_normal",
    "normal",
    "permutation",
    "poisson",
    "randint",
    "split",
    "truncated_normal",
    "uniform",
    "wrap_key_data",
]
