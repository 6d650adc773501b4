"""foldax: functional pytree transformations on JAX, with NumPy leaves folded as constants.

Example:
    >>> import foldax, jax.numpy as jnp, numpy as np
    >>> @foldax.jit
    ... def f(x, b):
    ...     return x + np.sin(b ** 2)      # b is NumPy: computed once, at trace time
    >>> f(jnp.ones(2), np.arange(2.0))
    Array([1.      , 1.841471], dtype=float32)
"""

# --- random (issue 5) ---
# --- tensors and linear (issue 6) ---
# --- inspect (issue 7) ---
from foldax import (
    errors,
    inspect,  # noqa: E402  (foldax.inspect.figures, .whatif, .plot_graph, .Function, ...)
    random,  # noqa: E402
    tensors,  # noqa: E402
)

# --- checkpoints (issues 8, 14) ---
from foldax.checkpoint import CheckpointManager, load, save  # noqa: E402
from foldax.errors import FoldaxError
from foldax.inspect import figures, print_source, show  # noqa: E402
from foldax.pytrees import (
    ByValue,
    FieldKind,
    combine,
    dataclass,
    field,
    is_array,
    is_constant,
    is_model,
    is_variable,
    leaf_kind,
    leaves_with_paths,
    map_values,
    map_variables,
    partition,
    replace,
    value_attrs,
    variable_attrs,
)

# --- autodiff (issue 3) ---
from foldax.transforms.autodiff.api import grad, gradient, jvp, value_and_grad, vjp  # noqa: E402
from foldax.transforms.autodiff.jacobian import hessian, jacfwd, jacobian, jacrev  # noqa: E402

# --- batching (issue 4) ---
from foldax.transforms.batching.vmap import vmap  # noqa: E402
from foldax.transforms.checks.check import check  # noqa: E402
from foldax.transforms.checks.checkify import (  # noqa: E402
    all_checks,
    automatic_checks,
    checkify,
    div_checks,
    float_checks,
    index_checks,
    key_reuse_checks,
    nan_checks,
    user_checks,
)

# --- checks (issue 5) ---
from foldax.transforms.checks.error import Error  # noqa: E402
from foldax.transforms.core.interpreter import EvalInterpreter, Interpreter
from foldax.transforms.core.program import Program
from foldax.transforms.core.trace import trace

# --- jit (issue 2) ---
from foldax.transforms.jit import jit, jit_cache_limits, trace_check  # noqa: E402
from foldax.transforms.linear import matrix_from_function  # noqa: E402

__all__ = [
    # errors
    "errors",
    "FoldaxError",
    # pytrees
    "ByValue",
    "FieldKind",
    "combine",
    "dataclass",
    "field",
    "is_array",
    "is_constant",
    "is_model",
    "is_variable",
    "leaf_kind",
    "leaves_with_paths",
    "map_values",
    "map_variables",
    "partition",
    "replace",
    "value_attrs",
    "variable_attrs",
    # the interpreter core
    "EvalInterpreter",
    "Interpreter",
    "Program",
    "trace",
    # jit
    "jit",
    "jit_cache_limits",
    "trace_check",
    # autodiff
    "grad",
    "gradient",
    "jvp",
    "value_and_grad",
    "vjp",
    "hessian",
    "jacfwd",
    "jacobian",
    "jacrev",
    # batching
    "vmap",
    # checks
    "Error",
    "check",
    "checkify",
    "all_checks",
    "automatic_checks",
    "div_checks",
    "float_checks",
    "index_checks",
    "key_reuse_checks",
    "nan_checks",
    "user_checks",
    # random keys, tensors, linear tracing
    "random",
    "tensors",
    "matrix_from_function",
    # inspection
    "inspect",
    "figures",
    "print_source",
    "show",
    # saving models
    "load",
    "save",
    "CheckpointManager",
]
