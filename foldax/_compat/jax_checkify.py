"""JAX's checkify: its check primitive and exception types, so that
``jax.experimental.checkify.check``/``debug_check``/``check_error`` are functionalised by
``foldax.checkify`` and foldax's error value is one JAX's ``check_error`` accepts.

Example:
    >>> import jax
    >>> from jax.experimental import checkify
    >>> from foldax._compat.jax_checkify import jax_check_p
    >>> jaxpr = jax.make_jaxpr(lambda x: checkify.check(x > 0, "positive"))(1.0)
    >>> jaxpr.eqns[-1].primitive is jax_check_p
    True
"""

from __future__ import annotations

from jax._src import checkify as _jax_checkify

jax_check_p = _jax_checkify.check_p
JaxException = _jax_checkify.JaxException
ErrorEffect = _jax_checkify.ErrorEffect
FailedCheckError = _jax_checkify.FailedCheckError
NaNError = _jax_checkify.NaNError
DivisionByZeroError = _jax_checkify.DivisionByZeroError
OOBError = _jax_checkify.OOBError
