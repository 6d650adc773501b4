"""``checkify`` of a while loop whose predicate is batched: refused, as JAX's checkify refuses it.

Under ``vmap`` a ``while_loop`` whose condition differs per element runs until every element is
done; the elements already done sit out the last iterations, whose checks are not theirs. JAX's
checkify raises ``ValueError`` for such a loop (checkify-of-vmap-of-while); so does
``foldax.checkify`` (``FoldaxValueError``, its message JAX's followed by foldax's) when the loop
can fail: its condition or body holds a check (``foldax.check``, JAX's ``checkify.check`` or
``debug_check``) or an operation the enabled error sets check. A loop with nothing to check runs
unchanged. The loop reaches checkify in one of two ways:

* ``jax.vmap`` inside ``checkify``: the predicate of the ``while`` checkify interprets is
  batched (``checks.control``'s ``while`` rule refuses it);
* ``foldax.vmap`` inside ``checkify``: foldax's batched loop runs while *any* element goes, so
  it is refused when ``vmap`` batches it while checkify's function is traced (a hook on
  ``batching.control_flow``, which asks the ambient observer what the enabled sets check).

The fix is to put the ``vmap`` outside: ``vmap(checkify(f))`` gives each element its own error.

Example:
    >>> import foldax, jax, jax.numpy as jnp
    >>> def count(x):
    ...     def body(c):
    ...         foldax.check(c < 8, "reached {}", c)
    ...         return c + 1
    ...     return jax.lax.while_loop(lambda c: c < 10, body, x)
    >>> err, out = jax.vmap(foldax.checkify(count))(jnp.array([9, 3, 12]))
    >>> print(err.get())
    at mapped index 0: reached 9 (`check` failed)
    at mapped index 1: reached 8 (`check` failed)
    >>> try:
    ...     foldax.checkify(jax.vmap(count))(jnp.array([9, 3, 12]))
    ... except ValueError as e:
    ...     print(type(e).__name__, "checkify-of-vmap-of-while" in str(e))
    FoldaxValueError True
"""

from __future__ import annotations

from typing import Any, Callable

from foldax._compat import JaxprEqn, eqn_source_line
from foldax.errors import FoldaxValueError
from foldax.transforms.batching.control_flow import BATCHED_WHILE_HOOKS
from foldax.transforms.checks.checkify import first_checked
from foldax.transforms.core.observe import current_observer

JAX_MESSAGE = (
    "Checkify does not support batched while-loops (checkify-of-vmap-of-while). \n"
    "Hint: if possible, move the vmap to the outer level to get vmap-of-checkify-of-while."
)


def checked_in_loop(params: dict, checked_primitive: Callable[[Any], bool]) -> JaxprEqn | None:
    """The first equation of a ``while`` (with ``params``)'s condition, then body, that checkify
    must check (``checkify.first_checked``), or ``None``."""
    for name in ("cond_jaxpr", "body_jaxpr"):
        found = first_checked(params[name].jaxpr, checked_primitive)
        if found is not None:
            return found
    return None


def batched_while_error(eqn: JaxprEqn, predicate_shape: tuple, found: JaxprEqn) -> FoldaxValueError:
    """JAX's error for checkify of the ``while`` ``eqn``, whose predicate is batched to
    ``predicate_shape`` and which checks ``found``, followed by where and how to fix it."""
    return FoldaxValueError(
        f"{JAX_MESSAGE}\nfoldax.checkify: the while_loop at {eqn_source_line(eqn)} has a predicate "
        f"batched by vmap (shape {predicate_shape}) and something to check in its condition or "
        f"body ('{found.primitive}' at {eqn_source_line(found)}); its finished elements would sit "
        f"out iterations whose checks are not theirs. Fix: move the vmap outside the checkify, "
        f"vmap(checkify(f)), which gives each element its own error, or vmap inside the loop "
        f"(checkify-of-while-of-vmap)."
    )


def _refuse_under_checkify(eqn: JaxprEqn, size: int) -> None:
    """``foldax.vmap``'s hook: refuse to batch the predicate of ``eqn`` (a ``while``) to
    ``(size,)`` while ``checkify`` traces its function, if the loop has anything to check."""
    checked_primitive = current_observer()
    if checked_primitive is None:
        return
    found = checked_in_loop(eqn.params, checked_primitive)
    if found is not None:
        shape = (size, *eqn.params["cond_jaxpr"].out_avals[0].shape)
        raise batched_while_error(eqn, shape, found)


BATCHED_WHILE_HOOKS.append(_refuse_under_checkify)
