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

import jax
import jax.numpy as jnp
import numpy as np

from foldax._compat import convert_element_type, float0
from foldax.errors import NonDifferentiableError
from foldax.pytrees.leaves import STATIC, leaf_kind
from foldax.pytrees.tree import unflatten
from foldax.transforms.autodiff.forward import JVPInterpreter, differentiation_rule_checked_first
from foldax.transforms.autodiff.inputs import Selection, Targets, canonical_tangent_dtype, dtype_of
from foldax.transforms.autodiff.linearize import linearize
from foldax.transforms.autodiff.outputs import OutputRecorder
from foldax.transforms.core.mesh import on_argument_devices
from foldax.transforms.core.program import TRACED, VARIABLE
from foldax.transforms.core.trace import trace_program


class _Call:
    """One call of a Jacobian: the traced Program and where each input/output leaf sits."""

    def __init__(
        self,
        fun: Callable,
        selection: Selection,
        args: tuple,
        kwargs: dict,
        has_aux: bool,
        allow_int: bool,
        holomorphic: bool,
    ) -> None:
        self.targets = Targets(
            selection, args, kwargs, promote_ints=False, allow_int=allow_int, holomorphic=holomorphic
        )
        self.recorder = OutputRecorder(fun, has_aux, selection.describe())
        with differentiation_rule_checked_first():
            self.program = trace_program(
                self.recorder,
                self.targets.args,
                self.targets.kwargs,
                make_variable=self.targets.make_variable,
            )
        self.variables = self.targets.variables(self.program)
        self.diff = self.targets.differentiated(self.program)
        slots = self.program.out_leaves
        self.traced_index = [
            sum(s is TRACED for s in slots[:i]) if s is TRACED else None for i, s in enumerate(slots)
        ]
        self.num_traced_out = sum(s is TRACED for s in slots[: self.recorder.num_leaves])
        # the differentiated variable inputs, by leaf index
        self.leaf_of_var = [n for n, s in enumerate(self.program.in_leaves) if s is VARIABLE]

    def result(
        self, outputs: Sequence, block: Callable[[int, int, Any], Any], like_output: bool = False
    ) -> tuple:
        """``(jacobian, aux)``: ``block(j, n, x)`` gives the block of traced output ``j`` with
        respect to input leaf ``n`` (value ``x``), or ``None`` where it is zero. Blocks get the
        type of the input leaf (``jax.jacrev``) or, ``like_output``, of the output leaf
        (``jax.jacfwd``)."""
        out_avals, slots = self.program.out_avals, self.program.out_leaves
        leaves: list[Any] = []
        for i, slot in enumerate(slots[: self.recorder.num_leaves]):
            j = self.traced_index[i]
            shape = out_avals[j].shape if j is not None else np.shape(slot)
            if j is None and leaf_kind(slot) == STATIC:
                leaves.append(None)
                continue
            out = out_avals[j] if j is not None else slot

            def leaf(n: int, x: Any, j: int | None = j, shape: tuple = shape, out: Any = out) -> Any:
                found = None if j is None else block(j, n, x)
                dtype, weak = _type_of(out if like_output else x)
                if found is None:
                    found = np.zeros(tuple(shape) + np.shape(x), dtype)
                return _like(found, dtype, weak)

            leaves.append(self.targets.build(leaf))
        _, aux = self.program.assemble(outputs)
        return unflatten(self.recorder.tree, leaves), aux


def _type_of(x: Any) -> tuple[Any, bool]:
    """The (canonical) dtype and weak type of a value or abstract value."""
    dtype = jax.dtypes.canonicalize_dtype(dtype_of(x))
    weak = type(x) in (int, float, complex) or bool(getattr(x, "weak_type", False))
    return dtype, weak


def _like(block: Any, dtype: Any, weak: bool) -> Any:
    """``block`` as ``dtype`` (weakly typed or not), as JAX casts Jacobian blocks: the real part
    of a complex block for a real type, zeros for a ``float0`` block."""
    if dtype_of(block) == float0:
        return jnp.zeros(np.shape(block), dtype)
    if jnp.iscomplexobj(block) and not jnp.issubdtype(dtype, jnp.complexfloating):
        block = jnp.real(block)
    return convert_element_type(block, dtype, weak)


class _Segments:
    """Leaves laid end to end along one flat basis axis: leaf ``k`` (of shape ``shape_k``) owns
    the rows ``offset_k : offset_k + size_k``."""

    def __init__(self, keys: Sequence, shapes: Sequence[tuple]) -> None:
        self.shapes = [tuple(s) for s in shapes]
        sizes = [int(np.prod(s, dtype=np.int64)) for s in self.shapes]
        self.offsets = [sum(sizes[:k]) for k in range(len(sizes))]
        self.total = sum(sizes)
        self.where = dict(zip(keys, zip(self.offsets, self.shapes, sizes)))

    def unit_vectors(self, dtypes: Sequence) -> list:
        """One batch of unit vectors per leaf: leaf ``k`` gets ``(total, *shape_k)``."""
        return [
            jnp.eye(self.total, int(np.prod(shape, dtype=np.int64)), -off, dtype=dtype).reshape(
                (self.total, *shape)
            )
            for off, shape, dtype in zip(self.offsets, self.shapes, dtypes)
        ]

    def rows(self, stacked: Any, key: Any, trailing: tuple) -> Any:
        """The rows of leaf ``key`` in ``stacked`` (``(total, *trailing)``), reshaped to
        ``shape_key + trailing``; ``None`` if ``stacked`` is ``None`` or ``key`` has no rows."""
        if stacked is None or key not in self.where:
            return None
        off, shape, size = self.where[key]
        return stacked[off : off + size].reshape(shape + tuple(trailing))


def _differentiable_output(aval: Any, holomorphic: bool, where: str) -> bool:
    if jnp.issubdtype(aval.dtype, jnp.complexfloating) and not holomorphic:
        raise NonDifferentiableError(
            f"jacrev requires real-valued outputs (output dtype that is a sub-dtype of "
            f"np.floating), but got {aval.dtype.name}. For holomorphic differentiation, pass "
            f"holomorphic=True. For differentiation of non-holomorphic functions involving complex "
            f"outputs, use jax.vjp directly. {where}: an output has dtype {aval.dtype}; "
            f"reverse-mode Jacobians of complex outputs need holomorphic=True (for a holomorphic "
            f"function) or vjp."
        )
    if not jnp.issubdtype(aval.dtype, jnp.inexact):  # JAX's words
        raise NonDifferentiableError(
            f"jacrev requires real-valued outputs (output dtype that is a sub-dtype of "
            f"np.floating), but got {aval.dtype.name}. For differentiation of functions with "
            f"integer outputs, use jax.vjp directly. {where}: an output has dtype {aval.dtype}."
        )
    return True


def jacrev(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
    allow_int: bool = False,
    *,
    wrt: str | Sequence[str] | None = None,
) -> Callable:
    """The Jacobian of ``fun`` by reverse mode (``jax.jacrev``; ``foldax.jacobian`` is the same).

    ``fun`` is linearized once and one cotangent per output element is pulled back through the
    transpose interpreter, all at once (batched over a basis axis).

    Arguments:
        fun: the function; its outputs may be any pytree of arrays.
        argnums: the position(s) of the arguments to differentiate with respect to.
        has_aux: ``fun`` returns ``(output, aux)``; the result is then ``(jacobian, aux)``.
        holomorphic: ``fun`` is holomorphic (complex inputs and outputs).
        allow_int: allow integer inputs (their blocks are zeros of the input's dtype, as JAX's).
        wrt: instead of ``argnums``, parameter names: ``'x'``, ``'x,y'`` or a sequence.

    Returns:
        A function returning the Jacobian: a tree shaped like the output whose leaves are trees
            shaped like the selected input(s), each block of shape ``output.shape + input.shape``
            (``(jacobian, aux)`` with ``has_aux``).

    Raises:
        FoldaxTypeError: an input or output is complex without ``holomorphic=True``
            (``NonDifferentiableError``), or an integer input is differentiated.
        FoldaxValueError: ``argnums``/``wrt`` select no parameter of ``fun``.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> foldax.jacrev(lambda x, y: x * y, wrt="y")(jnp.ones(2), jnp.ones(2))
        Array([[1., 0.],
               [0., 1.]], dtype=float32)
    """
    selection = Selection(fun, argnums, wrt, "jacrev")

    @functools.wraps(fun)
    @on_argument_devices
    def jacrev_fun(*args: Any, **kwargs: Any) -> Any:
        call = _Call(fun, selection, args, kwargs, has_aux, allow_int, holomorphic)
        program = call.program
        n_traced = len(program.out_avals)
        keep = [
            j < call.num_traced_out and _differentiable_output(a, holomorphic, selection.describe())
            for j, a in enumerate(program.out_avals)
        ]
        lin = linearize(program, call.variables, call.diff, outputs=keep)
        kept = [j for j in range(n_traced) if keep[j]]
        rows = _Segments(kept, [program.out_avals[j].shape for j in kept])
        cts_by_var: list = [None] * len(call.variables)
        if rows.total:
            cts: list = [None] * n_traced
            for j, b in zip(kept, rows.unit_vectors([program.out_avals[j].dtype for j in kept])):
                cts[j] = b
            cts_by_var = lin.transpose(cts, basis=rows.total)
        ct_of_leaf = dict(zip(call.leaf_of_var, cts_by_var))

        def block(j: int, n: int, x: Any) -> Any:
            return rows.rows(ct_of_leaf.get(n), j, np.shape(x))

        jac, aux = call.result(lin.outputs, block)
        return (jac, aux) if has_aux else jac

    return jacrev_fun


jacobian = jacrev


def jacfwd(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
    *,
    wrt: str | Sequence[str] | None = None,
) -> Callable:
    """The Jacobian of ``fun`` by forward mode (``jax.jacfwd``).

    One pass of the JVP interpreter whose tangents carry one basis vector per input element.

    Arguments:
        fun: the function; its outputs may be any pytree of arrays.
        argnums: the position(s) of the arguments to differentiate with respect to.
        has_aux: ``fun`` returns ``(output, aux)``; the result is then ``(jacobian, aux)``.
        holomorphic: ``fun`` is holomorphic (complex inputs and outputs).
        wrt: instead of ``argnums``, parameter names: ``'x'``, ``'x,y'`` or a sequence.

    Returns:
        A function returning the Jacobian, laid out as ``jacrev``'s (``(jacobian, aux)`` with
            ``has_aux``).

    Raises:
        FoldaxTypeError: an input or output is complex without ``holomorphic=True``
            (``NonDifferentiableError``), or an integer input is differentiated.
        FoldaxValueError: ``argnums``/``wrt`` select no parameter of ``fun``.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> foldax.jacfwd(jnp.sin)(jnp.zeros(2))
        Array([[1., 0.],
               [0., 1.]], dtype=float32)
    """
    selection = Selection(fun, argnums, wrt, "jacfwd")

    @functools.wraps(fun)
    @on_argument_devices
    def jacfwd_fun(*args: Any, **kwargs: Any) -> Any:
        call = _Call(fun, selection, args, kwargs, has_aux, False, holomorphic)
        program = call.program
        diff_avals = [a for a, d in zip(program.in_avals, call.diff) if d]
        columns = _Segments(
            [n for n, d in zip(call.leaf_of_var, call.diff) if d], [a.shape for a in diff_avals]
        )
        total = columns.total
        basis = iter(columns.unit_vectors([canonical_tangent_dtype(a.dtype) for a in diff_avals]))
        values = [(x, next(basis) if d and total else None) for x, d in zip(call.variables, call.diff)]
        outs = (
            JVPInterpreter(basis=total or None).run(program.jaxpr, *values)
            if total
            else [(o, None) for o in program.evaluate(call.variables)]
        )

        def block(j: int, n: int, x: Any) -> Any:
            out_shape = tuple(program.out_avals[j].shape)
            t = columns.rows(outs[j][1], n, out_shape)  # input dims first: move them last
            if t is None:
                return None
            k = t.ndim - len(out_shape)
            return jnp.moveaxis(t, tuple(range(k)), tuple(range(len(out_shape), t.ndim)))

        jac, aux = call.result([p for p, _ in outs], block, like_output=True)
        return (jac, aux) if has_aux else jac

    return jacfwd_fun


def hessian(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
    *,
    wrt: str | Sequence[str] | None = None,
) -> Callable:
    """The Hessian of a scalar function: ``jacfwd(jacrev(fun))`` (``jax.hessian``).

    Arguments:
        fun: the function; its outputs may be any pytree of arrays.
        argnums: the position(s) of the arguments to differentiate with respect to.
        has_aux: ``fun`` returns ``(output, aux)``; the result is then ``(jacobian, aux)``.
        holomorphic: ``fun`` is holomorphic (complex inputs and outputs).
        wrt: instead of ``argnums``, parameter names: ``'x'``, ``'x,y'`` or a sequence.

    Returns:
        A function returning the Hessian: blocks for every pair of selected inputs, each of shape
            ``input_i.shape + input_j.shape`` (``(hessian, aux)`` with ``has_aux``).

    Raises:
        FoldaxTypeError: an input or output is complex without ``holomorphic=True``
            (``NonDifferentiableError``), or an integer input is differentiated.
        FoldaxValueError: ``argnums``/``wrt`` select no parameter of ``fun``.

    Example:
        >>> import foldax
        >>> foldax.hessian(lambda x, y: x ** 2 * y, wrt="x")(1.0, 3.0)
        Array(6., dtype=float32, weak_type=True)
    """
    inner = jacrev(fun, argnums, has_aux, holomorphic, wrt=wrt)
    return jacfwd(inner, argnums, has_aux, holomorphic, wrt=wrt)
