"""JAX's batching internals: the per-primitive batching rules, the description of a vmapped axis
and its context, and the registry of types vmap accepts.

Example:
    >>> from jax import lax
    >>> from foldax._compat.batching_rules import axis_data, fancy_primitive_batchers
    >>> lax.sin_p in fancy_primitive_batchers
    True
    >>> axis_data("i", 3).size
    3
"""

from __future__ import annotations

import contextlib
from typing import Any

from jax._src import core
from jax._src.interpreters import batching

primitive_batchers = batching.primitive_batchers
fancy_primitive_batchers = batching.fancy_primitive_batchers
not_mapped = None  # JAX 0.10 marks an unbatched value with bdim None

AxisData = batching.AxisData
no_axis_name = core.no_axis_name
mapped_aval = core.mapped_aval  # (size, axis, aval) -> aval without that axis
unmapped_aval = core.unmapped_aval  # (size, axis, aval) -> aval with that axis inserted


def vmappable_types() -> dict:
    """The types registered with ``jax.interpreters.batching.register_vmappable`` (JAX's live
    registry: type -> (spec type, axis size type))."""
    return batching.vmappables


def axis_spec_types() -> set:
    """The non-int axis-spec types ``jax.vmap`` accepts in in_axes/out_axes (registered spec
    types, ``batching.infer``'s and ``Sum``'s types)."""
    return batching.spec_types


def axis_data(
    name: Any, size: int, spmd_name: tuple | None = None, explicit_mesh_axis: tuple | None = None
) -> Any:
    """JAX's description of a vmapped axis: its name and size, the mesh axes its batch dimension
    is sharded over (``spmd_axis_name``), or the Explicit mesh axis the mapped inputs carry."""
    return batching.AxisData(core.no_axis_name if name is None else name, size, spmd_name, explicit_mesh_axis)


def batch_axis_env(data: Any):
    """Context of a vmapped axis while its rules run: collectives may name it, and its SPMD and
    Explicit mesh axes are declared (as ``jax.vmap`` declares them)."""
    stack = contextlib.ExitStack()
    if data.name is not core.no_axis_name:
        stack.enter_context(core.extend_axis_env_nd([(data.name, data.size)]))
    if data.spmd_name is not None:
        stack.enter_context(core.add_spmd_axis_names(data.spmd_name))
    if data.explicit_mesh_axis is not None:
        stack.enter_context(core.add_explicit_mesh_axis_names(data.explicit_mesh_axis))
    return stack


def broadcast_batch_axis(x: Any, size: int, axis: int, mesh_axis: Any) -> Any:
    """``x`` repeated ``size`` times along a new ``axis`` that is sharded like the mapped inputs
    (``mesh_axis``, an Explicit mesh axis, or None)."""
    return batching.broadcast(x, size, axis, mesh_axis)
