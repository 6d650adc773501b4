"""The one place foldax imports JAX's private modules.

Everything foldax needs from ``jax._src`` or ``jax.interpreters`` is named here, so a JAX upgrade
touches one file. Tested against jax 0.10.x.

Example:
    >>> from foldax._compat import core
    >>> core.ClosedJaxpr.__name__
    'ClosedJaxpr'
"""

from __future__ import annotations

import contextlib
import functools
import os
from typing import Any, Callable, Sequence

import jax
import numpy as np
from jax._src import (
    api_util,
    config,
    core,
    dispatch,
    dtypes,
    linear_util as lu,
    sharding_impls,
    source_info_util,
    util as _util,
)
from jax._src.ad_checkpoint import remat_p
from jax._src.custom_derivatives import (
    SymbolicZero,
    custom_jvp_call_p,
    custom_vjp_call_p,
)
from jax._src.interpreters import ad, batching, mlir, partial_eval as pe
from jax._src.interpreters.pxla import batch_spec
from jax._src.lax.control_flow.conditionals import cond_p
from jax._src.lax.control_flow.loops import scan_p, while_p
from jax._src.pjit import _pjit_batcher_for_sharding, jit_p
from jax._src.shard_map import shard_map_p, used_axis_names
from jax._src.sharding_impls import UNSPECIFIED
from jax._src.tree_util import FlatTree

Jaxpr = core.Jaxpr
ClosedJaxpr = core.ClosedJaxpr
JaxprEqn = core.JaxprEqn
Var = core.Var
Literal = core.Literal
DropVar = core.DropVar
Tracer = core.Tracer
Token = core.Token
Primitive = core.Primitive
ShapedArray = core.ShapedArray
AbstractValue = core.AbstractValue
float0 = dtypes.float0


def primal_tangent_dtype(dtype: Any) -> Any:
    """JAX's tangent dtype of values of ``dtype``: the dtype itself for every inexact dtype (the
    ML dtypes bfloat16 and float8_* included), float0 for integers and booleans, and what a key
    type's rules say for extended dtypes."""
    return core.primal_dtype_to_tangent_dtype(dtype)


closed_call_p = core.closed_call_p
call_p = core.call_p

# Autodiff internals: JAX's registered per-primitive rules.
primitive_jvps = ad.primitive_jvps
primitive_transposes = ad.primitive_transposes
primitive_linearizations = ad.primitive_linearizations  # JAX's direct-linearize rules


def direct_linearize() -> bool:
    """Whether JAX linearizes primitives directly (``jax_use_direct_linearize``), so that a
    primitive's ``ad.primitive_linearizations`` rule serves reverse mode."""
    return bool(config.use_direct_linearize.value)


fancy_transposes = getattr(ad, "fancy_transposes", {})
Zero = ad.Zero
UndefinedPrimal = ad.UndefinedPrimal
instantiate_zeros = ad.instantiate_zeros
is_undefined_primal = ad.is_undefined_primal

# Batching internals.
primitive_batchers = batching.primitive_batchers
fancy_primitive_batchers = batching.fancy_primitive_batchers
not_mapped = None  # JAX 0.10 marks an unbatched value with bdim None


__all__ = [
    "api_util",
    "core",
    "dtypes",
    "lu",
    "source_info_util",
    "pe",
    "ad",
    "batching",
    "jit_p",
    "cond_p",
    "while_p",
    "scan_p",
    "remat_p",
    "custom_jvp_call_p",
    "custom_vjp_call_p",
    "closed_call_p",
    "call_p",
    "shard_map_p",
    "SymbolicZero",
    "UNSPECIFIED",
]


def typeof(x: Any) -> Any:
    """The abstract value (shape, dtype, weak type, sharding) of an array or tracer (typed Any:
    JAX annotates it as the AbstractValue base, which has none of those attributes)."""
    return core.typeof(x)


def is_tracer(x: Any) -> bool:
    return isinstance(x, core.Tracer)


def new_var(aval: AbstractValue) -> Var:
    return core.Var(aval)


def new_literal(value: Any, aval: AbstractValue) -> Literal:
    return core.Literal(value, aval)


def make_eqn(
    invars: Sequence[Any],
    outvars: Sequence[Var],
    primitive: Primitive,
    params: dict,
    effects: Any = frozenset(),
    source_info: Any = None,
) -> JaxprEqn:
    """A new equation attributed to ``source_info`` (default: the current source line)."""
    return core.new_jaxpr_eqn(
        list(invars), list(outvars), primitive, params, effects, source_info or source_info_util.current()
    )


def new_eqn(eqn: JaxprEqn, **changes: Any) -> JaxprEqn:
    """A copy of ``eqn`` with some of invars/outvars/primitive/params/effects replaced."""
    return eqn.replace(**changes)


def make_jaxpr_obj(
    constvars: Sequence[Var],
    invars: Sequence[Var],
    outvars: Sequence[Any],
    eqns: Sequence[JaxprEqn],
    debug_info: Any = None,
) -> Jaxpr:
    """A Jaxpr whose effects are the union of its equations' effects."""
    effects = core.join_effects(*(e.effects for e in eqns)) if eqns else core.no_effects
    return core.Jaxpr(constvars, invars, outvars, eqns, effects, debug_info)


def trace_to_jaxpr(
    fun: Callable,
    in_avals: Sequence[AbstractValue],
    name: str = "fun",
    arg_names: Sequence[str] | None = None,
    source: Callable | None = None,
) -> tuple[Jaxpr, list[AbstractValue], list]:
    """Trace the flat function ``fun(*arrays) -> list of arrays`` to an open jaxpr and its consts.

    ``source`` is the user function ``fun`` wraps: JAX's messages and the jaxpr's debug info
    name it (and ``arg_names``) instead of the wrapper. The returned jaxpr has constvars for the
    consts (concrete arrays or tracers of outer traces).
    """
    dbg = _debug_info(fun, in_avals, name, arg_names, source)
    wrapped = lu.wrap_init(fun, debug_info=dbg)
    jaxpr, out_avals, consts = pe.trace_to_jaxpr_dynamic(wrapped, list(in_avals))
    return jaxpr, list(out_avals), list(consts)


NOT_FOLDED = object()  # what a folding hook returns to let the primitive be staged
source_info_util.register_exclusion(__file__)  # equations staged here belong to the user's line


class _FoldingJaxprTrace(pe.DynamicJaxprTrace):
    """JAX's staging trace, except that a primitive whose inputs are all concrete (no tracer) is
    first offered to ``fold(trace, primitive, args, params)``, which computes it now or returns
    ``NOT_FOLDED`` (JAX's ``ensure_compile_time_eval`` mode, with foldax's policy)."""

    fold: Callable
    keep_source: bool = False  # whether ``call_site`` is recorded (for stage_constant)
    call_site: Any = None
    folding: bool = False  # inside a fold (an inlined jit body): keep the outer call site
    inner_sites: bool = False  # ... unless the outer call site is foldax's, not the user's

    def process_primitive(self, primitive, tracers, params, /):
        if not any(isinstance(x, core.Tracer) for x in tracers):
            if self.folding:
                if self.keep_source and self.inner_sites:  # an inlined body's own equation
                    self.call_site = source_info_util.current()
                out = self.fold(self, primitive, tracers, params)
            else:
                if self.keep_source:  # captured here: deeper, the user's frame is cut off
                    self.call_site = source_info_util.current()
                    # foldax called a jitted function itself (the traced function is a jit):
                    # the equations of its body carry the user's lines
                    self.inner_sites = _called_by_foldax(self.call_site)
                self.folding = True
                try:
                    out = self.fold(self, primitive, tracers, params)
                finally:
                    self.folding = False
            if out is not NOT_FOLDED:
                return out
        return super().process_primitive(primitive, tracers, params)

    def stage_value(self, val):  # jnp.asarray / jnp.array of a constant stays concrete
        if isinstance(val, core.Tracer):
            return super().stage_value(val)
        return core.eval_trace.stage_value(val)

    def process_custom_jvp_call(self, prim, fun, jvp, tracers, /, *, symbolic_zeros):
        if any(isinstance(x, core.Tracer) for x in tracers):
            return super().process_custom_jvp_call(prim, fun, jvp, tracers, symbolic_zeros=symbolic_zeros)
        with core.set_current_trace(self):  # constants: run the primal function, folding it
            return fun.call_wrapped(*tracers)

    def process_custom_vjp_call(self, prim, fun, fwd, bwd, tracers, /, *, out_trees, symbolic_zeros):
        if any(isinstance(x, core.Tracer) for x in tracers):
            return super().process_custom_vjp_call(
                prim, fun, fwd, bwd, tracers, out_trees=out_trees, symbolic_zeros=symbolic_zeros
            )
        with core.set_current_trace(self):
            return fun.call_wrapped(*tracers)

    def stage_constant(
        self, args: Sequence, out_avals: Sequence, primitive: Primitive, params: dict, effects: Any
    ) -> list:
        """Record an equation on concrete ``args`` (they become consts or literals), attributed
        to the call site of the primitive being folded."""
        info = self.call_site or source_info_util.current()
        tracers = [self.to_jaxpr_tracer(a, source_info=info) for a in args]
        return self.emit_eqn(tracers, list(out_avals), primitive, params, effects, source_info=info)


_FOLDAX_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _called_by_foldax(info: Any) -> bool:
    """Whether the innermost user frame of ``info`` is in foldax's own code."""
    frame = source_info_util.user_frame(info.traceback)
    return frame is not None and frame.file_name.startswith(_FOLDAX_DIR)


def folding_trace_to_jaxpr(
    fun: Callable,
    in_avals: Sequence[AbstractValue],
    fold: Callable,
    name: str = "fun",
    arg_names: Sequence[str] | None = None,
    source: Callable | None = None,
    keep_source: bool = False,
) -> tuple[Jaxpr, list, list]:
    """``trace_to_jaxpr`` where primitives on concrete inputs go to ``fold`` first (see
    ``_FoldingJaxprTrace``); mirrors ``pe.trace_to_jaxpr_dynamic``."""
    dbg = _debug_info(fun, in_avals, name, arg_names, source)
    wrapped = lu.wrap_init(fun, debug_info=dbg)
    trace = _FoldingJaxprTrace(dbg, parent_trace=core.trace_ctx.trace)
    trace.fold, trace.keep_source = fold, keep_source
    with core.ensure_no_leaks(trace), source_info_util.reset_name_stack(), pe.TracebackScope():
        info = source_info_util.current()
        in_tracers = [trace.new_arg(a, source_info=info) for a in in_avals]
        with core.set_current_trace(trace):
            ans = wrapped.call_wrapped(*in_tracers)
        pe._check_returned_jaxtypes(wrapped.debug_info, ans)
        ans = [dtypes.canonicalize_value(x) for x in ans]
        out_tracers = [trace.to_jaxpr_tracer(x, source_info=info) for x in ans]
        jaxpr, consts = trace.frame.to_jaxpr(trace, out_tracers, wrapped.debug_info, info)
        del trace, in_tracers, out_tracers, ans, wrapped
    return jaxpr, [v.aval for v in jaxpr.outvars], list(consts)


def _debug_info(
    fun: Callable, in_avals: Sequence, name: str, arg_names: Sequence[str] | None, source: Callable | None
) -> Any:
    if source is not None and arg_names is not None:  # no signature inspection needed
        return core.DebugInfo(
            "foldax", api_util.fun_sourceinfo(source), tuple(arg_names), core.initial_result_paths
        )
    dbg = api_util.debug_info(name, fun, list(in_avals), {})
    return dbg._replace(arg_names=tuple(arg_names)) if arg_names is not None else dbg


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
    from jax._src import array

    with core.set_current_trace(core.eval_trace):  # not staged by a trace that is current
        out = jax.device_put(np.asarray(value, dtype=aval.dtype))
    if out.dtype != aval.dtype:
        return None
    if aval.weak_type:
        out = array.ArrayImpl(
            aval.update(sharding=out.aval.sharding), out.sharding, out._arrays, committed=False
        )
    return out


def convert_constvars_jaxpr(jaxpr: Jaxpr) -> Jaxpr:
    """Move a jaxpr's constvars to the front of its invars."""
    return pe.convert_constvars_jaxpr(jaxpr)


def dce_jaxpr(
    jaxpr: Jaxpr, used_outputs: Sequence[bool], instantiate: bool | Sequence[bool]
) -> tuple[Jaxpr, list[bool]]:
    """JAX's dead-code elimination (respects effects and descends into sub-jaxprs)."""
    return pe.dce_jaxpr(jaxpr, list(used_outputs), instantiate=instantiate)


def partial_eval_jaxpr(jaxpr: ClosedJaxpr, unknowns: Sequence[bool], instantiate: Any):
    """JAX's partial evaluation into known and unknown jaxprs (used by reverse mode)."""
    return pe.partial_eval_jaxpr_nounits(jaxpr, list(unknowns), instantiate)


def bind_params(eqn: JaxprEqn) -> dict:
    """The params a primitive's ``bind`` expects (jaxpr params turned into sub-functions)."""
    return eqn.primitive.get_bind_params(eqn.params)


def eqn_context(eqn: JaxprEqn):
    """Context that attributes the ops bound for ``eqn`` to its source line and name stack (and
    restores its config context: compute type, mesh, ... when that differs from the current)."""
    info = eqn.source_info
    name_stack = source_info_util.current_name_stack()
    if info.name_stack.stack:
        name_stack = name_stack + info.name_stack
    user = source_info_util.user_context(info.traceback, name_stack=name_stack)
    if eqn.ctx is core.current_jaxpr_eqn_context():  # interned: identity means equal
        return user
    return _EqnContext(user, eqn.ctx.manager)


class _EqnContext:
    __slots__ = ("a", "b")

    def __init__(self, a, b):
        self.a, self.b = a, b

    def __enter__(self):
        self.a.__enter__()
        self.b.__enter__()

    def __exit__(self, *exc):
        self.b.__exit__(*exc)
        return self.a.__exit__(*exc)


def eqn_source_line(eqn: JaxprEqn) -> str:
    """``file:line (function)`` of the user code that produced ``eqn``, or ``'<unknown>'``."""
    frame = source_info_util.user_frame(eqn.source_info.traceback)
    if frame is None:
        return "<unknown>"
    return f"{frame.file_name}:{frame.start_line} ({frame.function_name})"


def eval_jaxpr(jaxpr: Jaxpr, consts: Sequence, *args: Any) -> list:
    return core.eval_jaxpr(jaxpr, consts, *args)


def jaxprs_in_params(params: dict):
    """Every Jaxpr (open) found in an equation's params, one level deep."""
    return core.jaxprs_in_params(params)


def pp_jaxpr(jaxpr: ClosedJaxpr) -> str:
    return str(jaxpr)


def eval_context():
    """Context in which binding a primitive computes it now, even inside an outer trace."""
    return core.eval_context()


def trace_context() -> tuple:
    """The JAX config values tracing depends on (JAX's own trace caches key on them)."""
    return config.trace_context()


def trace_context_names() -> tuple[str, ...]:
    """The names of the values in ``trace_context()`` (for cache-miss explanations)."""
    return tuple(config.trace_context_names())


def explaining_cache_misses() -> bool:
    """Whether ``jax_explain_cache_misses`` is on."""
    return bool(config.explain_cache_misses.value)


def exclude_from_user_frames(path: str) -> None:
    """Treat the files under ``path`` as JAX's own: JAX's source information and cache-miss
    explanations skip them (foldax.jit's machinery is not the user's code)."""
    source_info_util.register_exclusion(path)


def register_cache(cache: Any, for_what: str) -> None:
    """Register ``cache`` (anything with ``cache_clear()``) with JAX's cache management, so
    ``jax.clear_caches()`` clears it as it clears JAX's own caches. JAX keeps it weakly: the
    caller keeps it alive."""
    _util.register_cache(cache, for_what)


def shaped_abstractify(x: Any) -> AbstractValue:
    """The abstract value of an array, NumPy array or Python scalar (weak-typed)."""
    return core.shaped_abstractify(x)


# -- batching (issue 4) ----------------------------------------------------------------------
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


def broadcast_batch_axis(x: Any, size: int, axis: int, mesh_axis: Any) -> Any:
    """``x`` repeated ``size`` times along a new ``axis`` that is sharded like the mapped inputs
    (``mesh_axis``, an Explicit mesh axis, or None)."""
    return batching.broadcast(x, size, axis, mesh_axis)


def bind_shard_map(
    args: Sequence,
    body: Callable[..., tuple[list, tuple]],
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


def wrap_fun(fun: Callable, name: str = "fun") -> Any:
    """``fun`` as a ``linear_util.WrappedFun`` (the form custom_jvp/custom_vjp subfuns take)."""
    return lu.wrap_init(fun, debug_info=api_util.debug_info(name, fun, (), {}))


CustomVJPException = ad.CustomVJPException  # custom_vjp closed over a value being differentiated


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


# -- checks and random keys (issue 5) --------------------------------------------------------
from jax._src import (  # noqa: E402
    effects as _effects,
    random as _jax_random,
)
from jax._src.random import prng as _prng  # noqa: E402

Effect = _effects.Effect
random_bits_p = _prng.random_bits_p
random_split_p = _prng.random_split_p
random_fold_in_p = _prng.random_fold_in_p
random_seed_p = _prng.random_seed_p
random_wrap_p = _prng.random_wrap_p
random_unwrap_p = _prng.random_unwrap_p
random_clone_p = _jax_random.random_clone_p
random_gamma_p = _jax_random.random_gamma_p


def allow_effect(effect_type: type) -> None:
    """Let equations with effects of ``effect_type`` be lowered and appear inside control flow,
    custom derivatives and remat (like checkify's error effect)."""
    for registry in (
        _effects.lowerable_effects,
        _effects.control_flow_allowed_effects,
        _effects.custom_derivatives_allowed_effects,
        _effects.remat_allowed_effects,
    ):
        registry.add_type(effect_type)


def trace_context_state(name: str) -> Any:
    """A thread-local value (default ``None``) that is part of JAX's trace context and jit key:
    ``jax.jit`` (and the programs ``foldax.jit`` keeps per trace context) trace again when it
    differs. ``state.value`` reads it; ``state.swap_local(v)`` sets it and returns the previous
    value, which ``state.set_local(previous)`` restores."""
    return config.config_ext.Config(name, None, include_in_jit_key=True, include_in_trace_context=True)


def register_lowering(primitive: Primitive, rule: Callable) -> None:
    mlir.register_lowering(primitive, rule)


def lower_fun(fun: Callable, multiple_results: bool) -> Callable:
    """A lowering rule that lowers ``fun`` (written with jax.numpy/lax) in place of a primitive."""
    return mlir.lower_fun(fun, multiple_results=multiple_results)


def split_keys(keys: Any, shape: tuple) -> Any:
    """``shape`` new keys per key of ``keys`` (any shape): result shape ``keys.shape + shape``."""
    return _prng.random_split(keys, shape)


def fold_in_keys(keys: Any, data: Any) -> Any:
    """Elementwise ``fold_in`` of a key array (any shape) with uint32 ``data``."""
    return _prng.random_fold_in(keys, data)


def register_source_exclusion(path: str) -> None:
    """Source lines reported for equations skip frames in ``path`` (a foldax wrapper module),
    pointing at the user's call instead."""
    source_info_util.register_exclusion(path)


# -- autodiff (issue 3): custom derivatives, cotangent accumulation, partial evaluation ---------
from jax._src import ad_util as _ad_util  # noqa: E402

custom_lin_p = ad.custom_lin_p
ValAccum = ad.ValAccum
add_jaxvals = _ad_util.add_jaxvals
zeros_like_aval = _ad_util.zeros_like_aval
replace_internal_symbolic_zeros = _ad_util.replace_internal_symbolic_zeros
replace_rule_output_symbolic_zeros = _ad_util.replace_rule_output_symbolic_zeros


def partial_eval_jaxpr_custom(
    jaxpr: Jaxpr, in_unknowns: Sequence[bool], out_unknowns: Sequence[bool]
) -> tuple[Jaxpr, Jaxpr, int]:
    """JAX's jaxpr-to-jaxpr partial evaluation, saving every residual (no re-tracing).

    Returns ``(known, staged, num_residuals)``: ``known`` maps the known inputs to the known
    outputs followed by the residuals; ``staged`` maps the residuals followed by the unknown
    inputs to the outputs marked in ``out_unknowns``. Both keep ``jaxpr``'s constvars.
    """
    known, staged, _, _, num_res = pe.partial_eval_jaxpr_custom(
        jaxpr,
        list(in_unknowns),
        list(in_unknowns),
        list(out_unknowns),
        list(out_unknowns),
        pe.everything_saveable,
    )
    # the staged jaxpr may also recompute known outputs of higher-order equations: keep only
    # the requested ones (all available there, as they were ensured instantiated)
    staged = staged.replace(outvars=[v for v, u in zip(jaxpr.outvars, out_unknowns) if u])
    return known, staged, num_res


def convert_element_type(x: Any, dtype: Any, weak_type: bool) -> Any:
    """``x`` as ``dtype``, weakly typed or not (as JAX gives Jacobian blocks the input's type)."""
    from jax._src.lax import lax as _lax

    return _lax._convert_element_type(x, dtype, weak_type)


def unknown_outputs(eqn: JaxprEqn, unknown_in: Sequence[bool]) -> list[bool]:
    """Which outputs of ``eqn`` depend on its inputs marked unknown, by JAX's partial-evaluation
    rule for the primitive (a first-order primitive: all outputs if any input)."""
    rule = pe.partial_eval_jaxpr_custom_rules.get(eqn.primitive)
    if rule is None or not any(unknown_in):
        return [any(unknown_in)] * len(eqn.outvars)
    _, _, unknown_out, _, _ = rule(pe.everything_saveable, list(unknown_in), [True] * len(unknown_in), eqn)
    return list(unknown_out)


# -- device meshes (issue 16) ---------------------------------------------------------------------
def concrete_mesh() -> Any:
    """The concrete device mesh in context (``jax.set_mesh``), or ``None``."""
    from jax._src.mesh import get_concrete_mesh

    mesh = get_concrete_mesh()
    return None if mesh.empty else mesh


def use_concrete_mesh(mesh: Any):
    """Context making ``mesh`` the concrete mesh (the devices behind abstract-mesh shardings)
    without changing the abstract mesh tracing sees, as ``jax.jit`` does when it lowers."""
    return sharding_impls._internal_use_concrete_mesh(mesh)


# -- JAX's checkify (issue 12): its check primitive and exception types, so that
# ``jax.experimental.checkify.check``/``debug_check``/``check_error`` are functionalised by
# ``foldax.checkify`` and foldax's error value is one JAX's ``check_error`` accepts --------------
from jax._src import checkify as _jax_checkify  # noqa: E402

jax_check_p = _jax_checkify.check_p
JaxException = _jax_checkify.JaxException
ErrorEffect = _jax_checkify.ErrorEffect
FailedCheckError = _jax_checkify.FailedCheckError
NaNError = _jax_checkify.NaNError
DivisionByZeroError = _jax_checkify.DivisionByZeroError
OOBError = _jax_checkify.OOBError


def current_traceback() -> Any:
    """The traceback JAX's checkify stores with an error (``JaxException.traceback_info``)."""
    return source_info_util.current().traceback


# -- jit's surface (foldax.transforms.jit) ---------------------------------------------------------
def jit_disabled() -> bool:
    """Whether ``jax.disable_jit()`` is in effect (jitted functions then run their Python body)."""
    return bool(config.disable_jit.value)


def resolve_jit_argnums(
    fun: Callable,
    signature: Any,
    donate_argnums: Any,
    donate_argnames: Any,
    static_argnums: Any,
    static_argnames: Any,
) -> tuple[tuple, tuple, tuple, tuple]:
    """``jax.jit``'s completion and validation of argnums/argnames: names inferred from numbers
    and back, checked against the signature. Returns ``(donate_argnums, donate_argnames,
    static_argnums, static_argnames)``; raises JAX's ``ValueError`` for a bad specification."""
    return api_util.resolve_argnums(
        fun, signature, donate_argnums, donate_argnames, static_argnums, static_argnames
    )


def cotangent_type_error(cotangent: Any, aval: AbstractValue) -> str | None:
    """JAX's own message (``jax.vjp``'s check) when ``cotangent`` cannot be the cotangent of an
    output of type ``aval`` (wrong shape or dtype, or not a JAX type), else ``None``."""
    from jax._src.api import _vjp_check_ct_avals

    try:
        _vjp_check_ct_avals([cotangent], [aval])
    except (TypeError, ValueError) as e:
        return str(e)
    return None


def vjp_too_many_args_message(name: str, count: int) -> str:
    """JAX's message for a pullback of ``jax.vjp`` (of function ``name``) called with ``count``
    arguments instead of one cotangent."""
    from jax._src.api import _vjp_too_many_args

    return _vjp_too_many_args(name, count).strip()


def vmap_axis_size_message(
    fun: Callable, in_tree: Any, leaves: Sequence, axes: Sequence, axis_size: int | None
) -> str | None:
    """JAX's own message (``jax.vmap``'s check) when the mapped axes of a call disagree in size
    or nothing is mapped without ``axis_size``; ``None`` when JAX finds nothing wrong.
    ``in_tree`` is the tree of ``(args, kwargs)`` and ``leaves``/``axes`` are per leaf."""
    from jax._src.api import _mapped_axis_size

    try:
        _mapped_axis_size(fun, in_tree, list(leaves), list(axes), "vmap", axis_size=axis_size)
    except ValueError as e:
        return str(e)
    return None


def vmap_in_axes_prefix_message(in_axes: Any, in_tree: Any) -> str | None:
    """JAX's own message when ``in_axes`` is not a tree prefix of the positional arguments
    (``in_tree`` is the tree of ``(args, kwargs)``), else ``None``."""
    try:
        api_util.flatten_axes("vmap in_axes", in_tree, (in_axes, 0), kws=True)
    except ValueError as e:
        return str(e)
    return None


def escaped_tracer(values: Sequence) -> Any:
    """The first of ``values`` that is a tracer of a trace that has ended (it escaped its
    transformation through a side effect), or ``None``. Outside any transformation every
    tracer has escaped (JAX finds them so: evaluating one raises); inside, only those of
    traces JAX has invalidated are known to have."""
    top_level = isinstance(core.trace_ctx.trace, core.EvalTrace)
    for x in values:
        if isinstance(x, core.Tracer) and (top_level or not x._trace.is_valid()):
            return x
    return None


def escaped_tracer_message(tracer: Any) -> str:
    """JAX's message for an escaped tracer (``UnexpectedTracerError``)."""
    return str(core.escaped_tracer_error(tracer))
