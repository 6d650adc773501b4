"""``foldax.jit``: compile a function once per distinct call signature, folding constants.

The cache key of a call is the tree structure (including dataclass static and value fields),
the static arguments, the auxiliary arguments and every constant leaf *by value*; shapes and
dtypes of the traced leaves (``jax.Array`` s, Python scalars and ``variable_args``) are keyed by
``jax.jit``'s own C++ dispatch, which runs the compiled program. One module per idea:

* ``function``: ``jit``, the ``JitFunction`` call path and ``jax.jit``'s surface;
* ``arguments``: options resolved against the signature, calls split into static, auxiliary
  and dynamic arguments;
* ``keys``: which leaves are traced, and the key of the rest;
* ``constant_arrays``: NumPy arguments as read-only arrays that index like jax arrays;
* ``batches``: the warning for NumPy batches passed as constants;
* ``entry``: one key's programs and the ``jax.jit`` that runs them;
* ``entries`` and ``cache``: the bounded per-key cache, and the per-function registry;
* ``placement``: donation and shardings per traced leaf;
* ``retrace``: trace counting and the ``RetraceWarning``;
* ``explain``: JAX's cache-miss explanations (``jax_explain_cache_misses``) for foldax.jit's misses;
* ``stages``: ``Traced``, ``Lowered`` and ``Compiled``.

Example:
    >>> import foldax, jax.numpy as jnp
    >>> @foldax.jit(auxiliary_args="y")
    ... def f(x, y):
    ...     return x * y if y > 1 else x / y
    >>> f(jnp.ones(2), 2.0)
    Array([2., 2.], dtype=float32)
    >>> foldax.trace_check(f, jnp.ones(2), 3.0)
    (False, 'Auxiliary arguments do not match')
"""

import jax  # noqa: F401  (tools reach JAX as foldax.transforms.jit.jax, as in the flat layout)

from foldax.transforms.jit.decorator import jit, trace_check
from foldax.transforms.jit.entries import jit_cache_limits
from foldax.transforms.jit.entry import EMBED_MAX_BYTES
from foldax.transforms.jit.function import JitFunction

__all__ = ["EMBED_MAX_BYTES", "JitFunction", "jit", "jit_cache_limits", "trace_check"]
