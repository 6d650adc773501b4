"""What a primitive of foldax's own needs from JAX: the effect types it may carry (allowed in
control flow, custom derivatives and remat) and its lowering rule.

Example:
    >>> from foldax._compat.new_primitives import lower_fun
    >>> import jax.numpy as jnp
    >>> callable(lower_fun(lambda x: [jnp.sin(x)], multiple_results=True))
    True
"""

from __future__ import annotations

from typing import Callable

from jax._src import effects as _effects
from jax._src.interpreters import mlir

from foldax._compat.jaxpr_types import Primitive

Effect = _effects.Effect


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


def register_lowering(primitive: Primitive, rule: Callable) -> None:
    mlir.register_lowering(primitive, rule)


def lower_fun(fun: Callable, multiple_results: bool) -> Callable:
    """A lowering rule that lowers ``fun`` (written with jax.numpy/lax) in place of a primitive."""
    return mlir.lower_fun(fun, multiple_results=multiple_results)
