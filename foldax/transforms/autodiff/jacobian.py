"""Jacobians and Hessians: ``jacfwd``, ``jacrev`` (= ``jacobian``) and ``hessian``.

``jacfwd`` pushes one tangent per input element through the JVP interpreter at once (a basis
axis on every tangent); ``jacrev`` linearizes once and pulls one cotangent per output element
back through the transpose interpreter. The result is JAX's: a tree shaped like the output whose
leaves are trees shaped like the selected input(s), each block of shape
``output.shape + input.shape``.

Example:
    >>> import foldax, jax.numpy as jnp
    >>> foldax.jacrev(lambda x: x ** 2)(jnp.arange(2.0))
    Array([[0., 0.],
           [0., 2.]], dtype=float32)
    >>> foldax.hessian(lambda x: jnp.sum(x ** 3))(jnp.ones(2))
    Array([[6., 0.],
           [0., 6.]], dtype=float32)
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import jax.numpy as jnp
import numpy as np

from foldax._compat import convert_element_type, float0, typeof
from foldax.errors import NonDifferentiableError
from foldax.pytrees.leaves import STATIC, leaf_kind
from foldax.pytrees.tree import unflatten
from foldax.transforms.autodiff.inputs import Selection, Targets, canonical_tangent_dtype, dtype_of, zeros_for
from foldax.transforms.autodiff.outputs import OutputRecorder
from foldax.transforms.autodiff.forward import JVPInterpreter
from foldax.transforms.autodiff.linearize import linearize
from foldax.transforms.core.program import TRACED, VARIABLE, Program
from foldax.transforms.core.trace import trace_program


class _Call:
    """One call of a Jacobian: the traced Program and where each input/output leaf sits."""

    def __init__(self, fun: Callable, selection: Selection, args: tuple, kwargs: dict,
                 has_aux: bool, allow_int: bool, holomorphic: bool) -> None:
        self.targets = Targets(selection, args, kwargs, promote_ints=not allow_int,
                               allow_int=allow_int, holomorphic=holomorphic)
        self.recorder = OutputRecorder(fun, has_aux, selection.describe())
        self.program = trace_program(self.recorder, self.targets.args, self.targets.kwargs,
                                     make_variable=self.targets.make_variable)
        self.variables = self.targets.variables(self.program)
        self.diff = self.targets.differentiated(self.program)
        slots = self.program.out_leaves
        self.traced_index = [sum(s is TRACED for s in slots[:i]) if s is TRACED else None
                             for i, s in enumerate(slots)]
        self.num_traced_out = sum(s is TRACED for s in slots[:self.recorder.num_leaves])
        # the differentiated variable inputs, by leaf index
        self.leaf_of_var = [n for n, s in enumerate(self.program.in_leaves) if s is VARIABLE]

    def result(self, outputs: Sequence, block: Callable[[int, int, Any], Any]) -> tuple:
        """``(jacobian, aux)``: ``block(j, n, x)`` gives the block of traced output ``j`` (or
        ``None`` for a constant output) with respect to input leaf ``n`` (value ``x``)."""
        out_avals, slots = self.program.out_avals, self.program.out_leaves
        leaves = []
        for i, slot in enumerate(slots[:self.recorder.num_leaves]):
            j = self.traced_index[i]
            shape = out_avals[j].shape if j is not None else np.shape(slot)
            if j is None and leaf_kind(slot) == STATIC:
                leaves.append(None)
                continue
            leaves.append(self.targets.build(
                lambda n, x, j=j, shape=shape: _like(block(j, n, x), x) if j is not None
                else zeros_for(tuple(shape) + np.shape(x), dtype_of(x))))
        _, aux = self.program.assemble(outputs)
        return unflatten(self.recorder.tree, leaves), aux


def _like(block: Any, x: Any) -> Any:
    """``block`` with the tangent dtype and weak type of the input ``x`` (as JAX returns)."""
    dtype = canonical_tangent_dtype(dtype_of(x))
    if dtype == float0:
        return block
    weak = type(x) in (int, float, complex) or bool(getattr(typeof(x), "weak_type", False))
    return convert_element_type(block, dtype, weak)


def _sizes(shapes: Sequence[tuple]) -> tuple[list[int], int]:
    offsets, total = [], 0
    for shape in shapes:
        offsets.append(total)
        total += int(np.prod(shape, dtype=np.int64))
    return offsets, total


def _basis(shapes: Sequence[tuple], dtypes: Sequence, total: int) -> list:
    """One batch of unit vectors per shape: leaf ``k`` gets ``(total, *shape_k)``."""
    offsets, _ = _sizes(shapes)
    out = []
    for off, shape, dtype in zip(offsets, shapes, dtypes):
        size = int(np.prod(shape, dtype=np.int64))
        out.append(jnp.eye(total, size, -off, dtype=dtype).reshape((total, *shape)))
    return out


def _differentiable_output(aval: Any, holomorphic: bool, where: str) -> bool:
    if jnp.issubdtype(aval.dtype, jnp.complexfloating) and not holomorphic:
        raise NonDifferentiableError(
            f"{where}: an output has dtype {aval.dtype}; reverse-mode Jacobians of complex "
            f"outputs need holomorphic=True (for a holomorphic function) or vjp.")
    return jnp.issubdtype(aval.dtype, jnp.inexact)


def jacrev(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
           holomorphic: bool = False, allow_int: bool = False, *,
           wrt: str | Sequence[str] | None = None) -> Callable:
    """The Jacobian of ``fun`` by reverse mode: one linearization, one backward pass per output
    element (batched). Returns ``jacobian`` or ``(jacobian, aux)``.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> foldax.jacrev(lambda x, y: x * y, wrt="y")(jnp.ones(2), jnp.ones(2))
        Array([[1., 0.],
               [0., 1.]], dtype=float32)
    """
    selection = Selection(fun, argnums, wrt, "jacrev")

    @functools.wraps(fun)
    def jacrev_fun(*args: Any, **kwargs: Any) -> Any:
        call = _Call(fun, selection, args, kwargs, has_aux, allow_int, holomorphic)
        program = call.program
        n_traced = len(program.out_avals)
        keep = [j < call.num_traced_out and _differentiable_output(a, holomorphic,
                                                                     selection.describe())
                for j, a in enumerate(program.out_avals)]
        lin = linearize(program, call.variables, call.diff, outputs=keep)
        kept = [j for j in range(n_traced) if keep[j]]
        shapes = [program.out_avals[j].shape for j in kept]
        offsets, total = _sizes(shapes)
        cts_by_var: list = [None] * len(call.variables)
        if total:
            basis = _basis(shapes, [program.out_avals[j].dtype for j in kept], total)
            cts = [None] * n_traced
            for j, b in zip(kept, basis):
                cts[j] = b
            cts_by_var = lin.transpose(cts, basis=total)
        row = dict(zip(kept, zip(offsets, shapes)))
        ct_of_leaf = dict(zip(call.leaf_of_var, cts_by_var))

        def block(j: int, n: int, x: Any) -> Any:
            ct = ct_of_leaf.get(n)
            out_shape = program.out_avals[j].shape
            if ct is None or j not in row:
                return zeros_for(tuple(out_shape) + np.shape(x), dtype_of(x))
            off, shape = row[j]
            size = int(np.prod(shape, dtype=np.int64))
            return ct[off:off + size].reshape(tuple(shape) + np.shape(x))

        jac, aux = call.result(lin.outputs, block)
        return (jac, aux) if has_aux else jac

    return jacrev_fun


jacobian = jacrev


def jacfwd(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
           holomorphic: bool = False, *, wrt: str | Sequence[str] | None = None) -> Callable:
    """The Jacobian of ``fun`` by forward mode: one pass of the JVP interpreter whose tangents
    carry one basis vector per input element. Returns ``jacobian`` or ``(jacobian, aux)``.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> foldax.jacfwd(jnp.sin)(jnp.zeros(2))
        Array([[1., 0.],
               [0., 1.]], dtype=float32)
    """
    selection = Selection(fun, argnums, wrt, "jacfwd")

    @functools.wraps(fun)
    def jacfwd_fun(*args: Any, **kwargs: Any) -> Any:
        call = _Call(fun, selection, args, kwargs, has_aux, False, holomorphic)
        program = call.program
        for a, d in zip(program.in_avals, call.diff):
            if d and jnp.issubdtype(a.dtype, jnp.complexfloating) and not holomorphic:
                raise NonDifferentiableError(
                    f"{selection.describe()}: an input has dtype {a.dtype}; forward-mode "
                    f"Jacobians of complex inputs need holomorphic=True, or use jvp.")
        diff_avals = [a for a, d in zip(program.in_avals, call.diff) if d]
        shapes = [a.shape for a in diff_avals]
        offsets, total = _sizes(shapes)
        basis = iter(_basis(shapes, [canonical_tangent_dtype(a.dtype) for a in diff_avals], total))
        values = [(x, next(basis) if d and total else None)
                  for x, d in zip(call.variables, call.diff)]
        outs = JVPInterpreter(basis=total or None).run(program.jaxpr, *values) if total else \
            [(o, None) for o in program.evaluate(call.variables)]
        column = dict(zip([n for n, d in zip(call.leaf_of_var, call.diff) if d],
                          zip(offsets, shapes)))

        def block(j: int, n: int, x: Any) -> Any:
            t = outs[j][1]
            out_shape = tuple(program.out_avals[j].shape)
            if t is None or n not in column:
                return zeros_for(out_shape + np.shape(x), dtype_of(x))
            off, shape = column[n]
            size = int(np.prod(shape, dtype=np.int64))
            t = t[off:off + size].reshape(tuple(shape) + out_shape)
            return jnp.moveaxis(t, tuple(range(len(shape))),
                                tuple(range(len(out_shape), len(out_shape) + len(shape))))

        jac, aux = call.result([p for p, _ in outs], block)
        return (jac, aux) if has_aux else jac

    return jacfwd_fun


def hessian(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
            holomorphic: bool = False, *, wrt: str | Sequence[str] | None = None) -> Callable:
    """``jacfwd(jacrev(fun))``: the Hessian of a scalar function (blocks for every pair of
    selected inputs).

    Example:
        >>> import foldax
        >>> foldax.hessian(lambda x, y: x ** 2 * y, wrt="x")(1.0, 3.0)
        Array(6., dtype=float32, weak_type=True)
    """
    inner = jacrev(fun, argnums, has_aux, holomorphic, wrt=wrt)
    return jacfwd(inner, argnums, has_aux, holomorphic, wrt=wrt)
