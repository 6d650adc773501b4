"""Shardings and device meshes: the mesh axes an array is sharded over, shard_map's specs and
binding, jit's shardings under vmap, and the concrete mesh in context.

Example:
    >>> from jax.sharding import PartitionSpec as P
    >>> from foldax._compat.sharding import spec_axis_names, spec_with_batch_dim
    >>> sorted(spec_axis_names(P("x", ("y", "z"))))
    ['x', 'y', 'z']
    >>> spec_with_batch_dim(P("x"), 0, None)
    P(None, 'x')
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from jax._src import core, sharding_impls
from jax._src.interpreters.pxla import batch_spec
from jax._src.pjit import _pjit_batcher_for_sharding
from jax._src.shard_map import shard_map_p, used_axis_names
from jax._src.sharding_impls import UNSPECIFIED as UNSPECIFIED
from jax._src.tree_util import FlatTree


def mapped_axis_spec(aval: Any, axis: int) -> Any:
    """The mesh axes (Explicit sharding in types) along ``axis`` of an array, or None."""
    try:
        return aval.sharding.spec[axis]
    except (IndexError, TypeError, AttributeError):
        return None


def sharded_mesh_axes(aval: Any) -> set:
    """Every mesh axis name that shards some dimension of ``aval``."""
    try:
        return set(sharding_impls.flatten_spec(aval.sharding.spec))
    except (TypeError, AttributeError):
        return set()


def bind_shard_map(
    args: Sequence,
    body: Callable[..., tuple[Sequence, Sequence]],
    params: dict,
    in_specs: Sequence,
    explicit_mesh_axis: tuple | None,
) -> list:
    """Bind ``shard_map`` on ``args`` with a new body: ``body(*per_shard_args) -> (outputs,
    out_specs)`` runs inside the shard_map (in its manual-axes context) and says how each output
    is laid out; ``params`` are the equation's (mesh, check_vma, newly_manual_axes)."""

    def fun(*xs: Any) -> Any:
        outs, out_specs = body(*xs)
        return FlatTree.flatten(list(outs)).with_aux(tuple(out_specs))

    dbg = params["jaxpr"].debug_info  # the body's inputs and outputs are not the user's now
    dbg = dbg if dbg is None else dbg._replace(arg_names=None, result_paths=None)
    with core.remove_explicit_mesh_axis_names(explicit_mesh_axis or ()):
        out = shard_map_p.bind(
            *args,
            subfuns=(fun,),
            mesh=params["mesh"],
            in_specs=tuple(in_specs),
            check_vma=params["check_vma"],
            newly_manual_axes=params["newly_manual_axes"],
            debug_info=dbg,
        )
    return list(out)


def spec_with_batch_dim(spec: Any, dim: int, mesh_axes: tuple | None) -> Any:
    """A PartitionSpec with a batch dimension inserted at ``dim`` (over ``mesh_axes`` or None)."""
    return batch_spec(spec, dim, mesh_axes)


def spec_axis_names(spec: Any) -> set:
    """The mesh axis names a shard_map in/out spec uses."""
    return set(used_axis_names(spec))


def batched_sharding(sharding: Any, dim: int, spmd_name: tuple | None, mesh: Any, ndim: int) -> Any:
    """A jit in/out sharding with a batch dimension inserted at ``dim`` (sharded over the mesh
    axes ``spmd_name``, else unconstrained), as ``jax.vmap`` rewrites a jit's shardings."""
    return _pjit_batcher_for_sharding(sharding, dim, spmd_name, mesh, ndim)


def concrete_mesh() -> Any:
    """The concrete device mesh in context (``jax.set_mesh``), or ``None``."""
    from jax._src.mesh import get_concrete_mesh

    mesh = get_concrete_mesh()
    return None if mesh.empty else mesh


def use_concrete_mesh(mesh: Any):
    """Context making ``mesh`` the concrete mesh (the devices behind abstract-mesh shardings)
    without changing the abstract mesh tracing sees, as ``jax.jit`` does when it lowers."""
    return sharding_impls._internal_use_concrete_mesh(mesh)
