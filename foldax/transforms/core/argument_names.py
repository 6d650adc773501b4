"""The names JAX's messages give a traced function's arguments.

foldax names the leaves of a call's ``(args, kwargs)`` tree by their path (``args[1]['w']``,
``kwargs['y'].b``: ``trace.variable_paths``). JAX names them by the function's parameters
(``params['w']``, ``y.b``), which its messages then print: "... depends on the value of the
argument params['w']", "axis 0 of argument x of type float32[3]". JAX builds these names in
``jax._src.api_util.debug_info``: it binds the call's arguments to the function's signature;
a positional argument is named by its parameter (``*args`` by the parameter's name and the
index in it), a keyword argument by its name (one that only ``**kwargs`` takes by
``kwargs['key']``); when there is no signature, or the arguments do not bind, it keeps
``args[0]`` and ``kwargs['key']``, which are foldax's paths. Static arguments get no name and
keep their place in the ``*args`` count.

Example:
    >>> def f(x, params, *rest, **options):
    ...     pass
    >>> name = call_argument_names(f, (1.0, {"w": 2.0}, 3.0), {"lr": 0.1})
    >>> [name(p) for p in ("args[0]", "args[1]['w']", "args[2]", "kwargs['lr']")]
    ['x', "params['w']", 'rest[0]', "options['lr']"]
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_PACKED = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def parameter_path(
    path: str, signature: inspect.Signature | None, position: Callable[[int], int] = lambda k: k
) -> str:
    """JAX's name of the leaf at foldax's ``path`` in a call of a function with ``signature``.

    Arguments:
        path: the leaf's path in the call's ``(args, kwargs)`` tree (``args[1]['w']``,
            ``kwargs['y'].b``), as ``trace.variable_paths`` writes it.
        signature: the function's signature (``None``: the path is JAX's name).
        position: the position in the call of the ``k``-th positional argument of ``path``'s
            tree (``foldax.jit`` leaves the static ones out of that tree).

    Returns:
        The name: ``params['w']``, ``y.b``, ``rest[0]`` (past the named positionals, after the
        ``*rest`` parameter), ``options['y']`` (a keyword only ``**options`` takes).

    Example:
        >>> parameter_path("args[1][0]", inspect.signature(lambda x, y: None))
        'y[0]'
    """
    if signature is None or not signature.parameters:
        return path
    params = list(signature.parameters.values())
    if path.startswith("kwargs['"):
        key, rest = path[len("kwargs['") :].split("']", 1)
        if any(p.name == key and p.kind not in _PACKED for p in params):
            return key + rest
        var_keyword = next((p.name for p in params if p.kind == p.VAR_KEYWORD), None)
        return f"{var_keyword}['{key}']{rest}" if var_keyword else path
    k, rest = path[len("args[") :].split("]", 1)
    where = position(int(k))
    positional = [p for p in params if p.kind in _POSITIONAL]
    if where < len(positional):
        return positional[where].name + rest
    var_positional = next((p.name for p in params if p.kind == p.VAR_POSITIONAL), None)
    return path if var_positional is None else f"{var_positional}[{where - len(positional)}]{rest}"


def call_argument_names(fun: Callable, args: tuple, kwargs: dict) -> Callable[[str], str]:
    """JAX's names of the leaves of the call ``fun(*args, **kwargs)``, as ``jax.jit``,
    ``jax.vmap`` and the other transformations name them (``api_util.debug_info``): the
    parameters of ``fun``'s signature (of the function it wraps: ``__wrapped__``), or the paths
    when it has none or the arguments do not bind to it.

    Arguments:
        fun: the function called.
        args, kwargs: the call's arguments (every one traced or folded: none static).

    Returns:
        A function from a leaf's path (``args[1]['w']``) to its name (``params['w']``).

    Example:
        >>> call_argument_names(lambda x, y: None, (1, 2), {})("args[1]")
        'y'
    """
    signature = function_signature(fun)
    if signature is not None:
        try:
            signature.bind(*args, **kwargs)
        except TypeError:  # JAX then names them by their paths
            signature = None
    return lambda path: parameter_path(path, signature)


def function_signature(fun: Any) -> inspect.Signature | None:
    """``fun``'s signature as ``inspect`` reads it (through ``__wrapped__`` and partials), or
    ``None`` (a builtin or an object without one), as JAX reads it for its names."""
    try:
        return inspect.signature(fun)
    except (TypeError, ValueError):
        return None


def leaf_names(arg_name: Callable[[str], str], paths: Sequence[str]) -> list[str]:
    """``[arg_name(p) for p in paths]``, naming each top-level argument (``args[1]``,
    ``kwargs['y']``) once: a leaf's name is its argument's name followed by the rest of its
    path, so a pytree argument with many leaves costs one lookup, not one per leaf.

    Arguments:
        arg_name: a leaf path -> JAX's name (:func:`parameter_path`, :func:`call_argument_names`).
        paths: the leaves' paths, as ``trace.variable_paths`` writes them.

    Returns:
        The names, in order.

    Example:
        >>> leaf_names(lambda p: p.replace("args[0]", "x"), ["args[0][0]", "args[0][1]"])
        ['x[0]', 'x[1]']
    """
    heads: dict[str, str] = {}
    names = []
    for path in paths:
        end = (
            path.find("]") + 1
            if path.startswith("args[")
            else path.find("']") + 2
            if path.startswith("kwargs['")
            else 0
        )
        head, rest = (path[:end], path[end:]) if end > 0 else (path, "")
        name = heads.get(head)
        if name is None:
            name = heads[head] = arg_name(head)
        names.append(name + rest)
    return names
