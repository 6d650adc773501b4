"""JAX's jaxpr-to-jaxpr partial evaluation and dead-code elimination (reverse mode's split of
a jaxpr into what is known now and what waits for cotangents).

Example:
    >>> import jax, jax.numpy as jnp
    >>> from foldax._compat.partial_evaluation import dce_jaxpr
    >>> jaxpr = jax.make_jaxpr(lambda x: (jnp.sin(x), jnp.cos(x)))(1.0).jaxpr
    >>> kept, used_inputs = dce_jaxpr(jaxpr, [True, False], instantiate=False)
    >>> [str(e.primitive) for e in kept.eqns], used_inputs
    (['sin'], [True])
"""

from __future__ import annotations

from typing import Any, Sequence

from jax._src.interpreters import partial_eval as pe

from foldax._compat.jaxpr_types import ClosedJaxpr, Jaxpr, JaxprEqn


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


def unknown_outputs(eqn: JaxprEqn, unknown_in: Sequence[bool]) -> list[bool]:
    """Which outputs of ``eqn`` depend on its inputs marked unknown, by JAX's partial-evaluation
    rule for the primitive (a first-order primitive: all outputs if any input)."""
    rule = pe.partial_eval_jaxpr_custom_rules.get(eqn.primitive)
    if rule is None or not any(unknown_in):
        return [any(unknown_in)] * len(eqn.outvars)
    _, _, unknown_out, _, _ = rule(pe.everything_saveable, list(unknown_in), [True] * len(unknown_in), eqn)
    return list(unknown_out)
