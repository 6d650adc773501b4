"""Reverse mode: ``vjp``, ``fun``'s value and its ``Pullback``, as ``jax.vjp``.

The function is traced into a Program and linearized (``linearize.py``); the ``Pullback`` runs the
linear part backwards (``transpose.py``) for each cotangent it is given. It is a pytree whose leaves
are the residuals, so it can be returned from ``jit`` like JAX's.

Example:
    >>> import foldax, jax.numpy as jnp
    >>> y, pullback = foldax.vjp(lambda x: x ** 2, 3.0)
    >>> pullback(1.0)
    (Array(6., dtype=float32, weak_type=True),)
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable, Sequence, cast

import jax
import numpy as np

from foldax._compat import ClosedJaxpr, cotangent_type_error, float0, vjp_too_many_args_message
from foldax.errors import FoldaxTypeError, FoldaxValueError
from foldax.pytrees.leaves import is_variable
from foldax.pytrees.tree import flatten
from foldax.transforms.autodiff.forward import differentiation_rule_checked_first
from foldax.transforms.autodiff.inputs import Selection, Targets, dtype_of, is_weakly_typed, no_reduce_axes
from foldax.transforms.autodiff.linearize import Linearized, linearize
from foldax.transforms.autodiff.outputs import OutputRecorder
from foldax.transforms.core.mesh import devices_of, on_argument_devices
from foldax.transforms.core.program import TRACED, VARIABLE, Program
from foldax.transforms.core.trace import function_name, trace_program


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
    no_reduce_axes(reduce_axes, "vjp")
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
