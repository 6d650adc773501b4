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
from typing import Any, Callable, Hashable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from foldax._compat import (
    Jaxpr,
    JaxprEqn,
    array_aval,
    eqn_source_line,
    is_tracer,
    jax_check_p,
    shard_map_p,
)
from foldax.errors import FoldaxTypeError, KeyReuseError, MissingRuleError
from foldax.transforms.checks.check import check_p
from foldax.transforms.checks.error import (
    DIV,
    INDEX,
    KEY_REUSE,
    KIND_OF_JAX_ERROR,
    NAN,
    USER,
    Error,
    ErrorLayout,
    JaxSite,
    RuleScope,
    Site,
    initial_state,
)
from foldax.transforms.checks.rules import AUTOMATIC, NAN_PRESERVING, is_float, on_host
from foldax.transforms.checks.sites import SiteTable
from foldax.transforms.core.interpreter import Interpreter, bind_eqn
from foldax.transforms.core.mesh import on_argument_devices
from foldax.transforms.core.observe import observed_equation, observed_p
from foldax.transforms.core.passes import iter_equations
from foldax.transforms.core.trace import function_name, trace_program


# -- error sets (combine them with |, as in JAX) --------------------------------------------------
class ErrorSet(frozenset):
    """A set of error kinds for ``foldax.checkify(f, errors=...)``; combine sets with ``|``.

    The sets foldax exports (the same names as ``jax.experimental.checkify``'s):

    * ``user_checks``: ``foldax.check`` calls (the default);
    * ``nan_checks``: a floating-point operation that makes a NaN from non-NaN inputs;
    * ``div_checks``: integer division (or remainder) by zero;
    * ``index_checks``: an out-of-bounds index in a gather, scatter or dynamic slice;
    * ``key_reuse_checks``: a random key consumed twice (found at trace time);
    * ``float_checks`` = ``nan_checks | div_checks``;
    * ``automatic_checks`` = ``float_checks | index_checks``;
    * ``all_checks``: every kind above.

    An ``ErrorSet`` is a ``frozenset`` of kind names; ``|``, ``&``, ``-`` and ``^`` of two
    sets give an ``ErrorSet``.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> errors = foldax.nan_checks | foldax.div_checks
        >>> errors == foldax.float_checks, sorted(errors)
        (True, ['div', 'nan'])
        >>> err, _ = foldax.checkify(jnp.log, errors=errors)(jnp.array(-1.0))
        >>> err.get() is not None
        True
    """

    __slots__ = ()

    def __or__(self, other: Any) -> ErrorSet:
        return ErrorSet(frozenset.__or__(self, other))

    def __and__(self, other: Any) -> ErrorSet:
        return ErrorSet(frozenset.__and__(self, other))

    def __sub__(self, other: Any) -> ErrorSet:
        return ErrorSet(frozenset.__sub__(self, other))

    def __xor__(self, other: Any) -> ErrorSet:
        return ErrorSet(frozenset.__xor__(self, other))

    __ror__, __rand__, __rxor__ = __or__, __and__, __xor__

    def __repr__(self) -> str:
        return f"ErrorSet({sorted(self)})"


user_checks = ErrorSet({USER})
nan_checks = ErrorSet({NAN})
div_checks = ErrorSet({DIV})
index_checks = ErrorSet({INDEX})
key_reuse_checks = ErrorSet({KEY_REUSE})
float_checks = nan_checks | div_checks
automatic_checks = float_checks | index_checks
all_checks = automatic_checks | user_checks | key_reuse_checks
_KINDS = all_checks


# -- what a jaxpr holds ---------------------------------------------------------------------------
def first_checked(jaxpr: Jaxpr, checked_primitive: Callable[[Any], bool]) -> JaxprEqn | None:
    """The first equation of ``jaxpr`` (recursively) that checkify must check, or ``None``: a
    user check (removed even when user checks are off), a folded computation it observes, or a
    primitive ``checked_primitive`` names (the automatic checks of the enabled sets)."""
    return next(
        (
            e
            for e in iter_equations(jaxpr)
            if e.primitive in (check_p, jax_check_p, observed_p) or checked_primitive(e.primitive)
        ),
        None,
    )


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
            slots.setdefault(
                tuple((a.shape[k:], a.dtype.name) for a in map(array_aval, eqn.invars[1:])), None
            )
        elif eqn.primitive is jax_check_p:
            error = _jax_error(eqn, [v.aval for v in eqn.invars])
            for effect in error._pred:
                if KIND_OF_JAX_ERROR.get(effect.error_type, USER) in enabled:
                    payload = jax.tree_util.tree_leaves(error._payload[effect])
                    slots.setdefault(
                        (((), "int32"), *((tuple(a.shape), a.dtype.name) for a in payload)), None
                    )
        elif INDEX in enabled and any(kind == INDEX for kind, _ in AUTOMATIC.get(eqn.primitive, ())):
            slots.setdefault((((3,), "int32"),), None)
    return tuple(s for s in slots if s)


def _jax_error(eqn: JaxprEqn, leaves: Sequence) -> Any:
    """The error value (JAX's ``checkify.Error``, or foldax's) a JAX ``check_p`` equation checks,
    with ``leaves`` (values or abstract values) as its arrays."""
    return jax.tree_util.tree_unflatten(eqn.params["err_tree"], list(leaves))


class _Registry(SiteTable):
    """Sites (by code) and slots shared by an interpreter and all its children."""

    def __init__(self, enabled: frozenset, slots: tuple) -> None:
        super().__init__()
        self.enabled = enabled
        self.checked_primitive = _observer(enabled)
        self.slots = slots
        self.shards: tuple = ()  # leading axes of the error: one error per shard_map shard
        self.slot_of = {s: i for i, s in enumerate(slots)}
        self.mentions: dict = {}

    def checks_inside(self, jaxpr: Jaxpr) -> bool:
        """Whether anything in ``jaxpr`` (recursively) is checked with the enabled sets."""
        found = self.mentions.get(id(jaxpr))
        if found is None:
            found = first_checked(jaxpr, self.checked_primitive) is not None
            self.mentions[id(jaxpr)] = found
            self.keep.append(jaxpr)
        return found

    def layout(self) -> ErrorLayout:
        return ErrorLayout(tuple(self.sites.items()), self.slots)

    def body_key(self) -> tuple:
        """What a body checked with this registry depends on besides its source and input
        types: the enabled checks, the payload slot layout and the per-shard error axes."""
        return (self.enabled, self.slots, self.shards)

    def shards_of(self, jaxpr: Jaxpr) -> tuple:
        """``(n,)`` if every ``shard_map`` in ``jaxpr`` that has checks inside runs ``n``
        shards: then the error is kept per shard (along a leading axis), as JAX's checkify keeps
        it; else ``()`` (no such shard_map, or several shard counts: each shard_map reduces
        its shards' errors to the first failing one)."""
        counts = {
            shard_count(e.params)
            for e in iter_equations(jaxpr)
            if e.primitive is shard_map_p and self.checks_inside(e.params["jaxpr"])
        }
        return (counts.pop(),) if len(counts) == 1 else ()


def shard_count(params: dict) -> int:
    """How many shards a ``shard_map`` with ``params`` runs (over its newly manual mesh axes)."""
    mesh = params["mesh"]
    return int(np.prod([mesh.shape[a] for a in manual_axes(params)], dtype=np.int64))


def manual_axes(params: dict) -> tuple:
    """The mesh axes a ``shard_map`` with ``params`` makes manual, in mesh order."""
    return tuple(a for a in params["mesh"].axis_names if a in params["newly_manual_axes"])


# -- the interpreter -------------------------------------------------------------------------------
class CheckifyInterpreter(Interpreter):
    """Evaluates a jaxpr by binding its primitives while updating an error value (its state)."""

    transformation = "checkify"

    def __init__(self, registry: _Registry) -> None:
        self.registry = registry
        self.enabled = registry.enabled
        self.set_state(initial_state(registry.slots, registry.shards))
        self.scope: RuleScope | None = None  # the custom-derivative body being checked
        self.nan_flags: dict = {}

    # -- state -------------------------------------------------------------------------------
    def get_state(self) -> list:
        return [self.failed, self.code, self.index, *self.slots]

    def set_state(self, arrays: Sequence) -> None:
        self.failed, self.code, self.index, *slots = arrays
        self.slots = list(slots)

    def child(self) -> CheckifyInterpreter:
        other = copy.copy(self)
        other.nan_flags = {}
        return other

    def body_cache_key(self) -> Hashable:
        """A checked body depends on the enabled checks, the payload slot layout and the
        per-shard error axes (and, as every cached body, on its source and input types); the
        codes of its sites are unique in the process, so it is reused by later calls, which
        register its sites again (``checks.sites``)."""
        return (type(self), *self.registry.body_key())

    def reuse_body(self, source: Any, key: Hashable | None, build: Callable[[], Any]) -> Any:
        return self.registry.reuse(source, key, build, self.scope)

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
        flag = known_now(flag)
        self.nan_flags[id(x)] = (x, flag)
        return flag

    # -- recording a failure -------------------------------------------------------------------
    def report(
        self, eqn: JaxprEqn, kind: str, fail: Any, payload: Sequence = (), detail: Any = None, key: Any = None
    ) -> None:
        """Record that the check ``kind`` at ``eqn`` fails where ``fail`` is True (``key``
        tells apart several sites of one equation).

        ``fail`` has the check's batch shape (``()`` for most checks; a batched ``foldax.check``
        has its vmapped axes in front), ``payload`` arrays have it in front of their own shape;
        a batched failure records its first failing element (``index``).
        """
        if fail is False:  # known while tracing: no site
            return
        fail = known_now(fail)
        fail = fail if on_host(fail) else jnp.asarray(fail)
        batch = tuple(np.shape(fail))
        index = None
        if batch:
            fail, index, payload = first_along(fail.reshape(-1), payload, 0, batch)
        slot = self._slot(payload)
        code = self.registry.code(
            (id(eqn), kind, key, batch),
            lambda: Site(kind, detail, slot, batch, eqn_source_line(eqn), self.scope),
            eqn,
        )
        if on_host(fail) and not np.any(fail):  # evaluated eagerly: nothing failed
            return
        self._update(fail, code, index, slot, payload)

    def _slot(self, payload: Sequence) -> int:
        if not payload:
            return -1
        signature = tuple((tuple(np.shape(p)), np.dtype(p.dtype).name) for p in payload)
        slot = self.registry.slot_of.get(signature)
        if slot is None:
            raise MissingRuleError(
                f"checkify: a check's payload {signature} has no slot in the error value; this is "
                f"a foldax bug (the payload signatures are collected before interpretation)."
            )
        return slot

    def _update(self, fail: Any, code: int, index: Any, slot: int, payload: Sequence) -> None:
        """Record ``fail`` unless an earlier check failed: ``code``, ``index`` and the payload are
        written wherever nothing had failed before (and are ignored where nothing failed)."""
        before = self.failed
        fail = _broadcast(fail, np.shape(before))  # per shard (leading axes), per batch element
        fresh = isinstance(before, np.ndarray) and not before.any()  # nothing failed so far
        if fresh:
            self.failed = fail
        else:
            self.failed = (
                np.logical_or(before, fail) if on_host(before, fail) else lax.bitwise_or(before, fail)
            )
        self.code = _keep_or(None if fresh else before, self.code, np.int32(code))
        if index is not None:
            self.index = _keep_or(None if fresh else before, self.index, index)
        if slot >= 0:
            start = sum(len(s) for s in self.registry.slots[:slot])
            for i, p in enumerate(payload):
                old = self.slots[start + i]
                self.slots[start + i] = _keep_or(None if fresh else before, old, p)


def known_now(flag: Any) -> Any:
    """``flag`` as a NumPy boolean if it is a boolean scalar computed eagerly (or a NumPy
    value), else as it is (a Python bool, known while tracing; traced; batched). Evaluating
    eagerly, what follows from the flag is then decided on the host (as JAX's checkify does
    it on the device: fewer small computations to compile)."""
    if isinstance(flag, bool) or is_tracer(flag) or np.shape(flag) != ():
        return flag
    return np.asarray(flag, dtype=bool)


def _broadcast(x: Any, shape: tuple) -> Any:
    """``x`` broadcast to ``shape`` (NumPy rules: trailing axes align); a NumPy value stays one."""
    if on_host(x):
        return np.broadcast_to(x, shape)
    x = jnp.asarray(x)
    return x if x.shape == tuple(shape) else jnp.broadcast_to(x, shape)


def _keep_or(keep: Any, old: Any, new: Any) -> Any:
    """``old`` where ``keep`` (whose axes lead ``old``'s), else ``new``, in ``old``'s dtype and
    shape; ``keep=None`` means nowhere. NumPy values give a NumPy value."""
    shape, dtype = np.shape(old), old.dtype if hasattr(old, "dtype") else np.asarray(old).dtype
    if on_host(new):  # a constant (a code): no eager conversion
        new = np.broadcast_to(np.asarray(new, dtype), shape)
    else:
        new = _broadcast(lax.convert_element_type(new, dtype), shape)
    if keep is None:
        return new
    if on_host(keep, old, new):
        return np.where(np.reshape(keep, np.shape(keep) + (1,) * (len(shape) - np.ndim(keep))), old, new)
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
        own = np.shape(p)[len(lead) + len(rest) :]
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


@CheckifyInterpreter.register(jax_check_p)
def _jax_check(interp: CheckifyInterpreter, eqn: JaxprEqn, invals: list) -> list:
    """JAX's ``checkify.check``/``debug_check``/``check_error``: each error effect of the checked
    error value whose kind is enabled becomes a site (its payload JAX's code and payload, its
    message JAX's exception's); the others are dropped, as JAX's checkify drops them."""
    error = _jax_error(eqn, invals)
    for effect in sorted(error._pred):
        kind = KIND_OF_JAX_ERROR.get(effect.error_type, USER)
        if kind not in interp.enabled:
            continue
        code = lax.convert_element_type(jnp.asarray(error._code[effect]), np.int32)
        payload = [code, *jax.tree_util.tree_leaves(error._payload[effect])]
        interp.report(
            eqn,
            kind,
            error._pred[effect],
            [jnp.asarray(p) for p in payload],
            detail=JaxSite(effect.error_type, _metadata(error)),
            key=effect,
        )
    return []


def _metadata(error: Any) -> dict:
    """JAX's code -> exception treedef table of ``error`` (of a foldax ``Error``: every site's)."""
    if isinstance(error, Error):
        return error.metadata_of(error.layout.codes)
    return dict(error._metadata)


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
            f"float_checks, automatic_checks or all_checks (combine them with |)."
        )
    return kinds


def _jax_error_kind(e: Any) -> Any:
    """Accept JAX's checkify error classes too (FailedCheckError, NaNError, ...)."""
    return KIND_OF_JAX_ERROR.get(e, e) if isinstance(e, type) else e


def checkify(fun: Callable, errors: frozenset = user_checks) -> Callable[..., tuple[Error, Any]]:
    """Run ``fun`` with its checks turned into an error value instead of exceptions.

    ``checkify(f, errors)(*args)`` returns ``(error, out)``: ``error.get()`` is the message of the
    first failing check (or ``None``), ``error.throw()`` raises it as ``CheckError`` (a
    ``checkify.JaxRuntimeError``). Composes with ``jit``, ``vmap`` and ``grad`` in any order, as
    ``jax.experimental.checkify.checkify`` does. The error is a ``jax.experimental.checkify.Error``,
    so ``checkify.check_error`` accepts it.

    Arguments:
        fun: the function to check.
        errors: an ``ErrorSet`` of what to check: ``user_checks`` (``foldax.check`` and JAX's
            ``checkify.check``/``debug_check``/``check_error``, the default), ``nan_checks``,
            ``div_checks`` (division by zero, integer or float, and integer remainder by zero),
            ``index_checks`` (out-of-bounds gather/scatter/dynamic slices), ``key_reuse_checks``
            (a random key consumed twice, found at trace time), or a union such as
            ``float_checks``, ``automatic_checks``, ``all_checks``. JAX's checkify error sets
            (``checkify.float_checks``, ...) are accepted too.

    Returns:
        A function with ``fun``'s signature returning ``(Error, output)``.

    Raises:
        FoldaxTypeError: ``fun`` is not callable, or ``errors`` is not a set of known kinds.
        FoldaxValueError: a ``while_loop`` in ``fun`` has a predicate batched by ``vmap`` and
            something to check in its condition or body (JAX's checkify refuses it with the same
            ``ValueError``); checkify the function before vmapping it, ``vmap(checkify(f))``.
        MissingRuleError: a higher-order primitive inside ``fun`` has no checkify rule.

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
    @on_argument_devices
    def checked(*args: Any, **kwargs: Any) -> tuple[Error, Any]:
        program, reuse = _trace(fun, args, kwargs, enabled)
        registry = _Registry(enabled, _slot_signatures(program.jaxpr.jaxpr, enabled))
        registry.shards = registry.shards_of(program.jaxpr.jaxpr)
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
    program = trace_program(
        fun, args, kwargs, name=function_name(fun), observe=_observer(enabled), traced_for="checkify"
    )
    if KEY_REUSE not in enabled:
        return program, None
    from foldax.transforms.random.key_reuse import find_key_reuse

    raw = trace_program(
        fun, args, kwargs, name=function_name(fun), simplify_program=False, traced_for="checkify"
    )
    return program, find_key_reuse(raw)


@functools.cache
def _observer(enabled: frozenset) -> Callable[[Any], bool]:
    """The observer of ``enabled`` (one per set: it is part of JAX's trace context, so nested
    jits trace once per set)."""
    return functools.partial(_checked_primitive, enabled=enabled)


def _record_key_reuse(interp: CheckifyInterpreter, error: KeyReuseError) -> None:
    code = interp.registry.code(("key_reuse",), lambda: Site(KEY_REUSE, str(error), -1, (), ""), error)
    shape = np.shape(interp.failed)
    interp.failed, interp.code = np.full(shape, True), np.full(shape, code, np.int32)
