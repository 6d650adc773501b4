"""``shard_map`` under ``foldax.vmap``: the body is batched by the batching interpreter inside the
shard_map, and the batch dimension is added to its in/out specs (sharded over
``spmd_axis_name``, else replicated), as ``jax.vmap`` does, instead of mapping the shard_map one
element at a time.

Example:
    >>> import jax, jax.numpy as jnp, foldax
    >>> from jax.sharding import PartitionSpec as P
    >>> mesh = jax.make_mesh((1,), ("d",), axis_types=(jax.sharding.AxisType.Auto,))
    >>> f = jax.shard_map(lambda a: a * 2, mesh=mesh, in_specs=P("d"), out_specs=P("d"))
    >>> closed = jax.make_jaxpr(foldax.vmap(f))(jnp.ones((3, 4)))
    >>> closed.jaxpr.eqns[0].params["in_specs"]
    (P(None, 'd'),)
"""

from __future__ import annotations

import math

from foldax._compat import JaxprEqn, bind_shard_map, shard_map_p, spec_axis_names, spec_with_batch_dim
from foldax.errors import FoldaxValueError
from foldax.transforms.batching.interpreter import BatchInterpreter


@BatchInterpreter.register(shard_map_p)
def shard_map_batched(interp: BatchInterpreter, eqn: JaxprEqn, invals: list) -> list:
    p = eqn.params
    spmd = interp.axis_data.spmd_name
    for what in ("in_specs", "out_specs"):
        _check_specs_free_of(spmd or interp.mesh_axis, p[what], what)
    crossing = [interp.to_arrays(v) for v in invals]  # batch axis at 0 across the boundary
    arrays, batched = [x for xs, _ in crossing for x in xs], [b for _, b in crossing]
    in_specs = [spec_with_batch_dim(s, 0, spmd) if b else s for s, b in zip(p["in_specs"], batched)]
    # each shard sees its part of the batch when the batch dimension is sharded over spmd axes;
    # no folding inside (a constant computed eagerly would leave the shard_map's manual axes)
    shards = math.prod(p["mesh"].shape[n] for n in spmd) if spmd else 1
    inner = BatchInterpreter(interp.size // shards, interp.axis_name, False, spmd, interp.mesh_axis)
    out_batched: list = []

    def body(*xs):
        with inner.axis_env():
            outs = inner.run_jaxpr(p["jaxpr"], [], [inner.from_arrays([x], b) for x, b in zip(xs, batched)])
        leaving = [inner.to_arrays(o) for o in outs]
        out_batched[:] = [b for _, b in leaving]
        specs = [spec_with_batch_dim(s, 0, spmd) if b else s for s, b in zip(p["out_specs"], out_batched)]
        return [x for xs, _ in leaving for x in xs], specs

    outs = bind_shard_map(arrays, body, p, in_specs, interp.mesh_axis)
    return [interp.from_arrays([x], b) for x, b in zip(outs, out_batched)]


def _check_specs_free_of(mesh_axes: tuple | None, specs: tuple, what: str) -> None:
    """The mesh axes the batch dimension is sharded over cannot also shard the shard_map."""
    if not mesh_axes:
        return
    used = set().union(*(spec_axis_names(s) for s in specs))
    clash = set(mesh_axes) & used
    if clash:
        raise FoldaxValueError(
            f"vmap: the batch dimension is sharded over the mesh axes {tuple(mesh_axes)!r} "
            f"(spmd_axis_name, or the Explicit sharding of the mapped inputs), but a shard_map "
            f"inside uses {sorted(clash)!r} in its {what}. Shard the batch over other mesh axes, "
            f"or leave those out of the shard_map's specs. (JAX: vmap spmd_axis_name cannot "
            f"appear in shard_map {what})"
        )
