"""Key-reuse detection: an interpreter that follows every PRNG key through a jaxpr, at trace time.

A key value is an array of *ids*, one per key element; an element consumed twice is reported with
the source lines of both uses. What consumes: ``random_bits``, ``random_split``, ``random_gamma``
and any primitive without a rule that takes keys; ``fold_in`` consumes a key *for its data* (two
``fold_in(key, 3)`` are reuse, ``fold_in(key, 1)`` and ``fold_in(key, 2)`` are not, as
``keyed`` relies on). Layout primitives (``slice``, ``reshape``, ``broadcast_in_dim``,
``gather``/``dynamic_slice`` with constant indices, ...) are evaluated on the ids, so ``keys[0]``
is that element and a broadcast key holds the same id twice; with indices only known at run
time the result may be any input element and consuming it consumes them all (as JAX's checker).

Control flow: a ``cond`` consumes what *either* branch consumes; a ``while``/``scan`` body is
followed through two iterations, so a key consumed in the body without being replaced by the
next carry (or closed over) is found as reuse between iterations. ``vmap`` needs nothing special:
the batched primitives act on whole key arrays. A ``shard_map`` body is followed for its first
shard's block of each key.

Example:
    >>> from foldax import random
    >>> def twice(key):
    ...     return random.normal(key) + random.normal(key)
    >>> err = random.find_key_reuse(twice, random.key(0))
    >>> type(err).__name__
    'KeyReuseError'
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from typing import Any, Callable

import numpy as np
from jax import lax

from foldax._compat import (
    JaxprEqn,
    array_aval,
    closed_call_p,
    cond_p,
    custom_jvp_call_p,
    custom_vjp_call_p,
    eqn_source_line,
    eval_context,
    is_tracer,
    jit_p,
    random_bits_p,
    random_clone_p,
    random_fold_in_p,
    random_gamma_p,
    random_seed_p,
    random_split_p,
    random_unwrap_p,
    random_wrap_p,
    remat_p,
    scan_p,
    shard_map_p,
    while_p,
)
from foldax.errors import KeyReuseError
from foldax.transforms.core import passes
from foldax.transforms.core.interpreter import Interpreter
from foldax.transforms.core.passes import is_key as _is_key
from foldax.transforms.core.program import Program
from foldax.transforms.core.trace import function_name, trace_program
from foldax.transforms.random.keyed import keyless_key_p, site_key_p


class Keys:
    """An interpreter value for a key array: one id per element."""

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = ids


class Known:
    """A value known at trace time (a literal or constant)."""

    def __init__(self, value: Any) -> None:
        self.value = value


UNKNOWN = None  # a value only known at run time


@dataclasses.dataclass(frozen=True)
class Use:
    primitive: str
    source: str
    note: str

    def __str__(self) -> str:
        return f"{self.primitive} at {self.source}{self.note}"


class _Analysis:
    """The state shared by an interpreter and its children: ids, aliases and consumption."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.next_id = 0
        self.links: dict[int, tuple] = {}  # an id that stands for any of these ids
        self.consumed: dict[int, Use] = {}
        self.folded: dict[tuple, Use] = {}
        self.notes: list[str] = []
        self.callers: list[JaxprEqn] = []
        self.const_ids: dict[int, tuple] = {}

    def fresh(self, shape: tuple) -> Keys:
        n = int(np.prod(shape, dtype=np.int64))
        ids = np.arange(self.next_id, self.next_id + n, dtype=np.int64).reshape(shape)
        self.next_id += n
        return Keys(ids)

    def alias(self, shape: tuple, choices: Callable[[tuple], set]) -> Keys:
        """Fresh ids, each standing for the ids ``choices(element index)``."""
        out = self.fresh(shape)
        for index in np.ndindex(*shape):
            self.links[int(out.ids[index])] = tuple(sorted(choices(index)))
        return out

    def bases(self, i: int) -> set:
        todo, seen = [i], set()
        while todo:
            j = todo.pop()
            if j in seen:
                continue
            seen.add(j)
            todo.extend(self.links.get(j, ()))
        return {j for j in seen if j not in self.links}

    def use(self, eqn: JaxprEqn) -> Use:
        """Where ``eqn`` is: its own source line, else that of the innermost enclosing equation
        that has one (equations inside a nested ``jit`` only know frames inside it)."""
        source = eqn_source_line(eqn)
        for outer in reversed(self.callers):
            if source != "<unknown>":
                break
            source = eqn_source_line(outer)
        return Use(eqn.primitive.name, source, "".join(self.notes))

    @contextlib.contextmanager
    def inside(self, eqn: JaxprEqn, note: str = ""):
        """Analyse the body of ``eqn`` (a higher-order equation), with ``note`` on its uses."""
        self.callers.append(eqn)
        self.notes.append(note)
        try:
            yield
        finally:
            self.callers.pop()
            self.notes.pop()

    def consume(self, keys: Keys, eqn: JaxprEqn) -> None:
        use, now = self.use(eqn), set()
        for i in keys.ids.reshape(-1):
            for base in sorted(self.bases(int(i))):
                if base in now:
                    self.fail(use, use, same=True)
                if base in self.consumed:
                    self.fail(self.consumed[base], use)
                self.consumed[base] = use
                now.add(base)

    def fold(self, keys: Keys, data: Any, eqn: JaxprEqn) -> None:
        use, now = self.use(eqn), set()
        data = np.broadcast_to(np.asarray(data), keys.ids.shape)
        for index in np.ndindex(*keys.ids.shape):
            for base in sorted(self.bases(int(keys.ids[index]))):
                entry = (base, np.asarray(data[index]).tobytes())
                if entry in now:
                    self.fail(use, use, "fold_in with the same data", same=True)
                if entry in self.folded:
                    self.fail(self.folded[entry], use, "fold_in with the same data")
                self.folded[entry] = use
                now.add(entry)

    def fail(self, first: Use, second: Use, how: str = "consumed", same: bool = False) -> None:
        note = " (the same key appears twice in one key array)" if same else ""
        raise KeyReuseError(
            f"{self.name}: a random key is {how} twice{note}: first by {first}, then by "
            f"{second}. A key must be used once: split it (key, sub = foldax.random.split(key)) "
            f"and use each subkey once, fold in distinct data, or let foldax.random.keyed draw "
            f"fresh subkeys."
        )

    def snapshot(self) -> tuple:
        return dict(self.consumed), dict(self.folded)

    def restore(self, snap: tuple) -> None:
        self.consumed, self.folded = dict(snap[0]), dict(snap[1])


# -- the interpreter -------------------------------------------------------------------------------
class KeyReuseInterpreter(Interpreter):
    """Follows keys through a jaxpr without computing anything (values: ``Keys``/``Known``)."""

    transformation = "key reuse"
    generic_higher_order = False
    source_context = False

    def __init__(self, analysis: _Analysis) -> None:
        self.analysis = analysis

    def lift(self, constant: Any) -> Any:
        if _is_key(constant):
            ids = self.analysis.const_ids.get(id(constant))
            if ids is None:
                ids = (self.analysis.fresh(np.shape(constant)), constant)
                self.analysis.const_ids[id(constant)] = ids
            return ids[0]
        return UNKNOWN if is_tracer(constant) else Known(constant)

    def default_rule(self, eqn: JaxprEqn, invals: list) -> list:
        """A primitive without a rule consumes every key it is given; key outputs are new."""
        for x in invals:
            if isinstance(x, Keys):
                self.analysis.consume(x, eqn)
        return self.fresh_outputs(eqn)

    def fresh_outputs(self, eqn: JaxprEqn) -> list:
        return [self.analysis.fresh(array_aval(v).shape) if _is_key(v.aval) else UNKNOWN for v in eqn.outvars]


def _rule(*primitives: Any) -> Callable:
    return KeyReuseInterpreter.register(*primitives)


@_rule(random_bits_p, random_split_p, random_gamma_p)
def _consume(interp: KeyReuseInterpreter, eqn: JaxprEqn, invals: list) -> list:
    return interp.default_rule(eqn, invals)


@_rule(random_seed_p, random_wrap_p, random_clone_p, keyless_key_p, random_unwrap_p, lax.eq_p, lax.ne_p)
def _source(interp: KeyReuseInterpreter, eqn: JaxprEqn, invals: list) -> list:
    return interp.fresh_outputs(eqn)


@_rule(random_fold_in_p, site_key_p)
def _fold_in(interp: KeyReuseInterpreter, eqn: JaxprEqn, invals: list) -> list:
    keys = invals[0]
    data = (
        eqn.params["site"]
        if eqn.primitive is site_key_p
        else (invals[1].value if isinstance(invals[1], Known) else UNKNOWN)
    )
    if isinstance(keys, Keys) and data is not UNKNOWN:
        interp.analysis.fold(keys, data, eqn)
    return interp.fresh_outputs(eqn)


_IDENTITY = {lax.copy_p, lax.convert_element_type_p, lax.reduce_precision_p, lax.sharding_constraint_p}
_LAYOUT = {
    lax.reshape_p,
    lax.squeeze_p,
    lax.broadcast_in_dim_p,
    lax.transpose_p,
    lax.rev_p,
    lax.slice_p,
    lax.concatenate_p,
    lax.dynamic_slice_p,
    lax.gather_p,
    lax.dynamic_update_slice_p,
    lax.scatter_p,
    lax.select_n_p,
}


@_rule(*_IDENTITY)
def _identity(interp: KeyReuseInterpreter, eqn: JaxprEqn, invals: list) -> list:
    return [invals[0] if isinstance(invals[0], Keys) else UNKNOWN]


@_rule(*_LAYOUT)
def _layout(interp: KeyReuseInterpreter, eqn: JaxprEqn, invals: list) -> list:
    if not any(isinstance(x, Keys) for x in invals):
        return [UNKNOWN]
    if all(isinstance(x, (Keys, Known)) for x in invals):
        with eval_context():
            args = [np.asarray(x.ids, np.int32) if isinstance(x, Keys) else x.value for x in invals]
            out = eqn.primitive.bind(*args, **eqn.params)
        return [Keys(np.asarray(out, np.int64))]
    shape = array_aval(eqn.outvars[0]).shape
    keys = [x for x in invals if isinstance(x, Keys)]
    if eqn.primitive is lax.select_n_p:  # element-wise: either case
        cases = [np.broadcast_to(x.ids, shape) for x in keys]
        return [interp.analysis.alias(shape, lambda e: {int(c[e]) for c in cases})]
    every = {int(i) for x in keys for i in x.ids.reshape(-1)}  # indices known only at run time
    return [interp.analysis.alias(shape, lambda e: every)]


@_rule(jit_p, closed_call_p)
def _call(interp: KeyReuseInterpreter, eqn: JaxprEqn, invals: list) -> list:
    body = eqn.params["jaxpr" if eqn.primitive is jit_p else "call_jaxpr"]
    with interp.analysis.inside(eqn):
        return interp.run(body, *invals)


@_rule(shard_map_p)
def _shard_map(interp: KeyReuseInterpreter, eqn: JaxprEqn, invals: list) -> list:
    """The body runs once per shard on that shard's block: followed for the first shard (a
    replicated key is the same key in every shard; blocks of a sharded key are disjoint). Key
    outputs laid out over mesh axes are assembled from every shard, so they get fresh ids."""
    p = eqn.params
    shape_of = p["mesh"].shape
    blocks = [
        _first_block(x, spec, shape_of) if isinstance(x, Keys) else x
        for x, spec in zip(invals, p["in_specs"])
    ]
    with interp.analysis.inside(eqn, " (in a shard_map)"):
        outs = interp.run_jaxpr(p["jaxpr"], [], blocks)
    return [
        o if not isinstance(o, Keys) or not _spec_axes(spec) else interp.analysis.fresh(array_aval(v).shape)
        for o, spec, v in zip(outs, p["out_specs"], eqn.outvars)
    ]


def _spec_axes(spec: Any) -> list:
    """Per dimension, the mesh axes a PartitionSpec shards it over (empty: replicated)."""
    axes = []
    for entry in spec:
        axes.append(() if entry is None else entry if isinstance(entry, tuple) else (entry,))
    return axes if any(axes) else []


def _first_block(keys: Keys, spec: Any, mesh_shape: Any) -> Keys:
    """The ids of the first shard's block of a key array laid out by ``spec``."""
    index = tuple(
        slice(0, n // int(np.prod([mesh_shape[a] for a in axes], dtype=np.int64)))
        for n, axes in zip(keys.ids.shape, _spec_axes(spec))
    )
    return Keys(keys.ids[index]) if index else keys


@_rule(remat_p)
def _remat(interp: KeyReuseInterpreter, eqn: JaxprEqn, invals: list) -> list:
    with interp.analysis.inside(eqn):
        return interp.run_jaxpr(eqn.params["jaxpr"], [], invals)


@_rule(custom_jvp_call_p, custom_vjp_call_p)
def _custom(interp: KeyReuseInterpreter, eqn: JaxprEqn, invals: list) -> list:
    with interp.analysis.inside(eqn):
        return interp.run(eqn.params["call_jaxpr"], *invals)


@_rule(cond_p)
def _cond(interp: KeyReuseInterpreter, eqn: JaxprEqn, invals: list) -> list:
    index, ops = invals[0], invals[1:]
    branches = eqn.params["branches"]
    analysis = interp.analysis
    if isinstance(index, Known):
        chosen = int(np.clip(np.asarray(index.value), 0, len(branches) - 1))
        with analysis.inside(eqn):
            return interp.run(branches[chosen], *ops)
    before, after, outs = analysis.snapshot(), [], []
    for i, branch in enumerate(branches):
        analysis.restore(before)
        with analysis.inside(eqn, f" (cond branch {i})"):
            outs.append(interp.run(branch, *ops))
        after.append(analysis.snapshot())
    consumed: dict[int, Use] = {}
    folded: dict[tuple, Use] = {}
    for c, f in after:  # what either branch consumed is consumed
        consumed = {**c, **consumed}
        folded = {**f, **folded}
    analysis.consumed, analysis.folded = consumed, folded
    return [
        _join_outputs(analysis, eqn.outvars[i].aval, [o[i] for o in outs]) for i in range(len(eqn.outvars))
    ]


def _join_outputs(analysis: _Analysis, aval: Any, values: list) -> Any:
    if not _is_key(aval):
        return UNKNOWN
    first = values[0]
    if all(np.array_equal(v.ids, first.ids) for v in values):
        return first
    return analysis.alias(aval.shape, lambda e: {int(v.ids[e]) for v in values})


@_rule(while_p)
def _while(interp: KeyReuseInterpreter, eqn: JaxprEqn, invals: list) -> list:
    p = eqn.params
    cn, bn = p["cond_nconsts"], p["body_nconsts"]
    cond_consts, body_consts, carry = invals[:cn], invals[cn : cn + bn], invals[cn + bn :]
    for iteration in (1, 2):
        with interp.analysis.inside(eqn, f" (while loop, iteration {iteration})"):
            interp.run(p["cond_jaxpr"], *cond_consts, *carry)
            carry = interp.run(p["body_jaxpr"], *body_consts, *carry)
    with interp.analysis.inside(eqn, " (while loop condition)"):
        interp.run(p["cond_jaxpr"], *cond_consts, *carry)
    return carry


@_rule(scan_p)
def _scan(interp: KeyReuseInterpreter, eqn: JaxprEqn, invals: list) -> list:
    p = eqn.params
    nc, ncarry, length = p["num_consts"], p["num_carry"], p["length"]
    consts, carry, xs = invals[:nc], invals[nc : nc + ncarry], invals[nc + ncarry :]
    analysis = interp.analysis
    ys_per_iteration, fresh_from = [], 0
    for t in range(min(length, 2)):
        step = length - 1 - t if p["reverse"] else t
        x_t = [Keys(x.ids[step]) if isinstance(x, Keys) else UNKNOWN for x in xs]
        fresh_from = analysis.next_id
        with analysis.inside(eqn, f" (scan body, iteration {t + 1})"):
            outs = interp.run(p["jaxpr"], *consts, *carry, *x_t)
        carry, ys = outs[:ncarry], outs[ncarry:]
        ys_per_iteration.append(ys)
    out_avals = [v.aval for v in eqn.outvars[ncarry:]]
    stacked = [
        _stack_ys(analysis, aval, [ys[i] for ys in ys_per_iteration], length, fresh_from)
        for i, aval in enumerate(out_avals)
    ]
    return [*carry, *stacked]


def _stack_ys(analysis: _Analysis, aval: Any, per_iteration: list, length: int, fresh_from: int) -> Any:
    """The stacked key outputs of a scan: the simulated iterations, then for the others ids
    that are new where the last simulated iteration made new keys, else aliases of them."""
    if not _is_key(aval) or not per_iteration:
        return UNKNOWN if not _is_key(aval) else analysis.fresh(aval.shape)
    rows = [y.ids for y in per_iteration]
    last = rows[-1]
    for _ in range(length - len(rows)):
        row = analysis.fresh(last.shape).ids
        for index in np.ndindex(*last.shape):
            if int(last[index]) < fresh_from:
                analysis.links[int(row[index])] = (int(last[index]),)
        rows.append(row)
    return Keys(np.stack(rows))


# -- entry points ----------------------------------------------------------------------------------
def find_key_reuse(fun: Callable | Program, *args: Any, **kwargs: Any) -> KeyReuseError | None:
    """The ``KeyReuseError`` describing the first key consumed twice by ``fun(*args, **kwargs)``
    (or by a Program traced without simplification), or ``None``.

    Arguments:
        fun: the function to analyse, or a ``Program`` (then ``args``/``kwargs`` are not used).
        *args: ``fun``'s positional arguments.
        **kwargs: ``fun``'s keyword arguments.

    Returns:
        The ``KeyReuseError`` (not raised) naming both uses of the key, or ``None``.

    Raises:
        FoldaxTypeError: tracing ``fun`` fails as ``foldax.jit`` would (a traced value given to
            NumPy, Python control flow on a traced value).

    Example:
        >>> from foldax import random
        >>> random.find_key_reuse(lambda k: random.split(k), random.key(0)) is None
        True
    """
    program = (
        fun
        if isinstance(fun, Program)
        else trace_program(fun, args, kwargs, name=function_name(fun), simplify_program=False)
    )
    analysis = _Analysis(program.name)
    interp = KeyReuseInterpreter(analysis)
    inputs = [analysis.fresh(a.shape) if _is_key(a) else UNKNOWN for a in program.in_avals]
    try:
        interp.run(program.jaxpr, *inputs)
    except KeyReuseError as e:
        return e
    return None


def check_key_reuse(fun: Callable) -> Callable:
    """``check_key_reuse(f)(*args)``: ``f(*args)``, after checking at trace time that no random
    key is consumed twice (else ``KeyReuseError`` naming both source lines).

    Arguments:
        fun: the function to check.

    Returns:
        A function with ``fun``'s arguments and result.

    Raises:
        KeyReuseError: (when the returned function is called) a key is consumed twice.

    Example:
        >>> from foldax import random
        >>> f = random.check_key_reuse(lambda k: random.normal(random.split(k)[0]))
        >>> f(random.key(0)).shape
        ()
    """

    @functools.wraps(fun)
    def checked(*args: Any, **kwargs: Any) -> Any:
        raw = trace_program(fun, args, kwargs, name=function_name(fun), simplify_program=False)
        error = find_key_reuse(raw)
        if error is not None:
            raise error
        program = dataclasses.replace(raw, jaxpr=passes.simplify(raw.jaxpr))
        return program.assemble(program.evaluate(program.variables_of(args, kwargs)))

    return checked
