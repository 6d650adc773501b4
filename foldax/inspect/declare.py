"""Declaring which inputs of a program are variables; the others become constants and fold.

This is autoray's ``compute_constants(variables=...)`` on a Program: given values for its
inputs, ``declare_variables`` keeps the declared ones as inputs, turns every other one into a
constant with the given value and (by default) folds everything that depends on constants
alone with ``foldax.transforms.core.passes``.

Which inputs are variables follows foldax's leaf rule unless ``variables`` says otherwise:
a ``jax.Array`` stays a variable, a NumPy array or Python number becomes a constant. With
``variables`` (an argument position, ``'args[i]'``, a keyword argument's name, a parameter name
when the function is known, a comma-separated string or a sequence of these) exactly the leaves
of those arguments are variables.

Example:
    >>> import foldax, jax.numpy as jnp, numpy as np
    >>> prog = foldax.trace(lambda x, y: x * jnp.sin(y) ** 2)(jnp.ones(3), jnp.ones(3))
    >>> prog.num_equations
    3
    >>> declare_variables(prog, jnp.ones(3), np.arange(3.0)).num_equations
    1
"""

from __future__ import annotations

import inspect as _pyinspect
import re
from typing import Any, Callable, Sequence

import jax
import numpy as np

from foldax._compat import ClosedJaxpr, make_jaxpr_obj
from foldax.errors import FoldaxIndexError, FoldaxTypeError, FoldaxValueError
from foldax.inspect.program import as_program
from foldax.pytrees.leaves import STATIC, VARIABLE as VARIABLE_KIND, ByValue, leaf_kind
from foldax.pytrees.tree import flatten, unflatten
from foldax.transforms.core.passes import eliminate_dead_code, fold_constants
from foldax.transforms.core.program import VARIABLE, Program
from foldax.transforms.core.trace import variable_paths

Selection = int | str | Sequence[int | str] | None
_PATH = re.compile(r"args\[(\d+)\]|kwargs\[['\"](.+)['\"]\]")


def selected_arguments(
    variables: int | str | Sequence[int | str],
    n_args: int,
    kwargs: dict,
    signature: _pyinspect.Signature | None,
    where: str,
) -> tuple[set, set]:
    """(positions, keyword names) of the arguments ``variables`` selects."""
    if isinstance(variables, str):
        variables = [v.strip() for v in variables.split(",") if v.strip()]
    elif isinstance(variables, int):
        variables = [variables]
    params = list(signature.parameters) if signature is not None else []
    positions, names = set(), set()
    for v in variables:
        if isinstance(v, bool) or not isinstance(v, (int, str)):
            raise FoldaxTypeError(
                f"{where}(variables=...): expected argument positions (int) or "
                f"names (str), found {v!r} of type {type(v).__name__}."
            )
        if isinstance(v, int):
            if not -n_args <= v < n_args:
                raise FoldaxIndexError(
                    f"{where}(variables=...): position {v} is out of range for "
                    f"{n_args} positional argument(s)."
                )
            positions.add(v % n_args)
        elif (path := _PATH.fullmatch(v)) is not None:
            index, key = path.groups()
            if index is not None:
                positions.update(selected_arguments(int(index), n_args, kwargs, None, where)[0])
            elif key in kwargs:
                names.add(key)
            else:
                raise FoldaxValueError(
                    f"{where}(variables=...): {v} names no keyword argument of "
                    f"this call; its keywords are {sorted(kwargs)}."
                )
        elif v in kwargs:
            names.add(v)
        elif v in params and params.index(v) < n_args:
            positions.add(params.index(v))
        else:
            known = list(params[:n_args]) + list(kwargs)
            raise FoldaxValueError(
                f"{where}(variables=...): '{v}' names no argument of this call "
                f"(named: {known or 'none'}). Use a position (0, 1, ...), "
                f"'args[i]', or a keyword argument's name."
            )
    return positions, names


def select_variables(
    args: Sequence,
    kwargs: dict,
    variables: Selection,
    *,
    signature: _pyinspect.Signature | None = None,
    where: str = "declare_variables",
) -> tuple[tuple, dict, list[bool]]:
    """The call's arguments with declared constants as NumPy, and one bool per leaf of
    ``(args, kwargs)``: whether it is a variable (see the module docstring)."""
    args, kwargs = tuple(args), dict(kwargs)
    if variables is None:
        leaves, _ = flatten((args, kwargs))
        return args, kwargs, [leaf_kind(x) == VARIABLE_KIND for x in leaves]
    positions, names = selected_arguments(variables, len(args), kwargs, signature, where)

    def convert(value: Any, selected: bool) -> Any:
        if selected:
            return value
        leaves, tree = flatten(value)
        return unflatten(tree, [_to_constant(x) if leaf_kind(x) == VARIABLE_KIND else x for x in leaves])

    new_args = tuple(convert(a, i in positions) for i, a in enumerate(args))
    new_kwargs = {k: convert(v, k in names) for k, v in kwargs.items()}
    mask: list[bool] = []  # in flatten((args, kwargs)) order: kwargs by sorted key
    for i, a in enumerate(new_args):
        mask.extend(_leaf_mask(a, i in positions))
    for k in sorted(new_kwargs):
        mask.extend(_leaf_mask(new_kwargs[k], k in names))
    return new_args, new_kwargs, mask


def _leaf_mask(value: Any, selected: bool) -> list[bool]:
    return [selected and leaf_kind(x) != STATIC for x in flatten(value)[0]]


def _to_constant(x: Any) -> Any:
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.extended):
        return x  # e.g. typed PRNG keys: no NumPy form; folded as a jax array
    return np.asarray(x)


def check_value(value: Any, aval: Any, path: str, where: str) -> None:
    """Raise unless ``value`` has ``aval``'s shape and a dtype that casts to it safely."""
    shape = tuple(np.shape(value))
    dtype = np.dtype(value.dtype) if hasattr(value, "dtype") else np.result_type(value)
    if shape != tuple(aval.shape):
        raise FoldaxValueError(
            f"{where}: input {path} has shape {list(aval.shape)} in the program "
            f"but the value given has shape {list(shape)}. Pass a value of "
            f"the traced shape, or trace again."
        )
    if dtype != aval.dtype and not np.can_cast(dtype, aval.dtype, "same_kind"):
        raise FoldaxValueError(
            f"{where}: input {path} is {aval.str_short()} in the program but "
            f"the value given has dtype {dtype}, which does not cast safely. "
            f"Pass a {aval.dtype} value."
        )


def _coerce(value: Any, aval: Any, path: str, where: str) -> Any:
    if isinstance(value, jax.Array) and jax.dtypes.issubdtype(value.dtype, jax.dtypes.extended):
        if value.shape != aval.shape or value.dtype != aval.dtype:
            raise FoldaxValueError(
                f"{where}: input {path} is {aval.str_short()} in the program "
                f"but the value given is {jax.typeof(value).str_short()}."
            )
        return value
    check_value(value, aval, path, where)
    return np.asarray(value).astype(aval.dtype, copy=False)


def bind_inputs(
    program: Program, values: dict[int, Any], fold: bool = True, given: dict[int, Any] | None = None
) -> Program:
    """The Program with jaxpr inputs ``values`` (index -> value) turned into constants, folded
    (``fold=True``: constant folding and dead-code elimination) or kept as they are.

    ``given``: the values as the caller passed them (before casting to the traced dtype), which
    the Program keeps as its constant input leaves so a call with them matches.
    """
    given = values if given is None else given
    closed = program.jaxpr
    jaxpr = closed.jaxpr
    keep = [i for i in range(len(jaxpr.invars)) if i not in values]
    order = sorted(values)
    constvars = list(jaxpr.constvars) + [jaxpr.invars[i] for i in order]
    consts = list(closed.consts) + [values[i] for i in order]
    dbg = jaxpr.debug_info
    names = getattr(dbg, "arg_names", None)
    if names is not None and len(names) == len(jaxpr.invars):
        dbg = dbg._replace(arg_names=tuple(names[i] for i in keep))
    new = make_jaxpr_obj(constvars, [jaxpr.invars[i] for i in keep], jaxpr.outvars, jaxpr.eqns, dbg)
    new_closed = ClosedJaxpr(new, consts)
    if fold:
        new_closed = eliminate_dead_code(fold_constants(new_closed))
    slots, k = [], 0
    for slot in program.in_leaves:
        if slot is VARIABLE:
            slots.append(given[k] if k in values else VARIABLE)
            k += 1
        else:
            slots.append(slot)
    return Program(
        new_closed, program.in_tree, tuple(slots), program.out_tree, program.out_leaves, program.name
    )


def declared_inputs(
    program: Program,
    args: Sequence,
    kwargs: dict,
    variables: Selection = None,
    signature: _pyinspect.Signature | None = None,
    where: str = "declare_variables",
) -> tuple[dict[int, Any], dict[int, Any]]:
    """Per jaxpr input that the call declares a constant: its value cast to the traced dtype,
    and its value as given."""
    args, kwargs, mask = select_variables(args, kwargs, variables, signature=signature, where=where)
    leaves, tree = flatten((args, kwargs))
    if tree != program.in_tree:
        raise FoldaxValueError(
            f"{where}: the arguments' tree structure {tree} differs from the program's "
            f"{program.in_tree}. Pass values for all of {program.name}'s inputs, in the same "
            f"structure as when it was traced."
        )
    paths = variable_paths(tree, [True] * len(leaves))
    avals = program.in_avals
    out: dict[int, Any] = {}
    given: dict[int, Any] = {}
    k = 0
    for i, (x, slot, var) in enumerate(zip(leaves, program.in_leaves, mask)):
        if slot is VARIABLE:
            if not var:
                out[k] = _coerce(x, avals[k], paths[i], where)
                given[k] = x if leaf_kind(x) != VARIABLE_KIND else _to_constant(x)
            k += 1
        elif var:
            raise FoldaxValueError(
                f"{where}: input {paths[i]} was a constant when {program.name} was traced (its "
                f"value is folded into the program), so it cannot be declared a variable. Trace "
                f"again passing it as a jax.Array."
            )
        elif ByValue(x) != ByValue(slot):
            raise FoldaxValueError(
                f"{where}: input {paths[i]} is the constant {slot!r} in this program but "
                f"{x!r} was given. Pass the traced value, or trace again with the new one."
            )
    return out, given


def declare_variables(
    program: Any, *args: Any, variables: Selection = None, fold_constants: bool = True, **kwargs: Any
) -> Program:
    """The Program with only the declared inputs left variable (see the module docstring).

    ``args``/``kwargs`` are values for the program's inputs, in the structure it was traced
    with; ``fold_constants=False`` keeps everything computed from the new constants in the
    program. (A program input named ``variables`` or ``fold_constants`` cannot be passed by
    keyword here.)

    Arguments:
        program: a ``Program`` (``foldax.trace(f)(*args)``) or a ``ClosedJaxpr``.
        *args: values for the program's positional inputs.
        variables: which inputs stay variable: names or positions (default: the ``jax.Array``
            values given).
        fold_constants: fold what is computed from the new constants into the program.
        **kwargs: values for the program's keyword inputs.

    Returns:
        A new ``Program`` whose only inputs are the declared variables.

    Raises:
        FoldaxTypeError: ``program`` is not a program, or ``variables`` is not names/positions.
        FoldaxIndexError: a position in ``variables`` is out of range.
        FoldaxValueError: a name in ``variables`` is not an input, or a value does not have its
            input's shape and dtype.

    Example:
        >>> import foldax, numpy as np, jax.numpy as jnp
        >>> from foldax.inspect import declare_variables
        >>> prog = foldax.trace(lambda x, c: jnp.sin(c) * x)(jnp.ones(3), jnp.ones(3))
        >>> folded = declare_variables(prog, jnp.ones(3), np.zeros(3, np.float32), variables=0)
        >>> len(folded.in_avals), [str(e.primitive) for e in folded.jaxpr.jaxpr.eqns]
        (1, ['mul'])
    """
    program = as_program(program, "declare_variables")
    values, given = declared_inputs(program, args, kwargs, variables)
    return bind_inputs(program, values, fold=fold_constants, given=given)


def signature_of(fun: Callable) -> _pyinspect.Signature | None:
    try:
        return _pyinspect.signature(fun)
    except (TypeError, ValueError):
        return None
