"""``@foldax.dataclass``: frozen dataclasses registered as JAX pytrees, with field kinds.

JAX sees the *variable* fields as children; *value* and *static* fields go into the tree
structure (compared by value, NumPy arrays by content), so ``jax.jit``, ``jax.grad``,
``jax.tree_util`` and optax treat a model exactly as foldax does. The ΦML protocol
``__value_attrs__()`` / ``__variable_attrs__()`` is honoured: variable defaults to value, value
defaults to every field that is not static. Plain dataclasses that implement the protocol are
registered the first time foldax meets one (see ``register_protocol_class``).

Example:
    >>> import foldax, jax.numpy as jnp
    >>> @foldax.dataclass
    ... class Linear:
    ...     w: jnp.ndarray
    ...     b: jnp.ndarray
    ...     act: str = foldax.field(kind="static", default="relu")
    >>> m = Linear(jnp.ones((2, 2)), jnp.zeros(2))
    >>> len(jax.tree_util.tree_leaves(m))
    2
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import jax

from foldax.errors import FoldaxTypeError
from foldax.pytrees.fields import FieldKind, declared_kind
from foldax.pytrees.flattening import layout, node_functions

T = TypeVar("T")
if TYPE_CHECKING:
    from _typeshed import DataclassInstance  # typeshed's protocol of dataclass instances
D = TypeVar("D", bound="DataclassInstance")  # a dataclass instance's type
_REGISTERED: set[type] = set()


@dataclasses.dataclass(frozen=True)
class _Kinds:
    """The field names of one class, by kind (for classes without per-instance protocol)."""

    fields: tuple[str, ...]
    variable: tuple[str, ...]
    value: tuple[str, ...]
    static: tuple[str, ...]
    protocol: bool  # the class implements __value_attrs__ / __variable_attrs__


def _class_kinds(cls: type) -> _Kinds:
    fields = list(dataclasses.fields(cls))
    names = tuple(f.name for f in fields)
    kinds = {f.name: declared_kind(f) for f in fields}
    variable = tuple(n for n in names if kinds[n] == FieldKind.VARIABLE)
    value = tuple(n for n in names if kinds[n] != FieldKind.STATIC)
    static = tuple(n for n in names if kinds[n] == FieldKind.STATIC)
    return _Kinds(names, variable, value, static, _uses_protocol(cls))


@functools.cache
def _uses_protocol(cls: type) -> bool:
    return hasattr(cls, "__value_attrs__") or hasattr(cls, "__variable_attrs__")


def field_names(obj: Any) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(obj))


def value_attrs(obj: Any) -> tuple[str, ...]:
    """Names of the value fields of a dataclass instance (ΦML's ``__value_attrs__``).

    Arguments:
        obj: an instance of a ``foldax.dataclass``, or of a class implementing
            ``__value_attrs__()``.

    Returns:
        A tuple of field names; variable fields count as values too.

    Example:
        >>> import foldax
        >>> @foldax.dataclass
        ... class P:
        ...     x: float
        ...     y: float = foldax.field(kind="value", default=0.0)
        ...     n: int = foldax.field(kind="static", default=1)
        >>> foldax.value_attrs(P(1.0))
        ('x', 'y')
    """
    cls: type = type(obj)
    if hasattr(cls, "__value_attrs__"):
        return tuple(obj.__value_attrs__())
    return _kinds_of(cls).value


def variable_attrs(obj: Any) -> tuple[str, ...]:
    """Names of the variable fields (ΦML's ``__variable_attrs__``, defaulting to the values).

    Arguments:
        obj: an instance of a ``foldax.dataclass``, or of a class implementing
            ``__variable_attrs__()`` / ``__value_attrs__()``.

    Returns:
        A tuple of field names.

    Example:
        >>> import foldax
        >>> @foldax.dataclass
        ... class P:
        ...     x: float
        ...     y: float = foldax.field(kind="value", default=0.0)
        >>> foldax.variable_attrs(P(1.0))
        ('x',)
    """
    cls: type = type(obj)
    if hasattr(cls, "__variable_attrs__"):
        return tuple(obj.__variable_attrs__())
    if hasattr(cls, "__value_attrs__"):
        return tuple(obj.__value_attrs__())
    return _kinds_of(cls).variable


@functools.cache
def _kinds_of(cls: type) -> _Kinds:
    return _class_kinds(cls)


def register(cls: type) -> type:
    """Register a dataclass type with JAX, honouring field kinds and the ΦML protocol."""
    if cls in _REGISTERED:
        return cls
    kinds = _kinds_of(cls)
    flatten, flatten_with_keys, unflatten = node_functions(
        cls, None if kinds.protocol else kinds.variable, variable_attrs
    )
    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten_func=flatten)
    _REGISTERED.add(cls)
    return cls


def is_registered(cls: type) -> bool:
    return cls in _REGISTERED


def register_protocol_class(obj: Any) -> bool:
    """Register the class of ``obj`` if it is a plain dataclass implementing the ΦML protocol.

    Returns whether a new class was registered.
    """
    cls: type = type(obj)
    if cls in _REGISTERED or not dataclasses.is_dataclass(obj) or not _uses_protocol(cls):
        return False
    register(cls)
    return True


def validate_static_fields(obj: Any) -> None:
    """Raise a FoldaxTypeError naming the first non-variable field whose value is unhashable."""
    cls: type = type(obj)
    layout(cls, variable_attrs(obj)).flatten(obj)  # wraps each non-variable field in a ByValue


def dataclass(cls: type[T] | None = None, *, frozen: bool = True, **kwargs: Any) -> Any:
    """Make ``cls`` a frozen dataclass registered as a JAX pytree, whose fields have kinds.

    Each field is one of three kinds, declared with ``foldax.field(kind=...)``:

    * ``'variable'`` (the default): a pytree child that transformations act on — traced by
      ``jit``, differentiated by ``grad``, mapped by ``vmap``, updated by optax;
    * ``'value'``: held constant by transformations — it lives in the tree structure (compared by
      value, NumPy arrays by content), so it is not differentiated, mapped or traced — but value
      operations use it (``map_values``, ``l2_loss``, ``model * 2`` in ΦML's terms);
    * ``'static'``: configuration — also in the tree structure, so it is part of ``jit``'s cache
      key, and ignored by value operations.

    ``__init__`` (and ``__post_init__`` validation) runs when you construct an instance, never
    when JAX rebuilds one from its leaves. ``replace(obj, **changes)`` (or ``obj.replace(...)``)
    gives a modified copy. Usable as ``@dataclass`` or ``@dataclass(...)``.

    Arguments:
        cls: the class to decorate (omit it to use ``dataclass(...)`` as a decorator factory).
        frozen: make instances immutable (default ``True``, as pytrees should be).
        **kwargs: passed to ``dataclasses.dataclass`` (``eq``, ``repr``, ``kw_only``, ...).

    Returns:
        ``cls`` itself, made a dataclass and registered with ``jax.tree_util``.

    Raises:
        FoldaxValueError: a field declares an unknown kind.

    Example:
        >>> import foldax, jax, jax.numpy as jnp
        >>> @foldax.dataclass
        ... class Layer:
        ...     w: jax.Array                                               # variable
        ...     scale: float = foldax.field(kind="value", default=2.0)     # value
        ...     act: str = foldax.field(kind="static", default="tanh")     # static
        >>> layer = Layer(jnp.ones(2))
        >>> jax.tree.leaves(layer)                 # only variable fields are leaves
        [Array([1., 1.], dtype=float32)]
        >>> foldax.grad(lambda l: jnp.sum(l.w) * l.scale)(layer).w
        Array([2., 2.], dtype=float32)
        >>> layer.replace(act="relu").act
        'relu'
    """
    if cls is None:
        return functools.partial(dataclass, frozen=frozen, **kwargs)
    kwargs.setdefault("eq", False)
    new_cls = dataclasses.dataclass(frozen=frozen, **kwargs)(cls)
    original_init: Callable = new_cls.__init__

    @functools.wraps(original_init)
    def __init__(self, *args: Any, **kw: Any) -> None:
        original_init(self, *args, **kw)
        validate_static_fields(self)

    setattr(new_cls, "__init__", __init__)  # noqa: B010  (mypy forbids assigning a method)
    if "replace" not in new_cls.__dict__:
        setattr(new_cls, "replace", replace)  # noqa: B010
    return register(new_cls)


def replace(obj: D, **changes: Any) -> D:
    """A copy of the dataclass instance ``obj`` with some fields changed (``__init__`` validation runs).

    Arguments:
        obj: an instance of a dataclass.
        **changes: new values for fields, by name.

    Returns:
        A new instance of ``type(obj)``.

    Raises:
        FoldaxTypeError: ``obj`` is not a dataclass instance, or a name is not one of its fields.

    Example:
        >>> import foldax
        >>> @foldax.dataclass
        ... class P:
        ...     x: float
        >>> foldax.replace(P(1.0), x=2.0)
        P(x=2.0)
    """
    if not dataclasses.is_dataclass(obj):
        raise FoldaxTypeError(
            f"replace(obj=...): expected a dataclass instance, found {type(obj).__name__}. "
            f"Decorate its class with @foldax.dataclass."
        )
    names = set(field_names(obj))
    unknown = sorted(set(changes) - names)
    if unknown:
        raise FoldaxTypeError(
            f"replace(): {type(obj).__name__} has no field(s) {unknown}; its fields are {sorted(names)}."
        )
    return dataclasses.replace(obj, **changes)
