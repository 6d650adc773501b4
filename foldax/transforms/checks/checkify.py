"""``foldax.checkify``: an interpreter that threads an error value through a function's jaxpr.

The error value is the interpreter's *state* (``get_state``/``set_state``): ``[failed, code,
index, *payload slots]`` (see ``check_error``), so the interpreter core's generic rules carry it
through ``jit``, ``cond``, ``scan``, ... (``check_control`` adds ``while`` and custom
derivatives). ``foldax.check`` (``check_p``) and the automatic checks (``check_rules``) call
``report``; the first failure wins, later ones leave the error unchanged. Payload slots are shared
by all sites with the same payload signature, collected before interpretation, so the state has
one fixed layout everywhere. A failure of a check batched by ``vmap`` records its first failing
element (``index``).

Example:
    >>> import foldax, jax, jax.numpy as jnp
    >>> def f(x):
    ...     foldax.check(x > 0, "x must be positive, got {}", x)
    ...     return jnp.log(x)
    >>> err, out = jax.jit(foldax.checkify(f))(-2.0)
    >>> err.get()
    'x must be positive, got -2.0 (`check` failed)'
"""
from __future__ import annotations

import copy
import functools
from typing import Any, Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from foldax._compat import Jaxpr, JaxprEqn, eqn_source_line, is_tracer, jaxprs_in_params
from foldax.errors import FoldaxTypeError, KeyReuseError, MissingRuleError
from foldax.transforms.checks.error import (
    DIV, INDEX, KEY_REUSE, NAN, USER, Error, ErrorLayout, Site, initial_state,
)
from foldax.transforms.checks.check import check_p
from foldax.transforms.checks.rules import AUTOMATIC, NAN_PRESERVING, is_float
from foldax.transforms.core.folding import observed_equation, observed_p
from foldax.transforms.core.interpreter import Interpreter, bind_eqn
from foldax.transforms.core.trace import function_name, trace_program

# -- error sets (combine them with |, as in JAX) --------------------------------------------------
user_checks = frozenset({USER})
nan_checks = frozenset({NAN})
div_checks = frozenset({DIV})
index_checks = frozenset({INDEX})
key_reuse_checks = frozenset({KEY_REUSE})
float_checks = nan_checks | div_checks
automatic_checks = float_checks | index_checks
all_checks = automatic_checks | user_checks | key_reuse_checks
_KINDS = all_checks


# -- what a jaxpr holds ---------------------------------------------------------------------------
def iter_equations(jaxpr: Jaxpr) -> Iterator[JaxprEqn]:
    """Every equation of ``jaxpr`` and, recursively, of its sub-jaxprs."""
    for eqn in jaxpr.eqns:
        yield eqn
        for sub in jaxprs_in_params(eqn.params):
            yield from iter_equations(sub)


def _checked_here(eqn: JaxprEqn, enabled: frozenset) -> bool:
    if eqn.primitive is check_p or eqn.primitive is observed_p:
        return True  # a user check must be removed even when user checks are off
    return _checked_primitive(eqn.primitive, enabled)


def _checked_primitive(primitive: Any, enabled: frozenset) -> bool:
    """Whether an automatic check of ``enabled`` applies to ``primitive``."""
    return any(kind in enabled for kind, _ in AUTOMATIC.get(primitive, ()))


def _slot_signatures(jaxpr: Jaxpr, enabled: frozenset) -> tuple:
    """The payload signatures of every site in ``jaxpr``: the state's fixed slot layout."""
    slots: dict = {}
    for eqn in iter_equations(jaxpr):
        if eqn.primitive is observed_p:
            eqn = observed_equation(eqn)
        if eqn.primitive is check_p and USER in enabled:
            k = eqn.params["batch_ndim"]
            slots.setdefault(tuple((v.aval.shape[k:], v.aval.dtype.name)
                                   for v in eqn.invars[1:]), None)
        elif INDEX in enabled and any(kind == INDEX for kind, _ in AUTOMATIC.get(eqn.primitive, ())):
            slots.setdefault((((3,), "int32"),), None)
    return tuple(s for s in slots if s)


class _Registry:
    """Sites (by code) and slots shared by an interpreter and all its children."""

    def __init__(self, enabled: frozenset, slots: tuple) -> None:
        self.enabled = enabled
        self.slots = slots
        self.slot_of = {s: i for i, s in enumerate(slots)}
        self.sites: list[Site] = []
        self.codes: dict = {}
        self.keep: list = []  # keeps the keyed equations alive (keys use their ids)
        self.mentions: dict = {}
        self.fused: dict = {}  # while equations whose body also checks the condition

    def code(self, key: tuple, make: Callable[[], Site], owner: Any) -> int:
        code = self.codes.get(key)
        if code is None:
            code = self.codes[key] = len(self.sites)
            self.sites.append(make())
            self.keep.append(owner)
        return code

    def checks_inside(self, jaxpr: Jaxpr) -> bool:
        """Whether anything in ``jaxpr`` (recursively) is checked with the enabled sets."""
        found = self.mentions.get(id(jaxpr))
        if found is None:
            found = any(_checked_here(e, self.enabled) for e in iter_equations(jaxpr))
            self.mentions[id(jaxpr)] = found
            self.keep.append(jaxpr)
        return found

    def layout(self) -> ErrorLayout:
        return ErrorLayout(tuple(self.sites), self.slots)


# -- the interpreter -------------------------------------------------------------------------------
class CheckifyInterpreter(Interpreter):
    """Evaluates a jaxpr by binding its primitives while updating an error value (its state)."""

    transformation = "checkify"

    def __init__(self, registry: _Registry) -> None:
        self.registry = registry
        self.enabled = registry.enabled
        self.set_state(initial_state(registry.slots))
        self.batch_shape: tuple = ()  # the error is per element inside a batched while
        self.nan_flags: dict = {}

    # -- state -------------------------------------------------------------------------------
    def get_state(self) -> list:
        return [self.failed, self.code, self.index, *self.slots]

    def set_state(self, arrays: Sequence) -> None:
        self.failed, self.code, self.index, *slots = arrays
        self.slots = list(slots)

    def child(self) -> "CheckifyInterpreter":
        other = copy.copy(self)
        other.nan_flags = {}
        return other

    # -- evaluation ----------------------------------------------------------------------------
    def default_rule(self, eqn: JaxprEqn, invals: list) -> list:
        outs = bind_eqn(eqn, invals)
        for kind, rule in AUTOMATIC.get(eqn.primitive, ()):
            if kind in self.enabled:
                rule(self, eqn, invals, outs)
        if eqn.primitive in NAN_PRESERVING and NAN in self.enabled:
            flag = self.nan_flags.get(id(invals[0]))
            if flag is not None and flag[0] is invals[0] and is_float(outs[0]):
                self.nan_flags[id(outs[0])] = (outs[0], flag[1])
        return outs

    def known_nan(self, x: Any) -> Any:
        """Whether ``x`` holds a NaN if that is known without a new reduction, else ``None``."""
        if not is_tracer(x) and not isinstance(x, jax.Array):
            return bool(np.isnan(np.asarray(x)).any())
        hit = self.nan_flags.get(id(x))
        return hit[1] if hit is not None and hit[0] is x else None

    def has_nan(self, x: Any) -> Any:
        """Whether ``x`` holds a NaN: a Python bool for constants, else a traced boolean
        (computed once per value)."""
        if not is_tracer(x) and not isinstance(x, jax.Array):
            return bool(np.isnan(np.asarray(x)).any())
        hit = self.nan_flags.get(id(x))
        if hit is not None and hit[0] is x:
            return hit[1]
        flag = lax.ne(x, x)  # NaN is the one value unequal to itself
        if np.ndim(x):
            flag = lax.reduce_or(flag, tuple(range(np.ndim(x))))
        self.nan_flags[id(x)] = (x, flag)
        return flag

    # -- recording a failure -------------------------------------------------------------------
    def report(self, eqn: JaxprEqn, kind: str, fail: Any, payload: Sequence = (),
               detail: Any = None) -> None:
        """Record that the check ``kind`` at ``eqn`` fails where ``fail`` is True.

        ``fail`` has the check's batch shape (``()`` for most checks; a batched ``foldax.check``
        has its vmapped axes in front), ``payload`` arrays have it in front of their own shape.
        """
        if fail is False:
            return
        fail = jnp.asarray(fail)
        state_shape, shape = self.batch_shape, tuple(fail.shape)
        if state_shape and shape[:len(state_shape)] == state_shape:
            lead, rest, batch = state_shape, shape[len(state_shape):], shape
        elif state_shape and not shape:
            lead, rest, batch = (), (), state_shape
        else:
            lead, rest, batch = (), shape, shape
        index = None
        if rest:
            fail, j, payload = first_along(fail.reshape(lead + (-1,)), payload, len(lead), rest)
            index = j
        if batch and lead:
            position = np.arange(int(np.prod(lead)), dtype=np.int32).reshape(lead)
            index = position * int(np.prod(rest)) + (index if index is not None else 0)
        elif batch and not rest:  # an unbatched check inside a batched while
            index = np.arange(int(np.prod(batch)), dtype=np.int32).reshape(batch)
        slot = self._slot(payload, len(lead))
        code = self.registry.code(
            (id(eqn), kind, batch),
            lambda: Site(kind, detail, slot, batch, eqn_source_line(eqn)), eqn)
        self._update(fail, code, index, slot, payload)

    def _slot(self, payload: Sequence, lead: int) -> int:
        if not payload:
            return -1
        signature = tuple((tuple(np.shape(p))[lead:], np.dtype(p.dtype).name) for p in payload)
        slot = self.registry.slot_of.get(signature)
        if slot is None:
            raise MissingRuleError(
                f"checkify: a check's payload {signature} has no slot in the error value; this is "
                f"a foldax bug (the payload signatures are collected before interpretation).")
        return slot

    def _update(self, fail: Any, code: int, index: Any, slot: int, payload: Sequence) -> None:
        """Record ``fail`` unless an earlier check failed: ``code``, ``index`` and the payload are
        written wherever nothing had failed before (and are ignored where nothing failed)."""
        before = self.failed
        fail = _broadcast(fail, self.batch_shape)
        fresh = isinstance(before, np.ndarray) and not before.any()  # nothing failed so far
        self.failed = fail if fresh else lax.bitwise_or(before, fail)
        self.code = _keep_or(None if fresh else before, self.code, np.int32(code))
        if index is not None:
            self.index = _keep_or(None if fresh else before, self.index, index)
        if slot >= 0:
            start = sum(len(s) for s in self.registry.slots[:slot])
            for i, p in enumerate(payload):
                old = self.slots[start + i]
                self.slots[start + i] = _keep_or(None if fresh else before, old, p)


def _broadcast(x: Any, shape: tuple) -> Any:
    """``x`` broadcast to ``shape`` (NumPy rules: trailing axes align)."""
    x = jnp.asarray(x)
    return x if x.shape == tuple(shape) else jnp.broadcast_to(x, shape)


def _keep_or(keep: Any, old: Any, new: Any) -> Any:
    """``old`` where ``keep`` (whose axes lead ``old``'s), else ``new``, in ``old``'s dtype and
    shape; ``keep=None`` means nowhere."""
    shape, dtype = np.shape(old), old.dtype if hasattr(old, "dtype") else np.asarray(old).dtype
    new = _broadcast(lax.convert_element_type(new, dtype), shape)
    if keep is None:
        return new
    if np.shape(keep) != shape:
        keep = lax.broadcast_in_dim(keep, shape, tuple(range(np.ndim(keep))))
    return lax.select(keep, _broadcast(old, shape), new)


def first_along(fail: Any, payload: Sequence, axis: int, rest: tuple) -> tuple:
    """Reduce ``fail`` (``lead + (n,)``) over its last axis to the first failing position: the
    any-flag, that position and the payload there (payload arrays are ``lead + rest + own``)."""
    lead = fail.shape[:axis]
    j = jnp.argmax(fail, axis=-1).astype(np.int32)
    picked = []
    for p in payload:
        own = np.shape(p)[len(lead) + len(rest):]
        flat = jnp.reshape(p, lead + (-1,) + own)
        at = jnp.reshape(j, lead + (1,) + (1,) * len(own))
        picked.append(jnp.take_along_axis(flat, at, axis=len(lead)).reshape(lead + own))
    return jnp.any(fail, axis=-1), j, picked


# -- rules ------------------------------------------------------------------------------------------
@CheckifyInterpreter.register(check_p)
def _user_check(interp: CheckifyInterpreter, eqn: JaxprEqn, invals: list) -> list:
    if USER in interp.enabled:
        pred, *traced = invals
        interp.report(eqn, USER, jnp.logical_not(pred), traced, detail=eqn.params["spec"])
    return []


@CheckifyInterpreter.register(observed_p)
def _observed(interp: CheckifyInterpreter, eqn: JaxprEqn, invals: list) -> list:
    """A computation on constants that was folded while tracing: check it here, in program
    order (computing it again, now or under the outer trace)."""
    interp.default_rule(observed_equation(eqn), invals)
    return []


# -- the transformation -------------------------------------------------------------------------
def _validate_errors(errors: Any) -> frozenset:
    try:
        kinds = frozenset(_jax_error_kind(e) for e in errors)
    except TypeError:
        kinds = None
    if kinds is None or not kinds <= _KINDS:
        raise FoldaxTypeError(
            f"checkify(errors={errors!r}): expected a set of error kinds made from "
            f"foldax.user_checks, nan_checks, div_checks, index_checks, key_reuse_checks, "
            f"float_checks, automatic_checks or all_checks (combine them with |).")
    return kinds


def _jax_error_kind(e: Any) -> Any:
    """Accept JAX's checkify error classes too (FailedCheckError, NaNError, ...)."""
    names = {"FailedCheckError": USER, "NaNError": NAN, "DivisionByZeroError": DIV,
             "OOBError": INDEX}
    return names.get(getattr(e, "__name__", None), e)


def checkify(fun: Callable, errors: frozenset = user_checks) -> Callable[..., tuple[Error, Any]]:
    """``checkify(f, errors)(*args) -> (error, out)``: run ``f`` with its checks turned into an
    error value instead of exceptions.

    ``errors`` selects what is checked: ``user_checks`` (``foldax.check``, the default),
    ``nan_checks``, ``div_checks`` (integer division by zero), ``index_checks`` (out-of-bounds
    gather/scatter/dynamic slices), ``key_reuse_checks`` (a random key consumed twice, found at
    trace time), or unions such as ``float_checks``, ``automatic_checks``, ``all_checks``.
    Composes with ``jit``, ``vmap`` and ``grad`` in any order.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> err, out = foldax.checkify(lambda x: 1 // x, errors=foldax.div_checks)(jnp.int32(0))
        >>> err.throw()
        Traceback (most recent call last):
        ...
        foldax.errors.CheckError: division by zero
    """
    enabled = _validate_errors(errors)
    if not callable(fun):
        raise FoldaxTypeError(f"checkify(fun=...): expected a callable, found {type(fun).__name__}.")

    @functools.wraps(fun)
    def checked(*args: Any, **kwargs: Any) -> tuple[Error, Any]:
        program, reuse = _trace(fun, args, kwargs, enabled)
        registry = _Registry(enabled, _slot_signatures(program.jaxpr.jaxpr, enabled))
        interp = CheckifyInterpreter(registry)
        if reuse is not None:
            _record_key_reuse(interp, reuse)
        outs = interp.run(program.jaxpr, *program.variables_of(args, kwargs))
        failed, code, index, *slots = interp.get_state()
        return Error(failed, code, index, slots, registry.layout()), program.assemble(outs)

    return checked


def _trace(fun: Callable, args: tuple, kwargs: dict, enabled: frozenset) -> tuple:
    """The Program to check (constant computations observed) and, with ``key_reuse_checks``,
    the key reuse found in the unfolded trace (which must see every key operation)."""
    observe = functools.partial(_checked_primitive, enabled=enabled)
    program = trace_program(fun, args, kwargs, name=function_name(fun), observe=observe)
    if KEY_REUSE not in enabled:
        return program, None
    from foldax.transforms.random.key_reuse import find_key_reuse

    raw = trace_program(fun, args, kwargs, name=function_name(fun), simplify_program=False)
    return program, find_key_reuse(raw)


def _record_key_reuse(interp: CheckifyInterpreter, error: KeyReuseError) -> None:
    code = interp.registry.code(("key_reuse",), lambda: Site(KEY_REUSE, str(error), -1, (), ""),
                                error)
    interp.failed, interp.code = np.asarray(True), np.asarray(code, np.int32)


# The rules for control flow and custom derivatives register themselves on import.
from foldax.transforms.checks import control as check_control  # noqa: E402,F401
