"""One compiled entry of ``foldax.jit``: the programs of one key and the ``jax.jit`` that runs them.

An entry belongs to one key (tree structure, static and auxiliary arguments, constants by
value). It keeps a :class:`Template` of the call (the constants in place, no traced value), the
Programs traced for it (one per traced leaves' types and JAX trace context) and one ``jax.jit``
of a function of the traced leaves that evaluates the matching Program; ``jax.jit``'s own C++
dispatch keys the traced leaves' shapes and dtypes, and when it meets new ones the function is
traced again from the template. Nothing here holds a tracer: the template has none, the
function is held weakly (:class:`Tracing`) and an entry whose program closed over an outer
tracer is never stored.

Folded constants larger than ``EMBED_MAX_BYTES``, and arrays that span other processes'
devices, are passed to the compiled program as arguments instead of being embedded in it.

Example:
    >>> import foldax, jax.numpy as jnp
    >>> f = foldax.jit(lambda x: x + 1)
    >>> _ = f(jnp.ones(2))
    >>> entry, = f.entries.values()
    >>> len(entry.programs), entry.all_traced
    (1, True)
"""

from __future__ import annotations

import weakref
from typing import Any, Callable, Sequence

import jax
import numpy as np

from foldax._compat import core, explaining_cache_misses, is_tracer
from foldax.errors import FoldaxReferenceError
from foldax.pytrees.leaves import ByValue
from foldax.pytrees.tree import flatten, unflatten
from foldax.transforms.core.program import TRACED, Program
from foldax.transforms.core.trace import trace_program
from foldax.transforms.jit.arguments import as_constants
from foldax.transforms.jit.cache import FunctionCache
from foldax.transforms.jit.constant_arrays import explained_constant_misuse, read_only_leaves
from foldax.transforms.jit.explain import explain_miss, signature
from foldax.transforms.jit.guess import Mispredicted, guessing
from foldax.transforms.jit.invalid_leaves import check_outputs
from foldax.transforms.jit.keys import CallParts, avals_key
from foldax.transforms.jit.retrace import count_trace
from foldax.transforms.jit.stages import output_values

EMBED_MAX_BYTES = 1 << 16


class Entry:
    """Everything compiled for one (structure, static, auxiliary, constants) key.

    Attributes:
        programs: traced leaves' types (``keys.avals_key``) -> Program.
        hoisted: folded constants passed to the compiled program as arguments.
        jitted: the function of the traced leaves that runs the entry: the ``jax.jit`` compiled
            for it, or (before that, and for a program that closed over an outer tracer) its
            first program evaluated inline.
        out_info: ``(trace context if an output is folded, output tree, output slots)`` of
            the first program.
        out_values: per output leaf, ``TRACED`` or the folded output as ``jax.jit`` returns it.
        uniform_out: whether every program has the first one's outputs.
        all_traced: every output is traced (and uniform).
        guessable: a call may run it before its constants are checked (``guess``): it runs a
            compiled program without effects and donates nothing.
    """

    def __init__(self, key: tuple, program: Program) -> None:
        """An entry of its first ``program``, for the traced leaves' types ``key``; until it is
        given a compiled ``jitted``, it runs that program inline (an entry whose program closed
        over an outer tracer keeps doing so)."""
        self.programs: dict[tuple, Program] = {key: program}
        self.hoisted: list = []
        self.jitted: Callable = inline_runner(program)
        self.out_info: tuple = _out_info(key, program)
        self.out_values: tuple = output_values(program)
        self.uniform_out = True
        self.all_traced = all_outputs_traced(program)
        self.guessable = False  # set by foldax.jit once it compiled the entry

    def add(self, key: tuple, program: Program) -> None:
        """Remember ``program`` for the traced leaves' types ``key``."""
        self.programs[key] = program
        if program.jaxpr.effects:
            self.guessable = False
        if self.out_info != _out_info(key, program):
            self.uniform_out = False
        self.all_traced = self.uniform_out and all_outputs_traced(program)

    def call(self, variables: Sequence) -> Any:
        """Run the compiled program on the traced leaves: the call's output tree."""
        jitted = self.jitted
        returned = jitted(self.hoisted, *variables) if self.hoisted else jitted(*variables)
        return returned if self.all_traced else self.outputs(variables, returned)

    def outputs(self, variables: Sequence, returned: Any) -> Any:
        """The call's output tree from what the compiled program ``returned`` (see
        :func:`packed`): its traced outputs, with the folded ones put in place."""
        if self.uniform_out:
            tree, values = self.out_info[1], self.out_values
        else:
            program = self.programs[avals_key(variables)]
            if all_outputs_traced(program):
                return returned
            tree, values = program.out_tree, output_values(program)
        it = iter(returned)
        return unflatten(tree, [next(it) if v is TRACED else v for v in values])


def _out_info(key: tuple, program: Program) -> tuple:
    """What calls of ``program`` share with those of the entry's other programs if their outputs
    are alike: ``(trace context if an output is folded, output tree, output slots)``."""
    # key[0] is JAX's trace context: a folded NumPy output becomes a jax Array of another
    # dtype under x64, so programs of two contexts never share folded outputs
    folded = not all_outputs_traced(program)
    return (key[0] if folded else None, program.out_tree, tuple(ByValue(s) for s in program.out_leaves))


class Template:
    """A call's arguments without its traced leaves (entries outlive calls and must hold no
    tracer): the constant and static leaves in place, ``None`` where a traced leaf goes."""

    def __init__(self, parts: CallParts) -> None:
        self.static, self.aux = parts.static, parts.aux
        leaves, self.treedef = flatten((tuple(parts.dyn_args), parts.dyn_kwargs))
        self.mask = parts.traced(len(leaves))
        self.leaves = [None if m else x for x, m in zip(leaves, self.mask)]

    def fill(self, variables: Sequence) -> tuple[tuple, dict]:
        """``(dyn_args, dyn_kwargs)`` with ``variables`` in the traced places and read-only
        views of the NumPy constants."""
        it = iter(variables)
        leaves = [next(it) if m else x for x, m in zip(self.leaves, self.mask)]
        return unflatten(self.treedef, read_only_leaves(leaves))


class Tracing:
    """What tracing a call needs: the function *weakly* (entries are shared by every wrapper of
    the function and must not keep it alive), its name, the folding switch and JAX's names of
    the arguments (``ArgumentSpec.jax_name``: the paths of the call without its static
    arguments -> the names in the whole call)."""

    def __init__(
        self, fun: Callable, name: str, fold: bool, arg_name: Callable[[str], str] | None = None
    ) -> None:
        try:
            self.fun_ref: Callable[[], Callable | None] = weakref.ref(fun)
        except TypeError:  # kept by a wrapper's private cache only
            self.fun_ref = lambda: fun
        self.name, self.fold, self.arg_name = name, fold, arg_name

    def program(
        self,
        cache: FunctionCache,
        template: Template,
        variables: Sequence,
        param_name: Callable[[str], str] | None = None,
    ) -> Program:
        """Trace the function on ``template`` filled with ``variables`` (counted in ``cache``).
        With ``param_name`` (a new entry's trace, foldax's own miss) and JAX's
        ``jax_explain_cache_misses`` on, the miss is explained in JAX's words.

        Raises:
            FoldaxValueError: the function writes into a NumPy argument.
            FoldaxTypeError: the function hands a traced value to NumPy.
            InvalidOutputError: it returns a leaf that is neither an array nor a number.
            FoldaxReferenceError: the function was freed (an entry outlived its function).
        """
        dyn_args, dyn_kwargs = template.fill(variables)
        fun = self.fun_ref()
        if fun is None:
            raise FoldaxReferenceError(
                f"jit({self.name}): a compiled entry of the function was called with new shapes, "
                f"dtypes or trace context, which it traces the function for, but the function was "
                f"freed: foldax.jit's entries hold it weakly (they are shared by every wrapper of "
                f"it). Call the foldax.jit wrapper, or keep the function alive while calling its "
                f"entries."
            )
        bound = _bind(fun, self.name, template.static, template.aux)
        with explained_constant_misuse(self.name):
            program = trace_program(
                bound,
                dyn_args,
                dyn_kwargs,
                fold=self.fold,
                name=self.name,
                make_variable=template.mask,
                arg_name=self.arg_name,
            )
        check_outputs(program, fun, self.name)
        count_trace(cache, self.name, program, self.arg_name or str)
        new = signature(program)
        if param_name is not None and explaining_cache_misses():
            explain_miss(list(cache.seen), new, fun, self.name, param_name)
        cache.seen.append(new)
        return program


def _bind(fun: Callable, name: str, static: tuple, aux: tuple) -> Callable:
    """``fun`` with static and auxiliary arguments put back in place."""
    fixed = {k: (v.value if isinstance(v, ByValue) else v) for k, v in static}
    fixed.update({k: as_constants(v) for k, v in aux})

    def bound(*dyn_args: Any, **dyn_kwargs: Any) -> Any:
        args, it = [], iter(dyn_args)
        total = len(dyn_args) + sum(isinstance(k, int) for k in fixed)
        for i in range(total):
            args.append(fixed[i] if i in fixed else next(it))
        kw = {k: v for k, v in fixed.items() if isinstance(k, str)}
        return fun(*args, **dyn_kwargs, **kw)

    bound.__name__ = name
    bound.__wrapped__ = fun  # type: ignore[attr-defined]  # JAX's messages name fun's source line
    return bound


def holds_tracers(program: Program) -> bool:
    """Whether the function closed over a tracer of an outer trace (then nothing is cached)."""
    return any(is_tracer(c) for c in program.jaxpr.consts)


def nothing_to_run(program: Program) -> bool:
    """Whether ``program`` has nothing for XLA to do: no traced input, no equation (so no
    effect) and no traced output; everything it returns was folded while tracing. ``jax.jit``
    would trace and compile an empty computation for it."""
    jaxpr = program.jaxpr.jaxpr
    return not (jaxpr.invars or jaxpr.eqns or jaxpr.outvars)


def nbytes(c: Any) -> int:
    """Bytes of a folded constant."""
    return int(getattr(c, "nbytes", 0) or np.asarray(c).nbytes)


def hoisted_constants(program: Program) -> list:
    """The folded constants the compiled program takes as arguments: those too large to embed,
    and arrays laid across devices of other processes, which XLA cannot embed (in a
    multi-process run a constant computed over an Explicit mesh spans every process)."""
    return [
        c
        for c in program.jaxpr.consts
        if nbytes(c) > EMBED_MAX_BYTES or not getattr(c, "is_fully_addressable", True)
    ]


def run_program(program: Program, hoisted: Sequence, values: Sequence, variables: Sequence) -> list:
    """Evaluate ``program`` on ``variables``, its hoisted constants replaced by ``values``."""
    by_id = {id(c): v for c, v in zip(hoisted, values)}
    consts = [by_id.get(id(c), c) for c in program.jaxpr.consts]
    return core.eval_jaxpr(program.jaxpr.jaxpr, consts, *variables)


def all_outputs_traced(program: Program) -> bool:
    """Whether every output of ``program`` is computed by it (none was folded)."""
    return all(s is TRACED for s in program.out_leaves)


def inline_runner(program: Program) -> Callable:
    """An entry's function of the traced leaves that evaluates ``program`` in the caller's
    trace, uncompiled (for a program that closed over an outer tracer)."""
    return lambda *variables: packed(program, program.evaluate(variables))


def packed(program: Program, traced: list) -> Any:
    """What an entry's compiled function returns: the output tree when every output is traced
    (``jax.jit`` builds it, and the call returns it as it is), else the traced outputs."""
    return unflatten(program.out_tree, traced) if all_outputs_traced(program) else traced


def jit_on_first_call(entry: Entry, run: Callable, jit_kwargs: dict) -> Callable:
    """The entry's ``jitted`` until its first call: makes ``jax.jit(run, **jit_kwargs)``, puts it
    in ``entry.jitted`` and calls it. Making a ``jax.jit`` costs about a tenth of tracing a small
    function, which ``f.trace(...)`` and ``f.lower(...)`` (that never call the entry) need not pay.
    The entry is held weakly, as ``entry_runner`` holds it."""
    entry_ref = weakref.ref(entry)

    def first_call(*args: Any) -> Any:
        jitted = jax.jit(run, **jit_kwargs)
        owner = entry_ref()
        if owner is not None:
            owner.jitted = jitted
        return jitted(*args)

    return first_call


def entry_runner(
    entry: Entry, cache: FunctionCache, tracing: Tracing, template: Template, param_name: Callable[[str], str]
) -> Callable:
    """The function of the traced leaves (after the hoisted constants, if any) that ``jax.jit``
    compiles for ``entry``: it evaluates the entry's program for their types, tracing a new one
    from ``template`` when ``jax.jit`` meets new shapes, dtypes or trace context (explained with
    ``param_name``'s argument names)."""
    # weakly: no reference cycle, so an entry (and the arrays its program closed over) is
    # freed as soon as its cache or its caller lets go of it
    entry_ref, cache_ref = weakref.ref(entry), weakref.ref(cache)

    def run_hoisted(hoisted: list, *variables: Any) -> list:
        if guessing():  # a guessed call runs compiled code only: the usual path traces
            raise Mispredicted(tracing.name)
        entry = entry_ref()
        if entry is None:
            raise FoldaxReferenceError(
                f"jit({tracing.name}): the jax.jit of a compiled entry was called with new shapes, "
                f"dtypes or trace context, which it traces the function for, but the entry was "
                f"freed (dropped from its cache, or its foldax.jit wrapper was): the jax.jit holds "
                f"its entry weakly. Call the foldax.jit wrapper, or keep the entry alive while "
                f"calling its jitted."
            )
        program = entry.programs.get(avals_key(variables))
        if program is None:  # jax.jit met new shapes or dtypes
            program = tracing.program(cache_ref() or FunctionCache(), template, variables, param_name)
            if not holds_tracers(program):
                entry.add(avals_key(variables), program)
        return packed(program, run_program(program, entry.hoisted, hoisted, variables))

    def run_plain(*variables: Any) -> list:  # no hoisted constants: one argument fewer
        return run_hoisted([], *variables)

    run = run_hoisted if entry.hoisted else run_plain
    run.__name__ = run.__qualname__ = tracing.name
    return run
