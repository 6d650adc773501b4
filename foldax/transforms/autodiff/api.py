"""Automatic differentiation: ``grad``, ``value_and_grad``, ``jvp``, ``vjp`` (and ΦML's
``gradient``), with JAX's signatures and results.

Each call traces the function into a Program, then interprets it: forward mode with the JVP
interpreter (``forward.py``), reverse mode by linearizing (``linearize.py``) and running the linear
part backwards (``transpose.py``). Everything is evaluated by binding primitives, so these compose
with ``foldax.jit``, ``jax.jit``, ``vmap`` and with each other (``grad(grad(f))``).

Beyond JAX: ``wrt='x'``, ``'x,y'`` or a tuple of names selects parameters by name (ΦML);
NumPy arrays and Python numbers that are differentiated become variables for the call (ΦML's
``gradient`` promotes Python ints to floats; ``grad`` refuses them as ``jax.grad`` does); a
dataclass model's gradient is the same dataclass, with gradients in its variable fields and its
other fields unchanged (so optax can apply it directly); static leaves inside an argument
(strings, functions in an equinox Module, Python bool flags) get ``None``; a foldax Tensor loss
with only batch dimensions is summed over them.

Errors derive from the exception ``jax.grad`` & co. raise for the same misuse and start with
JAX's message (code that matches JAX's wording keeps working), followed by foldax's naming of the
argument and the fix.

Example:
    >>> import foldax
    >>> def loss(x, y):
    ...     return x ** 2 * y
    >>> foldax.grad(loss, wrt="x,y")(3.0, 2.0)
    (Array(12., dtype=float32, weak_type=True), Array(9., dtype=float32, weak_type=True))
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from typing import Any, Callable, Sequence, cast

import jax
import numpy as np

from foldax._compat import ClosedJaxpr, cotangent_type_error, float0, vjp_too_many_args_message
from foldax.errors import FoldaxTypeError, FoldaxValueError
from foldax.pytrees.leaves import STATIC, VARIABLE as VARIABLE_KIND, is_variable, leaf_kind
from foldax.pytrees.tree import flatten, unflatten
from foldax.transforms.autodiff.forward import JVPInterpreter, differentiation_rule_checked_first
from foldax.transforms.autodiff.inputs import (
    Selection,
    Targets,
    canonical_tangent_dtype,
    dtype_of,
    is_weakly_typed,
    zero_cotangent,
    zeros_for,
)
from foldax.transforms.autodiff.linearize import Linearized, linearize
from foldax.transforms.autodiff.outputs import OutputRecorder, scalar_loss, split_aux
from foldax.transforms.core.mesh import devices_of, on_argument_devices
from foldax.transforms.core.program import TRACED, VARIABLE, Program
from foldax.transforms.core.trace import function_name, trace_program


def _no_reduce_axes(reduce_axes: Sequence, what: str) -> None:
    if reduce_axes:
        raise FoldaxValueError(
            f"{what}(reduce_axes={reduce_axes!r}): reduce_axes is not supported "
            f"(JAX removed it too); sum over named axes inside the function."
        )


def value_and_grad(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
    allow_int: bool = False,
    reduce_axes: Sequence = (),
    *,
    wrt: str | Sequence[str] | None = None,
) -> Callable:
    """``fun``'s value together with its gradient (``jax.value_and_grad``).

    Arguments:
        fun: a function returning a scalar (and auxiliary data with ``has_aux``).
        argnums: the position(s) of the arguments to differentiate with respect to.
        has_aux: ``fun`` returns ``(scalar, aux)``.
        holomorphic: ``fun`` is holomorphic in complex inputs.
        allow_int: allow integer inputs (their gradients are ``float0`` zeros).
        reduce_axes: not supported; must be empty.
        wrt: instead of ``argnums``, parameter names: ``'x'``, ``'x,y'`` or a sequence.

    Returns:
        A function returning ``(value, grad)``, or ``((value, aux), grad)`` with ``has_aux``.

    Raises:
        FoldaxTypeError: ``fun`` is not callable, or returns a non-scalar or non-float output
            (``NonDifferentiableError``); an integer input is differentiated without ``allow_int``.
        FoldaxValueError: ``argnums``/``wrt`` select no parameter of ``fun``, or ``reduce_axes``
            is given.
        TracerControlFlowError: ``fun`` branches in Python on a differentiated value (foldax traces
            before differentiating; see "Differences from JAX").

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> foldax.value_and_grad(lambda w: jnp.sum(w ** 2))(jnp.arange(3.0))
        (Array(5., dtype=float32), Array([0., 2., 4.], dtype=float32))
    """
    run = _value_aux_and_grad(
        "value_and_grad", fun, argnums, has_aux, holomorphic, allow_int, reduce_axes, wrt
    )

    @functools.wraps(fun)
    def value_and_grad_fun(*args: Any, **kwargs: Any) -> tuple:
        value, aux, grads = run(args, kwargs)
        return ((value, aux), grads) if has_aux else (value, grads)

    return value_and_grad_fun


def grad(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
    allow_int: bool = False,
    reduce_axes: Sequence = (),
    *,
    wrt: str | Sequence[str] | None = None,
) -> Callable:
    """The gradient of the scalar function ``fun`` with respect to some of its arguments.

    A drop-in for ``jax.grad``: ``fun`` is traced once into a program, which foldax's JVP and
    transpose interpreters differentiate. Dataclass models give gradients shaped like the model
    (only variable fields are differentiated). NumPy and Python-number arguments are differentiated
    when selected.

    Arguments:
        fun: a function returning a scalar (and auxiliary data with ``has_aux``).
        argnums: the position(s) of the arguments to differentiate with respect to.
        has_aux: ``fun`` returns ``(scalar, aux)``; the gradient function then returns
            ``(grad, aux)``.
        holomorphic: ``fun`` is holomorphic in complex inputs (as in ``jax.grad``).
        allow_int: allow integer inputs (their gradients are ``float0`` zeros).
        reduce_axes: not supported (removed from JAX); must be empty.
        wrt: instead of ``argnums``, parameter names: ``'x'``, ``'x,y'`` or a sequence.

    Returns:
        A function with ``fun``'s signature returning the gradient: one tree for an int ``argnums``
            or a single name, else a tuple of them (``(grad, aux)`` with ``has_aux``).

    Raises:
        FoldaxTypeError: ``fun`` is not callable, or returns a non-scalar or non-float output
            (``NonDifferentiableError``); an integer input is differentiated without ``allow_int``.
        FoldaxValueError: ``argnums``/``wrt`` select no parameter of ``fun``, or ``reduce_axes``
            is given.
        TracerControlFlowError: ``fun`` branches in Python on a differentiated value (foldax traces
            before differentiating; see "Differences from JAX").

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> foldax.grad(lambda x, y: jnp.sum(x * y), argnums=(0, 1))(jnp.ones(2), jnp.arange(2.))
        (Array([0., 1.], dtype=float32), Array([1., 1.], dtype=float32))
        >>> foldax.grad(lambda x, y: x ** 2 * y, wrt="y")(3.0, 1.0)
        Array(9., dtype=float32, weak_type=True)
    """
    run = _value_aux_and_grad("grad", fun, argnums, has_aux, holomorphic, allow_int, reduce_axes, wrt)

    @functools.wraps(fun)
    def grad_fun(*args: Any, **kwargs: Any) -> Any:
        _, aux, grads = run(args, kwargs)
        return (grads, aux) if has_aux else grads

    return grad_fun


def _value_aux_and_grad(
    what: str,
    fun: Callable,
    argnums: int | Sequence[int],
    has_aux: bool,
    holomorphic: bool,
    allow_int: bool,
    reduce_axes: Sequence,
    wrt: str | Sequence[str] | None,
) -> Callable[[tuple, dict], tuple[Any, Any, Any]]:
    """``run(args, kwargs) -> (value, aux, gradients)``: ``fun`` differentiated as ``what``
    (``grad`` or ``value_and_grad``, whose arguments these are) sets it up; its options are
    checked now."""
    _no_reduce_axes(reduce_axes, what)
    selection = Selection(fun, argnums, wrt, what)
    split = functools.partial(split_aux, has_aux=has_aux, where=selection.describe())

    def run(args: tuple, kwargs: dict) -> tuple[Any, Any, Any]:
        return differentiate(fun, selection, args, kwargs, split, holomorphic, allow_int)

    return run


def gradient(f: Callable, wrt: str | Sequence[str] | None = None, get_output: bool = True) -> Callable:
    """ΦML's spelling of ``value_and_grad``: select arguments by name, get the output too.

    Arguments:
        f: a function returning a scalar (batch dimensions of a foldax Tensor are summed), or a
            tuple/list whose first element is that scalar.
        wrt: the parameter names to differentiate with respect to (``'x'``, ``'x,y'`` or a
            sequence); by default the first parameter.
        get_output: return ``(output, grad)`` (the default), or only ``grad``.

    Returns:
        A function returning ``(output, grad)`` or ``grad``; ``grad`` is one tree for a single
            name, else a tuple. The whole result of ``f`` is the output.

    Raises:
        FoldaxTypeError: ``f`` is not callable, or returns a non-scalar or non-float output
            (``NonDifferentiableError``); an integer array is differentiated (Python ints are
            differentiated as floats).
        FoldaxValueError: ``wrt`` names no parameter of ``f``.
        TracerControlFlowError: ``f`` branches in Python on a differentiated value (foldax traces
            before differentiating; see "Differences from JAX").

    Example:
        >>> import foldax
        >>> foldax.gradient(lambda x, y: x ** 2 * y, wrt="x")(x=1.0, y=1.0)
        (Array(1., dtype=float32, weak_type=True), Array(2., dtype=float32, weak_type=True))
    """
    selection = Selection(f, None, wrt, "gradient")

    def split(out: Any) -> tuple[Any, Any]:
        return out, None

    def loss_of(out: Any) -> Any:
        return out[0] if isinstance(out, (tuple, list)) and out else out

    @functools.wraps(f)
    def gradient_fun(*args: Any, **kwargs: Any) -> Any:
        value, _, grads = differentiate(f, selection, args, kwargs, split, False, False, loss_of)
        return (value, grads) if get_output else grads

    return gradient_fun


@on_argument_devices
def differentiate(
    fun: Callable,
    selection: Selection,
    args: tuple,
    kwargs: dict,
    split: Callable[[Any], tuple],
    holomorphic: bool,
    allow_int: bool,
    loss_of: Callable[[Any], Any] = lambda value: value,
) -> tuple[Any, Any, Any]:
    """``(value, aux, gradients)`` of one call: trace, linearize, transpose."""
    targets = Targets(
        selection,
        args,
        kwargs,
        promote_ints=selection.what == "gradient",
        allow_int=allow_int,
        holomorphic=holomorphic,
    )
    where = selection.describe()

    def traced(*a: Any, **k: Any) -> tuple:
        value, aux = split(fun(*a, **k))
        return scalar_loss(loss_of(value), where, holomorphic), value, aux

    traced.__name__ = function_name(fun)
    traced.__wrapped__ = fun  # type: ignore[attr-defined]  # JAX's messages name fun's source line
    with differentiation_rule_checked_first():
        program = trace_program(
            traced, targets.args, targets.kwargs, make_variable=targets.make_variable, traced_for="grad"
        )
    variables, diff = targets.variables(program), targets.differentiated(program)
    if program.out_leaves[0] is TRACED:
        n_traced = sum(s is TRACED for s in program.out_leaves)
        lin = linearize(program, variables, diff, outputs=[i == 0 for i in range(n_traced)])
        seed = jax.lax.full_like(lin.outputs[0], 1)
        cts = lin.transpose([seed] + [None] * (n_traced - 1))
        outputs = lin.outputs
    else:  # the loss does not depend on the differentiated inputs
        outputs, cts = program.evaluate(variables), [None] * len(diff)
    _, value, aux = program.assemble(outputs)
    return value, aux, targets.gradients(program, [c for c, d in zip(cts, diff) if d])


# -- forward mode ---------------------------------------------------------------------------------
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


# -- reverse mode ---------------------------------------------------------------------------------
@on_argument_devices
def vjp(fun: Callable, *primals: Any, has_aux: bool = False, reduce_axes: Sequence = ()) -> tuple:
    """Reverse mode: ``fun``'s value and a function pulling cotangents back (``jax.vjp``).

    Arguments:
        fun: the function to differentiate.
        *primals: the arguments to evaluate ``fun`` at (at least one).
        has_aux: ``fun`` returns ``(output, aux)``.
        reduce_axes: not supported; must be empty.

    Returns:
        ``(fun(*primals), pullback)`` (plus ``aux`` with ``has_aux``), where
            ``pullback(cotangent)`` returns a tuple with one cotangent per primal (``float0`` for
            integer and boolean primals). ``pullback`` is a pytree, so it may be returned from ``jit``.

    Raises:
        FoldaxTypeError: no primal is given.
        FoldaxValueError: the cotangent passed to ``pullback`` does not match the output's
            structure, shapes or dtypes.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> y, pullback = foldax.vjp(lambda x: x * 3.0, jnp.ones(2))
        >>> pullback(jnp.array([1.0, 2.0]))
        (Array([3., 6.], dtype=float32),)
    """
    _no_reduce_axes(reduce_axes, "vjp")
    where = f"vjp({function_name(fun)})"
    if not primals:
        raise FoldaxTypeError(f"{where}: pass at least one primal to differentiate at.")
    selection = Selection(fun, tuple(range(len(primals))), None, "vjp")
    targets = Targets(selection, primals, {}, promote_ints=False, allow_int=True)
    recorder = OutputRecorder(fun, has_aux, where)
    with differentiation_rule_checked_first():
        program = trace_program(
            recorder, targets.args, {}, make_variable=targets.make_variable, name=where, traced_for="vjp"
        )
    lin = linearize(program, targets.variables(program), targets.differentiated(program))
    out, aux = program.assemble(lin.outputs)
    pullback = Pullback(lin, program, targets, recorder, where)
    return (out, pullback, aux) if has_aux else (out, pullback)


class Pullback:
    """The linear map ``cotangent of the output -> cotangents of the primals`` of ``vjp``.

    A pytree (its leaves are the residuals), so it can be returned from ``jit`` like JAX's.
    """

    _skeleton: Pullback  # its value-free copy, the pytree node data (set by ``_skeleton``)

    def __init__(
        self, lin: Linearized, program: Program, targets: Targets, recorder: OutputRecorder, where: str
    ) -> None:
        self.lin, self.program, self.targets = lin, program, targets
        self.recorder, self.where = recorder, where
        self.fname = function_name(recorder.fun)

    def __call__(self, *args: Any) -> tuple:
        where = self.where
        if len(args) != 1:
            raise FoldaxTypeError(
                f"{vjp_too_many_args_message(self.fname, len(args))} {where}: the pullback takes "
                f"one cotangent, shaped like the output of {self.fname}, but was called with "
                f"{len(args)} arguments. If {self.fname} returns a tuple, pass the cotangent as "
                f"one tuple: pullback((ct1, ct2))."
            )
        return self._pull(args[0])

    def _pull(self, cotangent: Any, unwanted: frozenset = frozenset()) -> tuple:
        """The primal cotangents; those of the input leaves numbered in ``unwanted`` are
        ``None`` and not computed."""
        program, where = self.program, self.where
        leaves, tree = flatten(cotangent)
        if tree != self.recorder.tree:
            raise FoldaxValueError(
                f"unexpected tree structure. The argument to a VJP function returned by `jax.vjp` "
                f"must match the pytree structure of the differentiated function {self.fname}. "
                f"{where}: the cotangent must have the output's tree structure "
                f"{self.recorder.tree}, found {tree}. Pass one cotangent leaf per output leaf, in "
                f"the output's containers."
            )
        cts: list[Any] = []
        for n, (slot, ct) in enumerate(zip(program.out_leaves[: self.recorder.num_leaves], leaves)):
            if slot is TRACED:
                aval = program.out_avals[len(cts)]
                wrong = cotangent_type_error(ct, aval)
                if wrong is not None:
                    raise FoldaxValueError(
                        f"{wrong} {where}: cotangent leaf {n} has shape {np.shape(ct)} and dtype "
                        f"{dtype_of(ct)}, but the output it belongs to has shape {aval.shape} "
                        f"({aval.dtype}); pass a cotangent of the output's shape and dtype."
                    )
                cts.append(None if dtype_of(ct) == float0 else ct)
        cts += [None] * (len(self.lin.outputs) - len(cts))
        variable = [n for n, s in enumerate(program.in_leaves) if s is VARIABLE]
        wanted = [n not in unwanted for n in variable] if unwanted else None
        with devices_of((cts, self.lin.residuals)):  # the mesh of the point vjp was taken at
            grads = self.lin.transpose(cts, wanted=wanted)
        diff = self.targets.differentiated(program)
        return tuple(self.targets.gradients(program, [c for c, d in zip(grads, diff) if d], unwanted))

    def with_refs(self, *wanted: Any) -> Callable[[Any], tuple]:
        """The pullback, delivering each primal's cotangent as ``wanted`` says (``jax.vjp``'s
        ``with_refs``).

        Arguments:
            *wanted: one tree per primal, shaped like it, whose leaves are
                ``jax.ad.GradValue()`` (return the cotangent), ``jax.ad.DontWant()`` (return
                ``jax.ad.DidntWant()``) or a ``jax.Ref`` (add the cotangent into it and return
                ``jax.ad.GradRef()``). None given: every cotangent is returned.

        Returns:
            A function of the output cotangent returning the tuple of primal cotangents.

        Raises:
            FoldaxValueError: ``wanted`` is not shaped like the primals.

        Example:
            >>> import foldax, jax, jax.numpy as jnp
            >>> _, pullback = foldax.vjp(lambda x, y: x * y, jnp.ones(2), jnp.arange(2.0))
            >>> pullback.with_refs(jax.ad.DontWant(), jax.ad.GradValue())(jnp.ones(2))
            (DidntWant(), Array([1., 1.], dtype=float32))
        """
        if not wanted:
            return self
        wanted_leaves, wanted_tree = jax.tree_util.tree_flatten(wanted)

        def pull(cotangent: Any) -> tuple:
            numbers = jax.tree_util.tree_leaves(
                self.targets.build(lambda n, x: n), is_leaf=lambda x: x is None
            )
            if len(numbers) != len(wanted_leaves):
                raise FoldaxValueError(
                    f"{self.where}: with_refs got {len(wanted_leaves)} leaves "
                    f"({wanted_tree}), but the primals have {len(numbers)}; give one GradValue(), "
                    f"DontWant() or jax.Ref per primal leaf, shaped like the primals."
                )
            dont_want = cast(Any, jax.ad).DontWant  # jax.ad: see _deliver
            unwanted = frozenset(n for n, w in zip(numbers, wanted_leaves) if isinstance(w, dont_want))
            grads = self._pull(cotangent, unwanted)  # the unwanted ones are not computed
            leaves, tree = jax.tree_util.tree_flatten(grads, is_leaf=lambda x: x is None)
            return jax.tree_util.tree_unflatten(tree, [_deliver(w, g) for w, g in zip(wanted_leaves, leaves)])

        return pull


def _deliver(wanted: Any, cotangent: Any) -> Any:
    """One primal cotangent as ``with_refs`` asked for it."""
    # jax.ad is a namespace of these markers; JAX's typing takes it for jax.interpreters.ad
    ad: Any = jax.ad
    if isinstance(wanted, ad.DontWant):
        return ad.DidntWant()
    if isinstance(wanted, jax.Ref):
        wanted[...] += cotangent
        return ad.GradRef()
    if isinstance(wanted, ad.GradValue):
        return cotangent
    raise FoldaxTypeError(
        f"with_refs: a leaf is {wanted!r} of type {type(wanted).__name__}; each must be "
        f"jax.ad.GradValue(), jax.ad.DontWant() or a jax.Ref."
    )


def _skeleton(pb: Pullback) -> Pullback:
    """``pb`` without any value (no residual, output or input, which may be tracers): the
    pytree node data of a Pullback, kept by treedefs and so by jit's caches. One per Pullback,
    so that flattening it twice gives equal treedefs."""
    skeleton = pb.__dict__.get("_skeleton")
    if skeleton is None:
        lin = dataclasses.replace(
            pb.lin,
            outputs=[None] * len(pb.lin.outputs),
            residuals=[],
            linear=ClosedJaxpr(pb.lin.linear.jaxpr, []),
        )
        targets = copy.copy(pb.targets)
        targets.args, targets.kwargs = (), {}  # no values (they may be tracers)
        targets.leaves = [
            jax.ShapeDtypeStruct(np.shape(x), dtype_of(x), weak_type=is_weakly_typed(x))
            if is_variable(x)
            else x
            for x in targets.leaves
        ]
        skeleton = Pullback(lin, pb.program, targets, pb.recorder, pb.where)
        skeleton._skeleton = pb._skeleton = skeleton
    return skeleton


def _flatten_pullback(pb: Pullback) -> tuple:
    lin = pb.lin
    return (lin.residuals, list(lin.linear.consts)), (_skeleton(pb), len(lin.residuals))


def _unflatten_pullback(aux: tuple, children: Any) -> Pullback:
    skeleton, _ = aux
    residuals, consts = children
    lin = dataclasses.replace(
        skeleton.lin, residuals=list(residuals), linear=ClosedJaxpr(skeleton.lin.linear.jaxpr, list(consts))
    )
    pb = Pullback(lin, skeleton.program, skeleton.targets, skeleton.recorder, skeleton.where)
    pb._skeleton = skeleton
    return pb


jax.tree_util.register_pytree_node(Pullback, _flatten_pullback, _unflatten_pullback)
