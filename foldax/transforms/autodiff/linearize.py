"""Linearization of a Program at a point: its primal outputs, and a linear map of tangents.

The JVP interpretation of the Program is traced into one *joint* jaxpr (primals and tangents in,
primal outputs and tangent outputs out). JAX's partial evaluation splits it by data dependence
into a *known* part (the primal computation, which also emits residuals) and a *linear* part
(residuals and tangents in, tangents out). The known part is evaluated at once — bound, so an
outer trace records it; the linear part is what reverse mode transposes.

Only the differentiated inputs get tangents and only the selected outputs keep theirs, so
everything else is plain primal computation (activity analysis).

Example:
    >>> import jax.numpy as jnp, foldax
    >>> from foldax.transforms.core.trace import trace_program
    >>> prog = trace_program(lambda x: jnp.sum(jnp.sin(x)), (jnp.zeros(2),))
    >>> lin = linearize(prog, [jnp.zeros(2)], [True])
    >>> lin.transpose([1.0])
    [Array([1., 1.], dtype=float32)]
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import foldax.transforms.autodiff.transpose_control  # noqa: F401  (registers the control-flow rules)
from foldax._compat import (
    ClosedJaxpr,
    Jaxpr,
    dce_jaxpr,
    eval_jaxpr,
    jaxprs_in_params,
    partial_eval_jaxpr,
    partial_eval_jaxpr_custom,
    scan_p,
    trace_to_jaxpr,
)
from foldax.transforms.autodiff.forward import JVPInterpreter, is_differentiable
from foldax.transforms.autodiff.transpose import Cotangent, TransposeInterpreter
from foldax.transforms.core.program import Program


@dataclasses.dataclass
class Linearized:
    """A Program linearized at a point.

    Attributes:
        outputs: the Program's traced outputs (primal values).
        residuals: values the linear part needs from the primal computation.
        linear: ``(*residuals, *tangents) -> tangents`` of the outputs marked in ``has_tangent``.
        active: per variable input, whether it gets a tangent (differentiated, float/complex).
        tangent_avals: abstract values of the active inputs' tangents.
        has_tangent: per traced output, whether ``linear`` yields its tangent (else it is zero).
    """

    outputs: list
    residuals: list
    linear: ClosedJaxpr
    active: list[bool]
    tangent_avals: list
    has_tangent: list[bool]

    def transpose(
        self, cts: Sequence, basis: int | None = None, wanted: Sequence[bool] | None = None
    ) -> list:
        """One cotangent per variable input (``None`` for zero and for inputs without a
        tangent), given one per traced output (``None`` for zero). ``basis``: size of a leading
        batch axis of the cotangents. ``wanted``: per variable input, whether its cotangent is
        asked for (default all; the others are ``None`` and not computed)."""
        cts = [ct for ct, has in zip(cts, self.has_tangent) if has]
        args = list(self.residuals) + [Cotangent(a) for a in self.tangent_avals]
        asked = None
        if wanted is not None:
            asked = [False] * len(self.residuals) + [w for w, act in zip(wanted, self.active) if act]
        outs = TransposeInterpreter(basis).transpose(self.linear, args, cts, asked)[len(self.residuals) :]
        out = iter(
            outs if asked is None else [o if w else None for o, w in zip(outs, asked[len(self.residuals) :])]
        )
        return [next(out) if act else None for act in self.active]


def linearize(
    program: Program,
    variables: Sequence,
    differentiate: Sequence[bool],
    outputs: Sequence[bool] | None = None,
) -> Linearized:
    """Linearize ``program`` at ``variables`` (its variable inputs) with respect to the inputs
    marked in ``differentiate``, keeping the tangents of the traced outputs marked in
    ``outputs`` (default: all)."""
    in_avals = program.in_avals
    active = [bool(d) and is_differentiable(a) for d, a in zip(differentiate, in_avals)]
    tangent_avals = [a.to_tangent_aval() for a, act in zip(in_avals, active) if act]
    n_in, n_out = len(in_avals), len(program.out_avals)
    wanted = [True] * n_out if outputs is None else list(outputs)
    record: dict[str, list[bool]] = {}

    def joint(*arrays: Any) -> list:
        tangents = iter(arrays[n_in:])
        values = [(p, next(tangents) if act else None) for p, act in zip(arrays[:n_in], active)]
        outs = JVPInterpreter(linearize=True).run(program.jaxpr, *values)
        has = [w and t is not None for (_, t), w in zip(outs, wanted)]
        record["has"] = has
        return [p for p, _ in outs] + [t for (_, t), h in zip(outs, has) if h]

    jaxpr, _, consts = trace_to_jaxpr(joint, in_avals + tangent_avals, name=f"jvp({program.name})")
    has = record["has"]
    known, linear = _split(jaxpr, consts, n_in, len(tangent_avals), n_out, sum(has))
    outs = eval_jaxpr(known.jaxpr, known.consts, *variables)
    return Linearized(outs[:n_out], outs[n_out:], linear, active, tangent_avals, has)


def _split(
    jaxpr: Jaxpr, consts: list, n_primal: int, n_tangent: int, n_primal_out: int, n_tangent_out: int
) -> tuple[ClosedJaxpr, ClosedJaxpr]:
    """Known part ``primals -> (*primal outputs, *residuals)`` and linear part
    ``(*residuals, *tangents) -> tangent outputs``.

    JAX's jaxpr-to-jaxpr partial evaluation is used unless a ``scan`` is present: its rule
    there keeps loop-carried primal values in the linear scan, which then cannot be run
    backwards; the re-tracing partial evaluation gives a purely linear scan.
    """
    unknown_in = [False] * n_primal + [True] * n_tangent
    unknown_out = [False] * n_primal_out + [True] * n_tangent_out
    if _contains(jaxpr, scan_p):
        known, linear, _, _ = partial_eval_jaxpr(ClosedJaxpr(jaxpr, consts), unknown_in, unknown_out)
        return known, linear
    known, staged, _ = partial_eval_jaxpr_custom(jaxpr, unknown_in, unknown_out)
    # Outputs no one reads go (a jit's primal output left in the linear part, say): a call with
    # a primal output would be split in two when transposed, its primal half compiled alone.
    staged, _ = dce_jaxpr(staged, [True] * len(staged.outvars), instantiate=True)
    return ClosedJaxpr(known, consts), ClosedJaxpr(staged, consts)


def _contains(jaxpr: Jaxpr, primitive: Any) -> bool:
    return any(
        eqn.primitive is primitive or any(_contains(sub, primitive) for sub in jaxprs_in_params(eqn.params))
        for eqn in jaxpr.eqns
    )
