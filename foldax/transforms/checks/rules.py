"""The automatic checks of ``foldax.checkify``: NaN produced, division by zero, and
out-of-bounds indexing, as per-primitive rules ``rule(interp, eqn, invals, outvals)``.

The semantics follow ``jax.experimental.checkify`` (same messages), with one refinement: a NaN
error is reported where a primitive *produces* a NaN, not where one merely flows through. Whether
a value holds a NaN is known for constants, for the outputs of checked primitives (computed once,
``interp.has_nan``) and through layout-only primitives (reshape, transpose, ...); an input of
which nothing is known (an argument, the output of a primitive that cannot make a NaN) is taken
to be NaN-free, as JAX takes every input, so the refinement costs no extra reductions. So
``x + jnp.nan`` (a NaN constant going in) is not an error, and a NaN made by one primitive is
reported there, also when a later checked primitive is the first that JAX would see.

Example:
    >>> import foldax, jax.numpy as jnp
    >>> f = lambda x, i: x[i]
    >>> err, _ = foldax.checkify(f, errors=foldax.index_checks)(jnp.arange(3.0), 5)
    >>> err.get()
    'out-of-bounds indexing for array of shape (3,): index 5 is out of bounds for axis 0 with size 3. '
"""

from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp
import numpy as np
from jax import lax

from foldax.transforms.checks.error import DIV, INDEX, NAN

# Every primitive that can turn NaN-free floating-point inputs into a NaN (JAX's list, plus div
# and a few more).
NAN_PRIMITIVES = [
    lax.acos_p,
    lax.acosh_p,
    lax.add_p,
    lax.asin_p,
    lax.asinh_p,
    lax.atan2_p,
    lax.atan_p,
    lax.atanh_p,
    lax.bessel_i0e_p,
    lax.bessel_i1e_p,
    lax.cbrt_p,
    lax.conv_general_dilated_p,
    lax.cos_p,
    lax.cosh_p,
    lax.cumlogsumexp_p,
    lax.cummax_p,
    lax.cummin_p,
    lax.cumprod_p,
    lax.cumsum_p,
    lax.digamma_p,
    lax.div_p,
    lax.dot_general_p,
    lax.erf_inv_p,
    lax.erf_p,
    lax.erfc_p,
    lax.exp_p,
    lax.exp2_p,
    lax.expm1_p,
    lax.fft_p,
    lax.igamma_grad_a_p,
    lax.igamma_p,
    lax.igammac_p,
    lax.integer_pow_p,
    lax.lgamma_p,
    lax.linear_solve_p,
    lax.log1p_p,
    lax.log_p,
    lax.logistic_p,
    lax.mul_p,
    lax.pad_p,
    lax.pow_p,
    lax.reduce_p,
    lax.reduce_prod_p,
    lax.reduce_sum_p,
    lax.reduce_window_p,
    lax.reduce_window_sum_p,
    lax.regularized_incomplete_beta_p,
    lax.rem_p,
    lax.rng_uniform_p,
    lax.rsqrt_p,
    lax.sin_p,
    lax.sinh_p,
    lax.sqrt_p,
    lax.square_p,
    lax.sub_p,
    lax.tan_p,
    lax.tanh_p,
    lax.scatter_add_p,
    lax.scatter_mul_p,
    lax.scatter_sub_p,
    lax.psum_p,
]
# Primitives whose output holds a NaN exactly when their (first) input does.
NAN_PRESERVING = {
    lax.reshape_p,
    lax.transpose_p,
    lax.broadcast_in_dim_p,
    lax.squeeze_p,
    lax.copy_p,
    lax.rev_p,
    lax.neg_p,
    lax.convert_element_type_p,
    lax.real_p,
}

Rule = Callable[[Any, Any, list, list], None]
AUTOMATIC: dict[Any, list[tuple[str, Rule]]] = {}


def _register(kind: str, *primitives: Any) -> Callable[[Rule], Rule]:
    def decorate(rule: Rule) -> Rule:
        for p in primitives:
            AUTOMATIC.setdefault(p, []).append((kind, rule))
        return rule

    return decorate


def on_host(*values: Any) -> bool:
    """Whether all ``values`` are NumPy values (an error's constants, flags computed eagerly)."""
    return all(isinstance(v, (np.ndarray, np.generic)) for v in values)


def is_float(x: Any) -> bool:
    """Whether ``x`` has an inexact (floating or complex) dtype."""
    return jnp.issubdtype(x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype, jnp.inexact)


# -- NaN ------------------------------------------------------------------------------------------
@_register(NAN, *NAN_PRIMITIVES)
def nan_produced(interp: Any, eqn: Any, invals: list, outvals: list) -> None:
    outs = [interp.has_nan(o) for o in outvals if is_float(o)]
    if not outs:
        return
    produced = _any(outs)
    inputs = [interp.known_nan(x) for x in invals if is_float(x)]
    inputs = [f for f in inputs if f is not None]
    if inputs:
        before = _any(inputs)
        if before is True:
            return
        if before is not False:
            numeric = np if on_host(produced, before) else jnp
            produced = numeric.logical_and(produced, numeric.logical_not(before))
    interp.report(eqn, NAN, produced, detail=eqn.primitive.name)


def _any(flags: list) -> Any:
    """OR of flags that are Python bools (known while tracing), NumPy booleans (computed
    eagerly) or traced booleans."""
    traced = [f for f in flags if f is not False and f is not True]
    if any(f is True for f in flags):
        return True
    if not traced:
        return False
    numeric = np if on_host(*traced) else jnp
    out = traced[0]
    for f in traced[1:]:
        out = numeric.logical_or(out, f)
    return out


# -- division by zero -------------------------------------------------------------------------------
def division_by_zero(interp: Any, eqn: Any, invals: list, outvals: list) -> None:
    """A zero divisor, of any dtype (JAX's check; x / 0.0 is reported before the NaN 0 / 0 makes).
    The integer remainder by zero is checked too (a float one makes a NaN instead)."""
    divisor = invals[1]
    if eqn.primitive is lax.rem_p and is_float(divisor):
        return
    interp.report(eqn, DIV, jnp.any(jnp.equal(divisor, 0)))


for _prim in (lax.div_p, lax.rem_p):  # before the NaN check, as JAX orders them
    AUTOMATIC.setdefault(_prim, []).insert(0, (DIV, division_by_zero))


# -- out-of-bounds indexing (the bounds JAX's lowering clamps to) ------------------------------
def _oob_payload(mask: Any, indices: Any, dims_map: Any, operand_shape: tuple) -> Any:
    """``[index, axis, axis size]`` of the first out-of-bounds index (JAX's payload)."""
    flat = jnp.argmin(jnp.logical_not(mask).reshape(-1))
    multi = jnp.unravel_index(flat, jnp.shape(indices))
    axis = (
        jnp.asarray(np.asarray(dims_map, np.int32))[multi[-1]]
        if jnp.ndim(indices)
        else jnp.asarray(np.asarray(dims_map, np.int32))[0]
    )
    size = jnp.asarray(np.asarray(operand_shape, np.int32))[axis]
    index = jnp.ravel(indices)[flat]
    return jnp.stack([index.astype(np.int32), axis, size]).astype(np.int32)


def _report_oob(interp: Any, eqn: Any, mask: Any, indices: Any, dims_map: Any, shape: tuple) -> None:
    payload = _oob_payload(mask, indices, dims_map, shape)
    interp.report(eqn, INDEX, jnp.any(mask), [payload], detail=(eqn.primitive.name, shape))


@_register(INDEX, lax.dynamic_slice_p)
def dynamic_slice_oob(interp: Any, eqn: Any, invals: list, outvals: list) -> None:
    operand, *start_indices = invals
    starts = jnp.stack([jnp.asarray(s) for s in start_indices])
    sizes = np.asarray(eqn.params["slice_sizes"], dtype=starts.dtype)
    mask = (starts < 0) | (starts + sizes > np.asarray(np.shape(operand), dtype=starts.dtype))
    _report_oob(interp, eqn, mask, starts, range(np.ndim(operand)), np.shape(operand))


@_register(INDEX, lax.dynamic_update_slice_p)
def dynamic_update_slice_oob(interp: Any, eqn: Any, invals: list, outvals: list) -> None:
    operand, update, *start_indices = invals
    starts = jnp.stack([jnp.asarray(s) for s in start_indices])
    mask = (starts < 0) | (
        starts + np.asarray(np.shape(update), dtype=starts.dtype)
        > np.asarray(np.shape(operand), dtype=starts.dtype)
    )
    _report_oob(interp, eqn, mask, starts, range(np.ndim(operand)), np.shape(operand))


@_register(INDEX, lax.gather_p)
def gather_oob(interp: Any, eqn: Any, invals: list, outvals: list) -> None:
    operand, indices = invals
    dnums = eqn.params["dimension_numbers"]
    dims = np.array(dnums.start_index_map, dtype=np.int64)
    upper = np.asarray(np.shape(operand))[dims] - np.asarray(eqn.params["slice_sizes"])[dims]
    upper = upper.reshape((1,) * (np.ndim(indices) - 1) + upper.shape)
    mask = (indices < 0) | (indices > upper.astype(indices.dtype))
    _report_oob(interp, eqn, mask, indices, dnums.start_index_map, np.shape(operand))


@_register(
    INDEX,
    lax.scatter_p,
    lax.scatter_add_p,
    lax.scatter_mul_p,
    lax.scatter_min_p,
    lax.scatter_max_p,
    lax.scatter_sub_p,
)
def scatter_oob(interp: Any, eqn: Any, invals: list, outvals: list) -> None:
    operand, indices, updates = invals[:3]
    dnums = eqn.params["dimension_numbers"]
    sizes, pos = [], 0
    for i in range(np.ndim(operand)):
        if i in dnums.inserted_window_dims or i in getattr(dnums, "operand_batching_dims", ()):
            sizes.append(1)
        else:
            sizes.append(np.shape(updates)[dnums.update_window_dims[pos]])
            pos += 1
    upper = np.array([np.shape(operand)[i] - sizes[i] for i in dnums.scatter_dims_to_operand_dims], np.int64)
    upper = np.minimum(upper, np.iinfo(indices.dtype).max)
    upper = upper.reshape((1,) * (np.ndim(indices) - 1) + upper.shape)
    mask = (indices < 0) | (indices > upper.astype(indices.dtype))
    _report_oob(interp, eqn, mask, indices, dnums.scatter_dims_to_operand_dims, np.shape(operand))
