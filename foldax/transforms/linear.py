"""Linear tracing: the sparse matrix of a linear (or affine) function, by an interpreter that
propagates sparse coefficients through the jaxpr.

A value that depends on the input ``x`` is ``Affine``: ``value.ravel() = M @ x.ravel() + bias``
with ``M`` kept as COO triplets whose *structure* (rows, cols) is NumPy, computed at trace time,
and whose coefficients may be NumPy (constants) or JAX arrays (when they involve variables).
Structural primitives (reshape, transpose, slice, pad, concatenate, broadcast, gather with
constant indices, reductions, ...) move and merge coefficients in O(nnz) by running the
primitive on an *index array*; multiplication and division by values independent of ``x``
scale them; any other primitive applied to an ``Affine`` raises ``NonLinearError`` naming it.

Example:
    >>> import jax.numpy as jnp, numpy as np
    >>> lap = lambda u: jnp.roll(u, 1) + jnp.roll(u, -1) - 2 * u
    >>> matrix, bias = matrix_from_function(lap, np.zeros(4))
    >>> matrix.toarray()[0]
    array([-2.,  1.,  0.,  1.])
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from foldax._compat import (
    ClosedJaxpr,
    Jaxpr,
    JaxprEqn,
    array_aval,
    closed_call_p,
    custom_jvp_call_p,
    custom_vjp_call_p,
    eqn_source_line,
    is_tracer,
    jit_p,
    remat_p,
)
from foldax.errors import FoldaxTypeError, NonLinearError
from foldax.pytrees.leaves import VARIABLE, leaf_kind
from foldax.pytrees.tree import flatten
from foldax.transforms.core.interpreter import Interpreter, bind_eqn
from foldax.transforms.core.trace import trace_program


@dataclasses.dataclass
class Affine:
    """``value.ravel() = sparse(rows, cols, vals) @ x + bias.ravel()`` for the traced input x."""

    rows: np.ndarray
    cols: np.ndarray
    vals: Any
    bias: Any
    shape: tuple
    dtype: Any

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def _is_numpy(x: Any) -> bool:
    return isinstance(x, (np.ndarray, np.generic, int, float, bool))


def _xp(*xs: Any) -> Any:
    """NumPy while everything is concrete NumPy, jax.numpy as soon as a JAX value appears."""
    return np if all(_is_numpy(x) for x in xs) else jnp


def _evaluate(eqn: JaxprEqn, args: Sequence) -> list:
    """Bind ``eqn`` on plain values; results of NumPy-only inputs stay NumPy (constants)."""
    out = bind_eqn(eqn, list(args))
    return [np.asarray(o) for o in out] if all(_is_numpy(a) for a in args) else out


def _expand_rows(
    a: Affine, out_rows: np.ndarray, src_rows: np.ndarray, factor: Any, shape: tuple, bias: Any
) -> Affine:
    """For each pair (out_rows[k], src_rows[k]): every entry of ``a`` in row src_rows[k], moved
    to row out_rows[k] and scaled by factor[k] (``None``: unscaled). O(entries produced)."""
    order = np.argsort(a.rows, kind="stable")
    counts = np.bincount(a.rows, minlength=a.size)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    n = counts[src_rows]
    new_rows = np.repeat(out_rows, n)
    offsets = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    pick = order[np.repeat(starts[src_rows], n) + offsets]
    vals = a.vals[pick] if _is_numpy(a.vals) else jnp.take(a.vals, jnp.asarray(pick))
    if factor is not None:
        vals = vals * np.repeat(factor, n)
    return Affine(new_rows, a.cols[pick], vals, bias, tuple(shape), a.dtype)


def _gather_rows(a: Affine, source: np.ndarray, shape: tuple, bias: Any) -> Affine:
    """Output position p takes input position source[p] (or nothing where source[p] < 0)."""
    source = np.asarray(source).ravel()
    out_pos = np.nonzero(source >= 0)[0]
    return _expand_rows(a, out_pos, source[out_pos], None, shape, bias)


class LinearInterpreter(Interpreter):
    """Propagates ``Affine`` values; plain values are evaluated as usual."""

    transformation = "matrix_from_function"

    def lift(self, constant: Any) -> Any:
        """Concrete constants become NumPy, so a matrix of constants stays a SciPy matrix."""
        return constant if leaf_kind(constant) != VARIABLE or is_tracer(constant) else np.asarray(constant)

    def default_rule(self, eqn: JaxprEqn, invals: list) -> list:
        if not any(isinstance(v, Affine) for v in invals):
            return _evaluate(eqn, invals)
        raise NonLinearError(
            f"matrix_from_function: the function is not linear in its input: the primitive "
            f"'{eqn.primitive}' at {eqn_source_line(eqn)} is applied to a value that depends on "
            f"the input. Only linear operations (sums, scaling by values that do not depend on "
            f"the input, slicing, padding, reshaping, reductions, ...) can form a matrix."
        )


def _constant_operands(eqn: JaxprEqn, invals: list, linear_at: int) -> list:
    out = []
    for i, v in enumerate(invals):
        if i != linear_at and isinstance(v, Affine):
            raise NonLinearError(
                f"matrix_from_function: '{eqn.primitive}' at {eqn_source_line(eqn)} combines two "
                f"values that both depend on the input, which is not linear."
            )
        out.append(v)
    return out


def _structural(interp: Any, eqn: JaxprEqn, invals: list) -> list:
    """Primitives that move entries: run them on an index array (and on the bias)."""
    if not any(isinstance(v, Affine) for v in invals):
        return _evaluate(eqn, invals)
    pos = next(i for i, v in enumerate(invals) if isinstance(v, Affine))
    a = invals[pos]
    others = _constant_operands(eqn, invals, pos)
    index = np.arange(a.size, dtype=np.int32).reshape(a.shape)
    index_args = list(others)
    index_args[pos] = index
    if eqn.primitive is lax.pad_p:
        index_args[1] = np.int32(-1)
    with jax.ensure_compile_time_eval():
        source = np.asarray(bind_eqn(eqn, [jnp.asarray(x) for x in index_args])[0])
    bias_args = list(others)
    bias_args[pos] = a.bias
    bias = _evaluate(eqn, bias_args)[0]
    return [_gather_rows(a, source, source.shape, bias)]


STRUCTURAL = [
    lax.reshape_p,
    lax.transpose_p,
    lax.slice_p,
    lax.pad_p,
    lax.broadcast_in_dim_p,
    lax.squeeze_p,
    lax.rev_p,
    lax.gather_p,
    lax.dynamic_slice_p,
    lax.copy_p,
]
for _p in STRUCTURAL:
    LinearInterpreter.register(_p)(_structural)


@LinearInterpreter.register(lax.concatenate_p)
def _concatenate(interp: Any, eqn: JaxprEqn, invals: list) -> list:
    affines = [v for v in invals if isinstance(v, Affine)]
    offsets, index_parts, total = [], [], 0
    for v in invals:
        shape = v.shape if isinstance(v, Affine) else np.shape(v)
        size = int(np.prod(shape, dtype=np.int64))
        index_parts.append(
            np.arange(total, total + size, dtype=np.int32).reshape(shape)
            if isinstance(v, Affine)
            else np.full(shape, -1, np.int32)
        )
        offsets.append(total)
        total += size if isinstance(v, Affine) else 0
    stacked = _stack(list(affines))
    with jax.ensure_compile_time_eval():
        source = np.asarray(bind_eqn(eqn, [jnp.asarray(i) for i in index_parts])[0])
    biases = [v.bias if isinstance(v, Affine) else v for v in invals]
    bias = _evaluate(eqn, biases)[0]
    return [_gather_rows(stacked, source, source.shape, bias)]


def _stack(affines: Sequence[Affine]) -> Affine:
    """Several affine values as one (rows offset), for concatenation."""
    rows, cols, vals, offset = [], [], [], 0
    for a in affines:
        rows.append(a.rows + offset)
        cols.append(a.cols)
        vals.append(a.vals)
        offset += a.size
    xp = _xp(*vals)
    return Affine(
        np.concatenate(rows), np.concatenate(cols), xp.concatenate(vals), None, (offset,), affines[0].dtype
    )


def _scale(a: Affine, factor: Any, shape: tuple, bias: Any) -> Affine:
    """Entries of ``a`` (broadcast to ``shape`` first if needed) times ``factor`` per row."""
    if tuple(shape) != tuple(a.shape):
        a = _broadcast(a, shape)
    f = _xp(factor).broadcast_to(factor, shape).reshape(-1)
    per_entry = f[a.rows] if _is_numpy(f) else jnp.take(f, jnp.asarray(a.rows))
    return Affine(a.rows, a.cols, a.vals * per_entry, bias, tuple(shape), a.dtype)


def _broadcast(a: Affine, shape: tuple) -> Affine:
    """Numpy-style broadcast of an affine value to ``shape``."""
    index = np.arange(a.size).reshape(a.shape)
    source = np.broadcast_to(index, shape)
    bias = _xp(a.bias).broadcast_to(a.bias, shape)
    return _gather_rows(a, source, shape, bias)


def _shape(v: Any) -> tuple:
    return v.shape if isinstance(v, Affine) else np.shape(v)


@LinearInterpreter.register(lax.mul_p)
def _mul(interp: Any, eqn: JaxprEqn, invals: list) -> list:
    x, y = invals
    if isinstance(x, Affine) and isinstance(y, Affine):
        _constant_operands(eqn, invals, 0)
    a, c = (x, y) if isinstance(x, Affine) else (y, x)
    shape = array_aval(eqn.outvars[0]).shape
    return [_scale(a, c, shape, a.bias * c)]


@LinearInterpreter.register(lax.div_p)
def _div(interp: Any, eqn: JaxprEqn, invals: list) -> list:
    x, y = invals
    if isinstance(y, Affine):
        raise NonLinearError(
            f"matrix_from_function: '{eqn.primitive}' at {eqn_source_line(eqn)} divides by a value "
            f"that depends on the input, which is not linear."
        )
    return [_scale(x, 1 / y, array_aval(eqn.outvars[0]).shape, x.bias / y)]


@LinearInterpreter.register(lax.neg_p)
def _neg(interp: Any, eqn: JaxprEqn, invals: list) -> list:
    (a,) = invals
    return [Affine(a.rows, a.cols, -a.vals, -a.bias, a.shape, a.dtype)]


def _add_like(sign: float) -> Callable:
    def rule(interp: Any, eqn: JaxprEqn, invals: list) -> list:
        x, y = invals
        shape = tuple(array_aval(eqn.outvars[0]).shape)
        if not isinstance(x, Affine):
            y = _broadcast(y, shape) if y.shape != shape else y
            return [Affine(y.rows, y.cols, sign * y.vals, x + sign * y.bias, shape, y.dtype)]
        x = _broadcast(x, shape) if x.shape != shape else x
        if not isinstance(y, Affine):
            return [Affine(x.rows, x.cols, x.vals, x.bias + sign * y, shape, x.dtype)]
        y = _broadcast(y, shape) if y.shape != shape else y
        xp = _xp(x.vals, y.vals)
        return [
            Affine(
                np.concatenate([x.rows, y.rows]),
                np.concatenate([x.cols, y.cols]),
                xp.concatenate([x.vals, sign * y.vals]),
                x.bias + sign * y.bias,
                shape,
                x.dtype,
            )
        ]

    return rule


LinearInterpreter.register(lax.add_p)(_add_like(1.0))
LinearInterpreter.register(lax.sub_p)(_add_like(-1.0))


@LinearInterpreter.register(lax.convert_element_type_p)
def _convert(interp: Any, eqn: JaxprEqn, invals: list) -> list:
    (a,) = invals
    if not isinstance(a, Affine):
        return _evaluate(eqn, invals)
    return [dataclasses.replace(a, bias=_evaluate(eqn, [a.bias])[0], dtype=eqn.params["new_dtype"])]


@LinearInterpreter.register(lax.reduce_sum_p)
def _reduce_sum(interp: Any, eqn: JaxprEqn, invals: list) -> list:
    (a,) = invals
    if not isinstance(a, Affine):
        return _evaluate(eqn, invals)
    axes = tuple(eqn.params["axes"])
    out_shape = tuple(array_aval(eqn.outvars[0]).shape)
    out_index = np.arange(int(np.prod(out_shape, dtype=np.int64))).reshape(out_shape)
    expanded = np.expand_dims(out_index, axes) if axes else out_index
    target = np.broadcast_to(expanded, a.shape).reshape(-1)
    return [Affine(target[a.rows], a.cols, a.vals, _evaluate(eqn, [a.bias])[0], out_shape, a.dtype)]


def _inline(interp: Any, eqn: JaxprEqn, invals: list) -> list:
    body = eqn.params.get("jaxpr", eqn.params.get("call_jaxpr"))
    if isinstance(body, Jaxpr):  # an open jaxpr (remat's): no consts
        body = ClosedJaxpr(body, ())
    return interp.run(body, *invals)


for _p in (jit_p, closed_call_p, remat_p, custom_jvp_call_p, custom_vjp_call_p):
    LinearInterpreter.register(_p)(_inline)


def _dense_fallback(eqn: JaxprEqn, invals: list) -> list:
    """Linear primitives without structural rule (dot_general, conv, cumsum, ...) with a
    constant other operand: their local Jacobian, sparsified, applied to the coefficients."""
    pos = next(i for i, v in enumerate(invals) if isinstance(v, Affine))
    a = invals[pos]
    others = _constant_operands(eqn, invals, pos)

    def local(u: Any) -> Any:
        args = list(others)
        args[pos] = u
        return bind_eqn(eqn, args)[0]

    with jax.ensure_compile_time_eval():
        dtype = jax.dtypes.canonicalize_dtype(np.result_type(a.bias))
        jac = jax.jacfwd(local)(jnp.zeros(a.shape, dtype))  # one equation's Jacobian
    out_shape = tuple(array_aval(eqn.outvars[0]).shape)
    jac = np.asarray(jac).reshape(int(np.prod(out_shape, dtype=np.int64)), a.size)
    import scipy.sparse  # on first use: importing foldax does not pay for SciPy

    j = scipy.sparse.coo_matrix(jac)
    bias_args = list(others)
    bias_args[pos] = a.bias
    bias = _evaluate(eqn, bias_args)[0]
    return [_expand_rows(a, j.row, j.col, j.data, out_shape, bias)]


for _p in (
    lax.dot_general_p,
    lax.conv_general_dilated_p,
    lax.cumsum_p,
    lax.reduce_precision_p,
    lax.select_n_p,
):
    LinearInterpreter.register(_p)(
        lambda interp, eqn, invals: (
            _evaluate(eqn, invals)
            if not any(isinstance(v, Affine) for v in invals)
            else _dense_fallback(eqn, invals)
        )
    )


def matrix_from_function(f: Callable, x: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """The sparse matrix (and bias) of a linear or affine function: ``f(x) == matrix @ x + bias``.

    ``f`` is traced with an ``Affine`` value for ``x`` that records, for every output element, which
    input elements it depends on and how; no dense Jacobian is formed. When nothing in ``f``
    involves JAX arrays the matrix is computed at trace time, in NumPy.

    Arguments:
        f: a function linear or affine in its first argument; its other arguments are parameters.
        x: an example input (an array, a foldax Tensor or a pytree of them; only shapes and dtypes
            matter).
        *args: the parameters passed to ``f`` after ``x``.
        **kwargs: keyword parameters passed to ``f``.

    Returns:
        ``(matrix, bias)`` with ``f(x).ravel() == matrix @ x.ravel() + bias`` (pytree inputs and
            outputs flattened and concatenated): a ``scipy.sparse.csr_matrix`` when nothing involves
            JAX arrays, else a ``jax.experimental.sparse.BCOO``; for foldax Tensors, Tensors with a
            dual dimension per input dimension.

    Raises:
        NonLinearError: ``f`` applies a non-linear operation to ``x`` (the message names it).
        FoldaxTypeError: an output of ``f`` does not depend on ``x``.

    Example:
        >>> import foldax, numpy as np
        >>> matrix, bias = foldax.matrix_from_function(lambda x: 2 * x[1:] + 1, np.zeros(3, np.float32))
        >>> matrix.toarray(), bias
        (array([[0., 2., 0.],
               [0., 0., 2.]], dtype=float32), array([1., 1.], dtype=float32))
    """
    x_leaves, _ = flatten(x)
    program = trace_program(
        lambda x_, *a, **k: f(x_, *a, **k),
        (x, *args),
        kwargs,
        make_variable=_first_arg_mask(x, args, kwargs),
        name=getattr(f, "__name__", "f"),
    )
    sizes = [int(np.prod(np.shape(leaf), dtype=np.int64)) for leaf in x_leaves]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    inputs = []
    params = [v for v in flatten((args, kwargs))[0] if leaf_kind(v) == VARIABLE]
    for i, leaf in enumerate(x_leaves):
        shape = tuple(np.shape(leaf))
        idx = np.arange(sizes[i], dtype=np.int64)
        dtype = np.result_type(leaf)
        inputs.append(
            Affine(idx, idx + offsets[i], np.ones(sizes[i], dtype), np.zeros(shape, dtype), shape, dtype)
        )
    outs = LinearInterpreter().run(program.jaxpr, *inputs, *params)
    matrix, bias = _assemble(outs, int(offsets[-1]))
    return _named(matrix, bias, x, program)


def _named(matrix: Any, bias: Any, x: Any, program: Any) -> tuple[Any, Any]:
    """For named-dimension tensors: a SparseMatrix with row/column dims and a Tensor bias."""
    from foldax.tensors import Tensor, is_tensor
    from foldax.tensors.sparse import SparseMatrix
    from foldax.transforms.core.program import TRACED

    out = program.assemble([None] * sum(s is TRACED for s in program.out_leaves))
    if not (is_tensor(x) and is_tensor(out)):
        return matrix, bias
    return SparseMatrix(matrix, out.shape, x.shape), Tensor(bias.reshape(out.shape.sizes), out.shape)


def _first_arg_mask(x: Any, args: tuple, kwargs: dict) -> list[bool]:
    n_x = len(flatten(x)[0])
    n_rest = len(flatten((args, kwargs))[0])
    return [True] * n_x + [False] * n_rest


def _assemble(outs: list, n_in: int) -> tuple[Any, Any]:
    rows, cols, vals, biases, offset = [], [], [], [], 0
    for o in outs:
        if not isinstance(o, Affine):
            raise FoldaxTypeError(
                "matrix_from_function: an output does not depend on the input x; the function "
                "must be linear/affine in its first argument."
            )
        rows.append(o.rows + offset)
        cols.append(o.cols)
        vals.append(o.vals)
        biases.append(_xp(o.bias).reshape(o.bias, -1))
        offset += o.size
    row, col = np.concatenate(rows), np.concatenate(cols)
    xp = _xp(*vals, *biases)
    val, bias = xp.concatenate(vals), xp.concatenate(biases)
    if xp is np:
        import scipy.sparse

        return scipy.sparse.coo_matrix((val, (row, col)), shape=(offset, n_in)).tocsr(), bias
    from jax.experimental import sparse

    keys, inverse = np.unique(row * n_in + col, return_inverse=True)
    summed = jax.ops.segment_sum(val, jnp.asarray(inverse), num_segments=len(keys))
    indices = np.stack([keys // n_in, keys % n_in], axis=1)
    return sparse.BCOO((summed, jnp.asarray(indices)), shape=(offset, n_in)), bias
