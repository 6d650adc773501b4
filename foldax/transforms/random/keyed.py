"""``foldax.random.keyed(f)``: random calls without a key draw from subkeys of one key.

Inside ``keyed(f)(key, *args)``, a draw such as ``foldax.random.normal(shape=(3,))`` (no key)
binds a placeholder primitive, ``keyless_key_p``, tagged with its call site (the calling
function's qualified name and the line relative to its start, so editing other code leaves a
site's stream alone). ``f`` is traced once into a Program and the ``KeyedInterpreter`` replaces
every placeholder by ``site_key_p(key)``: ``fold_in(key, hash(site, occurrence))``, where
*occurrence* counts earlier draws of the same site in the program (a Python loop, or a jitted
function called twice). One ``fold_in`` per site, no splitting up front, so compile time does not
grow with the number of sites. The key is the interpreter's state, so it is threaded through
``scan``/``while`` bodies and advanced once per iteration: every iteration draws fresh numbers.

Batch elements are independent: under ``vmap`` (inside ``f``, or around ``keyed(f)`` with one key
for all elements) both primitives' batching rules give every element its own subkey (a split of
the site key), and a batch of keys maps elementwise.

Example:
    >>> from foldax import random
    >>> import jax.numpy as jnp
    >>> @random.keyed
    ... def noisy(x):
    ...     return x + random.normal(shape=x.shape) + random.uniform(shape=x.shape)
    >>> a = noisy(random.key(0), jnp.zeros(3))
    >>> b = noisy(random.key(0), jnp.zeros(3))
    >>> bool((a == b).all())
    True
"""

from __future__ import annotations

import copy
import functools
import os
import sys
import threading
import zlib
from types import FrameType
from typing import Any, Callable

import numpy as np

from foldax._compat import (
    Effect,
    JaxprEqn,
    Primitive,
    ShapedArray,
    allow_effect,
    fancy_primitive_batchers,
    fold_in_keys,
    jaxprs_in_params,
    lower_fun,
    register_lowering,
    register_source_exclusion,
    split_keys,
)
from foldax.errors import CheckifyRequiredError, FoldaxTypeError, FoldaxValueError
from foldax.transforms.batching.interpreter import PER_ELEMENT_PRIMITIVES
from foldax.transforms.core.higher_order import HIGHER_ORDER_RULES
from foldax.transforms.core.interpreter import Interpreter, bind_eqn
from foldax.transforms.core.mesh import on_argument_devices
from foldax.transforms.core.passes import iter_equations
from foldax.transforms.core.trace import function_name, trace_program
from foldax.transforms.random.validation import one_key

register_source_exclusion(os.path.abspath(__file__))
_FOLDAX_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADVANCE = 0xFFFFFFFF  # fold_in data that advances the key between loop iterations (never a site)


# -- the placeholder -----------------------------------------------------------------------------
class KeylessEffect(Effect):
    """A keyless draw must reach ``keyed``'s interpreter: never folded, dropped or compiled."""

    def __repr__(self) -> str:
        return "KeylessDraw"


keyless_effect = KeylessEffect()
allow_effect(KeylessEffect)

keyless_key_p = Primitive("keyless_key")


@keyless_key_p.def_effectful_abstract_eval
def _keyless_abstract(*, site: int, shape: tuple, dtype: Any) -> tuple:
    return ShapedArray(shape, dtype), {keyless_effect}


def _outside_keyed(*args: Any, **params: Any) -> Any:
    raise CheckifyRequiredError(
        "a foldax.random draw without a key was evaluated or compiled outside "
        "foldax.random.keyed (a function traced inside keyed was reused elsewhere). Fix: call it "
        "through keyed(f)(key, ...), or pass a key explicitly."
    )


keyless_key_p.def_impl(_outside_keyed)
register_lowering(keyless_key_p, _outside_keyed)


def _keyless_batch(axis_data: Any, vals: list, dims: list, *, site: int, shape: tuple, dtype: Any) -> tuple:
    """Under vmap every element draws from its own key."""
    return keyless_key_p.bind(site=site, shape=(axis_data.size,) + shape, dtype=dtype), 0


fancy_primitive_batchers[keyless_key_p] = _keyless_batch


# -- the site key -----------------------------------------------------------------------------------
site_key_p = Primitive("site_key")


def _site_key(base: Any, *, site: int, shape: tuple) -> Any:
    key = fold_in_keys(base, np.uint32(site))
    return split_keys(key, shape) if shape else key


site_key_p.def_impl(_site_key)
site_key_p.def_abstract_eval(lambda base, *, site, shape: ShapedArray(base.shape + shape, base.dtype))
register_lowering(site_key_p, lower_fun(_site_key, multiple_results=False))


def _site_key_batch(axis_data: Any, vals: list, dims: list, *, site: int, shape: tuple) -> tuple:
    """A batch of keys maps elementwise; one key shared by the batch is split per element."""
    (base,), (dim,) = vals, dims
    if dim is None:
        return site_key_p.bind(base, site=site, shape=(axis_data.size,) + shape), 0
    import jax.numpy as jnp

    return site_key_p.bind(jnp.moveaxis(base, dim, 0), site=site, shape=shape), 0


fancy_primitive_batchers[site_key_p] = _site_key_batch
PER_ELEMENT_PRIMITIVES.update({keyless_key_p, site_key_p})


# -- call sites ----------------------------------------------------------------------------------
class _Context:
    def __init__(self, dtype: Any, name: str) -> None:
        self.dtype, self.name = dtype, name


_contexts = threading.local()


def _stack() -> list:
    if not hasattr(_contexts, "stack"):
        _contexts.stack = []
    return _contexts.stack


def _call_site() -> int:
    """A stable id of the user's code that asked for a draw: crc32 of the calling function's
    qualified name and its line relative to the function's first line."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and (
        frame.f_code.co_filename.startswith(_FOLDAX_DIR) or "/jax/" in frame.f_code.co_filename
    ):
        frame = frame.f_back
    if frame is None:
        return 0
    code = frame.f_code
    text = f"{getattr(code, 'co_qualname', code.co_name)}:{frame.f_lineno - code.co_firstlineno}"
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


def keyless_key(where: str) -> Any:
    """The key of a draw without a key: a placeholder inside ``keyed``, else a clear error."""
    if not _stack():
        raise FoldaxValueError(
            f"{where}: no key given and not inside foldax.random.keyed. Fix: pass a key "
            f"(foldax.random.key(seed), split for each draw), or wrap the function with "
            f"foldax.random.keyed(f) and call it as f(key, ...)."
        )
    return keyless_key_p.bind(site=_call_site(), shape=(), dtype=_stack()[-1].dtype)


# -- the interpreter -------------------------------------------------------------------------------
class KeyedInterpreter(Interpreter):
    """Binds a jaxpr's primitives, replacing keyless draws by subkeys of its state, the key."""

    transformation = "keyed"

    def __init__(self, key: Any) -> None:
        self.key = key
        self.drew = False
        self.counts: dict[int, int] = {}  # shared with children: occurrences per site

    def get_state(self) -> list:
        if self.drew:  # a body that drew passes on a new key: the next iteration draws afresh
            return [site_key_p.bind(self.key, site=ADVANCE, shape=())]
        return [self.key]

    def set_state(self, arrays: Any) -> None:
        (self.key,) = arrays

    def child(self) -> KeyedInterpreter:
        other = copy.copy(self)
        other.drew = False
        return other

    def default_rule(self, eqn: JaxprEqn, invals: list) -> list:
        return bind_eqn(eqn, invals)

    def draws_inside(self, eqn: JaxprEqn) -> bool:
        return any(
            e.primitive is keyless_key_p for j in jaxprs_in_params(eqn.params) for e in iter_equations(j)
        )


@KeyedInterpreter.register(keyless_key_p)
def _draw(interp: KeyedInterpreter, eqn: JaxprEqn, invals: list) -> list:
    site = eqn.params["site"]
    n = interp.counts.get(site, 0)
    interp.counts[site] = n + 1
    interp.drew = True
    data = zlib.crc32(f"{site}:{n}".encode()) & 0x7FFFFFFF
    return [site_key_p.bind(interp.key, site=data, shape=eqn.params["shape"])]


def _only_where_drawn(generic: Callable) -> Callable:
    def rule(interp: KeyedInterpreter, eqn: JaxprEqn, invals: list) -> list:
        return generic(interp, eqn, invals) if interp.draws_inside(eqn) else bind_eqn(eqn, invals)

    return rule


for _prim, _generic in HIGHER_ORDER_RULES.items():
    KeyedInterpreter.register(_prim)(_only_where_drawn(_generic))


# -- the transformation -------------------------------------------------------------------------
def keyed(fun: Callable) -> Callable:
    """``keyed(f)(key, *args, **kwargs)``: call ``f(*args, **kwargs)`` where every
    ``foldax.random`` draw without a key uses a fresh subkey of ``key`` (see the module docstring).

    Reproducible (the same key gives the same numbers), never reuses a key, and composes with
    ``jit``, ``grad`` and ``vmap`` (put ``jit`` outside: ``foldax.jit(keyed(f))``).

    Arguments:
        fun: the function whose ``foldax.random`` draws may pass ``key=None``.

    Returns:
        A function taking a key first, then ``fun``'s arguments, returning ``fun``'s result.

    Raises:
        FoldaxTypeError: ``fun`` is not callable, or the key given is not a typed key.
        FoldaxValueError: the keyed function is called with ``None`` or several keys.

    Example:
        >>> from foldax import random
        >>> import jax.numpy as jnp
        >>> drop = random.keyed(lambda x: random.dropout(None, 0.5, x))
        >>> drop(random.key(1), jnp.ones(4)).shape
        (4,)
    """
    if not callable(fun):
        raise FoldaxTypeError(f"keyed(fun=...): expected a callable, found {type(fun).__name__}.")
    name = function_name(fun)

    @functools.wraps(fun)
    @on_argument_devices
    def with_key(key: Any, *args: Any, **kwargs: Any) -> Any:
        if key is None:
            raise FoldaxValueError(f"keyed({name}): call it with a key first: {name}(key, ...).")
        key = one_key(key, f"keyed({name})(key=...)")
        _stack().append(_Context(key.dtype, name))
        try:
            program = trace_program(fun, args, kwargs, name=name)
        finally:
            _stack().pop()
        variables = program.variables_of(args, kwargs)
        if not any(e.primitive is keyless_key_p for e in iter_equations(program.jaxpr.jaxpr)):
            return program.assemble(program.evaluate(variables))
        return program.assemble(KeyedInterpreter(key).run(program.jaxpr, *variables))

    return with_key
