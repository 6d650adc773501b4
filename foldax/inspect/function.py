"""A program as a function of its declared variables (autoray's ``lazy.Function``).

``Function(f, *args, variables=..., **kwargs)`` traces ``f`` as a function of the declared
arguments (``variables`` as in ``declare_variables``; default: the arguments holding a
``jax.Array``); the others are closed over as constants: NumPy code on them runs at trace time,
jax arrays (a PRNG key, say) are folded by the passes. ``Function(program)`` takes a Program (or
ClosedJaxpr) as it is, and ``Function(program, *values, variables=...)`` first turns the
undeclared inputs into constants with those values. Constants are folded unless
``fold_constants=False``, which keeps what is computed from them in the program (and so in
every call). The function runs the program's generated Python source (``print_source``),
compiled with ``jax.jit`` unless ``jit=False``.

A call takes the *variable arguments* only, in order (positional ones, then keyword ones by
sorted name; keyword ones may also be passed by name).

Example:
    >>> import jax.numpy as jnp, numpy as np
    >>> def f(x, y):
    ...     return jnp.sin(y) ** 2 / (x + 3)
    >>> fn = Function(f, jnp.ones(3), np.arange(3.0), variables="x")
    >>> fn.program.num_equations, fn(jnp.zeros(3))
    (2, Array([0.        , 0.23602445, 0.27560726], dtype=float32))
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from foldax._compat import ClosedJaxpr
from foldax.errors import FoldaxTypeError
from foldax.inspect.declare import (
    Selection,
    bind_inputs,
    check_value,
    declared_inputs,
    selected_arguments,
    signature_of,
)
from foldax.inspect.program import as_program
from foldax.inspect.source import Source, source
from foldax.pytrees.leaves import STATIC, VARIABLE as VARIABLE_KIND, leaf_kind
from foldax.pytrees.tree import flatten, unflatten
from foldax.transforms.core.passes import eliminate_dead_code, fold_constants as fold_jaxpr
from foldax.transforms.core.program import VARIABLE, Program
from foldax.transforms.core.trace import function_name, trace_program, variable_paths


class Function:
    """A program as a function of its declared variables (autoray's ``lazy.Function``; see the
    module docstring).

    Example:
        >>> import jax.numpy as jnp
        >>> from foldax.inspect import Function
        >>> scale = Function(lambda x, y: x * y, jnp.ones(2), 3.0, variables=0)
        >>> scale(jnp.arange(2.0))
        Array([0., 3.], dtype=float32)
    """

    _param_names: list[str] = []

    def __init__(
        self,
        fun: Callable | Program | ClosedJaxpr,
        *args: Any,
        variables: Selection = None,
        fold_constants: bool = True,
        jit: bool = True,
        **kwargs: Any,
    ):
        if isinstance(fun, (Program, ClosedJaxpr)):
            program = as_program(fun, "Function")
            if args or kwargs:
                values, given = declared_inputs(program, args, kwargs, variables, where="Function")
                program = bind_inputs(program, values, fold=fold_constants, given=given)
            elif fold_constants:
                program = Program(
                    eliminate_dead_code(fold_jaxpr(program.jaxpr)),
                    program.in_tree,
                    program.in_leaves,
                    program.out_tree,
                    program.out_leaves,
                    program.name,
                )
        elif callable(fun):
            program, self._param_names = _trace_declared(fun, args, kwargs, variables, fold_constants)
        else:
            raise FoldaxTypeError(
                f"Function(fun=...): expected a callable, a foldax Program or a "
                f"ClosedJaxpr, found {type(fun).__name__}."
            )
        self.program = program
        self.source: Source = source(program)
        run = self.source.function()
        self._run = jax.jit(run) if jit else run
        self._args, self._kwargs = unflatten(program.in_tree, list(program.in_leaves))
        self._var_positions = [i for i, a in enumerate(self._args) if _has_variable(a)]
        self._var_names = sorted(k for k, v in self._kwargs.items() if _has_variable(v))
        self._paths = variable_paths(program.in_tree, [True] * len(program.in_leaves))

    @property
    def variable_arguments(self) -> list[str]:
        """The arguments a call takes, in order (parameter names where known, else ``args[i]``)."""
        names = self._param_names
        return [names[i] if i < len(names) else f"args[{i}]" for i in self._var_positions] + [
            f"{k}" for k in self._var_names
        ]

    def __call__(self, *values: Any, **named: Any) -> Any:
        expected = len(self._var_positions) + len(self._var_names)
        unknown = [k for k in named if k not in self._var_names]
        if unknown or len(values) + len(named) != expected:
            raise FoldaxTypeError(
                f"Function {self.program.name}: takes the variable argument(s) "
                f"{self.variable_arguments} ({expected} in all), found {len(values)} positional "
                f"and keyword(s) {sorted(named)}. Pass one value per variable argument."
            )
        slots = iter(values)
        args = list(self._args)
        for i in self._var_positions:
            args[i] = next(slots)
        kwargs = dict(self._kwargs)
        for k in self._var_names:
            kwargs[k] = named[k] if k in named else next(slots)
        variables = self.program.variables_of(args, kwargs)
        paths = [p for p, s in zip(self._paths, self.program.in_leaves) if s is VARIABLE]
        arrays = []
        for x, aval, path in zip(variables, self.program.in_avals, paths):
            check_value(x, aval, path, f"Function {self.program.name}")
            same = getattr(x, "dtype", None) == aval.dtype
            arrays.append(x if same else jnp.asarray(x, aval.dtype))
        return self.program.assemble(self._run(*arrays))

    def print_source(self) -> None:
        """Print the Python source this function runs."""
        print(self.source.text.rstrip("\n"))

    def __repr__(self) -> str:
        return (
            f"<Function {self.program.name}({', '.join(self.variable_arguments)}) -> "
            f"{len(self.program.out_leaves)} output(s), "
            f"{self.program.num_equations} equations>"
        )


def _has_variable(tree: Any) -> bool:
    return any(x is VARIABLE for x in flatten(tree)[0])


def _trace_declared(
    fun: Callable, args: tuple, kwargs: dict, variables: Selection, fold: bool
) -> tuple[Program, list[str]]:
    """Trace ``fun`` as a function of the declared arguments only; the others are closed over
    as constants (NumPy runs at trace time, jax arrays are folded by the passes). Returns the
    Program and the names of its positional arguments."""
    signature = signature_of(fun)
    if variables is None:
        positions = {i for i, a in enumerate(args) if _has_jax_array(a)}
        names = {k for k, v in kwargs.items() if _has_jax_array(v)}
    else:
        positions, names = selected_arguments(variables, len(args), kwargs, signature, "Function")
    order = sorted(positions)
    var_args = tuple(args[i] for i in order)
    var_kwargs = {k: kwargs[k] for k in names}

    def declared(*new_args: Any, **new_kwargs: Any) -> Any:
        full = list(args)
        for i, value in zip(order, new_args):
            full[i] = value
        return fun(*full, **{**kwargs, **new_kwargs})

    mask = None
    if variables is not None:  # every array leaf of a declared argument is a variable
        mask = [leaf_kind(x) != STATIC for x in flatten((var_args, var_kwargs))[0]]
    program = trace_program(
        declared, var_args, var_kwargs, make_variable=mask, fold=fold, name=function_name(fun)
    )
    params = list(signature.parameters) if signature is not None else []
    return program, [params[i] if i < len(params) else f"args[{i}]" for i in order]


def _has_jax_array(tree: Any) -> bool:
    return any(leaf_kind(x) == VARIABLE_KIND for x in flatten(tree)[0])
