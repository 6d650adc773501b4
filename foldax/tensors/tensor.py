"""`Tensor`: one native array whose axes carry the names and types of a `Shape`.

A Tensor holding a NumPy array is a constant: its arithmetic runs in NumPy right away, also while
a function is being traced by `jax.jit`. A Tensor holding a `jax.Array` or tracer is a variable and
computes with `jax.numpy`. Tensor is a JAX pytree: the child is the native array, the aux data the
(hashable) Shape.

Example:
    >>> import numpy as np
    >>> from foldax.tensors.shape import spatial
    >>> t = Tensor(np.arange(3.), spatial(x=3))
    >>> t + t.x[0], (t + t.x[0]).default_backend
    ((0.000, 1.000, 2.000) along xˢ float64, 'numpy')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

import jax
import numpy as np

from foldax.errors import FoldaxTypeError, FoldaxValueError, TracerControlFlowError
from foldax.tensors.broadcast import align, expand
from foldax.tensors.indexing import Selection, UnknownDimError, select
from foldax.tensors.natives import backend_of, is_native, is_number, is_tracer, namespace
from foldax.tensors.printing import LAYOUTS, format_tensor
from foldax.tensors.shape import EMPTY_SHAPE, Shape, parse_names

Order = None | str | Sequence[str] | Shape


class Tensor:
    """A native array (NumPy or JAX) with named, typed dims; build one with `tensor` or `wrap`.

    Example:
        >>> from foldax.tensors import tensor, spatial
        >>> t = tensor([1., 2., 3.], spatial('x'))
        >>> t.x[1:], t.shape, t.dtype
        ((2.000, 3.000) along xˢ, (xˢ=3), dtype('float32'))
    """

    __slots__ = ('_native', '_shape')
    __array_ufunc__ = None  # numpy operators defer to Tensor's reflected operators

    def __init__(self, native: Any, shape: Shape):
        if not is_native(native):
            raise FoldaxTypeError(
                f"Tensor(native, shape): native must be a NumPy or JAX array, but got "
                f"{type(native).__name__}; use tensor(data, *dims) to convert data"
            )
        if not isinstance(shape, Shape):
            raise FoldaxTypeError(
                f"Tensor(native, shape): shape must be a Shape, but got {type(shape).__name__}; "
                f"build one with spatial(x=3) & channel(c=2)"
            )
        if tuple(native.shape) != shape.sizes:
            raise FoldaxValueError(
                f"Tensor(native, shape): the native array has shape {tuple(native.shape)} but "
                f"{shape!r} has sizes {shape.sizes}; give one dim per axis, in order"
            )
        self._native = native
        self._shape = shape

    @classmethod
    def _make(cls, native: Any, shape: Shape) -> Tensor:
        """Builds a Tensor without checks (pytree unflattening may pass placeholder children)."""
        result = object.__new__(cls)
        result._native, result._shape = native, shape
        return result

    # --- properties -------------------------------------------------------------------------
    @property
    def shape(self) -> Shape:
        """The named, typed dims, in the order of the native array's axes."""
        return self._shape

    @property
    def rank(self) -> int:
        """The number of dims."""
        return self._shape.rank

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype of the values."""
        return np.dtype(self._native.dtype)

    @property
    def default_backend(self) -> str:
        """``'jax'`` for a jax.Array or tracer (a variable), ``'numpy'`` for NumPy data (a constant)."""
        return backend_of(self._native)

    def native(self, order: Order = None) -> Any:
        """The native array, with axes in `order` if given (names not in the tensor become size-1 axes).

        Example: ``t.native('y,x')`` for a tensor with dims x and y returns the transposed array.
        """
        if order is None:
            return self._native
        names = (
            order.names
            if isinstance(order, Shape)
            else parse_names(order)
            if isinstance(order, str)
            else tuple(order)
        )
        missing = [n for n in self._shape.names if n not in names]
        if missing or len(set(names)) != len(names):
            raise FoldaxValueError(
                f"native(order={order!r}): the order must name every dim of {self._shape!r} "
                f"once, but {'omits ' + str(missing) if missing else 'repeats a name'}; "
                f"use e.g. order={list(self._shape.names)!r}"
            )
        target = Shape(
            names,
            [self._shape.get_size(n) if n in self._shape else 1 for n in names],
            [self._shape.get_type(n) if n in self._shape else 'channel' for n in names],
        )
        return expand(self._native, self._shape, target)

    def numpy(self, order: Order = None) -> np.ndarray:
        """The values as a NumPy array (axes in `order` if given). Raises while the tensor is being traced."""
        self._require_concrete('numpy()')
        return np.asarray(self.native(order))

    def _require_concrete(self, what: str) -> None:
        if is_tracer(self._native):
            raise TracerControlFlowError(
                f"{what} needs concrete values, but {self!r} is being traced; "
                f"use where(...) instead of Python control flow, or pass the value as a "
                f"NumPy-backed (constant) tensor"
            )

    # --- python protocol ----------------------------------------------------------------------
    def __repr__(self) -> str:
        return format_tensor(self._native, self._shape)

    def __format__(self, spec: str) -> str:
        """``f'{t:summary}'``, ``f'{t:row:.2f}'``: a layout (auto, summary, row, numpy) and/or a float format."""
        layout, float_format = 'auto', None
        for part in filter(None, spec.split(':')):
            if part in LAYOUTS:
                layout = part
            else:
                float_format = part
        return format_tensor(self._native, self._shape, layout, float_format)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        self._require_concrete('np.asarray(tensor)')
        return np.asarray(self._native, dtype=dtype)

    def __bool__(self) -> bool:
        if self.rank:
            raise FoldaxValueError(
                f"bool(tensor) needs a tensor without dims, but got shape {self._shape!r}; "
                f"reduce it first: t.all, t.any, or foldax.tensors.all(t, dim)"
            )
        self._require_concrete('bool(tensor)')
        return bool(self._native)

    def __float__(self) -> float:
        self._require_concrete('float(tensor)')
        return float(self._scalar('float'))

    def __int__(self) -> int:
        self._require_concrete('int(tensor)')
        return int(self._scalar('int'))

    def _scalar(self, func: str) -> Any:
        if self.rank:
            raise FoldaxValueError(
                f"{func}(tensor) needs a tensor without dims, but got shape {self._shape!r}; "
                f"index or reduce it first, e.g. t.x[0] or sum(t)"
            )
        return self._native

    def __iter__(self) -> Iterator[Any]:
        """Iterates over the native values of a rank-1 tensor."""
        if self.rank != 1:
            raise FoldaxTypeError(
                f"iterating a tensor needs exactly one dim, but got shape {self._shape!r}; "
                f"iterate over one dim, e.g. [t.{(self._shape.names or ('x',))[0]}[i] for i in ...]"
            )
        return iter(self._native)

    # --- indexing -----------------------------------------------------------------------------
    def __getattr__(self, name: str) -> BoundDim:
        if name.startswith('_'):
            raise AttributeError(name)
        if name in self._shape.names:
            return BoundDim(self, name)
        raise UnknownDimError(
            f"Tensor has no attribute or dim '{name}'; its shape is {self._shape!r}, "
            f"so access one of the dims {self._shape.names}"
        )

    def __getitem__(self, item: Any) -> Tensor:
        """``t[{'x': 1, 'y': slice(1, None)}]``; a str selects item names of the only channel dim."""
        if isinstance(item, str):
            channels = self._shape.channel
            if channels.rank != 1:
                raise FoldaxValueError(
                    f"tensor[{item!r}] selects item names of the only channel dim, but "
                    f"{self._shape!r} has {channels.rank} channel dims; use tensor.dim[{item!r}]"
                )
            item = {channels.name: item}
        native, shape = select(self._native, self._shape, item)
        return Tensor._make(native, shape)

    # --- reductions as properties (as in ΦML) ------------------------------------------------
    @property
    def all(self) -> Tensor:
        """Whether all values are true, as a tensor without dims: ``if (z > 1).all: ...``."""
        return _reduce_all(self, 'all')

    @property
    def any(self) -> Tensor:
        """Whether any value is true, as a tensor without dims: ``if (z > 1).any: ...``."""
        return _reduce_all(self, 'any')

    # --- operators ---------------------------------------------------------------------------
    def __neg__(self) -> Tensor:
        return elementwise('negative', self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return elementwise('abs', self)

    def __invert__(self) -> Tensor:
        return elementwise('invert', self)

    if TYPE_CHECKING:  # the binary operators, set on the class below from _ARITHMETIC, _COMPARISONS

        def __add__(self, other: Any) -> Tensor: ...
        def __radd__(self, other: Any) -> Tensor: ...
        def __sub__(self, other: Any) -> Tensor: ...
        def __rsub__(self, other: Any) -> Tensor: ...
        def __mul__(self, other: Any) -> Tensor: ...
        def __rmul__(self, other: Any) -> Tensor: ...
        def __truediv__(self, other: Any) -> Tensor: ...
        def __rtruediv__(self, other: Any) -> Tensor: ...
        def __floordiv__(self, other: Any) -> Tensor: ...
        def __rfloordiv__(self, other: Any) -> Tensor: ...
        def __mod__(self, other: Any) -> Tensor: ...
        def __rmod__(self, other: Any) -> Tensor: ...
        def __pow__(self, other: Any) -> Tensor: ...
        def __rpow__(self, other: Any) -> Tensor: ...
        def __and__(self, other: Any) -> Tensor: ...
        def __rand__(self, other: Any) -> Tensor: ...
        def __or__(self, other: Any) -> Tensor: ...
        def __ror__(self, other: Any) -> Tensor: ...
        def __xor__(self, other: Any) -> Tensor: ...
        def __rxor__(self, other: Any) -> Tensor: ...
        def __lt__(self, other: Any) -> Tensor: ...
        def __le__(self, other: Any) -> Tensor: ...
        def __gt__(self, other: Any) -> Tensor: ...
        def __ge__(self, other: Any) -> Tensor: ...


def _reduce_all(value: Tensor, op: str) -> Tensor:
    return Tensor._make(getattr(namespace(value._native), op)(value._native), EMPTY_SHAPE)


def _binary(op: str, symbol: str, reflected: bool = False) -> Callable[[Tensor, Any], Any]:
    def method(self: Tensor, other: Any) -> Any:
        if not (
            isinstance(other, Tensor)
            or is_number(other)
            or is_native(other)
            or isinstance(other, (list, tuple))
        ):
            return NotImplemented
        where = f"other {symbol} tensor" if reflected else f"tensor {symbol} other"
        return (
            elementwise(op, other, self, where=where)
            if reflected
            else elementwise(op, self, other, where=where)
        )

    method.__name__ = f"__{'r' if reflected else ''}{op}__"
    return method


_ARITHMETIC = {
    'add': ('add', '+'),
    'sub': ('subtract', '-'),
    'mul': ('multiply', '*'),
    'truediv': ('true_divide', '/'),
    'floordiv': ('floor_divide', '//'),
    'mod': ('mod', '%'),
    'pow': ('power', '**'),
    'and': ('bitwise_and', '&'),
    'or': ('bitwise_or', '|'),
    'xor': ('bitwise_xor', '^'),
}
_COMPARISONS = {
    'eq': ('equal', '=='),
    'ne': ('not_equal', '!='),
    'lt': ('less', '<'),
    'le': ('less_equal', '<='),
    'gt': ('greater', '>'),
    'ge': ('greater_equal', '>='),
}
for _py, (_op, _symbol) in _ARITHMETIC.items():
    setattr(Tensor, f'__{_py}__', _binary(_op, _symbol))
    setattr(Tensor, f'__r{_py}__', _binary(_op, _symbol, reflected=True))
for _py, (_op, _symbol) in _COMPARISONS.items():
    setattr(Tensor, f'__{_py}__', _binary(_op, _symbol))
Tensor.__hash__ = None  # type: ignore[assignment]  # == is elementwise


class BoundDim:
    """A dim of a tensor, reached as ``t.x``: index it (``t.x[1:]``, ``t.vector['y']``) or read it.

    Example:
        >>> from foldax.tensors import spatial, tensor
        >>> t = tensor([1., 2.], spatial('x'))
        >>> t.x.size, t.x[0]
        (2, 1.0)
    """

    __slots__ = ('_tensor', '_name')

    def __init__(self, tensor: Tensor, name: str):
        self._tensor, self._name = tensor, name

    @property
    def name(self) -> str:
        """The dim's name."""
        return self._name

    @property
    def size(self) -> int:
        """The dim's size."""
        shape = self._tensor.shape
        return shape.known_sizes(f"tensor.{self._name}.size")[shape.index(self._name)]

    @property
    def item_names(self) -> tuple[str, ...] | None:
        """The dim's item names or None."""
        return self._tensor.shape.get_item_names(self._name)

    def __getitem__(self, selection: Selection) -> Tensor:
        return self._tensor[{self._name: selection}]

    def __repr__(self) -> str:
        return f"{self._tensor.shape.only(self._name)!r} of a tensor"


def is_tensor(value: Any) -> bool:
    """True for a foldax `Tensor`.

    Arguments:
        value: anything.

    Returns:
        Whether ``value`` is a ``Tensor`` (a raw array is not).

    Example:
        >>> import numpy as np
        >>> from foldax.tensors import is_tensor, tensor
        >>> is_tensor(tensor([1, 2])), is_tensor(np.ones(2))
        (True, False)
    """
    return isinstance(value, Tensor)


def as_operand(value: Any, where: str) -> tuple[Any, Shape]:
    """A Tensor, a Python number or a rank-0 native as ``(native, shape)``; anything else raises."""
    if isinstance(value, Tensor):
        return value._native, value._shape
    if is_number(value):
        return value, EMPTY_SHAPE
    if is_native(value) and np.ndim(value) == 0:
        return value, EMPTY_SHAPE
    if is_native(value) or isinstance(value, (list, tuple)):
        raise FoldaxTypeError(
            f"{where}: got a raw {type(value).__name__} of shape {np.shape(value)}, whose axes "
            f"have no names; wrap it first, e.g. tensor(data, spatial('x'))"
        )
    raise FoldaxTypeError(
        f"{where}: got {type(value).__name__}, which is not a Tensor or a number; "
        f"wrap data with tensor(data, *dims)"
    )


def as_tensor(value: Any, where: str) -> Tensor:
    """A Tensor, a Python number (as a NumPy value) or a rank-0 native as a Tensor; anything else raises."""
    if isinstance(value, Tensor):
        return value
    native, shape = as_operand(value, where)
    return Tensor._make(np.asarray(native) if is_number(native) else native, shape)


def elementwise(op: str, *values: Any, where: str | None = None) -> Tensor:
    """Applies a NumPy/jax.numpy function named `op` to `values` broadcast by dim name. The result is
    NumPy-backed when all inputs are NumPy data or numbers, else JAX-backed.

    Example: ``elementwise('maximum', a, b)``.
    """
    where = where or f"{op}()"
    operands = [as_operand(v, where) for v in values]
    try:
        shape, natives = align(operands)
    except FoldaxValueError as err:
        raise FoldaxValueError(f"{where}: {err}") from None
    xp = namespace(*natives)
    return Tensor._make(getattr(xp, op)(*natives), shape)


def _flatten_with_keys(t: Tensor) -> tuple[tuple[tuple[Any, Any], ...], Shape]:
    return ((jax.tree_util.GetAttrKey('native'), t._native),), t._shape


def _unflatten(shape: Shape, children: Iterable[Any]) -> Tensor:
    (native,) = children
    return Tensor._make(native, shape)


jax.tree_util.register_pytree_with_keys(
    Tensor, _flatten_with_keys, _unflatten, lambda t: ((t._native,), t._shape)
)
