"""JAX's jaxpr data types, and making, reading and evaluating jaxprs and their equations.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from foldax._compat.evaluation import eval_jaxpr
    >>> from foldax._compat.jaxpr_types import make_jaxpr_obj, new_eqn
    >>> jaxpr = jax.make_jaxpr(jnp.sin)(1.0).jaxpr
    >>> cos = new_eqn(jaxpr.eqns[0], primitive=jax.lax.cos_p)
    >>> cosine = make_jaxpr_obj(jaxpr.constvars, jaxpr.invars, jaxpr.outvars, [cos], jaxpr.debug_info)
    >>> [float(y) for y in eval_jaxpr(cosine, [], 0.0)]
    [1.0]
"""

from __future__ import annotations

from typing import Any, Sequence, cast

import numpy as np
from jax._src import core, literals, source_info_util

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


def typeof(x: Any) -> Any:
    """The abstract value (shape, dtype, weak type, sharding) of an array or tracer (typed Any:
    JAX annotates it as the AbstractValue base, which has none of those attributes)."""
    return core.typeof(x)


def array_aval(atom: Var | Literal) -> ShapedArray:
    """The abstract value (shape, dtype, weak type) of a jaxpr variable or literal that holds an
    array. A cast, no check: JAX annotates ``Var.aval`` as the ``AbstractValue`` base, which
    declares none of those attributes, though every array's aval is a ``ShapedArray``."""
    return cast(ShapedArray, atom.aval)


def is_tracer(x: Any) -> bool:
    return isinstance(x, core.Tracer)


def shaped_abstractify(x: Any) -> AbstractValue:
    """The abstract value of an array, NumPy array or Python scalar (weak-typed)."""
    return core.shaped_abstractify(x)


def new_var(aval: AbstractValue) -> Var:
    return core.Var(aval)


def new_literal(value: Any, aval: AbstractValue) -> Literal:
    """A jaxpr literal of ``value`` (a host scalar) typed ``aval``, weak type included: its value
    is a ``TypedNdArray`` carrying ``aval`` as JAX's own literals do, so a rule that reads it
    (``_pow_jvp_lhs``'s dtype promotion) sees a weakly typed Python scalar, not a strong one."""
    return core.Literal(host_constant(value, aval), aval)


_PYTHON_SCALAR_LITERALS = (literals.TypedInt, literals.TypedFloat, literals.TypedComplex, bool)


def is_python_scalar_literal(atom: Any) -> bool:
    """Whether ``atom`` is a jaxpr literal made from a Python scalar bound as an argument (JAX
    keeps those as ``TypedInt``/``TypedFloat``/``TypedComplex``/``bool``; NumPy constants and
    folded values are ``TypedNdArray`` s or arrays)."""
    return isinstance(atom, core.Literal) and isinstance(atom.val, _PYTHON_SCALAR_LITERALS)


def host_constant(value: Any, aval: Any) -> Any:
    """``value`` as JAX keeps a host constant of abstract value ``aval``: a NumPy value becomes
    a ``TypedNdArray`` of ``aval``'s dtype that keeps its weak type; other values (jax.Arrays,
    tracers) already carry their type and are returned unchanged."""
    if isinstance(value, (np.ndarray, np.generic, bool, int, float, complex)):
        return literals.TypedNdArray(np.asarray(value, dtype=aval.dtype), aval=aval)
    return value


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


def bind_params(eqn: JaxprEqn) -> dict:
    """The params a primitive's ``bind`` expects (jaxpr params turned into sub-functions)."""
    return eqn.primitive.get_bind_params(eqn.params)


def jaxprs_in_params(params: dict):
    """Every Jaxpr (open) found in an equation's params, one level deep."""
    return core.jaxprs_in_params(params)


def pp_jaxpr(jaxpr: ClosedJaxpr) -> str:
    return str(jaxpr)
