"""``foldax.jit``: compile a function once per distinct call signature, folding constants.

The cache key of a call is the tree structure (including dataclass static and value fields),
the static arguments, the auxiliary arguments and every constant leaf *by value*; shapes and
dtypes of the variable leaves are keyed by ``jax.jit``'s own C++ dispatch, which runs the
compiled program. Folded constants larger than ``EMBED_MAX_BYTES`` are passed to the compiled
program as arguments instead of being embedded in it.

Example:
    >>> import foldax, jax.numpy as jnp
    >>> @foldax.jit(auxiliary_args="y")
    ... def f(x, y):
    ...     return x * y if y > 1 else x / y
    >>> f(jnp.ones(2), 2.0)
    Array([2., 2.], dtype=float32)
    >>> foldax.trace_check(f, jnp.ones(2), 3.0)
    (False, 'Auxiliary arguments do not match')
"""
from __future__ import annotations

import functools
import inspect
import warnings
from typing import Any, Callable, Sequence

import jax
import numpy as np

from foldax._compat import core, typeof
from foldax.errors import FoldaxIndexError, FoldaxTypeError, FoldaxValueError
from foldax.pytrees.dataclass import register_protocol_class
from foldax.pytrees.leaves import STATIC, VARIABLE, ByValue, _kind_by_type, leaf_kind
from foldax.pytrees.tree import flatten, unflatten
from foldax.errors import RetraceWarning
from foldax.transforms.core.program import TRACED, Program
from foldax.transforms.core.program import VARIABLE as VARIABLE_SLOT
from foldax.transforms.core.trace import function_name, trace_program, variable_paths
from foldax.transforms.processes import check_same_on_every_process

EMBED_MAX_BYTES = 1 << 16
_VARIABLE_TYPES: set[type] = set()  # leaf types seen to be variables (jax.Array implementations)
RETRACE_WARN_AFTER = 5


def _names(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    if spec is None:
        return ()
    if isinstance(spec, str):
        return tuple(s.strip() for s in spec.split(",") if s.strip())
    return tuple(spec)


def _ints(spec: int | Sequence[int] | None) -> tuple[int, ...]:
    if spec is None:
        return ()
    return (spec,) if isinstance(spec, int) else tuple(spec)


class _Entry:
    """Everything compiled for one (structure, static, auxiliary, constants) key."""

    def __init__(self) -> None:
        self.programs: dict[tuple, Program] = {}
        self.hoisted: list = []
        self.jitted: Callable | None = None
        self.out_info: tuple | None = None
        self.uniform_out = True
        self.all_traced = False

    def add(self, avals_key: tuple, program: Program) -> None:
        self.programs[avals_key] = program
        info = (program.out_tree, tuple(ByValue(s) for s in program.out_leaves))
        if self.out_info is None:
            self.out_info = info
        elif self.out_info != info:
            self.uniform_out = False
        self.all_traced = self.uniform_out and all(_is_traced_slot(s) for s in self.out_info[1])


def _avals_key(variables: Sequence) -> tuple:
    # The sharding is part of the type on an Explicit mesh: a Program traced there reshards to it.
    return tuple((a.shape, a.dtype, a.weak_type, getattr(a, "sharding", None))
                 for a in map(typeof, variables))


class JitFunction:
    """A function compiled by ``foldax.jit``; call it like the original.

    ``.trace(*args)`` returns the Program, ``.lower(*args)`` JAX's Lowered object,
    ``.trace_count`` how often the Python body ran.
    """

    def __init__(self, fun: Callable, static_argnums: Sequence[int], static_argnames: Sequence[str],
                 donate_argnums: Sequence[int], auxiliary_args: Sequence[str], fold: bool,
                 jax_jit_kwargs: dict):
        self.fun = fun
        self.name = function_name(fun)
        self.fold = fold
        self.jax_jit_kwargs = jax_jit_kwargs
        try:
            self.signature: inspect.Signature | None = inspect.signature(fun)
        except (TypeError, ValueError):
            self.signature = None
        self.static_argnames = tuple(static_argnames)
        self.auxiliary_args = tuple(auxiliary_args)
        self._check_names(self.static_argnames, "static_argnames")
        self._check_names(self.auxiliary_args, "auxiliary_args")
        self._check_argnums(tuple(static_argnums), "static_argnums")
        self._check_argnums(tuple(donate_argnums), "donate_argnums")
        self.static_argnums = tuple(static_argnums) + self._positions(self.static_argnames)
        self.aux_argnums = self._positions(self.auxiliary_args)
        self.donate_argnums = tuple(donate_argnums)
        self.entries: dict[tuple, _Entry] = {}
        self.trace_count = 0
        self._last_trace: tuple | None = None
        self._warned = False
        functools.update_wrapper(self, fun, updated=())

    # -- argument handling ----------------------------------------------------------------
    def _parameters(self) -> list[inspect.Parameter]:
        return list(self.signature.parameters.values()) if self.signature else []

    def _check_names(self, names: Sequence[str], what: str) -> None:
        params = self._parameters()
        if not params or any(p.kind == p.VAR_KEYWORD for p in params):
            return
        known = [p.name for p in params]
        for n in names:
            if n not in known:
                raise FoldaxValueError(
                    f"jit({self.name}, {what}=...): '{n}' is not a parameter of {self.name}; its "
                    f"parameters are {known}.")

    def _check_argnums(self, nums: Sequence[int], what: str) -> None:
        params = self._parameters()
        if not params or any(p.kind == p.VAR_POSITIONAL for p in params):
            return
        n = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
        for i in nums:
            if not -n <= i < n:
                raise FoldaxIndexError(
                    f"jit({self.name}, {what}={tuple(nums)}): {i} is out of range, {self.name} "
                    f"takes {n} positional argument(s) ({[p.name for p in params][:n]}).")

    def _positions(self, names: Sequence[str]) -> tuple[int, ...]:
        params = self._parameters()
        pos = [i for i, p in enumerate(params)
               if p.name in names and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        return tuple(pos)

    def _split(self, args: tuple, kwargs: dict) -> tuple[tuple, dict, tuple, tuple]:
        """(dynamic args, dynamic kwargs, static key, auxiliary leaves) of a call."""
        if not self.static_argnums and not self.aux_argnums and not self.static_argnames \
                and not self.auxiliary_args:
            return args, kwargs, (), ()
        n = len(args)
        static, aux = [], []
        dyn_args = []
        for i, a in enumerate(args):
            if i in self.static_argnums:
                static.append((i, _hashable(a, f"static argument {i} of {self.name}")))
            elif i in self.aux_argnums:
                aux.append((i, a))
            else:
                dyn_args.append(a)
        for i in self.static_argnums:
            if i >= n and i < len(self._parameters()) and self._parameters()[i].name not in kwargs \
                    and self._parameters()[i].default is inspect.Parameter.empty:
                raise FoldaxIndexError(
                    f"jit({self.name}): static_argnums contains {i} but the call passes only {n} "
                    f"positional argument(s). Pass argument {i} or fix static_argnums.")
        dyn_kwargs = {}
        for k, v in kwargs.items():
            if k in self.static_argnames:
                static.append((k, _hashable(v, f"static argument '{k}' of {self.name}")))
            elif k in self.auxiliary_args:
                aux.append((k, v))
            else:
                dyn_kwargs[k] = v
        return tuple(dyn_args), dyn_kwargs, tuple(static), tuple(aux)

    def _bound(self, static: tuple, aux: tuple) -> Callable:
        """The user function with static and auxiliary arguments put back in place."""
        fixed = {k: (v.value if isinstance(v, ByValue) else v) for k, v in static}
        fixed.update({k: _as_constants(v) for k, v in aux})

        def bound(*dyn_args: Any, **dyn_kwargs: Any) -> Any:
            args, it = [], iter(dyn_args)
            total = len(dyn_args) + sum(isinstance(k, int) for k in fixed)
            for i in range(total):
                args.append(fixed[i] if i in fixed else next(it))
            kw = {k: v for k, v in fixed.items() if isinstance(k, str)}
            return self.fun(*args, **dyn_kwargs, **kw)

        bound.__name__ = self.name
        return bound

    def _key(self, args: tuple, kwargs: dict) -> tuple:
        dyn_args, dyn_kwargs, static, aux = self._split(args, kwargs)
        leaves, treedef = jax.tree_util.tree_flatten((dyn_args, dyn_kwargs))
        if set(map(type, leaves)) <= _VARIABLE_TYPES:  # fast path: every leaf is traced
            variables, consts = leaves, []
        else:
            variables, consts = [], []
            for i, x in enumerate(leaves):
                kind = _kind_by_type.get(type(x)) or leaf_kind(x)
                if kind is VARIABLE:
                    variables.append(x)
                    _VARIABLE_TYPES.add(type(x))
                elif kind is STATIC and register_protocol_class(x):
                    return self._key(args, kwargs)
                else:
                    consts.append((i, ByValue(x, where=f"argument leaf {i} of {self.name}")))
        aux_key = tuple((k, _aux_constants(v, k, self.name)) for k, v in aux)
        return (treedef, static, aux_key, tuple(consts)), variables, (dyn_args, dyn_kwargs, static, aux)

    # -- calling ------------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        key, variables, parts = self._key(args, kwargs)
        entry = self.entries.get(key)
        if entry is None:
            entry = self._new_entry(key, variables, parts)
        outs = entry.jitted(entry.hoisted, *variables) if entry.hoisted else \
            entry.jitted(*variables)
        if entry.all_traced:
            return unflatten(entry.out_info[0], outs)
        if entry.uniform_out:
            tree, slots = entry.out_info
        else:
            program = entry.programs[_avals_key(variables)]
            tree, slots = program.out_tree, tuple(ByValue(s) for s in program.out_leaves)
        it = iter(outs)
        return unflatten(tree, [next(it) if _is_traced_slot(s) else s.value for s in slots])

    def _new_entry(self, key: tuple, variables: list, parts: tuple) -> _Entry:
        entry = _Entry()
        check_same_on_every_process(key[0], key[3], variables, self.name)  # tree, constants
        program = self._trace(key, parts)
        entry.add(_avals_key(variables), program)
        entry.hoisted = [c for c in program.jaxpr.consts if _nbytes(c) > EMBED_MAX_BYTES]
        entry.jitted = self._make_jitted(entry, key, parts)
        self.entries[key] = entry
        return entry

    def _trace(self, key: tuple, parts: tuple, variables: Sequence | None = None) -> Program:
        dyn_args, dyn_kwargs, static, aux = parts
        if variables is not None:  # re-trace for new shapes: put the tracers in place
            leaves, treedef = flatten((dyn_args, dyn_kwargs))
            it = iter(variables)
            leaves = [next(it) if leaf_kind(x) == VARIABLE else x for x in leaves]
            dyn_args, dyn_kwargs = unflatten(treedef, leaves)
        program = trace_program(self._bound(static, aux), dyn_args, dyn_kwargs, fold=self.fold,
                                name=self.name)
        self._count_trace(key, program)
        return program

    def _make_jitted(self, entry: _Entry, key: tuple, parts: tuple) -> Callable:
        def run_hoisted(hoisted: list, *variables: Any) -> list:
            program = entry.programs.get(_avals_key(variables))
            if program is None:
                program = self._trace(key, parts, variables)
                entry.add(_avals_key(variables), program)
            by_id = {id(c): h for c, h in zip(entry.hoisted, hoisted)}
            consts = [by_id.get(id(c), c) for c in program.jaxpr.consts]
            return core.eval_jaxpr(program.jaxpr.jaxpr, consts, *variables)

        def run_plain(*variables: Any) -> list:  # no hoisted constants: one argument fewer
            return run_hoisted([], *variables)

        run = run_hoisted if entry.hoisted else run_plain
        run.__name__ = run.__qualname__ = self.name
        donate = self._donated_variables(parts)
        if not entry.hoisted:
            donate = tuple(i - 1 for i in donate)
        kwargs = dict(self.jax_jit_kwargs)
        if kwargs.get("in_shardings") is not None:
            kwargs["in_shardings"] = ((None,) if entry.hoisted else ()) + tuple(
                self._variable_shardings(kwargs["in_shardings"], parts))
        if kwargs.get("out_shardings") is not None:
            program = next(iter(entry.programs.values()))
            kwargs["out_shardings"] = _traced_output_shardings(kwargs["out_shardings"], program)
        return jax.jit(run, donate_argnums=donate, **kwargs)

    def _variable_shardings(self, in_shardings: Any, parts: tuple) -> list:
        """JAX's ``in_shardings`` (a prefix of the positional arguments) per variable leaf."""
        dyn_args, dyn_kwargs, _, _ = parts
        prefix = in_shardings if isinstance(in_shardings, (tuple, list)) else \
            (in_shardings,) * len(dyn_args)
        per_leaf = _broadcast_leaves(tuple(prefix), tuple(dyn_args), "in_shardings", self.name)
        leaves = flatten(tuple(dyn_args))[0]
        out = [sh for sh, x in zip(per_leaf, leaves) if leaf_kind(x) == VARIABLE]
        out += [None for x in flatten(dyn_kwargs)[0] if leaf_kind(x) == VARIABLE]
        return out

    def _donated_variables(self, parts: tuple) -> tuple[int, ...]:
        if not self.donate_argnums:
            return ()
        dyn_args, dyn_kwargs, _, _ = parts
        out, var_index = [], 0
        for i, a in enumerate(dyn_args):
            for x in flatten(a)[0]:
                if leaf_kind(x) == VARIABLE:
                    if i in self.donate_argnums:
                        out.append(1 + var_index)
                    var_index += 1
        return tuple(out)

    # -- retracing diagnostics ---------------------------------------------------------------
    def _count_trace(self, key: tuple, program: Program) -> None:
        self.trace_count += 1
        signature = (program.in_tree, [("var", a.str_short()) if s is VARIABLE_SLOT else
                                       ("const", ByValue(s)) for s, a in _slots_avals(program)])
        previous, self._last_trace = self._last_trace, signature
        if self.trace_count > RETRACE_WARN_AFTER and not self._warned and previous is not None:
            self._warned = True
            warnings.warn(_retrace_message(self.name, self.trace_count, previous, signature),
                          RetraceWarning, stacklevel=4)

    # -- inspection ---------------------------------------------------------------------------
    def trace(self, *args: Any, **kwargs: Any) -> Program:
        """The Program a call with these arguments runs (tracing it if needed)."""
        key, variables, parts = self._key(args, kwargs)
        entry = self.entries.get(key) or self._new_entry(key, variables, parts)
        program = entry.programs.get(_avals_key(variables))
        if program is None:
            program = self._trace(key, parts)
            entry.add(_avals_key(variables), program)
        return program

    def lower(self, *args: Any, **kwargs: Any) -> Any:
        """JAX's ``Lowered`` for this call (``.as_text()`` gives the StableHLO)."""
        key, variables, parts = self._key(args, kwargs)
        entry = self.entries.get(key) or self._new_entry(key, variables, parts)
        return entry.jitted.lower(entry.hoisted, *variables) if entry.hoisted else \
            entry.jitted.lower(*variables)

    def check(self, *args: Any, **kwargs: Any) -> tuple[bool, str]:
        """``(True, '')`` if a call with these arguments reuses a compiled program, else
        ``(False, reason)``."""
        key, variables, _ = self._key(args, kwargs)
        if not self.entries:
            return False, "Function has not yet been traced"
        entry = self.entries.get(key)
        if entry is not None:
            if _avals_key(variables) in entry.programs:
                return True, ""
            return False, "Variable shapes or dtypes do not match"
        treedef, static, aux, consts = key
        same_tree = [k for k in self.entries if k[0] == treedef]
        if not same_tree:
            return False, "Argument tree structure does not match"
        if not any(k[1] == static for k in same_tree):
            return False, "Static arguments do not match"
        if not any(k[2] == aux for k in same_tree):
            return False, "Auxiliary arguments do not match"
        return False, "Constant (NumPy or Python number) arguments do not match"

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None else functools.partial(self, obj)

    def __repr__(self) -> str:
        return f"<foldax.jit {self.name}: {self.trace_count} trace(s)>"


def _broadcast_leaves(prefix: Any, full: Any, what: str, name: str) -> list:
    is_none = lambda x: x is None  # noqa: E731
    try:
        tree = jax.tree.broadcast(prefix, full, is_leaf=is_none)
    except ValueError as e:
        raise FoldaxValueError(
            f"jit({name}, {what}=...): its structure {jax.tree.structure(prefix, is_leaf=is_none)} "
            f"is not a prefix of the structure {jax.tree.structure(full)}. Give one sharding "
            f"per argument (or per leaf), or a single sharding for all.") from e
    return jax.tree.leaves(tree, is_leaf=is_none)


def _traced_output_shardings(out_shardings: Any, program: Program) -> list:
    placeholder = unflatten(program.out_tree, list(range(len(program.out_leaves))))
    per_leaf = _broadcast_leaves(out_shardings, placeholder, "out_shardings", program.name)
    return [sh for sh, slot in zip(per_leaf, program.out_leaves) if slot is TRACED]


def _slots_avals(program: Program) -> list:
    avals = iter(program.in_avals)
    return [(s, next(avals) if s is VARIABLE_SLOT else None) for s in program.in_leaves]


def _retrace_message(name: str, count: int, previous: tuple, current: tuple) -> str:
    prev_tree, prev = previous
    tree, cur = current
    if prev_tree != tree:
        change = "the arguments' tree structure changed (a different number of leaves, " \
                 "different dict keys or different static/value fields)"
        fix = "keep the structure fixed, or mark configuration as static"
    else:
        paths = variable_paths(tree, [True] * len(cur))
        changed = [(p, a, b) for p, a, b in zip(paths, prev, cur) if a != b]
        path, a, b = changed[0] if changed else ("?", None, None)
        if a and b and a[0] == b[0] == "const":
            change = f"the constant {path} changed from {a[1].value!r} to {b[1].value!r}"
            fix = (f"constants (NumPy arrays, Python numbers) are compiled in by value; pass "
                   f"jnp.asarray({path}) to make it a traced variable")
        else:
            change = f"{path} changed from {_describe(a)} to {_describe(b)}"
            fix = "pad inputs to a few fixed shapes, or keep the dtype fixed"
    return (f"foldax.jit: {name} has been traced {count} times; the last time because {change}. "
            f"Fix: {fix}.")


def _describe(slot: Any) -> str:
    if slot is None:
        return "?"
    return slot[1] if slot[0] == "var" else f"the constant {slot[1].value!r}"


def _is_traced_slot(s: ByValue) -> bool:
    return s.value is TRACED


def _nbytes(c: Any) -> int:
    return int(getattr(c, "nbytes", 0) or np.asarray(c).nbytes)


def _hashable(x: Any, where: str) -> Any:
    try:
        hash(x)
    except TypeError:
        raise FoldaxTypeError(
            f"{where} is an unhashable {type(x).__name__}. Static arguments are part of the "
            f"compiled program's identity and must be hashable: use a tuple instead of a list, "
            f"or pass the value as an ordinary (traced or constant) argument.") from None
    return ByValue(x, where=where) if isinstance(x, np.ndarray) else x


def _as_constants(value: Any) -> Any:
    """``value`` with every jax array fetched to NumPy (so it is a constant)."""
    leaves, treedef = flatten(value)
    return unflatten(treedef, [np.asarray(x) if leaf_kind(x) == VARIABLE else x for x in leaves])


def _aux_constants(value: Any, name: Any, fname: str) -> tuple:
    """Auxiliary arguments are constants: every leaf by value (jax arrays fetched to NumPy)."""
    leaves, treedef = flatten(value)
    keys = tuple(ByValue(np.asarray(x) if leaf_kind(x) == VARIABLE else x,
                         where=f"auxiliary argument {name!r} of {fname}") for x in leaves)
    return treedef, keys


def jit(fun: Callable | None = None, *, static_argnums: int | Sequence[int] | None = None,
        static_argnames: str | Sequence[str] | None = None,
        donate_argnums: int | Sequence[int] | None = None,
        auxiliary_args: str | Sequence[str] | None = None, fold: bool = True,
        **jax_jit_kwargs: Any) -> Any:
    """Compile ``fun`` with XLA, tracing it once per distinct call signature and folding constants.

    A drop-in for ``jax.jit``. The cache key of a call is the tree structure of the arguments
    (including the static and value fields of dataclasses), the static and auxiliary arguments,
    and every *constant* leaf by value; the shapes and dtypes of the *variable* leaves are keyed by
    ``jax.jit``'s own dispatch. Variables are ``jax.Array`` leaves (and Python scalars, which are
    traced weakly typed as ``jax.jit`` does); constants are NumPy arrays and scalars. Whatever is
    computed from constants alone runs once, while tracing, and is folded into the program, so
    Python control flow on constants works inside ``fun``. Usable as ``@jit`` or ``@jit(...)``.

    Arguments:
        fun: the function to compile. Omit it to use ``jit(...)`` as a decorator factory.
        static_argnums: positions of arguments that are static: hashed into the cache key and
            passed to ``fun`` as they are (as in ``jax.jit``).
        static_argnames: names of static arguments (``'a'``, ``'a,b'`` or a sequence).
        donate_argnums: positions of arguments whose buffers XLA may reuse for the outputs.
        auxiliary_args: names of arguments (ΦML's ``auxiliary_args``) whose values are constants
            by value, so Python control flow may depend on them; JAX arrays passed there are
            fetched to NumPy. A change of value retraces.
        fold: fold what is computed from constants into the program (default ``True``);
            ``False`` keeps that computation in the compiled program.
        **jax_jit_kwargs: passed to ``jax.jit`` (``in_shardings``, ``out_shardings``,
            ``keep_unused``, ...).

    Returns:
        A ``JitFunction`` that calls the compiled program, with the same signature as ``fun``.
            ``f.trace(*args)`` gives the ``Program`` it compiles, ``f.trace_count`` how often it
            traced, and ``foldax.trace_check(f, *args)`` whether a call would retrace.

    Raises:
        FoldaxTypeError: ``fun`` is not callable; a static argument is not hashable.
        FoldaxValueError: a ``static_argnames``/``auxiliary_args`` name is not a parameter of
            ``fun``; a sharding's structure does not match the arguments.
        FoldaxIndexError: a ``static_argnums``/``donate_argnums`` position is out of range.
        TracerControlFlowError: ``fun`` branches in Python on a traced (variable) value.

    Example:
        >>> import foldax, jax.numpy as jnp, numpy as np
        >>> @foldax.jit
        ... def f(x, table):
        ...     if table.sum() > 0:          # table is NumPy: a constant, so Python may branch
        ...         return x * np.sin(table)
        ...     return x
        >>> f(jnp.ones(2), np.array([0.0, np.pi / 2]))
        Array([0., 1.], dtype=float32)
        >>> f.trace(jnp.ones(2), np.array([0.0, np.pi / 2])).num_equations   # sin was folded
        1
    """
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums, static_argnames=static_argnames,
                                 donate_argnums=donate_argnums, auxiliary_args=auxiliary_args,
                                 fold=fold, **jax_jit_kwargs)
    if not callable(fun):
        raise FoldaxTypeError(f"jit(fun=...): expected a callable, found {type(fun).__name__}.")
    return JitFunction(fun, _ints(static_argnums), _names(static_argnames), _ints(donate_argnums),
                       _names(auxiliary_args), fold, jax_jit_kwargs)


def trace_check(f: Any, *args: Any, **kwargs: Any) -> tuple[bool, str]:
    """Whether calling the jitted ``f`` with these arguments reuses a compiled program (ΦML's
    ``trace_check``).

    Arguments:
        f: a function made by ``foldax.jit``.
        *args: the positional arguments of the call to check.
        **kwargs: its keyword arguments.

    Returns:
        ``(True, '')`` when the call would reuse a compiled program, else ``(False, reason)``.

    Raises:
        FoldaxTypeError: ``f`` was not made by ``foldax.jit``.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> g = foldax.jit(lambda x: x + 1)
        >>> foldax.trace_check(g, jnp.ones(2))
        (False, 'Function has not yet been traced')
        >>> _ = g(jnp.ones(2))
        >>> foldax.trace_check(g, jnp.ones(2))
        (True, '')
    """
    if not isinstance(f, JitFunction):
        raise FoldaxTypeError(
            f"trace_check(f=...): expected a function made by foldax.jit, found "
            f"{type(f).__name__}. Decorate it with @foldax.jit first.")
    return f.check(*args, **kwargs)
