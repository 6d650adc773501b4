"""The trace and tracers ``foldax.vmap`` traces a function's element with.

``foldax.vmap`` traces one element of the mapped function to a jaxpr with JAX's staging trace,
then batches the jaxpr. Its trace and tracers are JAX's staging ones under the names of what
they are, ``BatchTrace`` and ``BatchTracer``, so the messages JAX builds from a tracer's class
(a leaked tracer, an ahead-of-time compiled function called under vmap, an escaped tracer) name
a BatchTracer, as under ``jax.vmap``; being subclasses, every ``isinstance`` check on JAX's
staging tracers keeps holding.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from foldax._compat.batch_tracing import BatchTrace
    >>> from foldax._compat.staging import trace_to_jaxpr
    >>> seen = []
    >>> def f(x):
    ...     seen.append(type(x).__name__)
    ...     return [jnp.sin(x)]
    >>> _ = trace_to_jaxpr(f, [jax.core.ShapedArray((), jnp.float32)], trace_type=BatchTrace)
    >>> seen
    ['BatchTracer']
"""

from __future__ import annotations

from typing import Any, Sequence

from jax._src import core, source_info_util
from jax._src.interpreters import partial_eval as pe

from foldax._compat.source_lines import line_outside_foldax


class BatchTracer(pe.DynamicJaxprTracer):
    """A tracer of ``foldax.vmap``: a staging tracer of one element of a mapped value.

    Its repr and origin message are in the words of JAX's ``BatchTracer``. An input shows, as
    under ``jax.vmap``, the type of the batched value it is an element of (``batched=``, its
    ``batch_dim`` in the verbose repr); the batched value itself does not exist while the element
    is traced, so it is not shown. An unmapped array input is a tracer too (``batched=`` its own
    type, ``batch_dim`` None), where ``jax.vmap`` hands the function the array itself. The
    result of an operation shows its element's aval only: whether and along which axis it is
    batched is decided by the batching rules, which run on the traced jaxpr after the function
    has returned. The line a tracer was created on is the user's: the operation's, or the
    ``vmap`` call's for an input.
    """

    __slots__ = ()  # JAX's layout: tracers of the staging trace are re-classed to this
    _trace: BatchTrace

    def _short_repr(self) -> str:
        batched = self._trace.batched_inputs.get(self.val)
        if batched is None:
            return f"VmapTracer(aval={self.aval})"
        return f"VmapTracer(aval={self.aval}, batched={batched[0]})"

    def _contents(self) -> Any:
        batched = self._trace.batched_inputs.get(self.val)
        return () if batched is None else [("batch_dim", batched[1])]

    def _origin_msg(self) -> str:
        line = self._line_info and line_outside_foldax(self._line_info)
        line = line or line_outside_foldax(self._trace.call_site)
        if line is None:
            return ""
        return f"\nThis BatchTracer with object id {id(self)} was created on line:\n  {line}"


# JAX's fast path finds a tracer's aval by its exact class
core.pytype_aval_mappings[BatchTracer] = core.pytype_aval_mappings[pe.DynamicJaxprTracer]


def _as_batch_tracer(tracer: Any, trace: BatchTrace) -> Any:
    """``tracer``, a staging tracer of ``trace``, re-classed to ``BatchTracer`` (same layout)."""
    if type(tracer) is pe.DynamicJaxprTracer and tracer._trace is trace:
        tracer.__class__ = BatchTracer
    return tracer


class BatchTrace(pe.DynamicJaxprTrace):
    """JAX's staging trace whose tracers are ``BatchTracer``\\ s.

    JAX makes a staging trace's tracers in ``new_arg`` (inputs), ``var_to_tracer`` (every
    equation's outputs: ``emit_eqn``/``make_eqn``, so primitives, staging rules and inlined
    calls), ``_new_const`` (constants: ``to_jaxpr_tracer``/``new_const``/``lift``) and
    ``inline_jaxpr_into_trace`` (literals), whose results pass through ``to_jaxpr_tracer``. Each
    is re-classed here; literals that an inlined call only feeds to its own equations stay JAX's
    class, and never reach the traced function.
    """

    __slots__ = ("call_site", "batched_inputs", "_inputs")

    def __init__(
        self,
        debug_info: Any,
        parent_trace: Any = None,
        lower: bool = False,
        auto_dce: bool = False,
        inputs: Sequence[tuple[Any, Any, int | None]] = (),
    ) -> None:
        """``inputs``: per input, in order, ``(element aval, batched value's aval, batch dim)``
        (the batch dim None for an unmapped input), as ``vmap`` maps its arguments."""
        super().__init__(debug_info, parent_trace=parent_trace, lower=lower, auto_dce=auto_dce)
        self.call_site = source_info_util.current()  # where the vmapped function was called
        self._inputs = iter(inputs)
        # an input tracer's jaxpr variable -> (batched value's aval, batch dim); variables, not
        # tracers, so that the trace holds no tracer of its own (the leak checker looks for them)
        self.batched_inputs: dict[Any, tuple[Any, int | None]] = {}

    def new_arg(self, aval: Any, source_info: Any) -> Any:
        tracer = _as_batch_tracer(super().new_arg(aval, source_info), self)
        element, batched, batch_dim = next(self._inputs, (None, None, None))
        if element is not None and (element.shape, element.dtype) == (aval.shape, aval.dtype):
            self.batched_inputs[tracer.val] = (batched, batch_dim)
        return tracer

    def var_to_tracer(self, var: Any, source_info: Any, parent: Any = None) -> Any:
        return _as_batch_tracer(super().var_to_tracer(var, source_info, parent), self)

    def _new_const(self, aval: Any, c: Any, source_info: Any) -> Any:
        return _as_batch_tracer(super()._new_const(aval, c, source_info), self)

    def to_jaxpr_tracer(self, x: Any, source_info: Any) -> Any:
        return _as_batch_tracer(super().to_jaxpr_tracer(x, source_info), self)
