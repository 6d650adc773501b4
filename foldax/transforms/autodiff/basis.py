"""Running one of JAX's rules on linear values (tangents or cotangents), optionally over a basis.

Forward mode (``JVPInterpreter``) and reverse mode (``TransposeInterpreter``) both call JAX's
per-primitive rules, which take symbolic ``Zero``s where a value is known to be zero. With a
*basis* (``jacfwd``/``jacrev``), every linear value carries a leading axis of basis vectors and
the rule runs under ``jax.vmap`` over it; values that are zero stay unbatched ``Zero``s, and so
do the rule's zero outputs.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from foldax._compat import Zero
    >>> from foldax.transforms.autodiff.basis import apply_linear_rule
    >>> rule = lambda ts: ([], [2 * ts[0], ts[1]])          # the second output stays zero
    >>> zero = Zero(jax.typeof(jnp.zeros(2)))
    >>> apply_linear_rule(rule, [jnp.eye(2), None], [None, zero], basis=2)
    ([], [Array([[2., 0.],
           [0., 2.]], dtype=float32), None])
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax

from foldax._compat import Zero, float0

# ``rule(linear_inputs) -> (fixed_outputs, linear_outputs)``: fixed outputs (primals) do not
# depend on the linear inputs, so under a basis they come out once, unbatched.
LinearRule = Callable[[list], "tuple[Sequence, Sequence]"]


def nonzero(value: Any) -> Any:
    """``value``, or ``None`` for a symbolic zero, a ``float0`` value or ``None``."""
    if value is None or type(value) is Zero or getattr(value, "dtype", None) == float0:
        return None
    return value


def apply_linear_rule(
    rule: LinearRule, values: Sequence, zeros: Sequence, basis: int | None
) -> tuple[list, list]:
    """``rule`` on ``values`` with each ``None`` replaced by the matching entry of ``zeros``
    (a symbolic ``Zero``). Returns ``(fixed_outputs, linear_outputs)``, zero linear outputs as
    ``None``. With ``basis`` (its size), the non-zero values have a leading basis axis and the
    rule runs under ``jax.vmap`` over it; the non-zero linear outputs have that axis too."""
    if basis is None:
        fixed, linear = rule([z if v is None else v for z, v in zip(zeros, values)])
        return list(fixed), [nonzero(t) for t in linear]
    kept: list[bool] = []

    def one(*given: Any) -> tuple:
        it = iter(given)
        fixed, linear = rule([z if v is None else next(it) for z, v in zip(zeros, values)])
        linear = [nonzero(t) for t in linear]
        kept[:] = [t is not None for t in linear]
        return list(fixed), [t for t in linear if t is not None]

    fixed, linear = jax.vmap(one, out_axes=(None, 0))(*[v for v in values if v is not None])
    it = iter(linear)
    return fixed, [next(it) if k else None for k in kept]
