"""Passes over a closed jaxpr: constant folding, dead-code elimination, common-subexpression
elimination, and ``simplify`` which runs all three.

Folding evaluates, at trace time, every equation whose inputs are all concrete constants (consts
and literals), inlining nested ``jit`` calls that receive some NumPy or folded constants so
folding reaches inside them (Python scalars a call receives stay its arguments, as in
JAX). Equations that would blow a small constant up into a large one (``broadcast``,
``iota``) are left for XLA, which folds those for free. Equations that take or make PRNG
keys are neither folded nor merged, so key-reuse checks see every use of every key. With an
observer (``observe``, under ``foldax.checkify``), a folded equation the observer names leaves an
``observed_p`` equation in its place, and one with such equations inside is not folded.

Example:
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> closed = jax.make_jaxpr(lambda x: x + jnp.sin(np.arange(3.0) ** 2))(jnp.ones(3))
    >>> len(closed.jaxpr.eqns), len(fold_constants(closed).jaxpr.eqns)
    (2, 1)
"""

from __future__ import annotations

import functools
from typing import Any, Iterator, Sequence

import jax
import numpy as np

from foldax._compat import (
    ClosedJaxpr,
    DropVar,
    Jaxpr,
    JaxprEqn,
    Literal,
    Var,
    bind_params,
    closed_call_p,
    convert_constvars_jaxpr,
    core,
    dce_jaxpr,
    eqn_context,
    eval_context,
    host_constant,
    is_python_scalar_literal,
    is_tracer,
    jit_p,
    make_jaxpr_obj,
    new_literal,
    new_var,
)
from foldax.transforms.core.mesh import needs_devices, process_local
from foldax.transforms.core.numpy_eval import compute_now
from foldax.transforms.core.observe import Observer, observation, unobserved

# An equation whose output has more elements than this, and more than EXPAND_RATIO times its
# inputs, is not folded: XLA materialises broadcasts and iotas better than a stored constant.
EXPAND_MIN_SIZE = 1 << 14
EXPAND_RATIO = 4

# Effectful primitives that folding may settle at trace time: ``EFFECT_FOLDERS[prim](eqn, found)``
# gets ``(is_known, value)`` per input and returns True when the equation can be dropped (it may
# raise instead, e.g. a ``foldax.check`` whose predicate is a failing constant).
EFFECT_FOLDERS: dict = {}


def _size(aval: Any) -> int:
    return int(np.prod(getattr(aval, "shape", ()), dtype=np.int64))


def _expands(eqn: JaxprEqn) -> bool:
    out = sum(_size(v.aval) for v in eqn.outvars)
    if out <= EXPAND_MIN_SIZE:
        return False
    return out > EXPAND_RATIO * max(1, sum(_size(v.aval) for v in eqn.invars))


def is_key(aval: Any) -> bool:
    """Whether values of ``aval`` are typed PRNG keys."""
    dtype = getattr(aval, "dtype", None)
    return dtype is not None and _is_key_dtype(dtype)


@functools.lru_cache(maxsize=256)
def _is_key_dtype(dtype: Any) -> bool:  # asked of every variable of every equation: remembered
    return jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _uses_keys(eqn: JaxprEqn) -> bool:
    """An equation that takes or makes a PRNG key (a draw, split, fold_in, ``key(0)``, ...)
    stays in the program, as in JAX: keys are made and consumed when the program runs, where
    JAX's key-reuse checker (``jax_debug_key_reuse``, ``jax.experimental.key_reuse``) and
    ``find_key_reuse`` follow them. Bodies of higher-order equations are looked into."""
    return any(is_key(getattr(v, "aval", None)) for v in (*eqn.invars, *eqn.outvars)) or any(
        _uses_keys(inner) for body in core.jaxprs_in_params(eqn.params) for inner in body.eqns
    )


def foldable(eqn: JaxprEqn) -> bool:
    """Whether an equation whose inputs are all constants may be computed at trace time: no
    effects, no large expansion of a small constant, no PRNG keys, and no output sharded over an
    Explicit mesh whose devices are not known yet."""
    return not eqn.effects and not _expands(eqn) and not _uses_keys(eqn) and not needs_devices(eqn)


def _inlinable(eqn: JaxprEqn) -> bool:
    return inlinable_call(eqn.primitive, eqn.params)


def checked_inside(params: dict, observe: Observer) -> bool:
    """Whether the sub-jaxprs in ``params`` hold an equation ``observe`` names."""
    return any(observe(e.primitive) for body in core.jaxprs_in_params(params) for e in iter_equations(body))


def inlinable_call(primitive: Any, p: dict) -> bool:
    """A plain nested ``jit``/``closed_call`` (no shardings, donation or layouts to keep)."""
    if primitive not in (jit_p, closed_call_p):
        return False
    body = p["jaxpr" if primitive is jit_p else "call_jaxpr"]
    if any(is_tracer(c) for c in body.consts):
        return False
    if primitive is closed_call_p:
        return True

    def plain(seq):
        return all(getattr(s, "__class__", None).__name__ == "UnspecifiedValue" or s is None for s in seq)  # noqa: E731

    return (
        plain(p["in_shardings"])
        and plain(p["out_shardings"])
        and not any(p["donated_invars"])
        and all(x is None for x in p["in_layouts"])
        and all(x is None for x in p["out_layouts"])
        and not p.get("compiler_options_kvs")
    )


class _Folder:
    """One pass of constant folding over an open jaxpr whose known consts are given."""

    def __init__(self, settle_effects: bool = True, observe: Observer | None = None) -> None:
        self.settle_effects = settle_effects
        self.observe = observe
        self.known: dict[Var, Any] = {}
        self.subst: dict[Var, Any] = {}
        self.eqns: list[JaxprEqn] = []

    def atom(self, a: Any) -> Any:
        return self.subst.get(a, a) if isinstance(a, Var) else a

    def value(self, a: Any) -> tuple[bool, Any]:
        if isinstance(a, Literal):
            return True, a.val
        if a in self.known:
            return True, self.known[a]
        return False, None

    def run(self, eqns: Sequence[JaxprEqn]) -> None:
        for eqn in eqns:
            if self.subst:
                eqn = _substituted(eqn, self.atom)
            found = [self.value(a) for a in eqn.invars]
            all_known = all(k and process_local(v) for k, v in found)
            folder = EFFECT_FOLDERS.get(eqn.primitive) if eqn.effects and self.settle_effects else None
            if folder is not None and folder(eqn, found):
                continue
            observed = self.observe is not None and checked_inside(eqn.params, self.observe)
            if all_known and foldable(eqn) and not (observed and not _inlinable(eqn)):
                if observed:  # its checked equations are observed one by one
                    self.inline(eqn)
                    continue
                if self.observe is not None and self.observe(eqn.primitive):
                    self.eqns.append(observation(eqn.invars, eqn))
                self.evaluate(eqn, [v for _, v in found])
            elif _inlinable(eqn) and _folds_inside(eqn, found) and not eqn.effects:
                self.inline(eqn)
            else:
                self.eqns.append(eqn)

    def evaluate(self, eqn: JaxprEqn, vals: list) -> None:
        with eval_context(), eqn_context(eqn), unobserved():
            if eqn.primitive in (jit_p, closed_call_p):
                body = eqn.params["jaxpr" if eqn.primitive is jit_p else "call_jaxpr"]
                outs = core.eval_jaxpr(body.jaxpr, body.consts, *vals)
            else:
                outs = compute_now(eqn.primitive, vals, bind_params(eqn))
        if not eqn.primitive.multiple_results:
            outs = [outs]
        for v, o in zip(eqn.outvars, outs):
            if not isinstance(v, DropVar):
                self.known[v] = o

    def inline(self, eqn: JaxprEqn) -> None:
        body: ClosedJaxpr = eqn.params["jaxpr" if eqn.primitive is jit_p else "call_jaxpr"]
        # Fresh variables for the body's inputs too: one body inlined at several call sites
        # (jnp.where's `_where`) must not share an input variable, whose folded value would
        # otherwise be the last call site's at every site.
        fresh_eqns, rename = _fresh_copy(body.jaxpr.eqns, [*body.jaxpr.constvars, *body.jaxpr.invars])
        inner = _Folder(self.settle_effects, self.observe)
        inner.known.update((rename[v], c) for v, c in zip(body.jaxpr.constvars, body.consts))
        for v, a in zip(body.jaxpr.invars, eqn.invars):
            known, val = self.value(a)
            if known:
                inner.known[rename[v]] = val
            else:
                inner.subst[rename[v]] = a
        inner.run(fresh_eqns)
        self.eqns.extend(inner.eqns)
        self.known.update(inner.known)
        for out, a in zip(eqn.outvars, body.jaxpr.outvars):
            if isinstance(out, DropVar):
                continue
            a = inner.atom(rename.get(a, a) if isinstance(a, Var) else a)
            known, val = inner.value(a)
            if known:
                self.known[out] = val
            else:
                self.subst[out] = a


def _folds_inside(eqn: JaxprEqn, found: Sequence[tuple[bool, Any]]) -> bool:
    """Whether a call with some unknown inputs receives a constant worth inlining it for: a
    NumPy or folded constant. Python scalars it was called with stay its arguments (traced
    weakly typed, as ``jax.jit`` traces them), so the call stays a ``jit`` equation."""
    return any(known and not is_python_scalar_literal(a) for (known, _), a in zip(found, eqn.invars))


def _fresh_copy(
    eqns: Sequence[JaxprEqn], inputs: Sequence[Var] = ()
) -> tuple[list[JaxprEqn], dict[Var, Var]]:
    """Copies of ``eqns`` with fresh output variables and fresh variables for ``inputs`` (the
    body's constvars and invars), so one body can be inlined twice; returns the renaming."""
    rename: dict[Var, Var] = {v: new_var(v.aval) for v in inputs}
    out = []
    for eqn in eqns:
        invars = [rename.get(a, a) if isinstance(a, Var) else a for a in eqn.invars]
        outvars: list[Var] = []  # a DropVar is a Var
        for v in eqn.outvars:
            if isinstance(v, DropVar):
                outvars.append(v)
            else:
                rename[v] = new_var(v.aval)
                outvars.append(rename[v])
        out.append(eqn.replace(invars=invars, outvars=outvars))
    return out, rename


def _substituted(eqn: JaxprEqn, atom: Any) -> JaxprEqn:
    """``eqn`` with ``atom`` applied to its inputs; the same object when nothing changes."""
    invars = [atom(a) for a in eqn.invars]
    if all(a is b for a, b in zip(invars, eqn.invars)):
        return eqn
    return eqn.replace(invars=invars)


def fold_constants(
    closed: ClosedJaxpr, settle_effects: bool = True, observe: Observer | None = None
) -> ClosedJaxpr:
    """Evaluate now everything that depends only on concrete constants (see module docstring).

    ``settle_effects=False`` leaves effectful equations (a ``check`` on a constant) in place, for
    ``checkify`` to report instead of raising now; ``observe`` names the primitives whose folded
    equations ``checkify`` must still see.
    """
    jaxpr = closed.jaxpr
    folder = _Folder(settle_effects, observe)
    kept_consts: list[tuple[Var, Any]] = []
    for v, c in zip(jaxpr.constvars, closed.consts):
        if is_tracer(c):
            kept_consts.append((v, c))
        else:
            folder.known[v] = c
    folder.run(jaxpr.eqns)
    outvars = [folder.atom(a) for a in jaxpr.outvars]
    return _close(folder, jaxpr, kept_consts, outvars)


def _close(folder: _Folder, jaxpr: Jaxpr, kept: list, outvars: list) -> ClosedJaxpr:
    """Turn the folded values the remaining equations/outputs use into literals or consts."""
    constvars = [v for v, _ in kept]
    consts = [c for _, c in kept]
    replacement: dict[Var, Any] = {}

    def use(a: Any) -> Any:
        if not isinstance(a, Var) or a not in folder.known:
            return a
        if a not in replacement:
            val = folder.known[a]
            if (
                np.shape(val) == ()
                and not is_tracer(val)
                and hasattr(a.aval, "dtype")
                and not jax.dtypes.issubdtype(a.aval.dtype, jax.dtypes.extended)
            ):  # keys, tokens
                replacement[a] = new_literal(val, a.aval)
            else:
                cv = new_var(a.aval)
                constvars.append(cv)
                consts.append(host_constant(val, a.aval) if getattr(a.aval, "weak_type", False) else val)
                replacement[a] = cv
        return replacement[a]

    eqns = [_substituted(e, use) for e in folder.eqns]
    outs = [use(a) for a in outvars]
    new = make_jaxpr_obj(constvars, jaxpr.invars, outs, eqns, jaxpr.debug_info)
    return ClosedJaxpr(new, consts)


def eliminate_dead_code(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Remove equations (and consts) no output depends on; effectful equations stay."""
    jaxpr = closed.jaxpr
    if not _may_have_dead_code(jaxpr):
        return closed
    n_consts = len(jaxpr.constvars)
    opened = convert_constvars_jaxpr(jaxpr)
    keep_inputs = [False] * n_consts + [True] * len(jaxpr.invars)
    pruned, used = dce_jaxpr(opened, [True] * len(jaxpr.outvars), instantiate=keep_inputs)
    used_consts = used[:n_consts]
    constvars = pruned.invars[: sum(used_consts)]
    consts = [c for c, u in zip(closed.consts, used_consts) if u]
    new = make_jaxpr_obj(
        constvars, pruned.invars[len(constvars) :], pruned.outvars, pruned.eqns, jaxpr.debug_info
    )
    return ClosedJaxpr(new, consts)


def _may_have_dead_code(jaxpr: Jaxpr) -> bool:
    """A cheap liveness walk: False when every const and every effect-free equation is used
    (equations with sub-jaxprs count as possibly dead inside, for JAX's DCE to look into)."""
    used = {v for v in jaxpr.outvars if type(v) is not Literal}
    for eqn in reversed(jaxpr.eqns):
        if not eqn.effects:
            for v in eqn.outvars:
                if v in used:
                    break
            else:
                return True
        for value in eqn.params.values():
            if isinstance(value, _JAXPRS) or type(value) is tuple and value and isinstance(value[0], _JAXPRS):
                return True
        for atom in eqn.invars:
            if type(atom) is not Literal:
                used.add(atom)
    return not used.issuperset(jaxpr.constvars)


_JAXPRS = (Jaxpr, ClosedJaxpr)


def _params_key(params: dict) -> Any:
    items = []
    for k in sorted(params):
        v = params[k]
        try:
            hash(v)
        except TypeError:
            v = ("id", id(v))
        items.append((k, v))
    return tuple(items)


def _atom_key(a: Any) -> Any:
    if isinstance(a, Literal):
        val = a.val
        try:
            return ("lit", a.aval, np.asarray(val).tobytes())
        except Exception:  # noqa: BLE001 - unusual literal: treat as unique
            return ("lit-id", id(a))
    return a


def eliminate_common_subexpressions(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Replace an equation by an earlier identical one (same primitive, params and inputs).

    Effectful equations are never merged.
    """
    jaxpr = closed.jaxpr
    seen: dict[Any, list] = {}
    subst: dict[Var, Any] = {}
    eqns = []
    for eqn in jaxpr.eqns:
        if subst:
            eqn = _substituted(eqn, lambda a: subst.get(a, a) if isinstance(a, Var) else a)
        invars = eqn.invars
        if eqn.effects or any(isinstance(v, DropVar) for v in eqn.outvars) or _uses_keys(eqn):
            # (two keys made alike stay two keys, two draws from a key stay two uses)
            eqns.append(eqn)
            continue
        try:
            key = (eqn.primitive, _params_key(eqn.params), tuple(_atom_key(a) for a in invars))
            hash(key)
        except TypeError:
            eqns.append(eqn)
            continue
        if key in seen:
            for old, new in zip(eqn.outvars, seen[key]):
                subst[old] = new
            continue
        seen[key] = list(eqn.outvars)
        eqns.append(eqn)
    outvars = [subst.get(a, a) if isinstance(a, Var) else a for a in jaxpr.outvars]
    new = make_jaxpr_obj(jaxpr.constvars, jaxpr.invars, outvars, eqns, jaxpr.debug_info)
    return ClosedJaxpr(new, closed.consts)


def simplify(
    closed: ClosedJaxpr, fold: bool = True, settle_effects: bool = True, observe: Observer | None = None
) -> ClosedJaxpr:
    """Fold constants (unless ``fold=False``), then eliminate common subexpressions and dead code
    (``settle_effects``, ``observe``: see ``fold_constants``)."""
    if fold:
        closed = fold_constants(closed, settle_effects, observe)
    closed = eliminate_common_subexpressions(closed)
    return eliminate_dead_code(closed)


def iter_equations(jaxpr: Jaxpr) -> Iterator[JaxprEqn]:
    """Every equation of ``jaxpr`` and, recursively, of its sub-jaxprs (each one once per use)."""
    for eqn in jaxpr.eqns:
        yield eqn
        for sub in core.jaxprs_in_params(eqn.params):
            yield from iter_equations(sub)


def count_equations(jaxpr: Jaxpr | ClosedJaxpr) -> int:
    """Number of equations, counting into every sub-jaxpr (each sub-jaxpr counted once)."""
    return sum(1 for _ in iter_equations(jaxpr.jaxpr if isinstance(jaxpr, ClosedJaxpr) else jaxpr))
