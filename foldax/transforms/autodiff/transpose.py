"""Reverse mode: the transpose interpreter, which runs a linear jaxpr backwards.

``transpose(closed, args, cts_out)`` takes a jaxpr that is linear in some of its inputs (the
``Cotangent`` accumulators among ``args``; the other args are residuals, i.e. plain arrays) and
the cotangents of its outputs, and returns the cotangents of the linear inputs. It works in two
sweeps over the interpreter core:

1. forward: equations without a linear input are evaluated (bound, so an outer trace records
   them); an equation with one records itself on a tape and gets a fresh accumulator per output;
2. backward: the tape is walked in reverse; each equation's transpose rule maps the cotangents
   accumulated on its outputs to cotangents of its linear inputs, which are added up.

First-order transpose rules are JAX's registered ones (``ad.primitive_transposes`` and the
accumulator-style ``ad.fancy_transposes``); the rules for ``jit``, ``cond``, ``scan``, ``remat``
and ``while`` are foldax's (``transpose_control``). With ``basis=n`` every cotangent carries a
leading axis of size ``n`` (one cotangent per output basis vector, as ``jacrev`` needs) and each
first-order rule runs under ``jax.vmap`` — on that one rule.

Example:
    >>> import jax, jax.numpy as jnp
    >>> closed = jax.make_jaxpr(lambda r, t: jnp.sin(r) * t)(2.0, 1.0)  # linear in t
    >>> t = Cotangent(closed.in_avals[1])
    >>> _, ct = TransposeInterpreter().transpose(closed, [2.0, t], [1.0])
    >>> round(float(ct), 4)  # sin(2)
    0.9093
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Sequence

import jax.numpy as jnp

from foldax._compat import (
    ClosedJaxpr,
    JaxprEqn,
    UndefinedPrimal,
    ValAccum,
    Zero,
    add_jaxvals,
    closed_call_p,
    eqn_context,
    eqn_source_line,
    eval_jaxpr,
    fancy_transposes,
    jaxprs_in_params,
    new_var,
    partial_eval_jaxpr,
    primitive_transposes,
    trace_to_jaxpr,
    unknown_outputs,
    while_p,
)
from foldax.errors import MissingRuleError
from foldax.transforms.autodiff.basis import apply_linear_rule
from foldax.transforms.core.interpreter import Interpreter, bind_eqn

# rule(interp, eqn, invals (arrays or Cotangents), cts_out (None = zero)) -> cts_in (None = zero)
TransposeRule = Callable[["TransposeInterpreter", JaxprEqn, list, list], Sequence]


class Cotangent:
    """A linear value of the jaxpr being transposed; accumulates the cotangents sent to it."""

    __slots__ = ("aval", "value")

    def __init__(self, aval: Any) -> None:
        self.aval = aval
        self.value: Any = None  # None: zero so far

    def add(self, ct: Any) -> None:
        if ct is None or type(ct) is Zero:
            return
        self.value = ct if self.value is None else add_jaxvals(self.value, ct)

    def __repr__(self) -> str:
        return f"Cotangent({self.aval.str_short()})"


class TransposeInterpreter(Interpreter):
    """Transposes linear jaxprs (see the module docstring). ``basis``: cotangent batch size."""

    transformation = "transpose"
    generic_higher_order = False
    transpose_rules: ClassVar[dict[Any, TransposeRule]] = {}

    def __init__(self, basis: int | None = None) -> None:
        self.basis = basis
        self.tape: list[tuple[JaxprEqn, list, list]] = []

    @classmethod
    def register_transpose(cls, *primitives: Any) -> Callable[[TransposeRule], TransposeRule]:
        """Decorator registering ``rule(interp, eqn, invals, cts_out) -> cts_in`` (a list with
        one entry per input; ``None`` for zero or non-linear inputs)."""

        def decorate(rule: TransposeRule) -> TransposeRule:
            for p in primitives:
                cls.transpose_rules[p] = rule
            return rule

        return decorate

    def child(self) -> TransposeInterpreter:
        return TransposeInterpreter(self.basis)

    def body_cache_key(self) -> tuple:
        return (type(self), self.basis)

    # -- forward sweep ----------------------------------------------------------------------
    def default_rule(self, eqn: JaxprEqn, invals: list) -> list:
        linear = [type(x) is Cotangent for x in invals]
        if not any(linear):
            return bind_eqn(eqn, invals)
        if any(True for _ in jaxprs_in_params(eqn.params)):
            unknown = unknown_outputs(eqn, linear)
            # (a while loop with a linear output stays whole: its transpose rule refuses it)
            if not all(unknown) and not (eqn.primitive is while_p and any(unknown)):
                return self._split(eqn, invals, linear)
        outs = [Cotangent(v.aval) for v in eqn.outvars]
        self.tape.append((eqn, invals, outs))
        return outs

    def _split(self, eqn: JaxprEqn, invals: list, linear: list[bool]) -> list:
        """A higher-order equation with some non-linear outputs (a primal value recomputed in a
        remat body, a loop counter next to a linear carry): its non-linear part is evaluated
        now; its linear part goes on the tape as a call."""
        jaxpr, _, consts = trace_to_jaxpr(
            lambda *a: bind_eqn(eqn, a), [a.aval for a in eqn.invars], name=str(eqn.primitive)
        )
        known, lin, out_unknown, _ = partial_eval_jaxpr(ClosedJaxpr(jaxpr, consts), linear, False)
        values = eval_jaxpr(
            known.jaxpr, known.consts, *[x for x, is_lin in zip(invals, linear) if not is_lin]
        )
        n_known = out_unknown.count(False)
        known_outs, residuals = iter(values[:n_known]), values[n_known:]
        results = [Cotangent(v.aval) if u else next(known_outs) for v, u in zip(eqn.outvars, out_unknown)]
        call = eqn.replace(
            primitive=closed_call_p,
            params={"call_jaxpr": lin},
            invars=[new_var(a) for a in lin.in_avals],
            outvars=[new_var(a) for a in lin.out_avals],
        )
        self.tape.append(
            (
                call,
                list(residuals) + [x for x, is_lin in zip(invals, linear) if is_lin],
                [r for r in results if type(r) is Cotangent],
            )
        )
        return results

    # -- backward sweep ---------------------------------------------------------------------
    def transpose(
        self, closed: ClosedJaxpr, args: Sequence, cts_out: Sequence, wanted: Sequence[bool] | None = None
    ) -> list:
        """Cotangents of ``args`` (``None`` for residuals and zero cotangents) given those of
        the outputs (``None`` for zero). ``wanted``: per arg, whether its cotangent is asked for
        (default all); equations that only lead to unwanted ones are not transposed."""
        outs = self.run(closed, *args)
        for out, ct in zip(outs, cts_out):
            if type(out) is Cotangent:
                out.add(ct)
        tape, self.tape = self.tape, []
        if wanted is not None:
            tape = _leading_to([a for a, w in zip(args, wanted) if w and type(a) is Cotangent], tape)
        for eqn, invals, outvals in reversed(tape):
            cts = [o.value for o in outvals]
            if all(ct is None for ct in cts):
                continue
            rule = self.transpose_rules.get(eqn.primitive, jax_transpose_rule)
            with eqn_context(eqn):
                cts_in = rule(self, eqn, invals, cts)
            for x, ct in zip(invals, cts_in):
                if type(x) is Cotangent:
                    x.add(ct)
        return [a.value if type(a) is Cotangent else None for a in args]

    def zeros(self, aval: Any) -> Any:
        """A materialised zero cotangent for ``aval`` (with the basis axis, if any)."""
        aval = aval.to_ct_aval()
        shape = aval.shape if self.basis is None else (self.basis, *aval.shape)
        return jnp.zeros(shape, aval.dtype)

    def instantiate(self, ct: Any, aval: Any) -> Any:
        return self.zeros(aval) if ct is None or type(ct) is Zero else ct

    def apply(self, rule: Callable[[list], Sequence], cts: Sequence, avals: Sequence) -> list:
        """Run ``rule(cts with symbolic Zeros) -> cts_in``; with a basis, under ``jax.vmap``
        over the cotangents' leading axis. Returns ``None`` for zero cotangents."""
        zeros = [Zero(a.to_ct_aval()) if ct is None else None for ct, a in zip(cts, avals)]
        _, cts_in = apply_linear_rule(lambda given: ((), rule(given)), cts, zeros, self.basis)
        return cts_in


def _leading_to(wanted: Sequence[Cotangent], tape: list) -> list:
    """The taped equations whose transposition reaches a ``wanted`` cotangent: those with a
    linear input that is wanted or is the output of such an equation (in tape order, an
    equation's inputs come before it)."""
    needed = {id(c) for c in wanted}
    kept = []
    for entry in tape:
        _, invals, outvals = entry
        if any(id(x) in needed for x in invals if type(x) is Cotangent):
            needed.update(id(o) for o in outvals)
            kept.append(entry)
    return kept


def jax_transpose_rule(interp: TransposeInterpreter, eqn: JaxprEqn, invals: list, cts: list) -> list:
    """Transpose a first-order equation with JAX's registered rule for its primitive."""
    prim = eqn.primitive
    avals = [v.aval for v in eqn.outvars]
    rule = primitive_transposes.get(prim)
    if rule is not None:
        args = [UndefinedPrimal(x.aval) if type(x) is Cotangent else x for x in invals]

        def functional(cts: list) -> Sequence:
            out = rule(cts if prim.multiple_results else cts[0], *args, **eqn.params)
            return list(out) + [None] * (len(args) - len(out))
    elif prim in fancy_transposes:
        fancy = fancy_transposes[prim]

        def functional(cts: list) -> Sequence:
            accs = [ValAccum(x.aval.to_ct_aval()) if type(x) is Cotangent else x for x in invals]
            fancy(cts if prim.multiple_results else cts[0], *accs, **eqn.params)
            return [a.freeze() if isinstance(a, ValAccum) else None for a in accs]
    else:
        raise MissingRuleError(
            f"Transpose rule (for reverse-mode differentiation) for '{prim}' not implemented: the "
            f"primitive '{prim}' (used at {eqn_source_line(eqn)}) is applied to a value being "
            f"differentiated but has no transpose rule. Register one with JAX: `from jax.interpreters import ad; "
            f"ad.primitive_transposes[{prim}_p] = rule` with rule(ct, *args, **params) -> one "
            f"cotangent per arg (None for non-linear args), or a foldax rule with "
            f"`@foldax.transforms.autodiff.transpose.TransposeInterpreter.register_transpose({prim}_p)`. "
            f"Forward mode (jvp, jacfwd) needs only the JVP rule."
        )
    try:
        return interp.apply(functional, cts, avals)
    except NotImplementedError as e:
        if isinstance(e, MissingRuleError):
            raise
        raise MissingRuleError(
            f"reverse-mode differentiation: JAX's transpose rule for the primitive '{prim}' "
            f"(used at {eqn_source_line(eqn)}) does not cover this use: {e}"
        ) from e
