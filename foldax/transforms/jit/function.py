"""``foldax.jit``'s function object: the call path and ``jax.jit``'s surface.

A call is keyed (``keys``) and looked up in the function's bounded cache (``cache``,
``entries``); a new key traces a new :class:`~foldax.transforms.jit.entry.Entry`, whose
``jax.jit`` then runs every later call with that key. A call of a function without static or
auxiliary arguments whose tree structure and leaf types were seen before takes a fast path
(``plans``): no flatten for ``f(x, y)`` with array or number arguments, else the last call's
tree structure taking this call's leaves (or one flatten and a lookup), then the constants'
value keys and one lookup. When the last two calls ran the same entry, a call with constants
runs it first and checks its constants while it runs (``guess``).

Example:
    >>> import foldax, jax.numpy as jnp
    >>> f = foldax.jit(lambda x, lr: x - lr * x)
    >>> f(jnp.ones(2), 0.5), f(jnp.ones(2), 0.25)[0], f.trace_count
    (Array([0.5, 0.5], dtype=float32), Array(0.75, dtype=float32), 1)
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable

import jax

from foldax._compat import JIT_DISABLED, typeof
from foldax.errors import FoldaxOverflowError, FoldaxTypeError, FoldaxValueError, RetraceWarning
from foldax.pytrees.dataclass import register_protocol_class
from foldax.pytrees.leaves import STATIC, leaf_kind
from foldax.transforms.core.program import Program
from foldax.transforms.core.trace import variable_paths
from foldax.transforms.jit.arguments import (
    ArgumentSpec,
    aux_constants,
)
from foldax.transforms.jit.batches import BatchWatch
from foldax.transforms.jit.cache import FunctionCache, cache_for
from foldax.transforms.jit.entries import EntryCache
from foldax.transforms.jit.entry import (
    Entry,
    Template,
    Tracing,
    entry_runner,
    hoisted_constants,
    holds_tracers,
    jit_on_first_call,
    nothing_to_run,
    packed,
    run_program,
)
from foldax.transforms.jit.guess import MISSED, guessed_call, remember
from foldax.transforms.jit.invalid_leaves import invalid_argument
from foldax.transforms.jit.keys import CallParts, avals_key, leaf_key
from foldax.transforms.jit.placement import (
    donated_arguments,
    donated_variables,
    traced_output_shardings,
    variable_shardings,
    variables_in_place,
)
from foldax.transforms.jit.plans import plan_key, positional_key
from foldax.transforms.jit.stages import Lowered, Traced, traced_outputs_only
from foldax.transforms.processes import check_same_on_every_process

_flatten = jax.tree_util.default_registry.flatten


class JitFunction:
    """A function compiled by ``foldax.jit``; call it like the original.

    It has ``jax.jit``'s surface: ``.lower(*args)`` (JAX's ``Lowered``, whose ``.compile()`` is
    called like the function and returns its output structure), ``.trace(*args)`` (a ``Traced``
    with ``.jaxpr``, ``.lower()``, ``.out_info`` and ``.program``, the foldax Program),
    ``.eval_shape(*args)``, ``.clear_cache()``, ``__wrapped__`` and the function's attributes.
    ``.trace_count`` says how often the Python body ran. Compiled code is shared by every
    ``foldax.jit`` of the same function with the same options, as with ``jax.jit``.
    """

    def __init__(
        self,
        fun: Callable,
        spec: ArgumentSpec,
        fold: bool,
        jax_jit_kwargs: dict,
        limits: tuple[int | None, int | None] = (None, None),
    ):
        functools.update_wrapper(self, fun)  # first: foldax's attributes win over fun.__dict__'s
        self.fun = fun
        self.name = spec.name
        self.fold = fold
        self.jax_jit_kwargs = jax_jit_kwargs
        self.spec = spec
        self.signature = spec.signature
        self.static_argnums, self.static_argnames = spec.static_argnums, spec.static_argnames
        self.donate_argnums, self.donate_argnames = spec.donate_argnums, spec.donate_argnames
        self.auxiliary_args, self.variable_args = spec.auxiliary_args, spec.variable_args
        self._tracing = Tracing(fun, self.name, fold, spec.jax_name)
        self._limits = limits
        self._options = spec.options() + (fold, tuple(sorted(jax_jit_kwargs.items())), limits)
        self._cache: FunctionCache | None = None
        # the fast path's (plans, entries) of the cache, once opened, for a function without
        # static or auxiliary arguments
        self._fast: tuple[dict, EntryCache] | None = None
        self._static_self: JitFunction | None = None  # for methods of plain objects (__get__)
        self._batches = BatchWatch()

    def _open_cache(self) -> FunctionCache:
        """The cache shared with every jit of this function and options (made at first use,
        so a function that cannot be weakly referenced fails when called, as with jax.jit)."""
        try:
            hash(self._options)
        except TypeError:  # unhashable jax.jit options (a list of shardings): a private cache
            self._cache = FunctionCache(*self._limits, where=f"jit({self.name})")
        else:
            self._cache = cache_for(self.fun, self._options, self.name, self._limits)
        if self.spec.plain:  # calls may take the fast path
            self._fast = (self._cache.entries.plans, self._cache.entries)
        return self._cache

    @property
    def entries(self) -> Any:
        """The compiled entries, by cache key, least recently used first."""
        return (self._cache or self._open_cache()).entries

    @property
    def trace_count(self) -> int:
        """How often the Python body ran (for every jit of this function and options)."""
        return (self._cache or self._open_cache()).trace_count

    def _key(self, args: tuple, kwargs: dict) -> tuple[tuple, list, CallParts]:
        """``(key, traced leaves, parts)`` of a call."""
        dyn_args, dyn_kwargs, static, aux = self.spec.split(args, kwargs)
        found = leaf_key(dyn_args, dyn_kwargs, self.spec.forced(len(args)), self.name, self._invalid_leaf)
        if found is None:  # a class was registered as a pytree: flatten again
            return self._key(args, kwargs)
        treedef, consts, variables, mask = found
        aux_key = tuple((k, aux_constants(v, k, self.name)) for k, v in aux)
        static_key = tuple((k, type(v), v) for k, v in static)  # 1, True, 1.0 differ (as jax.jit)
        return (
            (treedef, static_key, aux_key, consts),
            variables,
            CallParts(dyn_args, dyn_kwargs, static, aux, mask),
        )

    def _invalid_leaf(self, i: int, x: Any, treedef: Any) -> Exception:
        """The error for argument leaf ``i`` (``x``), neither an array nor a number."""
        path = variable_paths(treedef, [j == i for j in range(treedef.num_leaves)])[0]
        return invalid_argument(self.fun, self.name, self.spec.jax_name(path), x)

    # -- calling ------------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if JIT_DISABLED.value:  # jax.disable_jit(): run the Python body, as jax.jit does
            return self.fun(*args, **kwargs)
        fast = self._fast
        if fast is not None:  # fast path: a known tree structure, leaf types and constants
            plans, entries = fast
            if entries.guess is not None:  # run the last calls' entry, then check the constants
                out = guessed_call(entries.guess, args, kwargs, entries)
                if out is not MISSED:
                    return out
            # f(x, y) whose arguments are leaves: positional_key(args), inlined for f(x)
            plan = None if kwargs else plans.get(type(args[0]) if len(args) == 1 else positional_key(args))
            leaves: Any = args
            if plan is None:  # the last call's plan if this call fits it, else its flatten's
                recent = entries.recent
                leaves = None if recent is None else recent.leaves((args, kwargs))
                if recent is not None and leaves is not None:
                    plan = recent.plan
                else:
                    leaves, treedef = _flatten((args, kwargs))
                    where = plan_key(treedef, leaves)
                    plan = plans.get(where)
                    if plan is not None:
                        entries.recent = plan.recent(treedef, leaves, where)
            hit = None if plan is None else plan.entries.get(()) if plan.all_traced else plan.find(leaves)
            if plan is not None and hit is not None:
                key, entry = hit
                again = key is entries.last
                if not again:
                    entries.touch(key)
                try:
                    if plan.all_traced and entry.all_traced and not entry.hoisted:
                        return entry.jitted(*leaves)  # the common case, as directly as can be
                    out = entry.call(plan.variables(leaves))
                except OverflowError:  # a Python int out of range: the full path names it
                    pass
                else:
                    if again and entries.guess is None:  # two calls in a row ran this entry
                        remember(entries, plan, hit, None if leaves is args else entries.recent, leaves)
                    return out
        cache = self._cache or self._open_cache()
        key, variables, parts = self._key(args, kwargs)
        try:
            entry = cache.entries.get(key)
        except Exception as e:  # a static argument's __eq__ failed
            raise FoldaxValueError(
                f"static arguments should be comparable using __eq__. The following error was "
                f"raised when comparing this call's static arguments with a cached call's. The "
                f"error was:\n{type(e).__name__}: {e}. jit({self.name}): Fix: give the static "
                f"argument's class an __eq__ that returns a bool."
            ) from e
        if entry is None:
            entry = self._new_entry(key, variables, parts)
        if self.spec.plain:  # the next call with these leaf types and constants goes fast
            cache.entries.plan(key, _flatten((args, kwargs))[0], parts.mask)
        try:
            return entry.call(variables)
        except OverflowError:  # a Python int out of range for a known entry: name its argument
            self._types(variables, Template(parts))
            raise

    def _new_entry(self, key: tuple, variables: list, parts: CallParts) -> Entry:
        """Trace a new entry; it is cached unless the function closed over an outer tracer
        (then its program runs inline in the outer trace: an inner jax.jit would keep the
        tracer in JAX's own caches)."""
        cache = self._cache or self._open_cache()
        template = Template(parts)
        types = self._types(variables, template)
        check_same_on_every_process(key[0], key[3], variables, self.name)  # tree, constants
        program = self._tracing.program(cache, template, variables, self.spec.jax_name)
        entry = Entry(types, program)
        if holds_tracers(program):  # closed over an outer tracer: run inline, keep nothing
            return entry
        entry.hoisted = hoisted_constants(program)
        if nothing_to_run(program):  # every output folded, no input traced: no XLA call;
            # the runner itself traces again under another JAX trace context (x64, ...)
            entry.jitted = entry_runner(entry, cache, self._tracing, template, self.spec.jax_name)
        else:
            entry.jitted = self._make_jitted(entry, cache, template, parts)
            entry.guessable = not program.jaxpr.effects and not donated_variables(self.spec, parts)
        cache.entries[key] = entry
        self._warn_of_batches(cache, key)
        return entry

    def _types(self, variables: list, template: Template) -> tuple:
        """``avals_key(variables)``, refusing Python ints JAX's integer type cannot hold.

        Raises:
            FoldaxOverflowError: a traced Python int out of range (``jax.jit`` raises
                ``OverflowError`` too).
        """
        try:
            return avals_key(variables)
        except OverflowError as e:
            paths = variable_paths(template.treedef, template.mask)
            path, value = next(
                ((p, x) for p, x in zip(paths, variables) if isinstance(x, int) and _overflows(x)),
                ("an argument", None),
            )
            raise FoldaxOverflowError(
                f"An overflow was encountered while parsing an argument to a jitted computation, "
                f"whose argument path is {self.spec.jax_name(path)}. Got {type(value)} with value "
                f"{value}. jit({self.name}): the Python int passed at {path} does not fit JAX's "
                f"integer type ({e}); foldax.jit traces Python numbers as jax.jit does. Fix: pass "
                f"a smaller number, enable jax_enable_x64, or name the argument in "
                f"static_argnames."
            ) from e

    def _warn_of_batches(self, cache: FunctionCache, key: tuple) -> None:
        """Warn once when a NumPy argument came back with another value (a data loader's
        batches passed as constants)."""
        message = (
            None
            if cache.warned
            else self._batches.changed(key, self.name, self.spec.parameter_of_path, self.spec.jax_name)
        )
        if message:
            cache.warned = True  # one retrace warning per function
            warnings.warn(message, RetraceWarning, stacklevel=4)

    def _program(self, key: tuple, variables: list, parts: CallParts) -> tuple[Entry, Program]:
        """The entry and Program of a call (tracing them if needed)."""
        entry = self.entries.get(key) or self._new_entry(key, variables, parts)
        program = entry.programs.get(avals_key(variables))
        if program is None:
            program = self._tracing.program(self._cache or self._open_cache(), Template(parts), variables)
            if not holds_tracers(program):
                entry.add(avals_key(variables), program)
        return entry, program

    def _make_jitted(
        self, entry: Entry, cache: FunctionCache, template: Template, parts: CallParts
    ) -> Callable:
        run = entry_runner(entry, cache, self._tracing, template, self.spec.jax_name)
        donate = donated_variables(self.spec, parts)
        if not entry.hoisted:
            donate = tuple(i - 1 for i in donate)
        kwargs = dict(self.jax_jit_kwargs)
        if kwargs.get("in_shardings") is not None:
            kwargs["in_shardings"] = ((None,) if entry.hoisted else ()) + tuple(
                variable_shardings(kwargs["in_shardings"], parts, self.name)
            )
        if kwargs.get("out_shardings") is not None:
            program = next(iter(entry.programs.values()))
            kwargs["out_shardings"] = packed(
                program, traced_output_shardings(kwargs["out_shardings"], program)
            )  # shaped as the compiled function's outputs
        return jit_on_first_call(entry, run, dict(donate_argnums=donate, **kwargs))

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
        by_arg, by_name = donated_arguments(self.spec, parts)

        # large folded constants stay arguments of the lowered computation (first, if any)
        hoisted = hoisted_constants(program)
        lead = (hoisted,) if hoisted else ()

        def lowered_fun(*dyn_vars: Any, **kw_vars: Any) -> Any:
            variables = jax.tree.leaves((dyn_vars[len(lead) :], kw_vars))
            values = dyn_vars[0] if hoisted else ()
            return traced_outputs_only(program, run_program(program, hoisted, values, variables))

        lowered_fun.__name__ = lowered_fun.__qualname__ = self.name
        in_args, in_kwargs = variables_in_place(parts)
        # JAX's messages (a compiled call with other shapes) name the function's parameters
        lowered_fun.__signature__ = self.spec.dynamic_signature(len(in_args), in_kwargs, bool(lead))  # type: ignore[attr-defined]
        jitted = jax.jit(
            lowered_fun,
            donate_argnums=tuple(len(lead) + i for i, d in enumerate(by_arg) if d),
            donate_argnames=tuple(k for k, d in by_name.items() if d),
            **self.jax_jit_kwargs,
        )
        lowered = jitted.lower(*lead, *in_args, **in_kwargs)

        def prepare(call_args: tuple, call_kwargs: dict) -> tuple[tuple, dict]:
            call_key, _, call_parts = self._key(call_args, call_kwargs)
            if call_key != key:
                raise FoldaxTypeError(
                    f"Function compiled with input pytree does not match the input pytree it "
                    f"was called with. {self.name}: the structure differs, or a constant "
                    f"argument does (foldax folded the NumPy and static arguments of the lowered "
                    f"call into the program). Fix: call it with arguments like those it was "
                    f"lowered with, or lower again."
                )
            call_args, call_kwargs = variables_in_place(call_parts)
            return lead + call_args, call_kwargs

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
        if key in entries:
            if avals_key(variables) in entries[key].programs:
                return True, ""
            return False, "Variable shapes or dtypes do not match"
        if entries.was_evicted(key):
            max_entries, max_bytes = entries.limits()
            return False, (
                f"Evicted from the cache (least recently used first; this function "
                f"keeps at most {max_entries} entries and {max_bytes} bytes of "
                f"constants: raise them with jit(..., max_entries=..., "
                f"max_constant_bytes=...) or foldax.jit_cache_limits(...))"
            )
        treedef, static, aux, consts = key
        same_tree = [k for k in entries if k[0] == treedef]
        if not same_tree:
            return False, "Argument tree structure does not match"
        if not any(k[1] == static for k in same_tree):
            return False, "Static arguments do not match"
        if not any(k[2] == aux for k in same_tree):
            return False, "Auxiliary arguments do not match"
        return False, "Constant (NumPy) arguments do not match"

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        """``@foldax.jit`` on a method: the method bound to ``obj`` (``jax.jit``'s ``__get__``).

        A pytree ``obj`` (a registered dataclass, an equinox Module) is the first argument, its
        leaves traced or constant as any argument's. foldax's convenience: any other object
        (a plain class instance, no array or number) is bound as a *static* first argument,
        hashed into the cache key as ``static_argnums=0`` would (by identity, unless its class
        defines ``__hash__``/``__eq__``; the cache holds it while the entry lives), where
        ``jax.jit`` raises ``TypeError``.

        Example:
            >>> import foldax, jax.numpy as jnp
            >>> class Scaler:
            ...     def __init__(self, k):
            ...         self.k = k
            ...     @foldax.jit
            ...     def __call__(self, x):
            ...         return self.k * x
            >>> Scaler(3.0)(jnp.ones(2))
            Array([3., 3.], dtype=float32)
        """
        if obj is None:
            return self
        if not _binds_statically(obj):
            return functools.partial(self, obj)
        if self._static_self is None:
            self._static_self = self._with_static_first()
        return functools.partial(self._static_self, obj)

    def _with_static_first(self) -> JitFunction:
        """This function jitted with its first argument static as well (a method's plain
        ``self``)."""
        spec = ArgumentSpec(
            self.fun,
            self.name,
            static_argnums=tuple(sorted({0, *self.static_argnums})),
            static_argnames=self.static_argnames,
            donate_argnums=self.donate_argnums,
            donate_argnames=self.donate_argnames,
            auxiliary_args=self.auxiliary_args,
            variable_args=self.variable_args,
        )
        return JitFunction(self.fun, spec, self.fold, self.jax_jit_kwargs, self._limits)

    def __repr__(self) -> str:
        """``jax.jit``'s repr (``<PjitFunction of <function f at ...>>``), ``<PjitFunction>``
        when the function's own repr fails; ``trace_count`` says how often it traced."""
        try:
            return f"<PjitFunction of {self.fun!r}>"
        except Exception:  # a callable whose __repr__ raises, or a half-deleted wrapper
            return "<PjitFunction>"


def _binds_statically(obj: Any) -> bool:
    """Whether a method's ``self`` is bound as a static argument: neither a pytree node nor an
    array or number (a class following the ΦML protocol is registered as a pytree first)."""
    register_protocol_class(obj)
    if leaf_kind(obj) != STATIC:
        return False
    children = jax.tree_util.tree_leaves(obj, is_leaf=lambda x: x is not obj)  # one level deep
    return len(children) == 1 and children[0] is obj


def _overflows(x: int) -> bool:
    try:
        typeof(x)
    except OverflowError:
        return True
    return False
