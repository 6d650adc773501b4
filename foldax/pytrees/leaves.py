"""What kind of leaf a value is: a traced variable, a foldable constant, or a static object.

The rule for every leaf: a ``jax.Array`` (or tracer, token, ``jax.ShapeDtypeStruct`` standing for
an array, or object with ``__jax_array__``) is a variable; a NumPy array, NumPy scalar
or Python number is a constant, part of a compiled function's cache key *by value*; anything
else (strings, functions, ...) is static and must be hashable.

Example:
    >>> import numpy as np, jax.numpy as jnp
    >>> leaf_kind(jnp.ones(2)), leaf_kind(np.ones(2)), leaf_kind(3.0), leaf_kind("relu")
    ('variable', 'constant', 'constant', 'static')
"""

from __future__ import annotations

import types
from typing import Any, Hashable

import jax
import numpy as np

from foldax._compat import Token, Tracer
from foldax.errors import FoldaxTypeError
from foldax.pytrees.digest import array_key, jax_array_key, scalar_key

VARIABLE = "variable"
CONSTANT = "constant"
STATIC = "static"

_SCALARS = (bool, int, float, complex)
# what JAX traces: arrays, tracers, tokens, and array descriptions (lowering without data)
_VARIABLE_TYPES = (jax.Array, Tracer, Token, jax.ShapeDtypeStruct)
_kind_by_type: dict[type, str] = {}
# exact types that are their own value key (compared by ==, never arrays or numbers): static values
_SELF_KEYED = frozenset(
    {str, bytes, type(None), tuple, frozenset, type, types.FunctionType, types.BuiltinFunctionType}
)


def leaf_kind(x: Any) -> str:
    """The kind of a pytree leaf: ``'variable'``, ``'constant'`` or ``'static'``.

    ``jax.Array`` and tracers are variables; NumPy arrays and NumPy/Python scalars are constants;
    anything else (strings, functions, ``None``) is static. The answer is cached per type.

    Arguments:
        x: a leaf.

    Returns:
        ``'variable'``, ``'constant'`` or ``'static'``.

    Example:
        >>> import foldax, jax.numpy as jnp, numpy as np
        >>> foldax.leaf_kind(jnp.ones(2)), foldax.leaf_kind(np.ones(2)), foldax.leaf_kind("tanh")
        ('variable', 'constant', 'static')
    """
    t = type(x)
    kind = _kind_by_type.get(t)
    if kind is None:
        if isinstance(x, _VARIABLE_TYPES) or hasattr(t, "__jax_array__"):
            kind = VARIABLE
        elif isinstance(x, (np.ndarray, np.generic) + _SCALARS):
            kind = CONSTANT
        else:
            kind = STATIC
        _kind_by_type[t] = kind
    return kind


def is_variable(x: Any) -> bool:
    """Whether the leaf ``x`` is a variable (a ``jax.Array`` or tracer): traced by transformations.

    Arguments:
        x: a leaf.

    Returns:
        ``True`` for ``leaf_kind(x) == 'variable'``.

    Example:
        >>> import foldax, jax.numpy as jnp, numpy as np
        >>> foldax.is_variable(jnp.ones(2)), foldax.is_variable(np.ones(2))
        (True, False)
    """
    return leaf_kind(x) == VARIABLE


def is_constant(x: Any) -> bool:
    """Whether the leaf ``x`` is a constant (NumPy array or scalar): computed with at trace time.

    Arguments:
        x: a leaf.

    Returns:
        ``True`` for ``leaf_kind(x) == 'constant'``.

    Example:
        >>> import foldax, jax.numpy as jnp, numpy as np
        >>> foldax.is_constant(np.ones(2)), foldax.is_constant(jnp.ones(2))
        (True, False)
    """
    return leaf_kind(x) == CONSTANT


def is_array(x: Any) -> bool:
    """Whether ``x`` is an array or scalar that ``jnp`` accepts: a variable or a constant leaf.

    Arguments:
        x: a leaf.

    Returns:
        ``True`` unless ``x`` is static (a string, a function, ``None``, ...).

    Example:
        >>> import foldax, numpy as np
        >>> foldax.is_array(np.float32(1)), foldax.is_array("relu")
        (True, False)
    """
    return leaf_kind(x) != STATIC


def value_key(x: Any, where: str = "value") -> Hashable:
    """A hashable key equal for equal values: numbers and arrays by dtype, shape and exact bits
    (a digest for large arrays, see ``foldax.pytrees.digest``); a tracer by identity.

    ``where`` names the value in the error raised for an unhashable object.
    """
    t = type(x)
    if t in _SELF_KEYED:  # exact types first: no ABC check (jax.Array) for a string
        _hash_of(x, where)
        return x
    if t in _SCALARS:
        return scalar_key(x)
    if isinstance(x, (np.ndarray, np.generic)):
        return array_key(x)
    if isinstance(x, Tracer):
        return ("tracer-by-identity", id(x))
    if isinstance(x, jax.Array):
        return jax_array_key(x)
    _hash_of(x, where)
    return x


def _hash_of(x: Any, where: str) -> int:
    """``hash(x)``, or the FoldaxTypeError (a TypeError) naming ``where`` if ``x`` is unhashable."""
    try:
        return hash(x)
    except TypeError:
        raise FoldaxTypeError(
            f"{where} holds an unhashable {type(x).__name__} ({_short(x)}). Static values are part "
            f"of the compiled program's identity and must be hashable: use a tuple instead of a "
            f"list, a frozenset or tuple of items instead of a dict/set, or declare it a variable "
            f"(a jax.Array) so it is traced instead."
        ) from None


def _short(x: Any) -> str:
    text = repr(x)
    return text if len(text) < 60 else text[:57] + "..."


class ByValue:
    """Wraps a value so that ``==`` and ``hash`` compare it by value (arrays by content).

    foldax uses it to put NumPy arrays into cache keys and tree structures (static and value
    fields, constants of ``jit``).

    Arguments:
        value: any value; NumPy arrays are compared by dtype, shape and bytes.
        where: how to name the value in the error raised when it cannot be hashed.

    Raises:
        FoldaxTypeError: ``value`` is neither an array nor hashable.

    Example:
        >>> import numpy as np
        >>> from foldax import ByValue
        >>> ByValue(np.ones(3)) == ByValue(np.ones(3)), hash(ByValue(np.ones(3))) == hash(ByValue(np.ones(3)))
        (True, True)
    """

    __slots__ = ("value", "key", "_hash")

    def __init__(self, value: Any, where: str = "value"):
        self.value = value
        if type(value) in _SELF_KEYED:  # the common static values: hashed once, no other check
            self.key = value
            self._hash = _hash_of(value, where)
        else:
            self.key = key = value_key(value, where)
            self._hash = hash(key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return type(other) is ByValue and self._hash == other._hash and self.key == other.key

    def __repr__(self) -> str:
        return f"ByValue({_short(self.value)})"
