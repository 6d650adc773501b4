"""``foldax.check``: a runtime assertion, as a primitive that every transformation understands.

``check(pred, msg, *fmt_args, **fmt_kwargs)`` binds ``check_p`` on the predicate and the traced
format arguments; constant format arguments (NumPy, Python numbers, strings) stay in the
equation's parameters. What happens to it:

* a predicate known now (Python/NumPy bool, a concrete array) is decided now: a failing one raises
  ``CheckError``, a passing one leaves nothing behind; a predicate that becomes a constant once
  ``trace_program`` folds constants is decided then (``passes.EFFECT_FOLDERS``);
* evaluated eagerly (or under ``jax.vmap`` eagerly), a failing check raises ``CheckError`` naming
  the first failing batch element;
* under ``grad``/``jvp`` the primal predicate is checked (the JVP rule rebinds it on the primals;
  it has no tangent outputs, so nothing needs transposing); under ``vmap`` its arguments gain a
  leading batch axis (``batch_ndim`` counts them);
* ``foldax.checkify`` turns it into an error value; compiled *without* checkify it raises
  ``CheckifyRequiredError`` when the program is lowered, saying how to fix it.

Example:
    >>> import foldax, jax.numpy as jnp
    >>> def safe_log(x):
    ...     foldax.check(jnp.all(x > 0), "log of non-positive {x}", x=x)
    ...     return jnp.log(x)
    >>> err, out = foldax.checkify(safe_log)(jnp.array([1.0, -2.0]))
    >>> err.get()
    'log of non-positive [ 1. -2.] (`check` failed)'
"""

from __future__ import annotations

import dataclasses
import os
import string
from typing import Any, Sequence

import jax.numpy as jnp
import numpy as np

from foldax._compat import (
    Effect,
    Primitive,
    ad,
    allow_effect,
    batching,
    eqn_source_line,
    is_tracer,
    register_lowering,
    register_source_exclusion,
)
from foldax.errors import CheckError, CheckifyRequiredError, FoldaxTypeError, FoldaxValueError
from foldax.pytrees.leaves import VARIABLE, ByValue, leaf_kind
from foldax.pytrees.tree import PyTreeDef, flatten, unflatten
from foldax.transforms.batching.interpreter import MASKED_PREDICATE_PRIMITIVES
from foldax.transforms.core import passes
from foldax.transforms.core.observe import observing

register_source_exclusion(os.path.abspath(__file__))
CHECK_FAILED = " (`check` failed)"


class CheckEffect(Effect):
    """The effect of a ``check``: it must not be dropped, reordered away or folded blindly."""

    def __repr__(self) -> str:
        return "CheckEffect"


check_effect = CheckEffect()
allow_effect(CheckEffect)


@dataclasses.dataclass(frozen=True)
class CheckSpec:
    """The static part of a check: its message and the constant format arguments.

    ``constants`` holds, per leaf of ``(fmt_args, fmt_kwargs)``, the constant (as ``ByValue``) or
    ``None`` for a traced leaf, which is an operand of ``check_p`` instead.
    """

    msg: str
    fmt_tree: PyTreeDef
    constants: tuple

    def __repr__(self) -> str:
        return repr(self.msg)

    @property
    def num_traced(self) -> int:
        return sum(c is None for c in self.constants)

    def format(self, traced_leaves: Sequence) -> str:
        """The message with the format fields filled in (traced leaves given as values)."""
        it = iter(traced_leaves)
        leaves = [_printable(next(it)) if c is None else c.value for c in self.constants]
        args, kwargs = unflatten(self.fmt_tree, leaves)
        return self.msg.format(*args, **kwargs) + CHECK_FAILED


def _printable(x: Any) -> Any:
    if isinstance(x, str):
        return x
    x = np.asarray(x)
    return x[()] if x.ndim == 0 else x


# -- the primitive ------------------------------------------------------------------------------
check_p = Primitive("check")
check_p.multiple_results = True


@check_p.def_effectful_abstract_eval
def _abstract_eval(*avals: Any, spec: CheckSpec, batch_ndim: int) -> tuple[list, set]:
    del avals, spec, batch_ndim
    return [], {check_effect}


@check_p.def_impl
def _impl(pred: Any, *traced: Any, spec: CheckSpec, batch_ndim: int) -> list:
    pred = np.asarray(pred)
    if pred.all():
        return []
    index = np.unravel_index(int(np.argmin(pred.reshape(-1))), pred.shape)
    values = [np.asarray(x)[index] for x in traced]
    where = f"at mapped index {', '.join(map(str, index))}: " if batch_ndim else ""
    raise CheckError(where + spec.format(values))


def _lowering(ctx: Any, *args: Any, spec: CheckSpec, batch_ndim: int) -> list:
    del args, batch_ndim
    source = _lowering_source(ctx)
    raise CheckifyRequiredError(
        f"foldax.check({spec.msg!r}){source} was compiled (jax.jit, foldax.jit, or a loop/cond "
        f"body) without foldax.checkify around it; a compiled program cannot raise a Python "
        f"exception. Fix: wrap the function with foldax.checkify and throw outside, e.g. "
        f"`err, out = foldax.jit(foldax.checkify(f))(x); err.throw()`. (JAX: Cannot abstractly "
        f"evaluate a checkify.check which was not functionalized)"
    )


def _lowering_source(ctx: Any) -> str:
    from foldax._compat import source_info_util

    traceback = getattr(ctx, "traceback", None) or source_info_util.current().traceback
    frame = source_info_util.user_frame(traceback)
    return f" at {frame.file_name}:{frame.start_line} ({frame.function_name})" if frame else ""


register_lowering(check_p, _lowering)


def _jvp(primals: Sequence, tangents: Sequence, *, spec: CheckSpec, batch_ndim: int) -> tuple:
    """Check the primal predicate; a check has no outputs, so no tangents (nothing to transpose)."""
    del tangents
    check_p.bind(*primals, spec=spec, batch_ndim=batch_ndim)
    return [], []


ad.primitive_jvps[check_p] = _jvp


def _batch(args: Sequence, dims: Sequence, *, spec: CheckSpec, batch_ndim: int) -> tuple:
    """Move the batch axis of every argument to the front (broadcasting unbatched ones)."""
    size = next(np.shape(x)[d] for x, d in zip(args, dims) if d is not None)
    moved = [
        jnp.broadcast_to(x, (size,) + np.shape(x)) if d is None else jnp.moveaxis(x, d, 0)
        for x, d in zip(args, dims)
    ]
    check_p.bind(*moved, spec=spec, batch_ndim=batch_ndim + 1)
    return [], []


batching.primitive_batchers[check_p] = _batch
MASKED_PREDICATE_PRIMITIVES.add(check_p)  # foldax.vmap: only kept elements are checked


def _fold(eqn: Any, found: Sequence) -> bool:
    """Decide a check whose predicate became a constant when ``trace_program`` folded constants."""
    known, pred = found[0]
    if not known:
        return False
    pred = np.asarray(pred)
    if pred.all():
        return True
    traced = [val if k else _Unknown(v.aval) for (k, val), v in zip(found[1:], eqn.invars[1:])]
    raise CheckError(_constant_failure(eqn.params["spec"], pred, traced, eqn_source_line(eqn)))


passes.EFFECT_FOLDERS[check_p] = _fold


class _Unknown:
    def __init__(self, aval: Any) -> None:
        self.aval = aval

    def __format__(self, spec: str) -> str:
        return f"<traced {self.aval.str_short()}>"

    def __getitem__(self, index: Any) -> _Unknown:
        return self


def _constant_failure(spec: CheckSpec, pred: np.ndarray, traced: Sequence, source: str) -> str:
    index = np.unravel_index(int(np.argmin(pred.reshape(-1))), pred.shape) if pred.ndim else ()
    values = [x if isinstance(x, _Unknown) else np.asarray(x)[index] for x in traced]
    where = f"at mapped index {', '.join(map(str, index))}: " if pred.ndim else ""
    it = iter(values)
    leaves = [(next(it) if c is None else c.value) for c in spec.constants]
    args, kwargs = unflatten(spec.fmt_tree, [x if isinstance(x, _Unknown) else _printable(x) for x in leaves])
    return (
        f"{where}{spec.msg.format(*args, **kwargs)}{CHECK_FAILED}; its predicate is a "
        f"constant, so it was decided at trace time (at {source})."
    )


# -- the user-facing function ---------------------------------------------------------------------
def check(pred: Any, msg: str, *fmt_args: Any, **fmt_kwargs: Any) -> None:
    """Assert ``pred`` at run time; on failure the error carries ``msg`` formatted with values.

    Runs anywhere: evaluated eagerly, a failing check raises ``CheckError`` at once; inside
    ``foldax.checkify(f)`` it becomes part of the returned ``Error`` value (so it works under
    ``jit``, ``vmap`` and ``grad``); a constant predicate (NumPy, Python) is decided at trace time.

    Arguments:
        pred: a scalar boolean (a JAX or NumPy array, or a Python bool).
        msg: the message, a ``str.format`` template for ``fmt_args``/``fmt_kwargs``.
        *fmt_args: values (arrays, at their run-time values) formatted into ``msg``.
        **fmt_kwargs: named values formatted into ``msg``.

    Returns:
        ``None``.

    Raises:
        CheckError: the check fails eagerly, or its predicate is a failing constant.
        CheckifyRequiredError: a traced check is compiled or evaluated without ``checkify``
            around it (a compiled program cannot raise a Python exception).
        FoldaxTypeError: ``pred`` is not a scalar boolean, or ``msg`` is not a string.

    Example:
        >>> import foldax, numpy as np
        >>> foldax.check(np.float32(2.0) > 1, "never fails")
        >>> foldax.check(np.int32(0) > 1, "{} is too small", 0)
        Traceback (most recent call last):
        ...
        foldax.errors.CheckError: 0 is too small (`check` failed)
    """
    if not isinstance(msg, str):
        raise FoldaxTypeError(
            f"check(msg=...): the message must be a str (a format string), found "
            f"{type(msg).__name__}. Fix: check(pred, 'x must be positive, got {{}}', x)."
        )
    validate_format(msg, len(fmt_args), set(fmt_kwargs))
    leaves, fmt_tree = flatten((fmt_args, fmt_kwargs))
    traced = [x for x in leaves if leaf_kind(x) == VARIABLE]
    constants = tuple(
        None if leaf_kind(x) == VARIABLE else ByValue(x, where="a check argument") for x in leaves
    )
    spec = CheckSpec(msg, fmt_tree, constants)
    pred = _scalar_predicate(pred, msg)
    if not is_tracer(pred) and not observing():  # under checkify it goes to the error value
        if bool(pred):
            return
        if not any(is_tracer(x) for x in traced):
            raise CheckError(spec.format([np.asarray(x) for x in traced]))
    # traced: decided when run (or at trace time, if folding makes the predicate a constant)
    check_p.bind(pred, *traced, spec=spec, batch_ndim=0)


def _scalar_predicate(pred: Any, msg: str) -> Any:
    shape, dtype = np.shape(pred), getattr(pred, "dtype", np.dtype(type(pred)))
    if shape != () or dtype != np.bool_:
        kind = f"{np.dtype(dtype).name}{list(shape)}" if not isinstance(pred, bool) else "bool"
        raise FoldaxTypeError(
            f"check(pred=..., msg={msg!r}): pred must be a scalar boolean, found {kind}. Fix: "
            f"reduce it with jnp.all(...)/jnp.any(...), or compare it (x > 0). (JAX: check takes "
            f"a scalar pred as argument)"
        )
    return pred


def validate_format(msg: str, n_args: int, kw_names: set) -> None:
    """Raise ``FoldaxValueError`` unless the fields of ``msg`` match the given arguments."""
    auto, used_pos, used_kw = 0, set(), set()
    numbering = set()
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(msg) if f is not None]
    except ValueError as e:
        raise FoldaxValueError(
            f"check(msg={msg!r}): the message is not a valid format string ({e}). Fix: double the "
            f"braces that are not format fields ('{{{{' and '}}}}')."
        ) from None
    for field in fields:
        first = field.split(".")[0].split("[")[0]
        if first == "":
            used_pos.add(auto)
            auto += 1
            numbering.add("automatic")
        elif first.isdigit():
            used_pos.add(int(first))
            numbering.add("manual")
        else:
            used_kw.add(first)
    problems = []
    if len(numbering) == 2:
        problems.append("it mixes automatic '{}' and numbered '{0}' fields")
    missing = sorted(i for i in used_pos if i >= n_args)
    if missing:
        problems.append(f"positional field(s) {missing} but only {n_args} positional argument(s) are given")
    if used_kw - kw_names:
        problems.append(f"field(s) {sorted(used_kw - kw_names)} have no keyword argument")
    unused = sorted(set(range(n_args)) - used_pos) + sorted(kw_names - used_kw)
    if unused:
        problems.append(f"argument(s) {unused} are not used by any field")
    if problems:
        raise FoldaxValueError(
            f"check(msg={msg!r}): the message's format fields do not match its arguments: "
            f"{'; '.join(problems)} (given {n_args} positional and keyword(s) "
            f"{sorted(kw_names)}). Fix: one field per argument, e.g. "
            f"check(x > 0, 'x={{}} at step {{step}}', x, step=i)."
        )
