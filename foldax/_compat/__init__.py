"""The one place foldax imports JAX's private modules.

Everything foldax needs from ``jax._src`` is named in this package, so a JAX upgrade touches
only it. Tested against jax 0.10.x. One idea per module:

- ``jaxpr_types``: jaxprs, equations, variables, avals; making, reading and evaluating them.
- ``primitives``: the call and control-flow primitives foldax recognises.
- ``dtype_rules``: float0, tangent dtypes, weak-typed conversion.
- ``autodiff_rules``: JAX's JVP/transpose/linearize rule tables, zeros, custom derivatives.
- ``partial_evaluation``: partial evaluation and dead-code elimination of jaxprs.
- ``batching_rules``: JAX's batching rule tables, vmapped axes and their context.
- ``sharding``: mesh axes of arrays, shard_map, jit shardings under vmap, the concrete mesh.
- ``staging``: tracing a function to a jaxpr, with foldax's folding of constants.
- ``batch_tracing``: the trace and tracers foldax.vmap traces with (JAX's messages name them).
- ``evaluation``: computing primitives and jaxprs now; abstract evaluation.
- ``source_lines``: which user line an equation came from; frames that are not the user's.
- ``trace_config``: the trace context JAX's caches key on, and the flags foldax follows.
- ``new_primitives``: effects and lowerings for foldax's own primitives.
- ``jax_checkify``: JAX's checkify primitive and error types.
- ``prng``: JAX's random-key primitives and key operations.
- ``api_checks``: JAX's own argument checks and messages for jit, vjp and vmap.

The rest of foldax imports these names from ``foldax._compat`` itself (never from the modules),
so where a name lives can change without touching its users.

Example:
    >>> from foldax._compat import core
    >>> core.ClosedJaxpr.__name__
    'ClosedJaxpr'
"""

from __future__ import annotations

import os

from jax._src import (
    api_util,
    core,
    dtypes,
    linear_util as lu,
    source_info_util,
)
from jax._src.interpreters import ad, batching, partial_eval as pe

from foldax._compat.api_checks import (
    cotangent_type_error,
    escaped_tracer,
    escaped_tracer_message,
    resolve_jit_argnums,
    vjp_too_many_args_message,
    vmap_axis_size_message,
    vmap_in_axes_prefix_message,
)
from foldax._compat.autodiff_rules import (
    CustomVJPException,
    SymbolicZero,
    UndefinedPrimal,
    ValAccum,
    Zero,
    add_jaxvals,
    custom_jvp_call_p,
    custom_lin_p,
    custom_vjp_call_p,
    direct_linearize,
    fancy_transposes,
    instantiate_zeros,
    is_undefined_primal,
    primitive_jvps,
    primitive_linearizations,
    primitive_transposes,
    replace_internal_symbolic_zeros,
    replace_rule_output_symbolic_zeros,
    wrap_fun,
    zeros_like_aval,
)
from foldax._compat.batch_tracing import BatchTrace, BatchTracer
from foldax._compat.batching_rules import (
    AxisData,
    axis_data,
    axis_spec_types,
    batch_axis_env,
    broadcast_batch_axis,
    fancy_primitive_batchers,
    mapped_aval,
    no_axis_name,
    not_mapped,
    primitive_batchers,
    unmapped_aval,
    vmappable_types,
)
from foldax._compat.dtype_rules import convert_element_type, float0, primal_tangent_dtype
from foldax._compat.evaluation import (
    abstract_eval,
    call_now,
    compiles_eagerly,
    concrete_array,
    eval_context,
    eval_jaxpr,
    evaluate_jaxpr_with,
    evaluate_now,
    primitive_computation,
)
from foldax._compat.jax_checkify import (
    DivisionByZeroError,
    ErrorEffect,
    FailedCheckError,
    JaxException,
    NaNError,
    OOBError,
    jax_check_p,
)
from foldax._compat.jaxpr_types import (
    AbstractValue,
    ClosedJaxpr,
    DropVar,
    Jaxpr,
    JaxprEqn,
    Literal,
    Primitive,
    ShapedArray,
    Token,
    Tracer,
    Var,
    array_aval,
    bind_params,
    host_constant,
    is_python_scalar_literal,
    is_tracer,
    jaxprs_in_params,
    make_eqn,
    make_jaxpr_obj,
    new_eqn,
    new_literal,
    new_var,
    pp_jaxpr,
    shaped_abstractify,
    typeof,
)
from foldax._compat.new_primitives import Effect, allow_effect, lower_fun, register_lowering
from foldax._compat.partial_evaluation import (
    convert_constvars_jaxpr,
    dce_jaxpr,
    partial_eval_jaxpr,
    partial_eval_jaxpr_custom,
    unknown_outputs,
)
from foldax._compat.primitives import (
    call_p,
    closed_call_p,
    cond_p,
    effects_forbid_select,
    jit_p,
    remat_p,
    scan_p,
    shard_map_p,
    while_p,
)
from foldax._compat.prng import (
    fold_in_keys,
    random_bits_p,
    random_clone_p,
    random_fold_in_p,
    random_gamma_p,
    random_seed_p,
    random_split_p,
    random_unwrap_p,
    random_wrap_p,
    split_keys,
)
from foldax._compat.sharding import (
    UNSPECIFIED,
    batched_sharding,
    bind_shard_map,
    concrete_mesh,
    mapped_axis_spec,
    sharded_mesh_axes,
    spec_axis_names,
    spec_with_batch_dim,
    use_concrete_mesh,
)
from foldax._compat.source_lines import (
    FOLDAX_DIR,
    current_traceback,
    eqn_context,
    eqn_source_line,
    exclude_from_user_frames,
    line_outside_foldax,
    register_source_exclusion,
)
from foldax._compat.staging import NOT_FOLDED, folding_trace_to_jaxpr, function_source_info, trace_to_jaxpr
from foldax._compat.trace_config import (
    EVAL_TRACE,
    JIT_DISABLED,
    TRACE_STATE,
    at_top_level,
    explaining_cache_misses,
    jit_disabled,
    register_cache,
    trace_context,
    trace_context_names,
    trace_context_state,
    weakref_cache,
)

# equations staged while this package's functions are on the stack belong to the user's line
source_info_util.register_exclusion(os.path.dirname(os.path.abspath(__file__)) + os.sep)

__all__ = [
    # JAX's private modules, for what has no name of its own here
    "ad",
    "api_util",
    "batching",
    "core",
    "dtypes",
    "lu",
    "pe",
    "source_info_util",
    # api_checks
    "cotangent_type_error",
    "escaped_tracer",
    "escaped_tracer_message",
    "resolve_jit_argnums",
    "vjp_too_many_args_message",
    "vmap_axis_size_message",
    "vmap_in_axes_prefix_message",
    # autodiff_rules
    "CustomVJPException",
    "SymbolicZero",
    "UndefinedPrimal",
    "ValAccum",
    "Zero",
    "add_jaxvals",
    "custom_jvp_call_p",
    "custom_lin_p",
    "custom_vjp_call_p",
    "direct_linearize",
    "fancy_transposes",
    "instantiate_zeros",
    "is_undefined_primal",
    "primitive_jvps",
    "primitive_linearizations",
    "primitive_transposes",
    "replace_internal_symbolic_zeros",
    "replace_rule_output_symbolic_zeros",
    "wrap_fun",
    "zeros_like_aval",
    # batching_rules
    "AxisData",
    "axis_data",
    "axis_spec_types",
    "batch_axis_env",
    "broadcast_batch_axis",
    "fancy_primitive_batchers",
    "mapped_aval",
    "no_axis_name",
    "not_mapped",
    "primitive_batchers",
    "unmapped_aval",
    "vmappable_types",
    # dtype_rules
    "convert_element_type",
    "float0",
    "primal_tangent_dtype",
    # evaluation
    "abstract_eval",
    "call_now",
    "compiles_eagerly",
    "concrete_array",
    "eval_context",
    "evaluate_jaxpr_with",
    "evaluate_now",
    "primitive_computation",
    # jax_checkify
    "DivisionByZeroError",
    "ErrorEffect",
    "FailedCheckError",
    "JaxException",
    "NaNError",
    "OOBError",
    "jax_check_p",
    # jaxpr_types
    "AbstractValue",
    "ClosedJaxpr",
    "DropVar",
    "Jaxpr",
    "JaxprEqn",
    "Literal",
    "Primitive",
    "ShapedArray",
    "Token",
    "Tracer",
    "Var",
    "array_aval",
    "bind_params",
    "eval_jaxpr",
    "is_python_scalar_literal",
    "is_tracer",
    "jaxprs_in_params",
    "make_eqn",
    "make_jaxpr_obj",
    "new_eqn",
    "host_constant",
    "new_literal",
    "new_var",
    "pp_jaxpr",
    "shaped_abstractify",
    "typeof",
    # new_primitives
    "Effect",
    "allow_effect",
    "lower_fun",
    "register_lowering",
    # partial_evaluation
    "convert_constvars_jaxpr",
    "dce_jaxpr",
    "partial_eval_jaxpr",
    "partial_eval_jaxpr_custom",
    "unknown_outputs",
    # primitives
    "call_p",
    "closed_call_p",
    "cond_p",
    "effects_forbid_select",
    "jit_p",
    "remat_p",
    "scan_p",
    "shard_map_p",
    "while_p",
    # prng
    "fold_in_keys",
    "random_bits_p",
    "random_clone_p",
    "random_fold_in_p",
    "random_gamma_p",
    "random_seed_p",
    "random_split_p",
    "random_unwrap_p",
    "random_wrap_p",
    "split_keys",
    # sharding
    "UNSPECIFIED",
    "batched_sharding",
    "bind_shard_map",
    "concrete_mesh",
    "mapped_axis_spec",
    "sharded_mesh_axes",
    "spec_axis_names",
    "spec_with_batch_dim",
    "use_concrete_mesh",
    # source_lines
    "FOLDAX_DIR",
    "current_traceback",
    "eqn_context",
    "eqn_source_line",
    "exclude_from_user_frames",
    "line_outside_foldax",
    "register_source_exclusion",
    # batch_tracing
    "BatchTrace",
    "BatchTracer",
    # staging
    "NOT_FOLDED",
    "folding_trace_to_jaxpr",
    "function_source_info",
    "trace_to_jaxpr",
    # trace_config
    "EVAL_TRACE",
    "JIT_DISABLED",
    "TRACE_STATE",
    "at_top_level",
    "explaining_cache_misses",
    "jit_disabled",
    "register_cache",
    "trace_context",
    "trace_context_names",
    "trace_context_state",
    "weakref_cache",
]
