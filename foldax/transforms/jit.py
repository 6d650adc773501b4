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
import weakref
from typing import Any, Callable, Sequence

import jax
import numpy as np

from foldax._compat import (
    core, is_tracer, jit_disabled, resolve_jit_argnums, trace_context, typeof,
)
from foldax.errors import (
    FoldaxIndexError, FoldaxTypeError, FoldaxValueError, UnhashableStaticError,
)
from foldax.pytrees.dataclass import register_protocol_class
from foldax.pytrees.leaves import STATIC, VARIABLE, ByValue, _kind_by_type, leaf_kind
from foldax.pytrees.tree import flatten, unflatten
from foldax.errors import RetraceWarning
from foldax.transforms.core.program import TRACED, Program
from foldax.transforms.core.program import VARIABLE as VARIABLE_SLOT
from foldax.transforms.core.trace import function_name, trace_program, variable_paths
from foldax.transforms.jit_cache import FunctionCache, cache_for
from foldax.transforms.processes import check_same_on_every_process
from foldax.transforms.jit_stages import Lowered, Traced, traced_outputs_only, variables_only

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
    """The variables' types under JAX's current trace context (``default_matmul_precision``,
    ``numpy_rank_promotion``, x64, the axis environment ...): a program is traced for these.
    The entry's jax.jit retraces by itself when the context changes, and then finds no program
    for the new context, so the function is traced again, as ``jax.jit`` would."""
    # The sharding is part of the type on an Explicit mesh: a Program traced there reshards to it.
    return (trace_context(),) + tuple(
        (a.shape, a.dtype, a.weak_type, getattr(a, "sharding", None)) if hasattr(a, "shape")
        else a  # a token's
        for a in map(typeof, variables))


class _Template:
    """A call's arguments without its variables (entries outlive calls and must hold no tracer):
    the constant and static leaves in place, ``None`` where a variable goes."""

    def __init__(self, parts: tuple) -> None:
        dyn_args, dyn_kwargs, self.static, self.aux = parts
        leaves, self.treedef = flatten((dyn_args, dyn_kwargs))
        self.mask = [leaf_kind(x) == VARIABLE for x in leaves]
        self.leaves = [None if m else x for x, m in zip(leaves, self.mask)]

    def fill(self, variables: Sequence) -> tuple:
        """``(dyn_args, dyn_kwargs, static, aux)`` with ``variables`` in the variable places."""
        it = iter(variables)
        leaves = [next(it) if m else x for x, m in zip(self.leaves, self.mask)]
        dyn_args, dyn_kwargs = unflatten(self.treedef, leaves)
        return dyn_args, dyn_kwargs, self.static, self.aux


class _Tracing:
    """What tracing a call needs: the function *weakly* (entries are shared by every wrapper of
    the function and must not keep it alive), its name and the folding switch."""

    def __init__(self, fun: Callable, name: str, fold: bool) -> None:
        try:
            self.fun_ref: Callable[[], Callable] = weakref.ref(fun)
        except TypeError:  # kept by a wrapper's private cache only
            self.fun_ref = lambda: fun
        self.name, self.fold = name, fold

    def program(self, cache: FunctionCache, template: _Template, variables: Sequence) -> Program:
        dyn_args, dyn_kwargs, static, aux = template.fill(variables)
        bound = _bind(self.fun_ref(), self.name, static, aux)
        program = trace_program(bound, dyn_args, dyn_kwargs, fold=self.fold, name=self.name)
        _count_trace(cache, self.name, program)
        return program


def _bind(fun: Callable, name: str, static: tuple, aux: tuple) -> Callable:
    """``fun`` with static and auxiliary arguments put back in place."""
    fixed = {k: (v.value if isinstance(v, ByValue) else v) for k, v in static}
    fixed.update({k: _as_constants(v) for k, v in aux})

    def bound(*dyn_args: Any, **dyn_kwargs: Any) -> Any:
        args, it = [], iter(dyn_args)
        total = len(dyn_args) + sum(isinstance(k, int) for k in fixed)
        for i in range(total):
            args.append(fixed[i] if i in fixed else next(it))
        kw = {k: v for k, v in fixed.items() if isinstance(k, str)}
        return fun(*args, **dyn_kwargs, **kw)

    bound.__name__ = name
    return bound


def _holds_tracers(program: Program) -> bool:
    """Whether the function closed over a tracer of an outer trace (then nothing is cached)."""
    return any(is_tracer(c) for c in program.jaxpr.consts)


class JitFunction:
    """A function compiled by ``foldax.jit``; call it like the original.

    It has ``jax.jit``'s surface: ``.lower(*args)`` (JAX's ``Lowered``, whose ``.compile()`` is
    called like the function and returns its output structure), ``.trace(*args)`` (a ``Traced``
    with ``.jaxpr``, ``.lower()``, ``.out_info`` and ``.program``, the foldax Program),
    ``.eval_shape(*args)``, ``.clear_cache()``, ``__wrapped__`` and the function's attributes.
    ``.trace_count`` says how often the Python body ran. Compiled code is shared by every
    ``foldax.jit`` of the same function with the same options, as with ``jax.jit``.
    """

    def __init__(self, fun: Callable, static_argnums: Sequence[int], static_argnames: Sequence[str],
                 donate_argnums: Sequence[int], donate_argnames: Sequence[str],
                 auxiliary_args: Sequence[str], fold: bool, jax_jit_kwargs: dict):
        functools.update_wrapper(self, fun)  # first: foldax's attributes win over fun.__dict__'s
        self.fun = fun
        self.name = function_name(fun)
        self.fold = fold
        self.jax_jit_kwargs = jax_jit_kwargs
        try:
            self.signature: inspect.Signature | None = inspect.signature(fun)
        except (TypeError, ValueError):
            self.signature = None
        try:
            donate_nums, donate_names, static_nums, static_names = resolve_jit_argnums(
                fun, self.signature, donate_argnums or None, donate_argnames or None,
                static_argnums or None, static_argnames or None)
        except ValueError as e:
            raise FoldaxValueError(
                f"jit({self.name}, ...): {e} Fix the argument numbers/names to match "
                f"{self.name}'s signature {self.signature}.") from None
        self.static_argnames = tuple(static_names)
        self.auxiliary_args = tuple(auxiliary_args)
        self._check_names(self.auxiliary_args, "auxiliary_args")
        self.static_argnums = tuple(static_nums)
        self.aux_argnums = self._positions(self.auxiliary_args)
        self.donate_argnums = tuple(donate_nums)
        self.donate_argnames = tuple(donate_names)
        self._tracing = _Tracing(fun, self.name, fold)
        self._options = (self.static_argnums, self.static_argnames, self.donate_argnums,
                         self.donate_argnames, self.auxiliary_args, fold,
                         tuple(sorted(jax_jit_kwargs.items())))
        self._cache: FunctionCache | None = None

    def _open_cache(self) -> FunctionCache:
        """The cache shared with every jit of this function and options (made at first use,
        so a function that cannot be weakly referenced fails when called, as with jax.jit)."""
        try:
            hash(self._options)
        except TypeError:  # unhashable jax.jit options (a list of shardings): a private cache
            self._cache = FunctionCache()
        else:
            self._cache = cache_for(self.fun, self._options, self.name)
        return self._cache

    @property
    def entries(self) -> dict:
        """The compiled entries, by cache key."""
        return (self._cache or self._open_cache()).entries

    @property
    def trace_count(self) -> int:
        """How often the Python body ran (for every jit of this function and options)."""
        return (self._cache or self._open_cache()).trace_count

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
        if jit_disabled():  # jax.disable_jit(): run the Python body, as jax.jit does
            return self.fun(*args, **kwargs)
        key, variables, parts = self._key(args, kwargs)
        cache = self._cache or self._open_cache()
        try:
            entry = cache.entries.get(key)
        except Exception as e:  # a static argument's __eq__ failed
            raise FoldaxValueError(
                f"jit({self.name}): static arguments should be comparable using __eq__, but "
                f"comparing this call's with a cached call's raised {type(e).__name__}: {e}. "
                f"Fix: give the static argument's class an __eq__ that returns a bool.") from e
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
        """Trace a new entry; it is cached unless the function closed over an outer tracer
        (then its program runs inline in the outer trace: an inner jax.jit would keep the
        tracer in JAX's own caches)."""
        cache = self._cache or self._open_cache()
        template = _Template(parts)
        check_same_on_every_process(key[0], key[3], variables, self.name)  # tree, constants
        program = self._tracing.program(cache, template, variables)
        entry = _Entry()
        entry.add(_avals_key(variables), program)
        if _holds_tracers(program):  # closed over an outer tracer: run inline, keep nothing
            entry.jitted = lambda *variables: program.evaluate(variables)
            return entry
        entry.hoisted = [c for c in program.jaxpr.consts if _nbytes(c) > EMBED_MAX_BYTES]
        entry.jitted = self._make_jitted(entry, cache, template, parts)
        cache.entries[key] = entry
        return entry

    def _program(self, key: tuple, variables: list, parts: tuple) -> tuple[_Entry, Program]:
        """The entry and Program of a call (tracing them if needed)."""
        entry = self.entries.get(key) or self._new_entry(key, variables, parts)
        program = entry.programs.get(_avals_key(variables))
        if program is None:
            program = self._tracing.program(self._cache, _Template(parts), variables)
            if not _holds_tracers(program):
                entry.add(_avals_key(variables), program)
        return entry, program

    def _make_jitted(self, entry: _Entry, cache: FunctionCache, template: _Template,
                     parts: tuple) -> Callable:
        # weakly: no reference cycle, so an entry (and the arrays its program closed over) is
        # freed as soon as its cache or its caller lets go of it
        tracing, entry_ref, cache_ref = self._tracing, weakref.ref(entry), weakref.ref(cache)

        def run_hoisted(hoisted: list, *variables: Any) -> list:
            entry = entry_ref()
            program = entry.programs.get(_avals_key(variables))
            if program is None:  # jax.jit met new shapes or dtypes
                program = tracing.program(cache_ref() or FunctionCache(), template, variables)
                if not _holds_tracers(program):
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

    def _dynamic_positions(self, count: int) -> list[int]:
        """The positions in the call of the ``count`` non-static, non-auxiliary positionals."""
        skipped, positions, i = set(self.static_argnums) | set(self.aux_argnums), [], 0
        while len(positions) < count:
            if i not in skipped:
                positions.append(i)
            i += 1
        return positions

    def _donated_arguments(self, parts: tuple) -> tuple[list[bool], dict[str, bool]]:
        """Per dynamic positional argument and per keyword argument: is it donated?"""
        dyn_args, dyn_kwargs, _, _ = parts
        positions = self._dynamic_positions(len(dyn_args))
        total = positions[-1] + 1 if positions else 0
        donated = {i % total if total else i for i in self.donate_argnums}
        return ([p in donated for p in positions],
                {k: k in self.donate_argnames for k in dyn_kwargs})

    def _donated_variables(self, parts: tuple) -> tuple[int, ...]:
        """Indices (from 1: 0 is the hoisted constants) of the donated variable leaves."""
        if not self.donate_argnums and not self.donate_argnames:
            return ()
        dyn_args, dyn_kwargs, _, _ = parts
        by_arg, by_name = self._donated_arguments(parts)
        tops = [(a, d) for a, d in zip(dyn_args, by_arg)] + \
            [(dyn_kwargs[k], by_name[k]) for k in sorted(dyn_kwargs)]
        out, var_index = [], 0
        for value, donated in tops:
            for x in flatten(value)[0]:
                if leaf_kind(x) == VARIABLE:
                    if donated:
                        out.append(1 + var_index)
                    var_index += 1
        return tuple(out)

    # -- jax.jit's surface ------------------------------------------------------------------
    def trace(self, *args: Any, **kwargs: Any) -> Traced:
        """Trace a call (``jax.jit(f).trace``): a ``Traced`` with ``.jaxpr``, ``.out_info``,
        ``.lower()`` and ``.program``, the foldax Program the call runs.

        Arguments:
            *args, **kwargs: the call's arguments (``jax.ShapeDtypeStruct`` for variables too).
        Returns:
            The ``Traced``; it forwards the Program's attributes (``num_equations``, ...).

        Example:
            >>> import foldax, jax.numpy as jnp, numpy as np
            >>> f = foldax.jit(lambda x, c: x + np.sin(c))
            >>> f.trace(jnp.ones(2), np.ones(2)).program.num_equations
            1
        """
        key, variables, parts = self._key(args, kwargs)
        _, program = self._program(key, variables, parts)
        return Traced(program, lambda: self.lower(*args, **kwargs))

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """JAX's ``Lowered`` for this call (``.as_text()`` gives the StableHLO). Its
        ``.compile()`` is called with the function's arguments and returns its outputs.

        Arguments:
            *args, **kwargs: the call's arguments (``jax.ShapeDtypeStruct`` for variables too).
        Returns:
            The ``Lowered``: JAX's own attributes, ``compile()`` returning a ``Compiled``.

        Example:
            >>> import foldax, jax.numpy as jnp
            >>> foldax.jit(lambda x: {"y": 2 * x}).lower(jnp.ones(2)).compile()(jnp.ones(2))
            {'y': Array([2., 2.], dtype=float32)}
        """
        key, variables, parts = self._key(args, kwargs)
        _, program = self._program(key, variables, parts)
        dyn_args, dyn_kwargs, _, _ = parts
        by_arg, by_name = self._donated_arguments(parts)

        # large folded constants stay arguments of the lowered computation (first, if any)
        hoisted = [c for c in program.jaxpr.consts if _nbytes(c) > EMBED_MAX_BYTES]
        lead = (hoisted,) if hoisted else ()

        def lowered_fun(*dyn_vars: Any, **kw_vars: Any) -> Any:
            by_id = dict(zip(map(id, hoisted), dyn_vars[0])) if hoisted else {}
            consts = [by_id.get(id(c), c) for c in program.jaxpr.consts]
            variables = jax.tree.leaves((dyn_vars[len(lead):], kw_vars))
            return traced_outputs_only(program, core.eval_jaxpr(program.jaxpr.jaxpr, consts,
                                                                *variables))

        lowered_fun.__name__ = lowered_fun.__qualname__ = self.name
        jitted = jax.jit(lowered_fun,
                         donate_argnums=tuple(len(lead) + i for i, d in enumerate(by_arg) if d),
                         donate_argnames=tuple(k for k, d in by_name.items() if d),
                         **self.jax_jit_kwargs)
        lowered = jitted.lower(*lead, *variables_only(tuple(dyn_args)),
                               **variables_only(dyn_kwargs))

        def prepare(call_args: tuple, call_kwargs: dict) -> tuple[tuple, dict]:
            call_key, _, call_parts = self._key(call_args, call_kwargs)
            if call_key != key:
                raise FoldaxTypeError(
                    f"{self.name}: Function compiled with input pytree does not match the input "
                    f"pytree it was called with (or a constant argument differs: foldax folded "
                    f"the NumPy and static arguments of the lowered call into the program). "
                    f"Fix: call it with arguments like those it was lowered with, or lower "
                    f"again.")
            return lead + variables_only(tuple(call_parts[0])), variables_only(call_parts[1])

        return Lowered(lowered, prepare, program)

    def eval_shape(self, *args: Any, **kwargs: Any) -> Any:
        """The output's shapes and dtypes (``jax.eval_shape``), without running anything.

        Example:
            >>> import foldax, jax, jax.numpy as jnp
            >>> foldax.jit(lambda x: x.sum()).eval_shape(jax.ShapeDtypeStruct((3,), jnp.float32))
            ShapeDtypeStruct(shape=(), dtype=float32)
        """
        traced = self.trace(*args, **kwargs)
        if self.jax_jit_kwargs.get("out_shardings") is None:
            return traced.out_info
        # the output shardings are known once lowered
        return traced.out_info_with(jax.tree.leaves(traced.lower().out_info))

    def clear_cache(self) -> None:
        """Forget the compiled code of this function (shared by its jits with these options)."""
        (self._cache or self._open_cache()).clear()

    def _cache_size(self) -> int:
        """How many programs are cached (``jax.jit``'s ``_cache_size``)."""
        return (self._cache or self._open_cache()).size()

    def check(self, *args: Any, **kwargs: Any) -> tuple[bool, str]:
        """``(True, '')`` if a call with these arguments reuses a compiled program, else
        ``(False, reason)``."""
        key, variables, _ = self._key(args, kwargs)
        entries = self.entries
        if not entries:
            return False, "Function has not yet been traced"
        entry = entries.get(key)
        if entry is not None:
            if _avals_key(variables) in entry.programs:
                return True, ""
            return False, "Variable shapes or dtypes do not match"
        treedef, static, aux, consts = key
        same_tree = [k for k in entries if k[0] == treedef]
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
        count = self._cache.trace_count if self._cache is not None else 0
        return f"<foldax.jit {self.name}: {count} trace(s)>"


# -- retracing diagnostics -------------------------------------------------------------------------
def _count_trace(cache: FunctionCache, name: str, program: Program) -> None:
    cache.trace_count += 1
    signature = (program.in_tree, [("var", a.str_short()) if s is VARIABLE_SLOT else
                                   ("const", ByValue(s)) for s, a in _slots_avals(program)])
    previous, cache.last_trace = cache.last_trace, signature
    if cache.trace_count > RETRACE_WARN_AFTER and not cache.warned and previous is not None:
        cache.warned = True
        warnings.warn(_retrace_message(name, cache.trace_count, previous, signature),
                      RetraceWarning, stacklevel=5)


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
        raise UnhashableStaticError(
            f"Non-hashable static arguments are not supported: {where} is an unhashable "
            f"{type(x).__name__}. Static arguments are part of the "
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
        donate_argnames: str | Sequence[str] | None = None,
        auxiliary_args: str | Sequence[str] | None = None, fold: bool = True,
        **jax_jit_kwargs: Any) -> Any:
    """Compile ``fun`` with XLA, tracing it once per distinct call signature and folding constants.

    A drop-in for ``jax.jit``. The cache key of a call is the tree structure of the arguments
    (including the static and value fields of dataclasses), the static and auxiliary arguments,
    every *constant* leaf by value, and JAX's trace context (matmul precision, promotion rules,
    x64, ...); the shapes and dtypes of the *variable* leaves are keyed by ``jax.jit``'s own
    dispatch. Variables are ``jax.Array`` leaves; constants are NumPy arrays and Python scalars.
    Whatever is computed from constants alone runs once, while tracing (with NumPy, ``jnp`` or
    ``lax``), and is folded into the program, so Python control flow on constants works inside
    ``fun``. Compiled code is cached per function (weakly), so a new ``jit(f)`` wrapper reuses
    ``f``'s. Usable as ``@jit`` or ``@jit(...)``.

    Arguments:
        fun: the function to compile. Omit it to use ``jit(...)`` as a decorator factory.
        static_argnums: positions of arguments that are static: hashed into the cache key and
            passed to ``fun`` as they are; completed from ``static_argnames`` as ``jax.jit`` does.
        static_argnames: names of static arguments (``'a'``, ``'a,b'`` or a sequence).
        donate_argnums: positions of arguments whose buffers XLA may reuse for the outputs.
        donate_argnames: names of donated arguments (positional or keyword, whichever way they
            are passed).
        auxiliary_args: names of arguments (ΦML's ``auxiliary_args``) whose values are constants
            by value, so Python control flow may depend on them; JAX arrays passed there are
            fetched to NumPy. A change of value retraces.
        fold: fold what is computed from constants into the program (default ``True``);
            ``False`` keeps that computation in the compiled program.
        **jax_jit_kwargs: passed to ``jax.jit`` (``in_shardings``, ``out_shardings``,
            ``keep_unused``, ...).

    Returns:
        A ``JitFunction`` with ``fun``'s signature and attributes and ``jax.jit``'s surface
        (``lower``, ``trace``, ``eval_shape``, ``clear_cache``); ``f.trace_count`` says how often
        it traced and ``foldax.trace_check(f, *args)`` whether a call would retrace. A decorator
        when ``fun`` is omitted.

    Raises:
        FoldaxTypeError: ``fun`` is not callable, a generator function or a staticmethod; a
            static argument is not hashable.
        FoldaxValueError: argument numbers or names that do not fit ``fun``'s signature; a
            sharding's structure does not match the arguments.
        TracerControlFlowError: ``fun`` branches in Python on a traced (variable) value.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> foldax.jit(lambda x: 2 * x)(jnp.ones(2))
        Array([2., 2.], dtype=float32)
    """
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums, static_argnames=static_argnames,
                                 donate_argnums=donate_argnums, donate_argnames=donate_argnames,
                                 auxiliary_args=auxiliary_args, fold=fold, **jax_jit_kwargs)
    _check_callable(fun)
    return JitFunction(fun, _ints(static_argnums), _names(static_argnames), _ints(donate_argnums),
                       _names(donate_argnames), _names(auxiliary_args), fold, jax_jit_kwargs)


def _check_callable(fun: Any) -> None:
    """jax.jit's checks of ``fun``, with its messages (and the fix)."""
    if isinstance(fun, staticmethod):
        raise FoldaxTypeError(
            f"jit(fun=...): staticmethod arguments are not supported, found {fun!r}. Fix: put "
            f"@staticmethod above @foldax.jit, so jit wraps the plain function.")
    if not callable(fun):
        raise FoldaxTypeError(
            f"jit(fun=...): Expected a callable value, got {type(fun).__name__} {_safe_repr(fun)}. "
            f"Fix: pass the function itself (for a classmethod, put @classmethod above "
            f"@foldax.jit).")
    if inspect.isgeneratorfunction(fun):
        raise FoldaxTypeError(
            f"jit(fun=...): Expected a function, got a generator function: {_safe_repr(fun)}. "
            f"A generator's values cannot be traced. Fix: return the values (e.g. a list).")


def _safe_repr(x: Any) -> str:
    try:
        return repr(x)
    except Exception:  # a user object whose repr fails
        return f"<{type(x).__name__}>"


def trace_check(f: Any, *args: Any, **kwargs: Any) -> tuple[bool, str]:
    """Whether calling the jitted ``f`` with these arguments reuses a compiled program:
    ``(True, '')`` or ``(False, reason)`` (ΦML's ``trace_check``).

    Arguments:
        f: a function made by ``foldax.jit``.
        *args: the positional arguments of the call to check.
        **kwargs: its keyword arguments.

    Returns:
        ``(True, '')`` if the call would reuse a compiled program, else ``(False, reason)``.

    Raises:
        FoldaxTypeError: ``f`` was not made by ``foldax.jit``.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> g = foldax.jit(lambda x: x + 1)
        >>> foldax.trace_check(g, jnp.ones(2))
        (False, 'Function has not yet been traced')
    """
    if not isinstance(f, JitFunction):
        raise FoldaxTypeError(
            f"trace_check(f=...): expected a function made by foldax.jit, found "
            f"{type(f).__name__}. Decorate it with @foldax.jit first.")
    return f.check(*args, **kwargs)
