"""``foldax.vmap(f, dims='batch')``: map named dimensions of foldax Tensors (ΦML style).

Every Tensor argument that has the dimension is mapped along it (wherever its axis is); other
arguments are the same for every element. ``f`` sees Tensors without that dimension, and every
Tensor it returns gets the dimension back, first (other array outputs are batched along axis 0).
Several dimensions (``dims='b,seed'``, a Shape,
or a type such as ``foldax.tensors.batch``) are mapped one inside the other. The mapping itself is
``foldax.vmap`` on the native arrays.

Example:
    >>> import foldax, jax.numpy as jnp
    >>> from foldax.tensors import tensor, batch, spatial
    >>> t = tensor(jnp.arange(6.0).reshape(3, 2), spatial('x'), batch('b'))
    >>> unit = foldax.vmap(lambda v: v / jnp.linalg.norm(v.native()), dims='b')(t)
    >>> unit.shape
    (bᵇ=2, xˢ=3)
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Hashable

import jax

from foldax.errors import FoldaxValueError


def vmap_dims(fun: Callable, dims: Any, axis_name: Hashable | None, map_arrays: Callable) -> Callable:
    """``fun`` mapped over the named dims ``dims`` of its Tensor arguments (see module doc).

    ``map_arrays(f, in_axes, out_axes, axis_name, axis_size)`` maps ``f`` over arrays (the
    batching package's ``VmapFunction``); each named dimension becomes one such map.
    """

    @functools.wraps(fun, updated=())
    def mapped(*args: Any, **kwargs: Any) -> Any:
        names = _selected_names(fun, dims, args, kwargs)
        f = fun
        for name in reversed(names):  # the first name is the outermost map
            f = _map_one(f, name, axis_name, map_arrays)
        return f(*args, **kwargs)

    return mapped


def _tensor_leaves(tree: Any) -> tuple[list, Any]:
    from foldax.tensors import is_tensor

    return jax.tree_util.tree_flatten(tree, is_leaf=is_tensor)


def _selected_names(fun: Callable, dims: Any, args: tuple, kwargs: dict) -> tuple[str, ...]:
    from foldax.tensors import is_tensor
    from foldax.tensors.shape import resolve_names

    names: list[str] = []
    tensors = [x for x in _tensor_leaves((args, kwargs))[0] if is_tensor(x)]
    for t in tensors:
        for n in resolve_names(t.shape, dims, require=False, where=f"vmap(dims={dims!r})"):
            if n not in names:
                names.append(n)
    if not names:
        shapes = ", ".join(repr(t.shape) for t in tensors) or "none (no argument is a Tensor)"
        raise FoldaxValueError(
            f"vmap({getattr(fun, '__name__', 'fun')}, dims={dims!r}): no Tensor argument has such a "
            f"dimension; the Tensor arguments' shapes are {shapes}. Fix: name a dimension the "
            f"arguments have, or build them with it (e.g. tensor(data, batch('b'), ...))."
        )
    return tuple(names)


def _map_one(fun: Callable, name: str, axis_name: Hashable | None, map_arrays: Callable) -> Callable:
    from foldax.tensors import Tensor, is_tensor
    from foldax.tensors.shape import concat_shapes

    def mapped(*args: Any, **kwargs: Any) -> Any:
        paths_leaves, tree = jax.tree_util.tree_flatten_with_path((args, kwargs), is_leaf=is_tensor)
        leaves = [x for _, x in paths_leaves]
        is_mapped = [is_tensor(x) and name in x.shape for x in leaves]
        dim = _common_dim(fun, name, paths_leaves, is_mapped)
        natives = [x.native() for x, m in zip(leaves, is_mapped) if m]
        axes = [x.shape.index(name) for x, m in zip(leaves, is_mapped) if m]
        element_shapes = [x.shape.without(name) if m else None for x, m in zip(leaves, is_mapped)]
        others = [None if m else x for x, m in zip(leaves, is_mapped)]
        out_info: dict[str, Any] = {}

        def per_element(element_natives: list, other_leaves: list) -> list:
            it = iter(element_natives)
            rebuilt = [
                Tensor(next(it), s) if s is not None else x for x, s in zip(other_leaves, element_shapes)
            ]
            a, kw = jax.tree_util.tree_unflatten(tree, rebuilt)
            out_leaves, out_info["tree"] = _tensor_leaves(fun(*a, **kw))
            out_info["shapes"] = [o.shape if is_tensor(o) else None for o in out_leaves]
            return [o.native() if is_tensor(o) else o for o in out_leaves]

        per_element.__name__ = getattr(fun, "__name__", "fun")
        outs = map_arrays(per_element, (axes, None), 0, axis_name, dim.size)(natives, others)
        rebuilt = [
            Tensor(o, concat_shapes(dim, s)) if s is not None else o for o, s in zip(outs, out_info["shapes"])
        ]
        return jax.tree_util.tree_unflatten(out_info["tree"], rebuilt)

    return mapped


def _common_dim(fun: Callable, name: str, paths_leaves: list, is_mapped: list) -> Any:
    """The dimension ``name`` (a one-dim Shape), checking every mapped Tensor has one size."""
    mapped = [(p, x.shape.only(name)) for (p, x), m in zip(paths_leaves, is_mapped) if m]
    if len({d.size for _, d in mapped}) > 1:
        listed = "; ".join(f"{_argument(p)} has {name}={d.size}" for p, d in mapped)
        raise FoldaxValueError(
            f"vmap({getattr(fun, '__name__', 'fun')}, dims=...): the Tensors mapped along "
            f"'{name}' have different sizes: {listed}. Every mapped Tensor must have the same "
            f"size along '{name}'."
        )
    return mapped[0][1]


def _argument(path: tuple) -> str:
    """``args[1]``, ``kwargs['y']`` for a key path into ``(args, kwargs)``."""
    head, rest = path[0], jax.tree_util.keystr(tuple(path[1:]))
    return ("args" if getattr(head, "idx", None) == 0 else "kwargs") + rest
