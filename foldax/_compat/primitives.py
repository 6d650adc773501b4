"""JAX's call and control-flow primitives, which foldax's interpreters recognise by identity.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from foldax._compat.primitives import cond_p
    >>> jaxpr = jax.make_jaxpr(lambda p, x: jax.lax.cond(p, jnp.sin, jnp.cos, x))(True, 1.0)
    >>> jaxpr.eqns[-1].primitive is cond_p
    True
"""

from __future__ import annotations

from typing import Sequence

from jax._src import core
from jax._src.ad_checkpoint import remat_p as remat_p
from jax._src.lax.control_flow.conditionals import cond_p as cond_p
from jax._src.lax.control_flow.loops import scan_p as scan_p, while_p as while_p
from jax._src.pjit import jit_p as jit_p
from jax._src.shard_map import shard_map_p as shard_map_p

from foldax._compat.jaxpr_types import ClosedJaxpr

closed_call_p = core.closed_call_p
call_p = core.call_p


def effects_forbid_select(closed_jaxprs: Sequence[ClosedJaxpr]) -> bool:
    """Whether a ``cond`` with these branches cannot run every branch and select (I/O callbacks
    or state effects would happen in branches that were not taken)."""
    from jax._src.callback import _IOEffect, _OrderedIOEffect
    from jax._src.state.types import RefEffect

    return any(
        eff in (_IOEffect, _OrderedIOEffect) or isinstance(eff, RefEffect)
        for j in closed_jaxprs
        for eff in j.jaxpr.effects
    )
