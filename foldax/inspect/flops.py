"""FLOP estimates of single equations, one rule per primitive.

The model (the one XLA's cost analysis uses for these primitives):

* ``dot_general``: ``2 * output size * contracted size``; ``conv_general_dilated``:
  ``2 * output size * input features per group * kernel window`` (padding counted as work);
* reductions (``reduce_sum``, ``reduce_max``, ``argmax``, ...): ``input size - output size``;
* ``integer_pow``: the multiplications of exponentiation by squaring, per element;
* data movement and bookkeeping (reshape, broadcast, slice, gather, transpose, select,
  convert, iota, copy, ...): 0;
* every other first-order primitive (arithmetic, comparisons, transcendentals, cumulative
  sums, sorts, ...): 1 per output element.

Higher-order primitives are not counted here: their bodies are (see ``figures``). Register a
rule for another primitive with ``register_flops``.

Example:
    >>> import jax, jax.numpy as jnp
    >>> closed = jax.make_jaxpr(jnp.dot)(jnp.ones((8, 16)), jnp.ones((16, 4)))
    >>> equation_flops(closed.jaxpr.eqns[0])
    1024
"""

from __future__ import annotations

import math
from typing import Callable

from foldax._compat import JaxprEqn

FlopRule = Callable[[JaxprEqn], int]
FLOP_RULES: dict[str, FlopRule] = {}

# Primitives that move, reinterpret or select data, or only carry structure: no arithmetic.
MOVEMENT = frozenset(
    [
        "reshape",
        "broadcast_in_dim",
        "squeeze",
        "expand_dims",
        "transpose",
        "slice",
        "dynamic_slice",
        "dynamic_update_slice",
        "gather",
        "concatenate",
        "pad",
        "rev",
        "select_n",
        "convert_element_type",
        "copy",
        "copy_p",
        "iota",
        "bitcast_convert_type",
        "device_put",
        "sharding_constraint",
        "split",
        "tile",
        "stack",
        "unstack",
        "real",
        "imag",
        "optimization_barrier",
        "stop_gradient",
        "random_bits",
        "random_seed",
        "random_wrap",
        "random_unwrap",
        "random_fold_in",
        "random_split",
        "threefry2x32",
        "pvary",
        "mesh_cast",
        "reshard",
        "axis_index",
        "create_token",
        "after_all",
        "full_like",
        "empty",
    ]
)


def register_flops(*primitive_names: str) -> Callable[[FlopRule], FlopRule]:
    """Decorator registering ``rule(eqn) -> flops`` for primitives given by name.

    Arguments:
        *primitive_names: the names of the primitives (``eqn.primitive.name``) the rule counts.

    Returns:
        A decorator that registers the rule and returns it unchanged (a later rule for the
        same name replaces it).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from foldax.inspect import equation_flops, register_flops
        >>> from foldax.inspect.flops import FLOP_RULES
        >>> @register_flops("sin")
        ... def sin_flops(eqn):
        ...     return 20 * eqn.outvars[0].aval.size
        >>> equation_flops(jax.make_jaxpr(jnp.sin)(jnp.ones(3)).eqns[0])
        60
        >>> del FLOP_RULES["sin"]
    """

    def decorate(rule: FlopRule) -> FlopRule:
        for name in primitive_names:
            FLOP_RULES[name] = rule
        return rule

    return decorate


def _shape(aval: object) -> tuple[int, ...]:
    """An aval's shape (JAX types ``Var.aval`` as the shapeless base class); ``()`` if none."""
    return tuple(getattr(aval, "shape", ()))


def _size(aval: object) -> int:
    return int(math.prod(_shape(aval)))


def _out_size(eqn: JaxprEqn) -> int:
    return sum(_size(v.aval) for v in eqn.outvars)


def equation_flops(eqn: JaxprEqn) -> int:
    """The FLOP estimate of one first-order equation (see the module docstring).

    Arguments:
        eqn: a jaxpr equation.

    Returns:
        Its registered rule's count (``register_flops``); 0 for data movement; else one per
        output element.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from foldax.inspect import equation_flops
        >>> eqn = jax.make_jaxpr(jnp.dot)(jnp.ones((2, 3)), jnp.ones(3)).eqns[0]
        >>> equation_flops(eqn)
        12
    """
    name = eqn.primitive.name
    rule = FLOP_RULES.get(name)
    if rule is not None:
        return int(rule(eqn))
    if name in MOVEMENT:
        return 0
    return _out_size(eqn)


@register_flops("dot_general")
def _dot_general(eqn: JaxprEqn) -> int:
    (lhs_contract, _), _ = eqn.params["dimension_numbers"]
    shape = _shape(eqn.invars[0].aval)
    contracted = math.prod(shape[d] for d in lhs_contract)
    return 2 * _out_size(eqn) * contracted


@register_flops("conv_general_dilated")
def _conv(eqn: JaxprEqn) -> int:
    rhs_spec = eqn.params["dimension_numbers"].rhs_spec  # (out feature, in feature, *spatial)
    rhs = _shape(eqn.invars[1].aval)
    window = math.prod(rhs[d] for d in rhs_spec[2:])
    return 2 * _out_size(eqn) * rhs[rhs_spec[1]] * window


@register_flops(
    "reduce_sum",
    "reduce_max",
    "reduce_min",
    "reduce_prod",
    "reduce_and",
    "reduce_or",
    "reduce_xor",
    "argmax",
    "argmin",
)
def _reduction(eqn: JaxprEqn) -> int:
    return max(0, sum(_size(a.aval) for a in eqn.invars) - _out_size(eqn))


@register_flops("integer_pow")
def _integer_pow(eqn: JaxprEqn) -> int:
    y = abs(int(eqn.params["y"]))
    multiplies = 0 if y < 2 else y.bit_length() - 1 + bin(y).count("1") - 1
    return _out_size(eqn) * (multiplies + (eqn.params["y"] < 0))
