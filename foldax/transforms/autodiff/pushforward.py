"""Forward mode: ``jvp``, ``fun``'s value and its Jacobian applied to tangents, as ``jax.jvp``.

The function is traced into a Program and interpreted by the JVP interpreter (``forward.py``),
which pushes each tangent forward along with its primal. Tangents are checked against their
primals first, with JAX's messages followed by foldax's naming of the leaf and the fix.

Example:
    >>> import foldax, jax.numpy as jnp
    >>> foldax.jvp(lambda x: x ** 2, (3.0,), (1.0,))
    (Array(9., dtype=float32, weak_type=True), Array(6., dtype=float32, weak_type=True))
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import numpy as np

from foldax._compat import float0
from foldax.errors import FoldaxTypeError, FoldaxValueError
from foldax.pytrees.leaves import STATIC, VARIABLE as VARIABLE_KIND, leaf_kind
from foldax.pytrees.tree import flatten, unflatten
from foldax.transforms.autodiff.forward import JVPInterpreter, differentiation_rule_checked_first
from foldax.transforms.autodiff.inputs import canonical_tangent_dtype, dtype_of, zero_cotangent, zeros_for
from foldax.transforms.autodiff.outputs import OutputRecorder
from foldax.transforms.core.mesh import on_argument_devices
from foldax.transforms.core.program import TRACED, VARIABLE, Program
from foldax.transforms.core.trace import function_name, trace_program


def _check_tuples(primals: Any, tangents: Any, where: str) -> tuple[tuple, tuple]:
    for x, name in ((primals, "primals"), (tangents, "tangents")):
        if not isinstance(x, (tuple, list)):
            raise FoldaxTypeError(
                f"primal and tangent arguments to jax.jvp must be tuples or lists; found "
                f"{type(primals).__name__} and {type(tangents).__name__}. {where}: {name} must be "
                f"a tuple or list with one entry per positional argument, found "
                f"{type(x).__name__}. Wrap a single argument as ({name[:-1]},)."
            )
    return tuple(primals), tuple(tangents)


@on_argument_devices
def jvp(fun: Callable, primals: Sequence, tangents: Sequence, has_aux: bool = False) -> tuple:
    """Forward mode: ``fun``'s value and its Jacobian applied to ``tangents`` (``jax.jvp``).

    Arguments:
        fun: the function to differentiate.
        primals: a tuple or list of the arguments to evaluate ``fun`` at.
        tangents: a tuple or list of tangents, one per primal, with the same structure, shapes and
            tangent dtypes (``float0`` for integer and boolean primals).
        has_aux: ``fun`` returns ``(output, aux)``.

    Returns:
        ``(fun(*primals), J @ tangents)``, or ``(output, tangent_out, aux)`` with ``has_aux``.

    Raises:
        FoldaxTypeError: ``primals``/``tangents`` are not tuples or lists, differ in length or
            structure, or a tangent's dtype does not match its primal (a ``TypeError``, as in JAX).
        FoldaxValueError: a tangent's shape differs from its primal's (a ``ValueError``).

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> foldax.jvp(jnp.sin, (0.0,), (2.0,))
        (Array(0., dtype=float32, weak_type=True), Array(2., dtype=float32, weak_type=True))
    """
    where = f"jvp({function_name(fun)})"
    p_leaves, p_tree = flatten(primals)  # a tuple and a list differ, as in JAX
    t_leaves, t_tree = flatten(tangents)
    primals, tangents = _check_tuples(primals, tangents, where)
    if p_tree != t_tree:
        raise FoldaxTypeError(
            f"primal and tangent arguments to jax.jvp must have the same tree structure; primals "
            f"have tree structure {p_tree} whereas tangents have tree structure {t_tree}. {where}: "
            f"pass one tangent per primal leaf, in the primals' containers."
        )
    for n, (p, t) in enumerate(zip(p_leaves, t_leaves)):
        _check_tangent(p, t, f"{where}: tangent leaf {n}")
    recorder = OutputRecorder(fun, has_aux, where)
    with differentiation_rule_checked_first():
        program = trace_program(
            recorder,
            primals,
            {},
            make_variable=[leaf_kind(p) != STATIC for p in p_leaves],
            name=where,
            traced_for="jvp",
        )
    values = [
        (_as_array(p), None if dtype_of(t) == float0 else _as_array(t))
        for p, t, s in zip(p_leaves, t_leaves, program.in_leaves)
        if s is VARIABLE
    ]
    outs = JVPInterpreter().run(program.jaxpr, *values)
    out, aux = program.assemble([p for p, _ in outs])
    out_tangents = _output_tangents(program, recorder, [t for _, t in outs])
    return (out, out_tangents, aux) if has_aux else (out, out_tangents)


def _as_array(x: Any) -> Any:
    """A primal or tangent as the ``jax.Array`` JAX makes of it (a Python number weakly typed),
    so that outputs that are inputs come back as arrays, as from ``jax.jvp``. A transfer, as
    ``jax.jit`` makes of a NumPy argument: ``jnp.asarray`` would compile a copy per shape."""
    return x if leaf_kind(x) == VARIABLE_KIND else jax.device_put(x)


def _check_tangent(p: Any, t: Any, where: str) -> None:
    if leaf_kind(p) == STATIC:
        return
    p_dtype, t_dtype = dtype_of(p), dtype_of(t)
    expected = canonical_tangent_dtype(p_dtype)
    python_scalar = type(t) in (int, float, complex)
    same = (
        t_dtype == expected
        or (expected != float0 and python_scalar)
        or (expected != float0 and canonical_tangent_dtype(t_dtype) == expected)
    )
    advice = (
        f"{where} has shape {np.shape(t)} and dtype {t_dtype}, but its primal has shape "
        f"{np.shape(p)} and dtype {p_dtype}: a tangent must have the primal's shape and tangent "
        f"dtype {expected} (float0 for integer and boolean primals)."
    )
    if not same:
        raise FoldaxTypeError(
            f"primal and tangent arguments to jax.jvp do not match; dtypes must be equal, or in "
            f"case of int/bool primal dtype the tangent dtype must be float0.Got primal dtype "
            f"{p_dtype} and so expected tangent dtype {expected}, but got tangent dtype {t_dtype} "
            f"instead. {advice}"
        )
    if np.shape(p) != np.shape(t):
        raise FoldaxValueError(
            f"jvp called with different primal and tangent shapes;Got primal shape {np.shape(p)} "
            f"and tangent shape as {np.shape(t)}. {advice}"
        )


def _output_tangents(program: Program, recorder: OutputRecorder, traced_tangents: Sequence) -> Any:
    """The tangent tree of the (non-aux) output: zeros for untouched or constant outputs."""
    it = iter(zip(program.out_avals, traced_tangents))
    leaves = []
    for slot in program.out_leaves[: recorder.num_leaves]:
        if slot is TRACED:
            aval, t = next(it)
            leaves.append(zeros_for(aval.shape, aval.dtype, aval.weak_type) if t is None else t)
        else:
            leaves.append(None if leaf_kind(slot) == STATIC else zero_cotangent(slot))
    return unflatten(recorder.tree, leaves)
