"""Tracing a function into a Program, folding constants as it goes.

Variable leaves (``jax.Array``) become tracers; constant leaves (NumPy arrays, Python numbers)
and static leaves are passed to the function *as they are*, so NumPy code runs right away and
Python control flow on constants works. What jnp code made of constants remains in the jaxpr is
then folded by ``passes.simplify``.

Example:
    >>> import foldax, jax.numpy as jnp
    >>> def f(x, z):
    ...     return z * x if z > 1 else x / z
    >>> foldax.trace(f)(jnp.ones(3), 2.0).num_equations
    1
"""

from __future__ import annotations

import enum
import functools
import re
from typing import Any, Callable, Sequence

import jax
import numpy as np

from foldax._compat import (
    ClosedJaxpr,
    escaped_tracer,
    escaped_tracer_message,
    folding_trace_to_jaxpr,
    is_tracer,
    shaped_abstractify,
    trace_to_jaxpr,
)
from foldax.errors import (
    EscapedTracerError,
    FoldaxTypeError,
    TracerBoolControlFlowError,
    TracerControlFlowError,
)
from foldax.pytrees.leaves import STATIC, VARIABLE as VARIABLE_KIND, leaf_kind
from foldax.pytrees.tree import flatten, unflatten
from foldax.transforms.core.argument_names import call_argument_names, leaf_names
from foldax.transforms.core.folding import fold_while_tracing
from foldax.transforms.core.observe import current_observer
from foldax.transforms.core.passes import simplify
from foldax.transforms.core.program import TRACED, VARIABLE, Program


def function_name(f: Callable) -> str:
    return getattr(f, "__name__", None) or type(f).__name__


def variable_paths(in_tree: Any, mask: Sequence[bool]) -> list[str]:
    """Readable paths (``args[0]``, ``kwargs['y'].w``) of the variable leaves."""
    try:
        paths = _cached_leaf_paths(in_tree)
    except TypeError:  # a node's static data is unhashable
        paths = _leaf_paths(in_tree)
    return [path for path, is_var in zip(paths, mask) if is_var]


def _leaf_paths(in_tree: Any) -> tuple[str, ...]:
    """The paths of every leaf of an ``(args, kwargs)`` tree."""
    names = []
    for text in tree_leaf_paths(in_tree):
        text = text.replace("[0]", "args", 1) if text.startswith("[0]") else text.replace("[1]", "kwargs", 1)
        names.append(text)
    return tuple(names)


def tree_leaf_paths(tree: Any) -> list[str]:
    """The key path of every leaf of the tree structure ``tree`` (``[0]['a']``, ``.w``), as
    JAX writes them (``keystr``; a child of a node without keys by its flattened index)."""
    try:
        dummy = unflatten(tree, list(range(tree.num_leaves)))
    except Exception:  # a node whose unflatten checks its children (JAX's NamedArray test type)
        paths = list(_structural_paths(tree, ()))
    else:
        paths = [path for path, _ in jax.tree_util.tree_flatten_with_path(dummy)[0]]
    return [re.sub(r"<flat index ([^>]+)>", r"\1", jax.tree_util.keystr(path)) for path in paths]


def _structural_paths(treedef: Any, prefix: tuple) -> Any:
    """Key paths of the leaves read off ``treedef`` alone: dict keys and sequence indices, and a
    flattened-child index inside other nodes (as JAX names children of nodes without keys)."""
    if treedef.num_nodes == 1 and treedef.num_leaves == 1:
        yield prefix
        return
    node_type, data = treedef.node_data()
    for i, child in enumerate(treedef.children()):
        if node_type is dict:
            key = jax.tree_util.DictKey(data[i])
        elif hasattr(node_type, "_fields"):  # a namedtuple
            key = jax.tree_util.GetAttrKey(node_type._fields[i])
        elif node_type in (tuple, list):
            key = jax.tree_util.SequenceKey(i)
        else:
            key = jax.tree_util.FlattenedIndexKey(i)
        yield from _structural_paths(child, prefix + (key,))


_cached_leaf_paths = functools.lru_cache(maxsize=64)(_leaf_paths)  # treedefs hash by structure


def trace_program(
    fun: Callable,
    args: Sequence,
    kwargs: dict | None = None,
    *,
    make_variable: Sequence[bool] | None = None,
    fold: bool = True,
    name: str | None = None,
    simplify_program: bool = True,
    leaf_avals: Sequence | None = None,
    observe: Callable[[Any], bool] | None = None,
    traced_for: str = "jit",
    trace_type: Callable | None = None,
    arg_name: Callable[[str], str] | None = None,
) -> Program:
    """Trace ``fun(*args, **kwargs)`` into a Program.

    ``make_variable`` (one bool per leaf of ``(args, kwargs)``) turns chosen constant leaves into
    variables, as ``grad`` and ``vmap`` do for the leaves they target. ``simplify_program=False``
    keeps the jaxpr exactly as traced (no folding, CSE or DCE), for analyses that must see every
    equation the function ran (key-reuse detection); ``passes.simplify`` can follow.
    ``leaf_avals`` (one per leaf, None to keep the leaf's own) gives variables another abstract
    value than their leaf's, as ``vmap`` traces one element of its mapped leaves.
    With ``fold`` (and ``simplify_program``), what is computed from constants alone is computed
    while tracing (``folding``); ``observe(primitive)`` names the computations ``checkify`` must
    still see, and then checks on constants are left in the program instead of raising. A trace
    inside the trace of a ``checkify`` (a nested ``foldax.jit``) observes with its observer.
    ``traced_for``: JAX's name of the transformation tracing ``fun``, which JAX's messages
    about its tracers give ("... while tracing the function f at file:line for jit").
    ``trace_type`` (with ``simplify_program=False``) traces with that subclass of JAX's staging
    trace (or the one that function makes), as ``vmap`` traces with ``BatchTrace`` so that JAX's
    messages name its tracers.
    ``arg_name`` maps a leaf's path (``args[1]['w']``) to the name JAX's messages give it
    (``params['w']``); by default the name of ``fun``'s parameter, as JAX's transformations
    name it (``argument_names.call_argument_names``); ``foldax.jit``, which calls ``fun``
    without its static arguments, gives their names in the whole call.
    """
    kwargs = kwargs or {}
    if arg_name is None:
        arg_name = call_argument_names(fun, tuple(args), kwargs)
    if observe is None and fold and simplify_program:
        observe = current_observer()
    name = name or function_name(fun)
    leaves, in_tree = flatten((tuple(args), dict(kwargs)))
    mask = [leaf_kind(x) == VARIABLE_KIND for x in leaves]
    if make_variable is not None:
        for i, forced in enumerate(make_variable):
            if forced and not mask[i]:
                if leaf_kind(leaves[i]) == STATIC:
                    path = variable_paths(in_tree, [j == i for j in range(len(leaves))])[0]
                    raise FoldaxTypeError(
                        f"{name}: input leaf {arg_name(path)} "
                        f"is a {type(leaves[i]).__name__}, which cannot be traced. Only arrays and "
                        f"numbers can be variables."
                    )
                mask[i] = True
    if leaf_avals is None:
        in_avals = [shaped_abstractify(x) for x, m in zip(leaves, mask) if m]
    else:
        in_avals = [
            shaped_abstractify(x) if a is None else a for x, m, a in zip(leaves, mask, leaf_avals) if m
        ]
    out_info: dict[str, Any] = {}

    def flat_fun(*variables: Any) -> list:
        it = iter(variables)
        full = [next(it) if m else x for x, m in zip(leaves, mask)]
        a, kw = unflatten(in_tree, full)
        out = fun(*a, **kw)
        out_leaves, out_tree = flatten(out)
        slots = []
        traced = []
        for x in out_leaves:
            if leaf_kind(x) == VARIABLE_KIND:
                slots.append(TRACED)
                traced.append(x)
            else:
                _check_output_leaf(name, x)
                slots.append(x)
        out_info["tree"], out_info["slots"] = out_tree, tuple(slots)
        return traced

    arg_names = leaf_names(arg_name, variable_paths(in_tree, mask))  # JAX's messages print them
    try:
        if fold and simplify_program:
            policy, context = fold_while_tracing(observe)
            with context:
                jaxpr, _, consts = folding_trace_to_jaxpr(
                    flat_fun,
                    in_avals,
                    policy,
                    name=name,
                    arg_names=arg_names,
                    source=fun,
                    keep_source=observe is not None,
                    traced_for=traced_for,
                )
        else:
            jaxpr, _, consts = trace_to_jaxpr(
                flat_fun,
                in_avals,
                name=name,
                arg_names=arg_names,
                source=fun,
                traced_for=traced_for,
                trace_type=trace_type,
            )
    except jax.errors.ConcretizationTypeError as e:
        error = (
            TracerBoolControlFlowError
            if isinstance(e, jax.errors.TracerBoolConversionError)
            else TracerControlFlowError
        )
        raise error(_control_flow_message(name, arg_names, in_avals, e)) from e
    leaked = escaped_tracer(consts)
    if leaked is not None:
        raise EscapedTracerError(
            f"{name}: it uses a value of type {leaked.aval.str_short()} traced by a transformation "
            f"that has already returned (it escaped through a side effect: a global, a list or "
            f"an attribute). Fix: return the value from that transformation and pass it in as an "
            f"argument. (JAX: {escaped_tracer_message(leaked)})"
        )
    closed = ClosedJaxpr(jaxpr, consts)
    if simplify_program:
        closed = simplify(closed, fold=fold, settle_effects=observe is None, observe=observe)
    in_slots = tuple(VARIABLE if m else x for x, m in zip(leaves, mask))
    return Program(closed, in_tree, in_slots, out_info["tree"], out_info["slots"], name)


_PLAIN_STATIC = (str, bytes, type, enum.Enum, type(Ellipsis), slice, range, np.dtype)


def _check_output_leaf(name: str, x: Any) -> None:
    """Static outputs are returned as they are; objects JAX cannot see into are refused."""
    if leaf_kind(x) != STATIC or isinstance(x, _PLAIN_STATIC) or callable(x):
        return
    raise FoldaxTypeError(
        f"{name} returned a {type(x).__name__}, which is not a pytree: any array inside it would "
        f"escape the trace. Fix: register its class (@foldax.dataclass, or "
        f"jax.tree_util.register_pytree_node) or return its arrays in a tuple/dict."
    )


def _control_flow_message(name: str, arg_names: list[str], avals: list, e: Exception) -> str:
    """JAX's message for the same misuse under ``jax.jit``, then foldax's: which variables the
    call has and the fix."""
    variables = ", ".join(f"{n}: {a.str_short()}" for n, a in zip(arg_names, avals)) or "none"
    jax_message = str(e).strip() or type(e).__name__
    return (
        f"{jax_message}\n\n{name}: a traced variable was used where Python needs a concrete value "
        f"(an `if`, `while`, bool(), int() or float()). Variables are traced and have no value at "
        f"trace time; the variables of this call are: {variables}. Fix: pass the value as a NumPy "
        f"array so it is a constant (foldax.jit traces Python numbers, as jax.jit does: list them "
        f"in static_argnames/auxiliary_args), or express the branch with jnp.where / "
        f"jax.lax.cond / jax.lax.while_loop."
    )


def trace(fun: Callable, *, fold: bool = True) -> Callable[..., Program]:
    """Trace ``fun`` into a ``Program``: ``foldax.trace(f)(*args, **kwargs)``.

    The program is what foldax's transformations interpret: a closed jaxpr of the variable leaves
    (``jax.Array``), with everything computed from constants (NumPy) folded into it.

    Arguments:
        fun: the function to trace.
        fold: fold what is computed from constants (default ``True``); ``False`` keeps it in the
            program (dead code and common subexpressions are still eliminated).

    Returns:
        A function taking ``fun``'s arguments and returning their ``Program``.

    Raises:
        TracerControlFlowError: ``fun`` branches in Python on a variable.
        FoldaxTypeError: an output leaf is not an array, number or static value.

    Example:
        >>> import foldax, jax.numpy as jnp, numpy as np
        >>> prog = foldax.trace(lambda a: a + np.float32(2) ** 2)(jnp.ones(2))
        >>> print(prog.jaxpr)
        { lambda ; a:f32[2]. let b:f32[2] = add a 4.0:f32[] in (b,) }
    """

    @functools.wraps(fun)
    def traced(*args: Any, **kwargs: Any) -> Program:
        return trace_program(fun, args, kwargs, fold=fold)

    return traced


def is_traced(x: Any) -> bool:
    return is_tracer(x)
