"""How the instances of a registered dataclass flatten and unflatten, planned once per class.

Every ``jit`` (``jax.jit`` too) flattens its arguments at each call and rebuilds its outputs,
so this runs for every dataclass node of every call. What depends on the class alone (the names
of the variable fields and of the others, the functions reading them, the names used in error
messages, the path keys) is computed when the class is registered; a flatten then reads the
fields and wraps each value/static field in a ``ByValue``, and nothing else.

The tree structure data (the "aux data" JAX compares and hashes) is ``(layout, values)``:
``layout`` stands for the field names (layouts are equal when their names are, and there is one
per class and set of variable names), ``values`` holds a ``ByValue`` per field that is not a
variable, so two structures are equal exactly when their variable names, other names and other
values (NumPy arrays by dtype, shape and bits) are.

Example:
    >>> import dataclasses
    >>> @dataclasses.dataclass(frozen=True)
    ... class P:
    ...     x: float
    ...     name: str
    >>> flatten, _, unflatten = node_functions(P, ("x",), lambda p: ("x",))
    >>> children, aux = flatten(P(1.0, "a"))
    >>> children, unflatten(aux, [2.0])
    ((1.0,), P(x=2.0, name='a'))
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import operator
from typing import Any, Callable

import jax

from foldax.pytrees.leaves import ByValue

Flatten = Callable[[Any], tuple[tuple, tuple]]
# exact types whose objects never change: the same object always has the same ByValue
_IMMUTABLE = frozenset({str, bytes, int, float, complex, bool, type(None)})


def _attributes(names: tuple[str, ...]) -> Callable[[Any], tuple]:
    """A function returning the tuple of the attributes ``names`` of an object."""
    if len(names) > 1:
        return operator.attrgetter(*names)
    if names:
        one = operator.attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


def _writes_through_dict(cls: type, names: tuple[str, ...]) -> bool:
    """Whether instances keep the attributes ``names`` in their ``__dict__`` (no ``__slots__``,
    no descriptor on the class), so that setting them there is what ``object.__setattr__`` does."""
    has_dict = any("__dict__" in vars(k) for k in cls.__mro__ if k is not object)
    descriptors = (inspect.getattr_static(cls, n, None) for n in names)
    return has_dict and not any(hasattr(type(d), "__set__") for d in descriptors)


class Layout:
    """The field names of one class for one set of variable fields, and what reads and writes
    them; equal to another layout with the same names (the classes are compared by JAX)."""

    __slots__ = (
        "variables", "others", "wheres", "keys", "variables_of", "others_of", "direct", "empty",
        "last", "_hash",
    )  # fmt: skip

    def __init__(self, cls: type, variables: tuple[str, ...]):
        self.variables = variables
        self.others = tuple(f.name for f in dataclasses.fields(cls) if f.name not in variables)
        self.wheres = tuple(f"field '{n}' of {cls.__name__}" for n in self.others)  # for errors
        self.keys = tuple(jax.tree_util.GetAttrKey(n) for n in variables)
        self.variables_of = _attributes(variables)
        self.others_of = _attributes(self.others)
        self.direct = _writes_through_dict(cls, variables + self.others)
        self.empty: tuple = (self, ())  # the aux data when every field is a variable
        # (values, aux data) of the last flatten whose values were all immutable (objects that
        # nothing can change, so the same objects again have the same aux data)
        self.last: tuple = (tuple(object() for _ in self.others), self.empty)
        self._hash = hash((variables, self.others))

    def __eq__(self, other: object) -> bool:
        return self is other or (
            type(other) is Layout and (self.variables, self.others) == (other.variables, other.others)
        )

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"variables={self.variables}, others={self.others}"

    def flatten(self, obj: Any) -> tuple[tuple, tuple]:
        """``(children, aux data)`` of ``obj``; a value that is unhashable raises FoldaxTypeError."""
        if not self.others:
            return self.variables_of(obj), self.empty
        values = self.others_of(obj)
        last_values, last_aux = self.last
        if all(map(operator.is_, values, last_values)):  # the same immutable objects: same aux
            return self.variables_of(obj), last_aux
        aux = (self, tuple(map(ByValue, values, self.wheres)))
        if all(type(v) in _IMMUTABLE for v in values):
            self.last = (values, aux)
        return self.variables_of(obj), aux


@functools.cache
def layout(cls: type, variables: tuple[str, ...]) -> Layout:
    """The one layout of ``cls`` whose variable fields are ``variables``."""
    return Layout(cls, variables)


def _fixed_flatten(plan: Layout) -> Flatten:
    """The flatten function of a class whose variable fields are the same for every instance."""
    if plan.others:
        return plan.flatten
    variables_of, empty = plan.variables_of, plan.empty
    return lambda obj: (variables_of(obj), empty)


def node_functions(
    cls: type, variables: tuple[str, ...] | None, variables_of: Callable[[Any], tuple[str, ...]]
) -> tuple[Flatten, Callable[[Any], tuple[list, tuple]], Callable[[tuple, Any], Any]]:
    """``(flatten, flatten_with_keys, unflatten)`` for ``jax.tree_util.register_pytree_with_keys``.

    Arguments:
        cls: a dataclass.
        variables: the names of its variable fields, or ``None`` if they depend on the instance.
        variables_of: the names of the variable fields of an instance (used if ``variables`` is
            ``None``).

    Returns:
        The three functions; ``unflatten`` sets the fields without running ``__init__``.
    """
    if variables is not None:
        flatten = _fixed_flatten(layout(cls, variables))
    else:

        def flatten(obj: Any) -> tuple[tuple, tuple]:
            return layout(cls, variables_of(obj)).flatten(obj)

    def flatten_with_keys(obj: Any) -> tuple[list, tuple]:
        children, aux = flatten(obj)
        return list(zip(aux[0].keys, children)), aux

    new = object.__new__
    set_attribute = object.__setattr__

    def unflatten(aux: tuple, children: Any) -> Any:
        plan, values = aux
        obj: Any = new(cls)
        if plan.direct:  # item assignment: faster than dict.update(zip(...)) for a few fields
            attributes = obj.__dict__
            for name, child in zip(plan.variables, children):
                attributes[name] = child
            if values:
                for name, wrapped in zip(plan.others, values):
                    attributes[name] = wrapped.value
            return obj
        for name, child in zip(plan.variables, children):
            set_attribute(obj, name, child)
        for name, wrapped in zip(plan.others, values):
            set_attribute(obj, name, wrapped.value)
        return obj

    return flatten, flatten_with_keys, unflatten
