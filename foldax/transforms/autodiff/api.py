"""Automatic differentiation: ``grad``, ``value_and_grad``, ``jvp``, ``vjp`` (and ΦML's
``gradient``), with JAX's signatures and results.

Each call traces the function into a Program, then interprets it: forward mode with the JVP
interpreter (``forward.py``), reverse mode by linearizing (``linearize.py``) and running the linear
part backwards (``transpose.py``). ``grad``, ``value_and_grad`` and ``gradient`` live here;
``jvp`` is in ``pushforward.py`` and ``vjp`` with its ``Pullback`` in ``pullback.py``, both
re-exported here. Everything is evaluated by binding primitives, so these compose
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

import functools
from typing import Any, Callable, Sequence

import jax

from foldax.transforms.autodiff.forward import differentiation_rule_checked_first
from foldax.transforms.autodiff.inputs import Selection, Targets, no_reduce_axes
from foldax.transforms.autodiff.linearize import linearize
from foldax.transforms.autodiff.outputs import scalar_loss, split_aux
from foldax.transforms.autodiff.pullback import Pullback, vjp
from foldax.transforms.autodiff.pushforward import jvp
from foldax.transforms.core.mesh import on_argument_devices
from foldax.transforms.core.program import TRACED
from foldax.transforms.core.trace import function_name, trace_program

__all__ = ["Pullback", "grad", "gradient", "jvp", "value_and_grad", "vjp"]


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
    no_reduce_axes(reduce_axes, what)
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
