"""The `Shape` type: an immutable tuple of named, typed dims, how shapes combine (`&`,
`merge_shapes`, `concat_shapes`) and how a `DimSpec` selects dims of a shape (`resolve_names`).

The functions that build shapes (`batch`, `dual`, `instance`, `spatial`, `channel`, `non_batch`)
are in ``dim_constructors.py``; they double as dim filters (``shape.only(spatial)``) by
registering the dim types they select with `dim_filter`. ``shape.py`` re-exports both.

Example:
    >>> from foldax.tensors import batch, spatial
    >>> (batch(b=2) & spatial(x=3)).only(spatial)
    (xˢ=3)
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence, TypeVar

from foldax.errors import FoldaxIndexError, FoldaxTypeError, FoldaxValueError

BATCH, DUAL, INSTANCE, SPATIAL, CHANNEL = 'batch', 'dual', 'instance', 'spatial', 'channel'
DIM_TYPES = (BATCH, DUAL, INSTANCE, SPATIAL, CHANNEL)
"""The dim types in ΦML's canonical order."""
SUPERSCRIPT = {BATCH: 'ᵇ', DUAL: 'ᵈ', INSTANCE: 'ⁱ', SPATIAL: 'ˢ', CHANNEL: 'ᶜ'}

ItemNames = tuple[str, ...] | None


class Shape:
    """An ordered, immutable collection of named, typed dims.

    Build shapes with `batch`, `dual`, `instance`, `spatial`, `channel` and combine them with `&`.

    Example:
        >>> from foldax.tensors import batch, spatial
        >>> s = batch(b=2) & spatial(x=3)
        >>> s.names, s.sizes, s['x'], 'x' in s, s.non_batch
        (('b', 'x'), (2, 3), 3, True, (xˢ=3))
    """

    __slots__ = ('_names', '_sizes', '_types', '_items')

    def __init__(
        self,
        names: Sequence[str] = (),
        sizes: Sequence[int | None] = (),
        types: Sequence[str] = (),
        item_names: Sequence[ItemNames] = (),
    ):
        self._names = tuple(names)
        self._sizes = tuple(sizes)
        self._types = tuple(types)
        self._items = tuple(item_names) or (None,) * len(self._names)
        if not len(self._names) == len(self._sizes) == len(self._types) == len(self._items) or not all(
            t in SUPERSCRIPT for t in self._types
        ):
            raise FoldaxValueError(
                f"Shape(names, sizes, types, item_names) got {len(self._names)} names, "
                f"{len(self._sizes)} sizes, {len(self._types)} types and {len(self._items)} "
                f"item names; give one of each per dim, each type one of {DIM_TYPES}, or build "
                f"shapes with spatial(x=3) etc."
            )

    # --- basic properties ---
    @property
    def names(self) -> tuple[str, ...]:
        """The dim names in order, e.g. ``('x', 'y')``; dual names start with ``~``."""
        return self._names

    @property
    def sizes(self) -> tuple[int | None, ...]:
        """The dim sizes in order; ``None`` for a dim whose size is not known yet."""
        return self._sizes

    @property
    def types(self) -> tuple[str, ...]:
        """The dim types in order, each one of ``'batch', 'dual', 'instance', 'spatial', 'channel'``."""
        return self._types

    @property
    def item_names(self) -> tuple[ItemNames, ...]:
        """Per dim, the tuple of item names or ``None``, e.g. ``((('x', 'y'),)`` for ``channel(vector='x,y')``."""
        return self._items

    @property
    def rank(self) -> int:
        """The number of dims."""
        return len(self._names)

    @property
    def volume(self) -> int | None:
        """The product of the sizes; ``None`` if any size is unknown."""
        result = 1
        for size in self._sizes:
            if size is None:
                return None
            result *= size
        return result

    @property
    def name(self) -> str:
        """The name of the only dim of a rank-1 shape."""
        return self._names[self._single('name')]

    @property
    def size(self) -> int | None:
        """The size of the only dim of a rank-1 shape."""
        return self._sizes[self._single('size')]

    @property
    def type(self) -> str:
        """The type of the only dim of a rank-1 shape."""
        return self._types[self._single('type')]

    def _single(self, what: str) -> int:
        if self.rank != 1:
            first = (self._names or ('x',))[0]
            raise FoldaxValueError(
                f"Shape.{what} needs a shape with exactly one dim, but {self!r} has "
                f"{self.rank}; select one dim first, e.g. shape.only('{first}')"
            )
        return 0

    # --- filtering by type ---
    def _of_types(self, types: Sequence[str]) -> Shape:
        return self._take([i for i, t in enumerate(self._types) if t in types])

    batch = property(lambda self: self._of_types((BATCH,)), doc="The batch dims, e.g. ``(bᵇ=2)``.")
    dual = property(lambda self: self._of_types((DUAL,)), doc="The dual dims, e.g. ``(~xᵈ=3)``.")
    instance = property(lambda self: self._of_types((INSTANCE,)), doc="The instance dims.")
    spatial = property(lambda self: self._of_types((SPATIAL,)), doc="The spatial dims.")
    channel = property(lambda self: self._of_types((CHANNEL,)), doc="The channel dims.")
    non_batch = property(
        lambda self: self._of_types((DUAL, INSTANCE, SPATIAL, CHANNEL)), doc="All but batch dims."
    )
    non_dual = property(
        lambda self: self._of_types((BATCH, INSTANCE, SPATIAL, CHANNEL)), doc="All but dual dims."
    )
    non_instance = property(
        lambda self: self._of_types((BATCH, DUAL, SPATIAL, CHANNEL)), doc="All but instance dims."
    )
    non_spatial = property(
        lambda self: self._of_types((BATCH, DUAL, INSTANCE, CHANNEL)), doc="All but spatial dims."
    )
    non_channel = property(
        lambda self: self._of_types((BATCH, DUAL, INSTANCE, SPATIAL)), doc="All but channel dims."
    )

    # --- lookup ---
    def index(self, name: str) -> int:
        """The position of dim `name`. Example: ``spatial('x,y').index('y') == 1``."""
        if name not in self._names:
            raise FoldaxValueError(f"dim '{name}' is not in shape {self!r}; use one of {self._names}")
        return self._names.index(name)

    def get_size(self, name: str) -> int | None:
        """The size of dim `name`. Example: ``spatial(x=4).get_size('x') == 4``."""
        return self._sizes[self.index(name)]

    def known_sizes(self, where: str = 'shape', call: str = '') -> tuple[int, ...]:
        """The dim sizes in order, all known (a tensor's always are).

        Arguments:
            where: the operation, for the error message.
            call: a function whose call to show in the fix, e.g. ``'zeros'``.
        Returns:
            The sizes as ints.
        Raises:
            FoldaxValueError (a ValueError): naming the dims without a size.

        Example: ``(batch(b=2) & spatial(x=3)).known_sizes() == (2, 3)``.
        """
        unknown = [n for n, s in zip(self._names, self._sizes) if s is None]
        if unknown:
            fix = f"{self.get_type(unknown[0])}({unknown[0].lstrip('~')}=3)"
            raise FoldaxValueError(
                f"{where}: dims {unknown} of {self!r} have no size; give sizes, e.g. "
                f"{f'{call}({fix})' if call else fix}"
            )
        return tuple(s for s in self._sizes if s is not None)

    def get_type(self, name: str) -> str:
        """The type of dim `name`. Example: ``spatial(x=4).get_type('x') == 'spatial'``."""
        return self._types[self.index(name)]

    def get_item_names(self, name: str) -> ItemNames:
        """The item names of dim `name` or ``None``. Example: ``channel(v='a,b').get_item_names('v') == ('a', 'b')``."""
        return self._items[self.index(name)]

    def __getitem__(self, key: str | int) -> int | None:
        """``shape['x']`` (by name) or ``shape[0]`` (by position) -> the size of that dim."""
        if isinstance(key, str):
            return self.get_size(key)
        if hasattr(key, '__index__') and not isinstance(key, bool):
            key = int(key)
            if not -self.rank <= key < self.rank:
                raise FoldaxIndexError(
                    f"shape[{key}]: position {key} is out of range for {self!r} of rank "
                    f"{self.rank}; use a position in [-{self.rank}, {self.rank})"
                )
            return self._sizes[key]
        raise FoldaxTypeError(
            f"shape[key] takes a dim name (str) or a position (int), but got "
            f"{type(key).__name__} {key!r}; use e.g. shape['x']"
        )

    def __contains__(self, dims: Any) -> bool:
        """``'x' in shape``; ``'x,y'``, a list of names or a Shape test that all are present."""
        if isinstance(dims, str):
            return all(n in self._names for n in parse_names(dims))
        if isinstance(dims, Shape):
            return all(n in self._names for n in dims.names)
        if isinstance(dims, (tuple, list)):
            return all(isinstance(n, str) and n in self._names for n in dims)
        return False

    # --- combination ---
    def only(self, dims: DimSpec) -> Shape:
        """The dims selected by `dims` (names, a Shape or a type such as `spatial`), in this shape's order.

        Example: ``(batch(b=2) & spatial(x=3)).only(spatial) == spatial(x=3)``.
        """
        selected = set(resolve_names(self, dims, require=False, where=f"shape.only({dims!r})"))
        return self._take([i for i, n in enumerate(self._names) if n in selected])

    def without(self, dims: DimSpec) -> Shape:
        """This shape without the dims selected by `dims`; absent names are ignored.

        Example: ``spatial(x=3, y=4).without('x') == spatial(y=4)``.
        """
        removed = set(resolve_names(self, dims, require=False, where=f"shape.without({dims!r})"))
        return self._take([i for i, n in enumerate(self._names) if n not in removed])

    __sub__ = without

    def __and__(self, other: Shape) -> Shape:
        """Merges two shapes: this shape's dims, then the new dims of `other`. Shared dims must agree.

        Example: ``spatial(x=3) & batch(b=2) == Shape(('x', 'b'), (3, 2), ('spatial', 'batch'))``.
        """
        if not isinstance(other, Shape):
            return NotImplemented
        return merge_shapes(self, other)

    def with_size(self, name: str, size: int | None, item_names: ItemNames = None) -> Shape:
        """A copy where dim `name` has the given size (and item names)."""
        i = self.index(name)
        sizes, items = list(self._sizes), list(self._items)
        sizes[i], items[i] = size, item_names
        return Shape(self._names, sizes, self._types, items)

    def _take(self, indices: Sequence[int]) -> Shape:
        return Shape(
            [self._names[i] for i in indices],
            [self._sizes[i] for i in indices],
            [self._types[i] for i in indices],
            [self._items[i] for i in indices],
        )

    def _key(self) -> tuple[tuple[str, ...], tuple[int | None, ...], tuple[str, ...], tuple[ItemNames, ...]]:
        return self._names, self._sizes, self._types, self._items

    # --- python protocol ---
    def __len__(self) -> int:
        return self.rank

    def __iter__(self) -> Iterator[Shape]:
        """Iterates over the dims, each as a rank-1 Shape."""
        return (self._take([i]) for i in range(self.rank))

    def __eq__(self, other: Any) -> bool:
        """Equal when names, sizes, types, item names and the order all agree."""
        return isinstance(other, Shape) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return '(' + ', '.join(_dim_repr(*dim) for dim in zip(*self._key())) + ')'


def _dim_repr(name: str, size: int | None, dim_type: str, items: ItemNames) -> str:
    base = f"{name}{SUPERSCRIPT[dim_type]}"
    if size is None:
        return base
    if items is not None:
        text = ','.join(items)
        return f"{base}={text if len(text) <= 12 else f'{size}:{items[0][:5]}...{items[-1][:5]}'}"
    return f"{base}={size}"


EMPTY_SHAPE = Shape()


def merge_shapes(*shapes: Shape) -> Shape:
    """Merges shapes by name: the dims in order of first appearance. Shared dims must agree in type
    and size; item names are kept from whichever shape has them.

    Arguments:
        *shapes: Shapes.

    Returns:
        The merged Shape.

    Raises:
        FoldaxValueError: a dim shared by two shapes differs in type, size or item names.

    Example:
        >>> from foldax.tensors import batch, merge_shapes, spatial
        >>> merge_shapes(spatial(x=3), batch(b=2) & spatial(x=3))
        (xˢ=3, bᵇ=2)
    """
    names: list[str] = []
    sizes: list[int | None] = []
    types: list[str] = []
    items: list[ItemNames] = []
    origin: list[Shape] = []
    for shape in shapes:
        for name, size, dim_type, item in zip(*shape._key()):
            if name not in names:
                names.append(name)
                sizes.append(size)
                types.append(dim_type)
                items.append(item)
                origin.append(shape)
                continue
            i = names.index(name)
            first, known_size, known_items = origin[i], sizes[i], items[i]
            if types[i] != dim_type:
                raise FoldaxValueError(
                    f"dim '{name}' is {types[i]} in {first!r} but {dim_type} in {shape!r}; "
                    f"a name must have one type: rename one of the dims"
                )
            if known_size is not None and size is not None and known_size != size:
                raise FoldaxValueError(
                    f"dim '{name}' has size {known_size} in {first!r} but {size} in {shape!r}; "
                    f"shared dims must have equal sizes: slice one, e.g. "
                    f"t.{name}[:{min(known_size, size)}]"
                )
            if known_items is not None and item is not None and known_items != item:
                raise FoldaxValueError(
                    f"dim '{name}' has item names {known_items} in {first!r} but {item} in "
                    f"{shape!r}; select matching items, e.g. t.{name}['{','.join(known_items)}']"
                )
            sizes[i] = known_size if known_size is not None else size
            items[i] = known_items if known_items is not None else item
    return Shape(names, sizes, types, items)


def concat_shapes(*shapes: Shape) -> Shape:
    """Concatenates shapes that share no dim name.

    Arguments:
        *shapes: Shapes with distinct dim names.

    Returns:
        A Shape with all their dims, in order.

    Raises:
        FoldaxValueError: a dim name appears in more than one shape.

    Example:
        >>> from foldax.tensors import channel, concat_shapes, spatial
        >>> concat_shapes(spatial('x'), channel('c')).names
        ('x', 'c')
    """
    names = [n for s in shapes for n in s.names]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FoldaxValueError(
            f"dims {duplicates} are given more than once in {', '.join(map(repr, shapes))}; "
            f"give each dim once"
        )
    return Shape(
        names,
        [x for s in shapes for x in s.sizes],
        [x for s in shapes for x in s.types],
        [x for s in shapes for x in s.item_names],
    )


def parse_names(names: str) -> tuple[str, ...]:
    """Splits a comma-separated name list. Example: ``parse_names('x, y') == ('x', 'y')``."""
    return tuple(n.strip() for n in names.split(',') if n.strip())


_TYPE_FILTERS: dict[Callable, tuple[str, ...]] = {}
"""The dim filters (`batch`, ..., `non_batch`) and the dim types each selects; see `dim_filter`."""

_Filter = TypeVar('_Filter', bound=Callable)


def dim_filter(*dim_types: str) -> Callable[[_Filter], _Filter]:
    """Registers a function as a dim filter selecting dims of ``dim_types``, for `resolve_names`.

    Arguments:
        *dim_types: the dim types the function selects (``'spatial'``, ...).

    Returns:
        A decorator returning the function unchanged.

    Example:
        >>> @dim_filter(SPATIAL)
        ... def only_spatial(value): ...
        >>> resolve_names(Shape(('b', 'x'), (2, 3), (BATCH, SPATIAL)), only_spatial)
        ('x',)
        >>> del _TYPE_FILTERS[only_spatial]
    """

    def register(function: _Filter) -> _Filter:
        _TYPE_FILTERS[function] = dim_types
        return function

    return register


DimSpec = None | str | Sequence[str] | Shape | Callable
"""What selects dims: ``None``, ``'x,y'``, ``['x', 'y']``, a Shape, or a type filter such as `spatial`."""


def resolve_names(shape: Shape, dims: DimSpec, require: bool = True, where: str = '') -> tuple[str, ...]:
    """The names in `shape` selected by `dims`; ``None`` selects all. With `require`, names not in
    `shape` raise. `where` names the call in error messages.

    Example: ``resolve_names(batch(b=2) & spatial(x=3), spatial) == ('x',)``.
    """
    where = where or f"dim={dims!r}"
    if dims is None:
        return shape.names
    if callable(dims) and not isinstance(dims, Shape):
        if dims not in _TYPE_FILTERS:
            raise FoldaxTypeError(
                f"{where}: {getattr(dims, '__name__', dims)!r} is not a dim filter; use a name "
                f"such as 'x', a Shape, or one of batch, dual, instance, spatial, channel, non_batch"
            )
        return shape._of_types(_TYPE_FILTERS[dims]).names
    if isinstance(dims, Shape):
        names = dims.names
    elif isinstance(dims, str):
        names = parse_names(dims)
    elif isinstance(dims, (tuple, list)) and all(isinstance(n, str) for n in dims):
        names = tuple(dims)
    else:
        raise FoldaxTypeError(
            f"{where}: got {type(dims).__name__}, which does not select dims; use a name "
            f"such as 'x', 'x,y', a list of names, a Shape, or a type such as spatial"
        )
    missing = [n for n in names if n not in shape.names]
    if require and missing:
        raise FoldaxValueError(
            f"{where}: dims {missing} are not in shape {shape!r}; use names from {shape.names}"
        )
    return tuple(n for n in names if n in shape.names)
