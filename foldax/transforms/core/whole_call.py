"""Which nested ``jit`` calls on constants folding may compute whole, as one compiled call.

Folding inlines a nested ``jit`` whose inputs are all constants and computes its equations one by
one (NumPy for data movement and exact arithmetic, XLA per primitive otherwise), so a trace at a
new shape compiles nothing for them. A trace that folds the same ``jnp`` operations over and over
(a Python loop, the same function traced again) pays for that inlining each time, where JAX's
eager mode computes a jitted function whole: one executable per function and input types, called
at C++ speed. ``eager.evaluate_if_hot`` does so once the same call has been folded often enough.

Which way a call was computed must not show in its result, so a call is computed whole only when
its body, nested calls included, computes with one primitive at most and otherwise only moves
data or converts it elementwise (slices, concatenation, reshapes, broadcasts, conversions: each
result element is the same whether XLA fuses them with the computing primitive or not), as
``jnp``'s ufuncs, ``roll``, indexing and reshaping functions are; and only when inlining would
fold every equation of it: no effects, no PRNG keys, no equation or call that expands a small
input into a large output, no output sharded over devices not known yet.

Example:
    >>> import jax, jax.numpy as jnp
    >>> body = jax.make_jaxpr(lambda x: jnp.roll(x, 1) * 2 + 1)(jnp.ones(3))
    >>> computes_whole(body.eqns[0].params["jaxpr"]), computes_whole(body)
    (True, False)
"""

from __future__ import annotations

from typing import Any

from foldax._compat import ClosedJaxpr, Jaxpr, weakref_cache
from foldax.transforms.core.numpy_eval import NUMPY_RULES
from foldax.transforms.core.passes import EXPAND_MIN_SIZE, EXPAND_RATIO, foldable, inlinable_call

_MOVING = frozenset(NUMPY_RULES)  # they move or convert elements: no arithmetic


# held weakly: a body and the constants it closes over are not kept alive by this answer
@weakref_cache(maxsize=1024)
def computes_whole(closed: ClosedJaxpr) -> bool:
    """Whether a nested call of ``closed`` on constants may be computed as one compiled call
    (see the module docstring).

    Arguments:
        closed: the body of a plain nested ``jit`` (``passes.inlinable_call``).

    Returns:
        ``True`` if computing it whole gives what folding its equations one by one gives.
    """
    computing = _computing_equations(closed.jaxpr)
    if computing is None or computing > 1 or not closed.jaxpr.eqns:
        return False
    outs = sum(_size(v.aval) for v in closed.jaxpr.outvars)
    ins = sum(_size(v.aval) for v in closed.jaxpr.invars)
    return outs <= EXPAND_MIN_SIZE or outs <= EXPAND_RATIO * max(1, ins)


def _computing_equations(jaxpr: Jaxpr) -> int | None:
    """How many equations of ``jaxpr`` (nested calls included) compute rather than move data;
    ``None`` if one of them would not be folded or is not a plain call or first-order."""
    count = 0
    for eqn in jaxpr.eqns:
        if not foldable(eqn):
            return None
        if inlinable_call(eqn.primitive, eqn.params) and "jaxpr" in eqn.params:
            inner = _computing_equations(eqn.params["jaxpr"].jaxpr)
            if inner is None:
                return None
            count += inner
        elif any(_holds_jaxpr(v) for v in eqn.params.values()):
            return None
        elif eqn.primitive not in _MOVING:
            count += 1
    return count


def _holds_jaxpr(value: Any) -> bool:
    return isinstance(value, (Jaxpr, ClosedJaxpr)) or (
        isinstance(value, tuple) and any(isinstance(v, (Jaxpr, ClosedJaxpr)) for v in value)
    )


def _size(aval: Any) -> int:
    size = 1
    for d in getattr(aval, "shape", ()):
        size *= d if isinstance(d, int) else EXPAND_MIN_SIZE  # a symbolic size: count it large
    return size
