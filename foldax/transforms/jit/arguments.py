"""How ``foldax.jit`` reads its options and splits a call's arguments.

:class:`ArgumentSpec` resolves ``static_argnums``/``static_argnames``, ``donate_argnums``/
``donate_argnames`` (as ``jax.jit`` completes one from the other), ``auxiliary_args`` and
``variable_args`` against the function's signature, and splits each call into its dynamic
arguments (traced or folded, leaf by leaf: ``keys``), its static arguments (by hash) and its
auxiliary arguments (constants by value).

Example:
    >>> spec = ArgumentSpec(lambda x, n: x, "f", static_argnums=None, static_argnames=("n",),
    ...                     donate_argnums=(), donate_argnames=(), auxiliary_args=(),
    ...                     variable_args=())
    >>> spec.split((1.0, 2), {})
    ((1.0,), {}, ((1, 2),), ())
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

import numpy as np

from foldax._compat import resolve_jit_argnums
from foldax.errors import ArgnumOutOfRangeError, FoldaxTypeError, FoldaxValueError, UnhashableStaticError
from foldax.pytrees.leaves import VARIABLE, ByValue, leaf_kind
from foldax.pytrees.tree import flatten, unflatten
from foldax.transforms.core.argument_names import parameter_path
from foldax.transforms.jit.constant_arrays import read_only_leaves
from foldax.transforms.jit.keys import Forced


def names_of(spec: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """Argument names given as ``'a'``, ``'a,b'`` or a sequence (``None`` stays ``None``)."""
    if spec is None:
        return None
    if isinstance(spec, str):
        return tuple(s.strip() for s in spec.split(",") if s.strip())
    return tuple(spec)


def ints_of(spec: int | Sequence[int] | None) -> tuple[int, ...] | None:
    """Argument positions given as one int or a sequence (``None`` stays ``None``)."""
    if spec is None:
        return None
    return (spec,) if isinstance(spec, int) else tuple(spec)


class ArgumentSpec:
    """The argument options of one ``foldax.jit`` function, resolved against its signature.

    Raises:
        FoldaxValueError: numbers or names that do not fit the function's signature.
    """

    def __init__(
        self,
        fun: Callable,
        name: str,
        *,
        static_argnums: Sequence[int] | None,
        static_argnames: Sequence[str] | None,
        donate_argnums: Sequence[int] | None,
        donate_argnames: Sequence[str] | None,
        auxiliary_args: Sequence[str] | None,
        variable_args: Sequence[str] | None,
    ) -> None:
        self.name = name
        try:
            self.signature: inspect.Signature | None = inspect.signature(fun)
        except (TypeError, ValueError):
            self.signature = None
        try:
            donate_nums, donate_names, static_nums, static_names = resolve_jit_argnums(
                fun, self.signature, donate_argnums, donate_argnames, static_argnums, static_argnames
            )  # None: completed from the other, as jax.jit does
        except ValueError as e:
            raise FoldaxValueError(
                f"{e} jit({name}, ...): Fix the argument numbers/names to match "
                f"{name}'s signature {self.signature}."
            ) from None
        self.static_argnames = tuple(static_names)
        self.static_argnums = self._from_the_end(tuple(static_nums))
        self.donate_argnums = tuple(donate_nums)
        self.donate_argnames = tuple(donate_names)
        self.auxiliary_args = tuple(auxiliary_args or ())
        self._check_names(self.auxiliary_args, "auxiliary_args")
        self.aux_argnums = self._positions(self.auxiliary_args)
        self.variable_args = tuple(variable_args or ())
        self._check_names(self.variable_args, "variable_args")
        self.variable_argnums = self._positions(self.variable_args)
        self._forced: dict[int, Forced] = {}  # by number of positional arguments
        # nothing static or auxiliary: a call's arguments are all dynamic, and which leaves are
        # traced depends on the tree structure and leaf types alone (variable_args included:
        # the structure says which argument a leaf belongs to)
        self.plain = not (self.static_argnums or self.static_argnames or self.auxiliary_args)

    def options(self) -> tuple:
        """The resolved options, hashable (part of the per-function cache's identity)."""
        return (
            self.static_argnums,
            self.static_argnames,
            self.donate_argnums,
            self.donate_argnames,
            self.auxiliary_args,
            self.variable_args,
        )

    def parameters(self) -> list[inspect.Parameter]:
        """The function's parameters (empty if it has no signature)."""
        return list(self.signature.parameters.values()) if self.signature else []

    def _check_names(self, names: Sequence[str], what: str) -> None:
        params = self.parameters()
        if not params or any(p.kind == p.VAR_KEYWORD for p in params):
            return
        known = [p.name for p in params]
        for n in names:
            if n not in known:
                raise FoldaxValueError(
                    f"jit({self.name}, {what}=...): '{n}' is not a parameter of {self.name}; its "
                    f"parameters are {known}."
                )

    def _positions(self, names: Sequence[str]) -> tuple[int, ...]:
        params = self.parameters()
        return tuple(
            i
            for i, p in enumerate(params)
            if p.name in names and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        )

    def _from_the_end(self, nums: tuple[int, ...]) -> tuple[int, ...]:
        """Negative positions counted from the last positional parameter, as ``jax.jit`` does
        (kept as given when the signature is unknown or takes ``*args``)."""
        if self.signature is None or not any(n < 0 for n in nums):
            return nums
        kinds = [p.kind for p in self.signature.parameters.values()]
        if inspect.Parameter.VAR_POSITIONAL in kinds:
            return nums
        count = sum(
            k in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD) for k in kinds
        )
        return tuple(n + count if n < 0 else n for n in nums)

    def split(self, args: tuple, kwargs: dict) -> tuple[tuple, dict, tuple, tuple]:
        """``(dynamic args, dynamic kwargs, static key, auxiliary arguments)`` of a call.

        Raises:
            ArgnumOutOfRangeError: a static position the call does not pass (a ``TypeError``:
                Python's missing argument, which ``jax.jit`` raises).
            UnhashableStaticError: a static argument is not hashable.
        """
        if (
            not self.static_argnums
            and not self.aux_argnums
            and not self.static_argnames
            and not self.auxiliary_args
        ):
            return args, kwargs, (), ()
        n = len(args)
        static, aux, dyn_args = [], [], []
        for i, a in enumerate(args):
            if i in self.static_argnums:
                static.append((i, hashable(a, f"static argument {i} of {self.name}")))
            elif i in self.aux_argnums:
                aux.append((i, a))
            else:
                dyn_args.append(a)
        params = self.parameters()
        for i in self.static_argnums:
            if (
                n <= i < len(params)
                and params[i].name not in kwargs
                and params[i].default is inspect.Parameter.empty
            ):
                raise ArgnumOutOfRangeError(
                    f"{self.name}() missing 1 required positional argument: '{params[i].name}'"
                    f". jit({self.name}): static_argnums contains {i} but the call passes only "
                    f"{n} positional argument(s). Fix: pass argument {i} or fix static_argnums."
                )
        dyn_kwargs = {}
        # by name, as jax.jit keys them, so the order they were passed in makes no new key
        for k, v in sorted(kwargs.items()):
            if k in self.static_argnames:
                static.append((k, hashable(v, f"static argument '{k}' of {self.name}")))
            elif k in self.auxiliary_args:
                aux.append((k, v))
            else:
                dyn_kwargs[k] = v
        return tuple(dyn_args), dyn_kwargs, tuple(static), tuple(aux)

    def forced(self, n_args: int) -> Forced | None:
        """Which dynamic arguments of a call with ``n_args`` positionals are in
        ``variable_args`` (``None`` when there are none); ``keys.forced_leaves`` spreads it
        over the leaves."""
        if not self.variable_args:
            return None
        forced = self._forced.get(n_args)
        if forced is None:
            skip = set(self.static_argnums) | set(self.aux_argnums)
            positional = tuple(i in self.variable_argnums for i in range(n_args) if i not in skip)
            forced = self._forced[n_args] = Forced(positional, frozenset(self.variable_args))
        return forced

    def dynamic_positions(self, count: int) -> list[int]:
        """The positions in the call of the ``count`` non-static, non-auxiliary positionals."""
        skipped, i = set(self.static_argnums) | set(self.aux_argnums), 0
        positions: list[int] = []
        while len(positions) < count:
            if i not in skipped:
                positions.append(i)
            i += 1
        return positions

    def dynamic_signature(self, n_args: int, kwargs: dict, hoisted: bool) -> inspect.Signature | None:
        """The signature of a function of the dynamic arguments (``n_args`` positionals and
        ``kwargs``), named as the function's parameters, after a ``hoisted_constants``
        parameter if ``hoisted``; ``None`` if a positional has no parameter name (``*args``).
        """
        params, names = self.parameters(), []
        for i in self.dynamic_positions(n_args):
            if i >= len(params) or params[i].kind not in (
                params[i].POSITIONAL_ONLY,
                params[i].POSITIONAL_OR_KEYWORD,
            ):
                return None
            names.append(params[i].name)
        positional = inspect.Parameter.POSITIONAL_ONLY
        lead = [inspect.Parameter("hoisted_constants", positional)] if hoisted else []
        return inspect.Signature(
            lead
            + [inspect.Parameter(n, positional) for n in names]
            + [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY) for k in kwargs]
        )

    def parameter_of_path(self, path: str) -> str | None:
        """The parameter name of a dynamic leaf path (``args[1]...``, ``kwargs['y']...``)."""
        if path.startswith("kwargs['"):
            return path[len("kwargs['") :].split("'")[0]
        skip = set(self.static_argnums) | set(self.aux_argnums)
        dyn = [
            p.name
            for i, p in enumerate(self.parameters())
            if i not in skip and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        k = int(path[len("args[") :].split("]")[0])
        return dyn[k] if k < len(dyn) else None

    def jax_name(self, path: str) -> str:
        """JAX's name of a dynamic leaf path, as ``jax.jit``'s messages write it:
        ``args[1]['a']`` -> ``y['a']``; a positional past the named ones -> ``args[0]`` after
        the ``*args`` parameter's name; a keyword that only ``**kw`` takes -> ``kw['a']``."""
        return parameter_path(path, self.signature, lambda k: self.dynamic_positions(k + 1)[-1])


def hashable(x: Any, where: str) -> Any:
    """A static argument as it goes into the key (NumPy arrays by value).

    Raises:
        UnhashableStaticError: ``x`` is not hashable.
    """
    try:
        hash(x)
    except TypeError as e:
        raise UnhashableStaticError(
            f"Non-hashable static arguments are not supported. An error occurred while trying "
            f"to hash an object of type {type(x)}, {safe_repr(x)}. The error was:\n"
            f"TypeError: {e}. {where} is an unhashable {type(x).__name__}. Static arguments "
            f"are part of the compiled program's identity and must be hashable. Fix: use a "
            f"tuple instead of a list, or pass the value as an ordinary (traced or constant) "
            f"argument."
        ) from None
    return ByValue(x, where=where) if isinstance(x, np.ndarray) else x


def as_constants(value: Any) -> Any:
    """``value`` with every jax array fetched to NumPy (so it is a constant), read-only."""
    leaves, treedef = flatten(value)
    leaves = [np.asarray(x) if leaf_kind(x) == VARIABLE else x for x in leaves]
    return unflatten(treedef, read_only_leaves(leaves))


def aux_constants(value: Any, name: Any, fname: str) -> tuple:
    """Auxiliary arguments are constants: every leaf by value (jax arrays fetched to NumPy)."""
    leaves, treedef = flatten(value)
    keys = tuple(
        ByValue(
            np.asarray(x) if leaf_kind(x) == VARIABLE else x, where=f"auxiliary argument {name!r} of {fname}"
        )
        for x in leaves
    )
    return treedef, keys


def check_callable(fun: Any) -> None:
    """jax.jit's checks of ``fun``, with its messages (and the fix).

    Raises:
        FoldaxTypeError: ``fun`` is a staticmethod, not callable or a generator function.
    """
    if isinstance(fun, staticmethod):
        raise FoldaxTypeError(
            f"staticmethod arguments are not supported, got {fun!r}. jit(fun=...): Fix: put "
            f"@staticmethod above @foldax.jit, so jit wraps the plain function."
        )
    if not callable(fun):
        raise FoldaxTypeError(
            f"Expected a callable value, got {safe_repr(fun)}. jit(fun=...): found a value of type "
            f"{type(fun).__name__!r}. Fix: pass the function itself (for a classmethod, put "
            f"@classmethod above @foldax.jit)."
        )
    if inspect.isgeneratorfunction(fun):
        raise FoldaxTypeError(
            f"Expected a function, got a generator function: {safe_repr(fun)}. jit(fun=...): "
            f"a generator's values cannot be traced. Fix: return the values (e.g. a list)."
        )


def safe_repr(x: Any) -> str:
    """``repr(x)``, or ``<type name>`` when the object's own ``__repr__`` fails."""
    try:
        return repr(x)
    except Exception:  # a user object whose repr fails
        return f"<{type(x).__name__}>"
