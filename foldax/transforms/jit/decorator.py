"""``foldax.jit`` and ``foldax.trace_check``: the decorator that makes a
:class:`~foldax.transforms.jit.function.JitFunction` from a function and its arguments' roles,
and the question whether a call would reuse a compiled program.

Example:
    >>> import foldax, jax.numpy as jnp
    >>> f = foldax.jit(lambda x: 2 * x)
    >>> f(jnp.ones(2)), foldax.trace_check(f, jnp.ones(2))
    (Array([2., 2.], dtype=float32), (True, ''))
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

from foldax.errors import FoldaxTypeError
from foldax.transforms.core.trace import function_name
from foldax.transforms.jit.arguments import ArgumentSpec, check_callable, ints_of, names_of
from foldax.transforms.jit.entries import validated_limits
from foldax.transforms.jit.function import JitFunction


def jit(
    fun: Callable | None = None,
    *,
    static_argnums: int | Sequence[int] | None = None,
    static_argnames: str | Sequence[str] | None = None,
    donate_argnums: int | Sequence[int] | None = None,
    donate_argnames: str | Sequence[str] | None = None,
    auxiliary_args: str | Sequence[str] | None = None,
    fold: bool = True,
    variable_args: str | Sequence[str] | None = None,
    max_entries: int | None = None,
    max_constant_bytes: int | None = None,
    **jax_jit_kwargs: Any,
) -> Any:
    """Compile ``fun`` with XLA, tracing it once per distinct call signature and folding constants.

    A drop-in for ``jax.jit``. Which arguments are traced, leaf by leaf
    (``foldax.transforms.jit.keys``):

    * ``jax.Array`` s and Python scalars (``bool``, ``int``, ``float``, ``complex``) are traced,
      Python scalars weakly typed, as in ``jax.jit``: a new learning rate does not compile again.
    * NumPy arrays and scalars are constants: computed with at trace time (so Python control
      flow on them works), keyed by exact value (dtype and bits, a digest for large arrays), and
      read-only inside ``fun`` (``c[i]`` with a traced ``i`` and ``c.at[...]`` work as on a jax
      array). Arguments named in ``variable_args`` are traced even when NumPy (batches from a
      data loader); a second value of a same-shaped NumPy argument warns.
    * In a dataclass, the field's kind decides: variable fields follow the rules above, value
      and static fields are constants. In an equinox Module, Python scalars are constants and
      other leaves (``MLP.activation``) static (as ``eqx.filter_jit`` keeps them).
    * Arguments named in ``static_argnums``/``static_argnames`` (by hash) or ``auxiliary_args``
      (ΦML: by value; jax arrays there are fetched to NumPy) are constants whatever their type.
    * Nothing else is a valid leaf, as in ``jax.jit``: a string, function, type or other object
      among the arguments raises ``InvalidArgumentError`` (a ``TypeError``, JAX's message
      first), and so does such an output (``InvalidOutputError``). Python scalar outputs are
      returned as weakly typed arrays, as ``jax.jit`` returns them.
    * ``@jit`` on a method binds ``self`` as the first argument (``jax.jit``'s ``__get__``); a
      ``self`` that is not a pytree (a plain object) is bound as a static argument, hashed into
      the key as ``static_argnums=0`` would, where ``jax.jit`` raises.
    * A nested ``jit`` called inside another's trace is a ``jit`` equation whose Python scalar
      arguments are traced (weakly typed), as in ``jax.jit``; NumPy constants and values folded
      at trace time are inlined into it and folded, and a call whose arguments are all
      constants is folded whole.

    The cache key of a call is the tree structure, the static and auxiliary arguments, every
    constant leaf by value and JAX's trace context (matmul precision, promotion rules, x64, ...);
    the shapes and dtypes of the traced leaves are keyed by ``jax.jit``'s own dispatch. Whatever
    is computed from constants alone runs once, while tracing (with NumPy, ``jnp`` or ``lax``),
    and is folded into the program. Every output is a ``jax.Array`` with JAX's dtype (float32
    unless x64), folded ones included. Compiled code is cached per function (weakly), so a new
    ``jit(f)`` wrapper reuses ``f``'s, in a cache bounded by entries and held constant bytes
    (least recently used out). Usable as ``@jit`` or ``@jit(...)``.

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
        variable_args: names of arguments traced as variables even when they hold NumPy arrays.
        max_entries: most entries (distinct keys) this function keeps (default 256, or
            ``foldax.jit_cache_limits``).
        max_constant_bytes: most bytes of constants its entries hold (default 512 MiB).
        **jax_jit_kwargs: passed to ``jax.jit`` (``in_shardings``, ``out_shardings``,
            ``keep_unused``, ...).

    Returns:
        A ``JitFunction`` with ``fun``'s signature and attributes and ``jax.jit``'s surface
        (``lower``, ``trace``, ``eval_shape``, ``clear_cache``); ``f.trace_count`` says how often
        it traced and ``foldax.trace_check(f, *args)`` whether a call would retrace. A decorator
        when ``fun`` is omitted.

    Raises:
        FoldaxTypeError: ``fun`` is not callable, a generator function or a staticmethod; a
            static argument is not hashable; an argument in ``variable_args`` holds a string
            or another leaf that cannot be traced.
        InvalidArgumentError, InvalidOutputError: an argument or output leaf is neither an
            array nor a number (``TypeError`` s, as ``jax.jit`` raises).
        FoldaxValueError: argument numbers or names that do not fit ``fun``'s signature; a
            sharding's structure does not match the arguments; a cache limit is not a positive
            integer.
        TracerControlFlowError: ``fun`` branches in Python on a traced (variable) value.
        TracerToNumpyError, TracerToIntegerError: ``fun`` hands a traced value to NumPy or
            ``__index__`` (JAX's ``TracerArrayConversionError``/``TracerIntegerConversionError``).
        ConstantWriteError: ``fun`` writes into a NumPy argument (``c[i] = v``; a ``TypeError``
            as for JAX's immutable arrays). Each error's message starts with JAX's own for
            the same misuse, where JAX has one, and ends with foldax's fix.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> foldax.jit(lambda x: 2 * x)(jnp.ones(2))
        Array([2., 2.], dtype=float32)
    """
    if fun is None:
        return functools.partial(
            jit,
            static_argnums=static_argnums,
            static_argnames=static_argnames,
            donate_argnums=donate_argnums,
            donate_argnames=donate_argnames,
            auxiliary_args=auxiliary_args,
            fold=fold,
            variable_args=variable_args,
            max_entries=max_entries,
            max_constant_bytes=max_constant_bytes,
            **jax_jit_kwargs,
        )
    check_callable(fun)
    name = function_name(fun)
    spec = ArgumentSpec(
        fun,
        name,
        static_argnums=ints_of(static_argnums),
        static_argnames=names_of(static_argnames),
        donate_argnums=ints_of(donate_argnums),
        donate_argnames=names_of(donate_argnames),
        auxiliary_args=names_of(auxiliary_args),
        variable_args=names_of(variable_args),
    )
    limits = validated_limits(max_entries, max_constant_bytes, f"jit({name})")
    return JitFunction(fun, spec, fold, jax_jit_kwargs, limits)


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
            f"{type(f).__name__}. Decorate it with @foldax.jit first."
        )
    return f.check(*args, **kwargs)
