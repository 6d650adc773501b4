"""What a derivative is taken with respect to: ``argnums`` or ``wrt`` names, and per leaf.

``Selection`` validates ``argnums``/``wrt`` when a transformation is created; ``Targets`` resolves
it for one call: which leaves of ``(args, kwargs)`` are differentiated (NumPy arrays and Python
numbers among them become variables for the call), dtype checks, and rebuilding per-argument
results (gradients, Jacobian blocks) from per-leaf ones. A dataclass argument yields a result of
the same dataclass: only its variable fields are leaves, the others live in the tree structure.

Example:
    >>> sel = Selection(lambda x, y: x * y, None, "y", "grad")
    >>> Targets(sel, (1.0,), {"y": 2.0}, promote_ints=True).make_variable
    [False, True]
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

import jax
import numpy as np

from foldax._compat import float0, primal_tangent_dtype, zeros_like_aval
from foldax.errors import (
    ArgnumOutOfRangeError,
    FoldaxTypeError,
    FoldaxValueError,
    NonDifferentiableError,
)
from foldax.pytrees.leaves import STATIC, leaf_kind
from foldax.pytrees.tree import flatten, map_variables, unflatten
from foldax.transforms.core.program import VARIABLE, Program
from foldax.transforms.core.trace import function_name

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _signature(fun: Callable) -> inspect.Signature | None:
    try:
        return inspect.signature(fun)
    except (TypeError, ValueError):
        return None


class Selection:
    """The arguments selected by ``argnums`` (positions) or ``wrt`` (parameter names, ΦML).

    ``single``: the result is one value (``argnums=0``, ``wrt='x'``), not a tuple.
    """

    def __init__(
        self, fun: Callable, argnums: int | Sequence[int] | None, wrt: str | Sequence[str] | None, what: str
    ) -> None:
        if not callable(fun):
            raise FoldaxTypeError(f"{what}(fun=...): expected a callable, found {type(fun).__name__}.")
        self.what, self.fname, self.signature = what, function_name(fun), _signature(fun)
        self.argnums: tuple[int, ...] = ()
        self.names: tuple[str, ...] = ()
        if wrt is not None:
            if argnums not in (None, 0):
                raise FoldaxValueError(
                    f"{what}({self.fname}, argnums={argnums!r}, wrt={wrt!r}): pass either argnums "
                    f"(positions) or wrt (parameter names), not both."
                )
            self.names, self.single = self._parse_names(wrt)
        else:
            self.argnums, self.single = self._parse_argnums(0 if argnums is None else argnums)

    def describe(self) -> str:
        if self.names:
            return f"{self.what}({self.fname}, wrt={','.join(self.names)!r})"
        nums = self.argnums[0] if self.single else self.argnums
        return f"{self.what}({self.fname}, argnums={nums})"

    def _parse_argnums(self, argnums: Any) -> tuple[tuple[int, ...], bool]:
        single = not isinstance(argnums, (tuple, list))
        nums = (argnums,) if single else tuple(argnums)
        if not nums or not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in nums):
            raise FoldaxTypeError(
                f"{self.what}({self.fname}, argnums={argnums!r}): argnums must be an int or a "
                f"non-empty tuple of ints (positions of the arguments to differentiate)."
            )
        return tuple(int(i) for i in nums), single

    def _parse_names(self, wrt: Any) -> tuple[tuple[str, ...], bool]:
        if isinstance(wrt, str):
            names, single = tuple(n.strip() for n in wrt.split(",") if n.strip()), "," not in wrt
        elif isinstance(wrt, (tuple, list)) and all(isinstance(n, str) for n in wrt):
            names, single = tuple(wrt), False
        else:
            names, single = (), False
        if not names:
            raise FoldaxTypeError(
                f"{self.what}({self.fname}, wrt={wrt!r}): wrt must name parameters: 'x', 'x,y' or "
                f"a tuple of names."
            )
        params = self._parameters()
        if params is not None:
            known = [
                p.name for p in params.values() if p.kind != p.VAR_POSITIONAL and p.kind != p.VAR_KEYWORD
            ]
            open_kwargs = any(p.kind == p.VAR_KEYWORD for p in params.values())
            for n in names:
                if n not in known and not open_kwargs:
                    raise FoldaxValueError(
                        f"{self.what}({self.fname}, wrt={wrt!r}): {self.fname} has no parameter "
                        f"'{n}'; its parameters are {known}."
                    )
        return names, single

    def _parameters(self) -> Any:
        return None if self.signature is None else self.signature.parameters

    # -- resolving one call --------------------------------------------------------------------
    def bind(self, args: tuple, kwargs: dict) -> tuple[tuple, dict, list[tuple[int, Any]]]:
        """``(args, kwargs, keys)``: ``keys`` locate each selected argument, ``(0, position)`` or
        ``(1, keyword)``; a selected parameter left at its default is passed explicitly."""
        keys: list[tuple[int, Any]] = []
        if not self.names:
            for i in self.argnums:
                j = i + len(args) if i < 0 else i
                if not 0 <= j < len(args):
                    nums = self.argnums[0] if self.single else self.argnums
                    raise ArgnumOutOfRangeError(
                        f"differentiating with respect to argnums={nums!r} requires at least "
                        f"{max(self.argnums) + 1} positional arguments to be passed by the caller, "
                        f"but got only {len(args)} positional arguments. {self.describe()}: "
                        f"argnums contains {i}, but {self.fname} was called with {len(args)} "
                        f"positional argument(s). Pass that argument positionally, fix argnums, "
                        f"or select parameters by name with wrt='name'."
                    )
                keys.append((0, j))
            return args, kwargs, keys
        params = self._parameters() or {}
        kwargs = dict(kwargs)
        positional = [n for n, p in params.items() if p.kind in _POSITIONAL]
        for n in self.names:
            if n in positional and positional.index(n) < len(args):
                keys.append((0, positional.index(n)))
            elif n in kwargs:
                keys.append((1, n))
            elif (
                n in params
                and params[n].default is not inspect.Parameter.empty
                and params[n].kind != inspect.Parameter.POSITIONAL_ONLY
            ):
                kwargs[n] = params[n].default
                keys.append((1, n))
            else:
                raise FoldaxTypeError(
                    f"{self.describe()}: the call passes no argument '{n}' to {self.fname}; pass "
                    f"it positionally or as {n}=... ."
                )
        return args, kwargs, keys


def dtype_of(x: Any) -> Any:
    """``x``'s dtype: a NumPy dtype (bfloat16 and float8_* included) or JAX's extended dtype of
    a typed key array."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return np.asarray(x).dtype
    return dtype if jax.dtypes.issubdtype(dtype, jax.dtypes.extended) else np.dtype(dtype)


def is_inexact(dtype: Any) -> bool:
    """Whether ``dtype`` is float or complex on JAX's dtype lattice, which (unlike
    ``np.issubdtype``) knows bfloat16 and the float8 types."""
    return jax.dtypes.issubdtype(dtype, np.inexact)


def _jax_name(x: Any) -> str:
    """The name of ``x``'s dtype as JAX reports it (a Python int is int32 without x64)."""
    dtype = dtype_of(x)
    if jax.dtypes.issubdtype(dtype, jax.dtypes.extended):
        return str(dtype)
    return np.dtype(jax.dtypes.canonicalize_dtype(dtype)).name


def _promote_int(x: Any) -> Any:
    return float(x) if type(x) is int else x


class Targets:
    """The differentiated leaves of one call (see the module docstring).

    ``promote_ints``: Python ints that are differentiated become floats (ΦML's ``gradient``;
    ``grad`` and the Jacobians follow JAX: an int is an error unless ``allow_int``, then it
    gets float0 zeros); integer and boolean arrays are an error unless ``allow_int``.
    """

    def __init__(
        self,
        selection: Selection,
        args: tuple,
        kwargs: dict,
        *,
        promote_ints: bool,
        allow_int: bool = False,
        holomorphic: bool = False,
    ) -> None:
        args, kwargs, keys = selection.bind(tuple(args), dict(kwargs))
        if promote_ints:
            args = tuple(map_variables(_promote_int, a) if (0, i) in keys else a for i, a in enumerate(args))
            kwargs = {k: map_variables(_promote_int, v) if (1, k) in keys else v for k, v in kwargs.items()}
        self.selection, self.args, self.kwargs, self.keys = selection, args, kwargs, keys
        self.leaves, self.in_tree = flatten((args, kwargs))
        paths = [p for p, _ in jax.tree_util.tree_flatten_with_path((args, kwargs))[0]]
        self.key_of = [(path[0].idx, _key(path[1])) for path in paths]  # the argument of a leaf
        self.selected = [k in keys for k in self.key_of]
        self.target_trees = [flatten(args[i] if kind == 0 else kwargs[i])[1] for kind, i in keys]
        # Python bools inside an argument are flags (eqx.nn.Dropout's `inference`), never
        # differentiated: they stay constants, so Python control flow on them works, and get
        # None like static leaves. A bool that is the selected argument itself is an input, as
        # in JAX (an error, or float0 zeros with allow_int).
        bool_args = {k for k in keys if isinstance(args[k[1]] if k[0] == 0 else kwargs[k[1]], bool)}
        self.make_variable = [
            sel and leaf_kind(x) != STATIC and (not isinstance(x, bool) or k in bool_args)
            for sel, x, k in zip(self.selected, self.leaves, self.key_of)
        ]
        for n, (x, var) in enumerate(zip(self.leaves, self.make_variable)):
            if var:
                self._check_dtype(x, paths[n], allow_int, holomorphic)
        for key in keys:
            self._check_jax_type(args[key[1]] if key[0] == 0 else kwargs[key[1]], key)

    def _check_jax_type(self, x: Any, key: tuple) -> None:
        """A selected argument that is itself a leaf must be an array or a number: a string
        inside a model is static and gets ``None``, but as the differentiated argument itself it
        is a mistake, as in JAX."""
        place = f"args[{key[1]}]" if key[0] == 0 else f"kwargs[{key[1]!r}]"
        if (
            leaf_kind(x) != STATIC
            or x is None
            or not jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(x))
        ):
            return
        raise NonDifferentiableError(
            f"Argument '{x}' of type {type(x)} is not a valid JAX type. "
            f"{self.selection.describe()}: the differentiated argument {place} is {x!r} of type "
            f"{type(x).__name__}, which has no derivative. Pass an array or a float, or leave it "
            f"out of {'wrt' if self.selection.names else 'argnums'}."
        )

    def _check_dtype(self, x: Any, path: Any, allow_int: bool, holomorphic: bool) -> None:
        dtype = dtype_of(x)
        what = self.selection.what
        where = f"{self.selection.describe()}: input leaf {_path_text(path)}"
        if holomorphic and not jax.dtypes.issubdtype(dtype, np.complexfloating):
            raise NonDifferentiableError(
                f"{what} with holomorphic=True requires inputs with complex dtype, but got "
                f"{_jax_name(x)}. {where} has dtype {dtype}, but holomorphic=True requires complex "
                f"inputs. Convert it with .astype(complex) or drop holomorphic=True."
            )
        if what == "jacfwd" and not holomorphic and not jax.dtypes.issubdtype(dtype, np.floating):
            raise NonDifferentiableError(
                f"jacfwd requires real-valued inputs (input dtype that is a sub-dtype of "
                f"np.floating), but got {_jax_name(x)}. For holomorphic differentiation, pass "
                f"holomorphic=True. For differentiation of non-holomorphic functions involving "
                f"complex inputs or integer inputs, use jax.jvp directly. {where} has dtype "
                f"{dtype}; forward-mode Jacobians need real floating-point inputs. Pass "
                f"holomorphic=True for a holomorphic function of complex inputs, or use jvp."
            )
        if not is_inexact(dtype) and not allow_int:
            name = "grad" if what in ("value_and_grad", "gradient") else what
            raise NonDifferentiableError(
                f"{name} requires real- or complex-valued inputs (input dtype that is a "
                f"sub-dtype of np.inexact), but got {_jax_name(x)}. If you want to use Boolean- "
                f"or integer-valued inputs, use vjp or set allow_int to True. {where} has dtype "
                f"{dtype}; only float and complex values can be differentiated. Convert it to "
                f"float (pass 2.0, not 2), pass allow_int=True to get float0 zeros for it, make "
                f"it a static or value field of your dataclass, or pass it in an argument that is "
                f"not differentiated."
            )

    # -- the Program's view ------------------------------------------------------------------
    def variables(self, program: Program) -> list:
        """The values of the Program's variable inputs, in order."""
        return [x for x, s in zip(self.leaves, program.in_leaves) if s is VARIABLE]

    def differentiated(self, program: Program) -> list[bool]:
        """Per variable input of the Program: whether it is differentiated."""
        return [sel for sel, s in zip(self.selected, program.in_leaves) if s is VARIABLE]

    def build(self, per_leaf: Callable[[int, Any], Any]) -> Any:
        """The selected arguments with every leaf ``x`` (at leaf index ``n``) replaced by
        ``per_leaf(n, x)`` for variables and by ``None`` for static leaves; one value or a
        tuple, as selected."""
        rows = list(enumerate(zip(self.leaves, self.key_of, self.make_variable)))
        out = tuple(
            unflatten(tree, [per_leaf(n, x) if var else None for n, (x, k, var) in rows if k == key])
            for key, tree in zip(self.keys, self.target_trees)
        )
        return out[0] if self.selection.single else out

    def gradients(self, program: Program, cts: Sequence, unwanted: frozenset = frozenset()) -> Any:
        """Gradients from the cotangents of the differentiated variable inputs (``None`` for
        zero): zeros where none arrived, float0 zeros for integers, ``None`` for static leaves
        and for the leaves numbered in ``unwanted``."""
        ct_of_leaf, it = {}, iter(cts)
        for n, (sel, s) in enumerate(zip(self.selected, program.in_leaves)):
            if s is VARIABLE and sel:
                ct_of_leaf[n] = next(it)

        def gradient(n: int, x: Any) -> Any:
            if n in unwanted:
                return None
            return zero_cotangent(x) if ct_of_leaf[n] is None else ct_of_leaf[n]

        return self.build(gradient)


def canonical_tangent_dtype(dtype: Any) -> np.dtype:
    """The tangent dtype of values of ``dtype``, as JAX's: the (canonical) dtype itself when it
    is inexact, float0 for integers, booleans and keys."""
    if not is_inexact(dtype):
        return np.dtype(primal_tangent_dtype(dtype))
    return np.dtype(jax.dtypes.canonicalize_dtype(dtype))


def is_weakly_typed(x: Any) -> bool:
    """Whether ``x`` is weakly typed as JAX sees it: a Python number, or an array, tracer or
    ``ShapeDtypeStruct`` marked ``weak_type`` (NumPy values are strongly typed)."""
    if type(x) in (bool, int, float, complex):
        return True
    return bool(getattr(x, "weak_type", False))


def zeros_for(shape: tuple, dtype: Any, weak_type: bool = False) -> Any:
    """Zero tangents of this shape for values of ``dtype`` (float0 for integers), weakly typed
    if ``weak_type`` (as JAX instantiates the zero tangent of a weakly typed value)."""
    dtype = canonical_tangent_dtype(dtype)
    if dtype == float0:
        return np.zeros(shape, float0)
    return zeros_like_aval(jax.core.ShapedArray(tuple(shape), dtype, weak_type=weak_type))


def zero_cotangent(x: Any, extra_shape: tuple = ()) -> Any:
    """Zeros shaped like ``extra_shape + shape(x)`` with ``x``'s tangent dtype and weak type."""
    return zeros_for(tuple(extra_shape) + tuple(np.shape(x)), dtype_of(x), is_weakly_typed(x))


def _key(k: Any) -> Any:
    return getattr(k, "idx", getattr(k, "key", k))


def _path_text(path: Any) -> str:
    text = jax.tree_util.keystr(tuple(path))
    return text.replace("[0]", "args", 1) if text.startswith("[0]") else text.replace("[1]", "kwargs", 1)


def no_reduce_axes(reduce_axes: Sequence, what: str) -> None:
    """Refuses ``reduce_axes`` of ``what`` (``grad``, ``vjp``...): JAX removed it too."""
    if reduce_axes:
        raise FoldaxValueError(
            f"{what}(reduce_axes={reduce_axes!r}): reduce_axes is not supported "
            f"(JAX removed it too); sum over named axes inside the function."
        )
