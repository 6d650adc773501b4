"""Folding while tracing: a primitive whose inputs are all constants is computed at once.

``trace_program`` traces with a trace that offers every primitive whose inputs are concrete
(NumPy arrays, Python scalars, literals, results of earlier folding) to ``FoldingPolicy``, which
computes it now, as JAX's ``ensure_compile_time_eval`` mode does, whichever library the user
called (NumPy, ``jnp``, ``lax``, ``jax.random``). So Python control flow on such values works and
the Program holds no equation for them. What the policy leaves alone is staged as usual:

* effectful primitives (``foldax.check``, callbacks, ...): their effect must happen at run time;
* primitives that blow a small input up into a large output (``broadcast_in_dim``, ``iota``,
  random bits, ...): XLA materialises those better than a stored constant (``passes`` uses the
  same threshold);
* nested ``jit`` calls are inlined, so their insides are folded primitive by primitive; except
  that a call folding meets often (a Python loop, the same function traced again) whose body
  computes with one primitive at most (``jnp``'s ufuncs, ``roll``, reshapes: ``whole_call``) is
  computed whole, as JAX's eager mode computes a jitted function, by one compiled call kept in
  ``eager``'s bounded cache: the same bits, without paying for the inlining each time.

Checks must still see what folding computes. ``foldax.checkify`` traces with an observer
(``observe``): a primitive it checks is still computed now, and an ``observed_p`` equation records
the computation (its primitive, parameters, constant inputs and source line) at that point of the
program, for the checkify interpreter to check in program order. A higher-order primitive with
checked primitives inside is left staged then (computing it whole would hide them).

Example:
    >>> import foldax, jax.numpy as jnp, numpy as np
    >>> def f(x, y):
    ...     z = jnp.sin(y ** 2)
    ...     return z * x if z > 1 else z / x
    >>> foldax.trace(f)(jnp.ones(2), np.float32(2.0)).num_equations
    1
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Sequence

import numpy as np

from foldax._compat import (
    NOT_FOLDED,
    Primitive,
    abstract_eval,
    evaluate_jaxpr_with,
    jit_p,
    make_eqn,
    new_var,
    register_source_exclusion,
    typeof,
)
from foldax.transforms.core.eager import evaluate_if_hot
from foldax.transforms.core.mesh import avals_need_devices, process_local
from foldax.transforms.core.numpy_eval import compute_now
from foldax.transforms.core.observe import (
    Observed,
    Observer,
    observe_effect,
    observed_by,
    observed_p,
    unobserved,
)
from foldax.transforms.core.passes import (
    EXPAND_MIN_SIZE,
    EXPAND_RATIO,
    checked_inside,
    inlinable_call,
    is_key,
)
from foldax.transforms.core.whole_call import computes_whole

register_source_exclusion(os.path.abspath(__file__))


class FoldingPolicy:
    """``policy(trace, primitive, args, params)``: the outputs of ``primitive`` on the concrete
    ``args`` computed now, or ``NOT_FOLDED`` to stage it (see the module docstring).

    ``observe(primitive)`` says which computations ``checkify`` must still see.
    """

    def __init__(self, observe: Observer | None = None) -> None:
        self.observe = observe

    def __call__(self, trace: Any, primitive: Primitive, args: Sequence, params: dict) -> Any:
        if _expands(args, params) or not all(map(process_local, args)):
            return NOT_FOLDED
        if inlinable_call(primitive, params):
            body = params["jaxpr" if primitive is jit_p else "call_jaxpr"]
            if primitive is jit_p and self._computes_whole(body, params):
                outs = evaluate_if_hot(primitive, args, params)  # as one compiled call, when hot
                if outs is not None:
                    return outs
            return evaluate_jaxpr_with(trace, body, args)
        if _has_effects(primitive, args, params):
            return NOT_FOLDED
        out_avals = abstract_eval(primitive, args, params)[0]
        if avals_need_devices(out_avals):
            return NOT_FOLDED  # resharding a constant onto the mesh: jit's lowering has the devices
        if any(is_key(typeof(a)) for a in args) or any(map(is_key, _as_list(out_avals))):
            return NOT_FOLDED  # keys are made and consumed when the program runs, as in JAX
        if self.observe is not None and checked_inside(params, self.observe):
            return NOT_FOLDED  # checkify checks its insides when it runs
        with unobserved():
            outs = compute_now(primitive, args, params)
        if self.observe is not None and self.observe(primitive):
            _record(trace, primitive, args, params, outs)
        return outs

    def _computes_whole(self, body: Any, params: dict) -> bool:
        """Whether a nested jit of ``body`` may be computed as one call (``whole_call``): also
        not when checkify must see a primitive inside it."""
        if not computes_whole(body):
            return False
        return self.observe is None or not checked_inside(params, self.observe)


_PURE: set = set()  # first-order primitives seen without effects


def _has_effects(primitive: Primitive, args: Sequence, params: dict) -> bool:
    if primitive in _PURE:
        return False
    _, effects = abstract_eval(primitive, args, params)
    if not effects and not any(_is_jaxpr(v) for v in params.values()):
        _PURE.add(primitive)
    return bool(effects)


def _as_list(avals: Any) -> list:
    return list(avals) if isinstance(avals, (list, tuple)) else [avals]


def _is_jaxpr(value: Any) -> bool:
    return (
        hasattr(value, "eqns")
        or hasattr(value, "jaxpr")
        or (type(value) is tuple and bool(value) and _is_jaxpr(value[0]))
    )


def _expands(args: Sequence, params: dict) -> bool:
    """Whether the output (``params['shape']``) is large and much larger than the inputs."""
    shape = params.get("shape")
    if not isinstance(shape, tuple):
        return False
    try:
        out = int(np.prod(shape, dtype=np.int64))
    except TypeError:  # symbolic sizes
        return False
    if out <= EXPAND_MIN_SIZE:
        return False
    return out > EXPAND_RATIO * max(1, sum(int(np.size(a)) for a in args))


def _record(trace: Any, primitive: Primitive, args: Sequence, params: dict, outs: Any) -> None:
    """Stage an ``observed_p`` equation for ``primitive(*args)`` (which gave ``outs``)."""
    results = outs if primitive.multiple_results else [outs]
    equation = make_eqn(
        [new_var(typeof(a)) for a in args],
        [new_var(typeof(o)) for o in results],
        primitive,
        params,
        source_info=trace.call_site,
    )
    trace.stage_constant(args, [], observed_p, {"equation": Observed(equation)}, {observe_effect})


def fold_while_tracing(observe: Observer | None) -> tuple[FoldingPolicy, Any]:
    """``(policy, context)``: the folding policy for one trace and the context to trace in (with
    an observer, it is ambient there, so nested traces observe too)."""
    context = observed_by(observe) if observe is not None else contextlib.nullcontext()
    return FoldingPolicy(observe), context
