"""Field kinds of a foldax dataclass: variable, value or static.

* ``variable``: traced by ``jit``, differentiated by ``grad``, mapped by ``vmap``, updated by optax.
* ``value``: takes part in value operations (``map_values``, ``l2_loss``) but is held constant by
  transformations; it lives in the tree structure and is compared by value.
* ``static``: configuration; part of the tree structure, must be hashable.

Example:
    >>> import foldax
    >>> @foldax.dataclass
    ... class Layer:
    ...     w: object                                   # variable (the default)
    ...     scale: float = foldax.field(kind="value", default=1.0)
    ...     act: str = foldax.field(kind="static", default="relu")
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from foldax.errors import FoldaxValueError

KIND_KEY = "foldax_kind"


class FieldKind(str, enum.Enum):  # noqa: UP042 (StrEnum would change str(kind))
    """The kind of a dataclass field: ``VARIABLE``, ``VALUE`` or ``STATIC`` (see ``foldax.dataclass``).

    A ``str`` enum: ``FieldKind('value')`` and ``FieldKind.VALUE == 'value'`` both work.

    Example:
        >>> import foldax
        >>> foldax.FieldKind("static") is foldax.FieldKind.STATIC, foldax.FieldKind.VALUE == "value"
        (True, True)
    """

    VARIABLE = "variable"
    VALUE = "value"
    STATIC = "static"


def field(*, kind: str | FieldKind = FieldKind.VARIABLE, static: bool = False, **kwargs: Any) -> Any:
    """A dataclass field with a foldax kind (``'variable'``, ``'value'`` or ``'static'``).

    Arguments:
        kind: the field's kind (a string or ``FieldKind``); ``'variable'`` by default. See
            ``foldax.dataclass`` for what each kind means.
        static: ``True`` is equinox's spelling of ``kind='static'``.
        **kwargs: passed to ``dataclasses.field`` (``default``, ``default_factory``, ``repr``,
            ``metadata``, ...).

    Returns:
        A ``dataclasses.Field`` whose metadata records the kind.

    Raises:
        FoldaxValueError: ``kind`` is not one of the three kinds.

    Example:
        >>> import foldax
        >>> @foldax.dataclass
        ... class Model:
        ...     w: float
        ...     activation: str = foldax.field(kind="static", default="tanh")
        >>> Model(1.0)
        Model(w=1.0, activation='tanh')
    """
    if static:
        kind = FieldKind.STATIC
    try:
        kind = FieldKind(kind)
    except ValueError:
        raise FoldaxValueError(
            f"field(kind={kind!r}): unknown kind. Use one of 'variable', 'value' or 'static'."
        ) from None
    metadata = dict(kwargs.pop("metadata", None) or {})
    metadata[KIND_KEY] = kind
    return dataclasses.field(metadata=metadata, **kwargs)


def declared_kind(f: dataclasses.Field) -> FieldKind:
    """The kind a dataclass field was declared with; undeclared fields are variables."""
    return f.metadata.get(KIND_KEY, FieldKind.VARIABLE)
