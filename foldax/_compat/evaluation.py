"""Computing now, whatever trace is current: JAX's eager evaluation of primitives and jaxprs,
its abstract evaluation, and concrete arrays as eager evaluation returns them.

Example:
    >>> import numpy as np
    >>> from jax import lax
    >>> from foldax._compat.evaluation import evaluate_now
    >>> float(evaluate_now(lax.sin_p, [np.float32(0.0)], {"accuracy": None}))
    0.0
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import numpy as np
from jax._src import config, core, dispatch, dtypes, sharding_impls
from jax._src.interpreters import partial_eval as pe, pxla
from jax._src.lib import guard_lib, xla_client as xc

from foldax._compat.jaxpr_types import ClosedJaxpr, Jaxpr, Primitive, ShapedArray, bind_params
from foldax._compat.source_lines import eqn_context


def evaluate_now(primitive: Primitive, args: Sequence, params: dict) -> Any:
    """Compute ``primitive`` on concrete ``args`` now (JAX's eager evaluation), whatever the
    current trace."""
    with core.set_current_trace(core.eval_trace):
        if "subfuns" in params:  # call-like primitives (shard_map, ...) bind through their trace hook
            return primitive.bind(*args, **params)
        return core.eval_trace.process_primitive(primitive, args, params)


def compiles_eagerly(primitive: Primitive) -> bool:
    """Whether JAX computes ``primitive`` on concrete values by compiling it alone
    (``dispatch.apply_primitive``, which keeps one executable per parameters and input types)."""
    impl = getattr(primitive, "impl", None)
    return isinstance(impl, functools.partial) and impl.func is dispatch.apply_primitive


def primitive_computation(primitive: Primitive, params: dict) -> Callable:
    """A new jitted function computing ``primitive`` with ``params``, made as JAX's eager
    evaluation makes it (``dispatch.xla_primitive_callable``) but not kept in JAX's cache."""
    return dispatch.xla_primitive_callable.__wrapped__(primitive, **params)


def call_now(fun: Callable, args: Sequence) -> Any:
    """``fun(*args)`` computed now whatever the current trace, with jit enabled (as JAX's
    ``apply_primitive`` calls its computation)."""
    with core.set_current_trace(core.eval_trace):
        previous = config.disable_jit.swap_local(False)
        try:
            return fun(*args)
        finally:
            config.disable_jit.set_local(previous)


def evaluate_jaxpr_with(trace: Any, closed: ClosedJaxpr, args: Sequence) -> list:
    """Evaluate ``closed`` on ``args`` with ``trace`` current (its primitives go to it)."""
    with core.set_current_trace(trace):
        return core.eval_jaxpr(closed.jaxpr, closed.consts, *args)


def abstract_eval(primitive: Primitive, args: Sequence, params: dict) -> tuple[Any, Any]:
    """``(output aval(s), effects)`` of binding ``primitive`` on ``args`` (JAX's cached abstract
    evaluation)."""
    return pe._cached_abstract_eval(primitive, *(core.typeof(a) for a in args), **params)


def concrete_array(value: Any, aval: ShapedArray) -> Any:
    """A ``jax.Array`` holding the NumPy ``value`` with abstract value ``aval`` (its weak type
    included), as eager evaluation would have returned it; None when JAX would store it in
    another dtype (64-bit values with x64 off)."""
    host = np.asarray(value, dtype=aval.dtype)
    if host.dtype == dtypes.float0 or dtypes.canonicalize_dtype(host.dtype) != host.dtype:
        return None  # float0, or a 64-bit value JAX would narrow
    placed = core.shaped_abstractify(host)
    if aval.weak_type:
        placed = placed.update(weak_type=True)
    return _device_put(placed, host)


def _device_put(aval: ShapedArray, host: np.ndarray) -> Any:
    """``jax.device_put(host)`` as JAX computes it outside any trace, straight to its C++
    transfer (JAX's own device_put binds a primitive when a trace is active and goes through
    several layers of Python for the same copy): to the default device, uncommitted, under the
    transfer guard of an explicit ``device_put``, with abstract value ``aval``."""
    device = pxla.get_default_device()
    state = guard_lib.thread_local_state()
    previous, state.explicit_device_put = state.explicit_device_put, True
    try:
        return xc.batched_device_put(aval, _single_device(device), [host], [device], False)
    finally:
        state.explicit_device_put = previous


@functools.lru_cache(maxsize=64)
def _single_device(device: Any) -> Any:
    return sharding_impls.SingleDeviceSharding(device)


def eval_context():
    """Context in which binding a primitive computes it now, even inside an outer trace."""
    return core.eval_context()


def eval_jaxpr(jaxpr: Jaxpr, consts: Sequence, *args: Any) -> list:
    """Evaluate ``jaxpr`` as ``core.eval_jaxpr`` does (binding each equation, so a current
    trace records it), each equation inside ``eqn_context``.

    ``core.eval_jaxpr`` always enters an equation's recorded config context. A jaxpr traced
    outside any mesh records the empty abstract mesh, which differs from "no mesh" in the key of
    JAX's cache of eagerly compiled primitives: every primitive evaluated that way, eagerly, was
    compiled a second time (a third of the compilations of a second-order ``check_grads``).
    ``eqn_context`` enters it only when it differs from the current context.
    """
    env: dict = dict(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.invars, args))

    def read(a: Any) -> Any:
        return a.val if isinstance(a, core.Literal) else env[a]

    for eqn in jaxpr.eqns:
        with eqn_context(eqn):
            out = eqn.primitive.bind(*[read(a) for a in eqn.invars], **bind_params(eqn))
        outs = out if eqn.primitive.multiple_results else [out]
        env.update((v, x) for v, x in zip(eqn.outvars, outs) if not isinstance(v, core.DropVar))
    return [read(a) for a in jaxpr.outvars]
