"""Tracing a Python function to a jaxpr: JAX's staging trace, and foldax's folding variant that
offers each primitive on concrete inputs to a folding hook before staging it.

Example:
    >>> import jax.numpy as jnp
    >>> from foldax._compat.jaxpr_types import ShapedArray
    >>> from foldax._compat.staging import trace_to_jaxpr
    >>> jaxpr, out_avals, consts = trace_to_jaxpr(lambda x: [jnp.sin(x)], [ShapedArray((), jnp.float32)])
    >>> [str(e.primitive) for e in jaxpr.eqns], consts
    (['sin'], [])
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from jax._src import api_util, core, dtypes, linear_util as lu, source_info_util
from jax._src.interpreters import partial_eval as pe

from foldax._compat.jaxpr_types import AbstractValue, Jaxpr, Primitive
from foldax._compat.source_lines import FOLDAX_DIR


def trace_to_jaxpr(
    fun: Callable,
    in_avals: Sequence[AbstractValue],
    name: str = "fun",
    arg_names: Sequence[str] | None = None,
    source: Callable | None = None,
    traced_for: str = "jit",
    trace_type: Callable[..., pe.DynamicJaxprTrace] | None = None,
) -> tuple[Jaxpr, list[AbstractValue], list]:
    """Trace the flat function ``fun(*arrays) -> list of arrays`` to an open jaxpr and its consts.

    ``source`` is the user function ``fun`` wraps: JAX's messages and the jaxpr's debug info
    name it (and ``arg_names``) instead of the wrapper, traced for ``traced_for`` (JAX's name of
    the transformation: "... while tracing the function f at file:line for jit"). The returned
    jaxpr has constvars for the consts (concrete arrays or tracers of outer traces).
    ``trace_type``, a subclass of JAX's staging trace (``batch_tracing.BatchTrace``) or a function
    making one from JAX's arguments, traces instead of JAX's own.
    """
    dbg = _debug_info(fun, in_avals, name, arg_names, source, traced_for)
    wrapped = lu.wrap_init(fun, debug_info=dbg)
    if trace_type is None:
        jaxpr, out_avals, consts = pe.trace_to_jaxpr_dynamic(wrapped, list(in_avals))
        return jaxpr, list(out_avals), list(consts)
    return _trace_with(trace_type(dbg, parent_trace=core.trace_ctx.trace), wrapped, in_avals)


NOT_FOLDED = object()  # what a folding hook returns to let the primitive be staged


class _FoldingJaxprTrace(pe.DynamicJaxprTrace):
    """JAX's staging trace, except that a primitive whose inputs are all concrete (no tracer) is
    first offered to ``fold(trace, primitive, args, params)``, which computes it now or returns
    ``NOT_FOLDED`` (JAX's ``ensure_compile_time_eval`` mode, with foldax's policy)."""

    fold: Callable
    keep_source: bool = False  # whether ``call_site`` is recorded (for stage_constant)
    call_site: Any = None
    folding: bool = False  # inside a fold (an inlined jit body): keep the outer call site
    inner_sites: bool = False  # ... unless the outer call site is foldax's, not the user's

    def __repr__(self) -> str:
        """JAX's staging trace's name (a JAX trace presents itself by its class name, as in the
        tracer-leak message "Leaked trace DynamicJaxprTrace"): folding is foldax's policy inside
        that trace, not another kind of trace, and users see the name JAX's jit shows."""
        return pe.DynamicJaxprTrace.__name__

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


def _called_by_foldax(info: Any) -> bool:
    """Whether the innermost user frame of ``info`` is in foldax's own code."""
    frame = source_info_util.user_frame(info.traceback)
    return frame is not None and frame.file_name.startswith(FOLDAX_DIR)


def folding_trace_to_jaxpr(
    fun: Callable,
    in_avals: Sequence[AbstractValue],
    fold: Callable,
    name: str = "fun",
    arg_names: Sequence[str] | None = None,
    source: Callable | None = None,
    keep_source: bool = False,
    traced_for: str = "jit",
) -> tuple[Jaxpr, list, list]:
    """``trace_to_jaxpr`` where primitives on concrete inputs go to ``fold`` first (see
    ``_FoldingJaxprTrace``); mirrors ``pe.trace_to_jaxpr_dynamic``."""
    dbg = _debug_info(fun, in_avals, name, arg_names, source, traced_for)
    wrapped = lu.wrap_init(fun, debug_info=dbg)
    trace = _FoldingJaxprTrace(dbg, parent_trace=core.trace_ctx.trace)
    trace.fold, trace.keep_source = fold, keep_source
    return _trace_with(trace, wrapped, in_avals)


def _trace_with(
    trace: pe.DynamicJaxprTrace, wrapped: lu.WrappedFun, in_avals: Sequence[AbstractValue]
) -> tuple[Jaxpr, list, list]:
    """Trace ``wrapped`` on ``in_avals`` with ``trace``, a fresh staging trace (JAX's
    ``pe.trace_to_jaxpr_dynamic`` with a given trace)."""
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


def function_source_info(fun: Callable) -> str:
    """How JAX's messages name a function: ``'f at /path/file.py:12'`` (its debug info's
    ``func_src_info``)."""
    return api_util.fun_sourceinfo(fun)


def _debug_info(
    fun: Callable,
    in_avals: Sequence,
    name: str,
    arg_names: Sequence[str] | None,
    source: Callable | None,
    traced_for: str,
) -> Any:
    if source is not None and arg_names is not None:  # no signature inspection needed
        return core.DebugInfo(
            traced_for, api_util.fun_sourceinfo(source), tuple(arg_names), core.initial_result_paths
        )
    dbg = api_util.debug_info(name, fun, list(in_avals), {})
    return dbg._replace(arg_names=tuple(arg_names)) if arg_names is not None else dbg
