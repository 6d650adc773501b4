"""JAX's autodiff internals: the per-primitive rule tables, zeros and undefined primals, custom
derivatives, and cotangent accumulation.

Example:
    >>> from jax import lax
    >>> from foldax._compat.autodiff_rules import primitive_jvps, primitive_transposes
    >>> lax.sin_p in primitive_jvps and lax.neg_p in primitive_transposes
    True
"""

from __future__ import annotations

from typing import Any, Callable

from jax._src import ad_util as _ad_util, api_util, config, linear_util as lu
from jax._src.custom_derivatives import (
    SymbolicZero as SymbolicZero,
    custom_jvp_call_p as custom_jvp_call_p,
    custom_vjp_call_p as custom_vjp_call_p,
)
from jax._src.interpreters import ad

# JAX's registered per-primitive rules.
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

# Custom derivatives, cotangent accumulation.
CustomVJPException = ad.CustomVJPException  # custom_vjp closed over a value being differentiated
custom_lin_p = ad.custom_lin_p
ValAccum = ad.ValAccum
add_jaxvals = _ad_util.add_jaxvals
zeros_like_aval = _ad_util.zeros_like_aval
replace_internal_symbolic_zeros = _ad_util.replace_internal_symbolic_zeros
replace_rule_output_symbolic_zeros = _ad_util.replace_rule_output_symbolic_zeros


def wrap_fun(fun: Callable, name: str = "fun") -> Any:
    """``fun`` as a ``linear_util.WrappedFun`` (the form custom_jvp/custom_vjp subfuns take);
    its argument names are unknown (it takes flat arrays, any number of them)."""
    return lu.wrap_init(fun, debug_info=api_util.debug_info(name, fun, (), {}).with_unknown_names())
