"""NumPy evaluation of the data-movement primitives folding meets most often.

Folding a primitive eagerly through XLA compiles one executable per primitive, parameters and
shape; a trace that folds a few broadcasts and reshapes per distinct shape (``vmap`` and ``grad``
seeds, padding, stacking) compiles a few executables each time, and each compile costs time and
memory. The primitives here only move, select or reinterpret data (no arithmetic, so no rounding,
flushing of subnormals or NaN payload question arises): NumPy computes them bit for bit as XLA
does, and with no compilation. JAX does the same for ``convert_element_type`` of scalar constants
(its ``const_fold_rules``). A computation asked for often (the same primitive, parameters and
input types in a loop, or in every trace of a function traced again and again) is compiled after
all and computed from ``eager``'s bounded cache, which then costs less than NumPy's route and its
copy to the device.

Example:
    >>> import numpy as np
    >>> from jax import lax
    >>> evaluate_with_numpy(lax.broadcast_in_dim_p, [np.arange(2.0)],
    ...                     dict(shape=(2, 2), broadcast_dimensions=(1,), sharding=None))
    array([[0., 1.],
           [0., 1.]])
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import numpy as np
from jax import lax

from foldax._compat import abstract_eval, concrete_array
from foldax.transforms.core.eager import evaluate_compiled, evaluate_if_hot
from foldax.transforms.core.mesh import process_local
from foldax.transforms.core.numpy_arithmetic import UFUNCS, exact_arithmetic

Rule = Callable[..., "np.ndarray | None"]  # None: no NumPy form for these inputs
NUMPY_RULES: dict[Any, Rule] = {}


def _rule(primitive: Any) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        NUMPY_RULES[primitive] = fn
        return fn

    return register


def compute_now(primitive: Any, args: Sequence, params: dict) -> Any:
    """``primitive`` on the concrete ``args``, computed now whatever the current trace: with
    NumPy when it has a rule here (a ``jax.Array`` of the right abstract value) or is an
    ``add``, ``sub`` or ``mul`` NumPy computes as XLA does (``numpy_arithmetic``) and its
    compiled computation is not at hand (``eager.evaluate_if_hot``), else by the computation JAX's
    eager evaluation compiles (``eager``: kept in a bounded cache). Returns what
    ``primitive.bind`` would."""
    if primitive in NUMPY_RULES or primitive in UFUNCS:
        out = evaluate_if_hot(primitive, args, params)  # compiled already, or asked for often
        if out is not None:
            return out
    if primitive in NUMPY_RULES:
        value = evaluate_with_numpy(primitive, args, params)
        if value is not None:
            aval, _ = abstract_eval(primitive, args, params)
            out = concrete_array(value, aval)
            if out is not None:
                return out
    elif primitive in UFUNCS:  # add, sub, mul: with NumPy where its bits are XLA's
        value = exact_arithmetic(primitive, args)
        if value is not None:
            aval, _ = abstract_eval(primitive, args, params)
            if (value.dtype, value.shape) == (aval.dtype, aval.shape):  # nothing JAX converts
                out = concrete_array(value, aval)
                if out is not None:
                    return out
    return evaluate_compiled(primitive, args, params)


def evaluate_with_numpy(primitive: Any, args: Sequence, params: dict) -> np.ndarray | None:
    """The output of ``primitive`` computed with NumPy, or ``None`` when it has no NumPy rule
    or its inputs are not plain (non-extended dtype) arrays of this process."""
    rule = NUMPY_RULES.get(primitive)
    if rule is None or not all(map(process_local, args)):
        return None  # NumPy cannot read an array laid over other processes' devices
    if any(jax.dtypes.issubdtype(getattr(a, "dtype", None), jax.dtypes.extended) for a in args):
        return None  # typed PRNG keys and other extended dtypes have no NumPy form
    arrays = [np.asarray(a) for a in args]
    if any(a.dtype == object or a.dtype.kind == "V" for a in arrays):
        return None
    return rule(*arrays, **params)


@_rule(lax.broadcast_in_dim_p)
def _broadcast_in_dim(
    x: np.ndarray, *, shape: tuple, broadcast_dimensions: tuple, sharding: Any
) -> np.ndarray | None:
    if sharding is not None:
        return None
    expanded = [1] * len(shape)
    for axis, size in zip(broadcast_dimensions, x.shape):
        expanded[axis] = size
    return np.broadcast_to(x.reshape(expanded), shape)


@_rule(lax.reshape_p)
def _reshape(x: np.ndarray, *, new_sizes: tuple, dimensions: Any, sharding: Any) -> Any:
    if dimensions is not None or sharding is not None:
        return None
    return x.reshape(new_sizes)


@_rule(lax.squeeze_p)
def _squeeze(x: np.ndarray, *, dimensions: tuple) -> np.ndarray:
    return np.squeeze(x, axis=tuple(dimensions))


@_rule(lax.transpose_p)
def _transpose(x: np.ndarray, *, permutation: tuple) -> np.ndarray:
    return np.transpose(x, permutation)


@_rule(lax.rev_p)
def _rev(x: np.ndarray, *, dimensions: tuple) -> np.ndarray:
    return np.flip(x, axis=tuple(dimensions)) if dimensions else x


@_rule(lax.slice_p)
def _slice(x: np.ndarray, *, start_indices: tuple, limit_indices: tuple, strides: Any) -> np.ndarray:
    strides = strides or (1,) * x.ndim
    return x[tuple(slice(a, b, s) for a, b, s in zip(start_indices, limit_indices, strides))]


@_rule(lax.concatenate_p)
def _concatenate(*xs: np.ndarray, dimension: int) -> np.ndarray:
    return np.concatenate(xs, axis=dimension)


@_rule(lax.select_n_p)
def _select_n(which: np.ndarray, *cases: np.ndarray) -> np.ndarray:
    return np.choose(which.astype(np.int64), np.broadcast_arrays(*cases)) if len(cases) > 1 else cases[0]


@_rule(lax.convert_element_type_p)
def _convert(x: np.ndarray, *, new_dtype: Any, weak_type: bool, sharding: Any) -> Any:
    """Only conversions NumPy does exactly as XLA: from bool or integers to bool, integers or
    32/64-bit floats (NumPy rounds to narrower floats twice), or to the same dtype (a change of
    weak type)."""
    new_dtype = np.dtype(new_dtype)
    if sharding is not None or new_dtype.kind not in "biufc":
        return None
    exact_target = new_dtype.kind in "biu" or new_dtype in _WIDE_FLOATS  # one rounding
    if x.dtype == new_dtype or (x.dtype.kind in "biu" and exact_target):
        return x.astype(new_dtype)
    return None


_WIDE_FLOATS = tuple(map(np.dtype, ("float32", "float64", "complex64", "complex128")))


@_rule(lax.iota_p)
def _iota(*, dtype: Any, shape: tuple, dimension: int, sharding: Any) -> Any:
    dtype = np.dtype(dtype)
    if sharding is not None or dtype.kind not in "iuf" or shape[dimension] > 1 << 24:
        return None
    line = np.arange(shape[dimension], dtype=dtype)
    expanded = [1] * len(shape)
    expanded[dimension] = shape[dimension]
    return np.broadcast_to(line.reshape(expanded), shape)
