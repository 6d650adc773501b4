"""The messages raised while foldax traces a function name its arguments as JAX's do.

JAX names the argument a traced value depends on by the function's parameters (``x``,
``params['w']``, ``rest[1]``, ``options['lr']``, ``p.b``; static arguments have no name), in
"The error occurred while tracing the function f at file:line for jit. This concrete value was
not available in Python because it depends on the value of the argument params['w']." Each test
triggers the same misuse under ``jax.jit`` and ``foldax.jit`` (or JAX's other transformation) on
the same function and checks that foldax's message starts with JAX's, word for word (foldax adds
the variables of the call and the fix after it), that the variables foldax lists are named the
same way, and that foldax's exception derives from JAX's.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import re
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import foldax
from foldax.errors import FoldaxError

# -- what the function does with the offending argument ---------------------------------------
USES: dict[str, Callable[[Any], Any]] = {
    "bool": lambda v: 1 if v else 0,  # TracerBoolConversionError
    "int": int,  # ConcretizationTypeError
    "float": float,
    "index": operator.index,  # TracerIntegerConversionError
    "range": lambda v: len(range(v)),
    "numpy": np.asarray,  # TracerArrayConversionError
}
INTEGER_USES = ("index", "range")  # for integer arguments (others raise before tracing)


def _value(dtype: Any = jnp.int32) -> jax.Array:
    return jnp.ones((), dtype)


A, B = jnp.ones((), jnp.float32), jnp.full((), 2.0, jnp.float32)


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Pair:
    w: Any
    b: Any


class Layer(NamedTuple):
    kernel: Any
    bias: Any


# -- argument kinds: (make(use, v) -> (function, args, kwargs, jit options)) -----------------
def _positional(use, v):
    def f(x, y):
        return x + use(y)

    return f, (A, v), {}, {}


def _keyword(use, v):
    def f(x, y):
        return x + use(y)

    return f, (A,), {"y": v}, {}


def _keyword_only(use, v):
    def f(x, *, scale):
        return x + use(scale)

    return f, (A,), {"scale": v}, {}


def _positional_only(use, v):
    def f(x, y, /):
        return x + use(y)

    return f, (A, v), {}, {}


def _var_positional(use, v):
    def f(x, *rest):
        return x + use(rest[1])

    return f, (A, B, v), {}, {}


def _var_keyword(use, v):
    def f(x, **options):
        return x + use(options["lr"])

    return f, (A,), {"mom": B, "lr": v}, {}


def _named_and_var_keyword(use, v):
    def f(x, y=None, **options):
        return x + use(y) + options["z"]

    return f, (A,), {"z": B, "y": v}, {}


def _dict_leaf(use, v):
    def f(x, params):
        return x + use(params["w"]) + params["b"]

    return f, (A, {"w": v, "b": B}), {}, {}


def _list_and_tuple_leaf(use, v):
    def f(x, layers):
        return x + use(layers[1][0]) + layers[0]

    return f, (A, [B, (v, B)]), {}, {}


def _dataclass_leaf(use, v):
    def f(x, pair):
        return x + use(pair.b) + pair.w

    return f, (A, Pair(B, v)), {}, {}


def _namedtuple_leaf(use, v):
    def f(x, layer):
        return x + use(layer.bias) + layer.kernel

    return f, (A, Layer(B, v)), {}, {}


def _unpassed_default(use, v):
    def f(x, y, z=None):
        return x + use(y)

    return f, (A, v), {}, {}


def _static_last(use, v):
    def f(x, y, n):
        return x + use(y) * n

    return f, (A, v, 3), {}, {"static_argnums": 2}


def _static_keyword(use, v):
    def f(x, y, *, mode):
        return x + use(y) if mode == "on" else x

    return f, (A,), {"y": v, "mode": "on"}, {"static_argnames": "mode"}


def _static_negative(use, v):
    def f(x, y, n):
        return x + use(y) * n

    return f, (A, v, 2), {}, {"static_argnums": -1}


def _static_first(use, v):
    def f(n, x, y):
        return x + use(y) * n

    return f, (3, A, v), {}, {"static_argnums": 0}


def _static_between_by_name(use, v):
    def f(x, mode, y):
        return x + use(y) if mode == "on" else x

    return f, (A, "on", v), {}, {"static_argnames": "mode"}


def _static_between_with_default(use, v):
    def f(x, n, y=None):
        return x + use(y) * n

    return f, (A, 3, v), {}, {"static_argnums": 1}


def _static_in_var_positional(use, v):
    def f(*args):
        return args[0] + use(args[2]) * args[1]

    return f, (A, 3, v), {}, {"static_argnums": 1}


class Scaler:
    """A hashable object whose jitted method is traced with ``self`` static."""

    def __init__(self, use: Callable) -> None:
        self.use = use

    def __hash__(self) -> int:
        return 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Scaler) and other.use is self.use


def _method_with_static_self(use, v):
    def apply(self, x, y):
        return x + self.use(y)

    return apply, (Scaler(use), A, v), {}, {"static_argnums": 0}


class Model:
    """A pytree whose jitted method is traced with ``self`` as its first argument."""

    def __init__(self, w: Any, use: Callable) -> None:
        self.w, self.use = w, use


jax.tree_util.register_pytree_node(
    Model, lambda m: ((m.w,), m.use), lambda use, children: Model(children[0], use)
)


def _method_of_a_pytree(use, v):
    def apply(self, x):
        return x + self.use(self.w)

    return apply, (Model(v, use), A), {}, {}


KINDS = {
    f.__name__.lstrip("_"): f
    for f in (
        _positional,
        _keyword,
        _keyword_only,
        _positional_only,
        _var_positional,
        _var_keyword,
        _named_and_var_keyword,
        _dict_leaf,
        _list_and_tuple_leaf,
        _dataclass_leaf,
        _namedtuple_leaf,
        _unpassed_default,
        _method_of_a_pytree,
        _static_last,
        _static_keyword,
        _static_negative,
        _static_first,
        _static_between_by_name,
        _static_between_with_default,
        _static_in_var_positional,
        _method_with_static_self,
    )
}


# -- comparing ----------------------------------------------------------------------------------
def _raised(call: Callable[[], Any]) -> Exception:
    try:
        call()
    except Exception as e:  # the error under test, whatever its class
        return e
    raise AssertionError("no error was raised")


_ARGUMENT = re.compile(r"depends on the value of the argument (.+)\.$", re.MULTILINE)
_IDS = re.compile(r"\b(0x[0-9a-f]+|\d{8,})\b")  # object ids differ between two runs


def _same_text(message: str) -> str:
    return _IDS.sub("<id>", message).strip()


def assert_named_as_jax(theirs: Exception, ours: Exception) -> None:
    """foldax's error derives from JAX's, starts with JAX's message, and names the variables
    the way JAX names its arguments."""
    assert isinstance(ours, type(theirs)), (type(ours).__mro__, type(theirs))
    jax_text, text = _same_text(str(theirs)), _same_text(str(ours))
    assert text.startswith(jax_text), (jax_text, text)
    named = _ARGUMENT.findall(jax_text)
    if "the variables of this call are:" in text:  # foldax's addition lists them by JAX's names
        assert isinstance(ours, FoldaxError)
        listed = text.split("the variables of this call are: ")[1]
        for name in named:
            assert f"{name}: " in listed, (name, listed)


def _both(make: Callable[[Callable], Callable[[], Any]]) -> tuple[Exception, Exception]:
    return _raised(make(jax.jit)), _raised(make(foldax.jit))


def _call(kind: Callable, use: Callable, v: Any) -> Callable[[Callable], Callable[[], Any]]:
    """A call of a fresh function (nothing cached) under the given ``jit``."""

    def make(jit: Callable) -> Callable[[], Any]:
        f, args, kwargs, options = kind(use, v)
        return lambda: jit(f, **options)(*args, **kwargs)

    return make


# -- jit: argument kinds ------------------------------------------------------------------------
@pytest.mark.parametrize("use", sorted(USES))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_jit_names_the_argument_as_jax_jit(kind, use):
    theirs, ours = _both(_call(KINDS[kind], USES[use], _value()))
    assert _ARGUMENT.search(str(theirs)), str(theirs)  # the case does name an argument
    assert_named_as_jax(theirs, ours)


DTYPES = [
    jnp.bool_,
    jnp.int4,
    jnp.int8,
    jnp.int16,
    jnp.int32,
    jnp.uint4,
    jnp.uint8,
    jnp.uint32,
    jnp.bfloat16,
    jnp.float16,
    jnp.float32,
    ml_dtypes.float8_e4m3fn,
    ml_dtypes.float8_e5m2,
    jnp.complex64,
]


@pytest.mark.parametrize("use", sorted(USES))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kind", ["dict_leaf", "var_keyword"])
def test_jit_names_arguments_of_every_dtype(kind, dtype, use):
    theirs, ours = _both(_call(KINDS[kind], USES[use], _value(dtype)))
    assert_named_as_jax(theirs, ours)


# -- tracers that outlived their trace --------------------------------------------------------
def _leaking(kind: Callable) -> Callable[[Callable], tuple[Callable[[], Any], list]]:
    def make(jit: Callable) -> tuple[Callable[[], Any], list]:
        store: list = []
        f, args, kwargs, options = kind(lambda v: store.append(v) or 0, _value(jnp.float32))
        return (lambda: jit(f, **options)(*args, **kwargs)), store

    return make


@pytest.mark.parametrize("use", ["bool", "int", "float"])
@pytest.mark.parametrize(
    "kind", ["positional", "dict_leaf", "var_positional", "var_keyword", "static_last", "static_first"]
)
def test_a_leaked_tracer_is_named_by_its_argument(kind, use):
    messages = []
    for jit in (jax.jit, foldax.jit):
        call, store = _leaking(KINDS[kind])(jit)
        with jax.check_tracer_leaks(False):
            call()
        messages.append(_raised(lambda: USES[use](store[0])))
    theirs, ours = messages
    assert _ARGUMENT.search(str(theirs)), str(theirs)
    assert type(ours) is type(theirs)  # JAX's own tracer raises
    assert _same_text(str(ours)) == _same_text(str(theirs))


@pytest.mark.parametrize(
    "kind", ["positional", "dict_leaf", "var_keyword", "static_keyword", "static_between_by_name"]
)
def test_the_leak_checker_names_the_leaked_argument(kind):
    messages = []
    for jit in (jax.jit, foldax.jit):
        call, _ = _leaking(KINDS[kind])(jit)
        with jax.check_tracer_leaks(True):
            messages.append(_raised(call))
    theirs, ours = messages
    assert isinstance(ours, type(theirs))
    assert _ARGUMENT.search(str(theirs)), str(theirs)
    assert _ARGUMENT.findall(str(ours)) == _ARGUMENT.findall(str(theirs))


# -- the other transformations -------------------------------------------------------------------
def _jax_jit_names(kind: Callable, use: Callable, v: Any) -> list[str]:
    """The argument names in jax.jit's message for the same call (JAX's rule for naming a
    call's arguments, which its other transformations share)."""
    return _ARGUMENT.findall(str(_raised(_call(kind, use, v)(jax.jit))))


def _differentiated(kind_name: str, use: Callable) -> tuple[Callable, tuple, dict]:
    f, args, kwargs, options = KINDS[kind_name](use, _value(jnp.float32))
    assert not options
    return f, args, kwargs


TRANSFORMS: dict[str, Callable[[Callable, tuple, dict], Any]] = {
    "grad": lambda f, args, kw: foldax.grad(f)(*args, **kw),
    "value_and_grad": lambda f, args, kw: foldax.value_and_grad(f)(*args, **kw),
    "jacfwd": lambda f, args, kw: foldax.jacfwd(f)(*args, **kw),
    "jacrev": lambda f, args, kw: foldax.jacrev(f)(*args, **kw),
    "vjp": lambda f, args, kw: foldax.vjp(f, *args),
    "checkify": lambda f, args, kw: foldax.checkify(f)(*args, **kw),
}


POSITIONAL_KINDS = ["positional", "dict_leaf", "dataclass_leaf", "var_positional", "positional_only"]
TRANSFORM_CASES = [
    (t, k) for t in sorted(TRANSFORMS) for k in POSITIONAL_KINDS + ["keyword", "var_keyword"] * (t != "vjp")
]


@pytest.mark.parametrize("use", ["bool", "int", "float"])
@pytest.mark.parametrize("transform, kind", TRANSFORM_CASES)
def test_other_transformations_name_arguments_as_jax(transform, kind, use):
    """JAX's grad/vjp/jacfwd run Python on concrete values and raise nothing; foldax traces, and
    names the arguments by JAX's rule for the call (jax.jit's names for it)."""
    f, args, kwargs = _differentiated(kind, USES[use])
    ours = _raised(lambda: TRANSFORMS[transform](f, args, kwargs))
    expected = _jax_jit_names(KINDS[kind], USES[use], _value(jnp.float32))
    assert isinstance(ours, jax.errors.ConcretizationTypeError), type(ours).__mro__
    assert _ARGUMENT.findall(str(ours)) == expected, str(ours)


def test_jvp_names_the_primals_as_jax():
    f, args, _, _ = _dict_leaf(USES["bool"], _value(jnp.float32))
    ours = _raised(lambda: foldax.jvp(f, args, args))
    assert _ARGUMENT.findall(str(ours)) == ["params['w']"]
    assert " for jvp." in str(ours)


@pytest.mark.parametrize("kind", ["positional", "dict_leaf", "var_positional", "var_keyword", "keyword"])
def test_vmap_names_the_mapped_arguments_as_jax(kind):
    """foldax's account of mismatched batch sizes names each leaf as JAX names arguments."""
    v = _value(jnp.float32)
    f, args, kwargs, _ = KINDS[kind](USES["bool"], v)
    leaves, tree = jax.tree_util.tree_flatten((args, kwargs))
    odd = next(i for i, leaf in enumerate(leaves) if leaf is v)
    batched = [jnp.zeros((4 if i == odd else 3,)) for i in range(len(leaves))]
    b_args, b_kwargs = jax.tree_util.tree_unflatten(tree, batched)
    with pytest.raises(ValueError, match="inconsistent sizes"):
        jax.vmap(f)(*b_args, **b_kwargs)
    ours = _raised(lambda: foldax.vmap(f)(*b_args, **b_kwargs))
    assert isinstance(ours, ValueError) and isinstance(ours, FoldaxError)
    (name,) = _jax_jit_names(KINDS[kind], USES["bool"], _value(jnp.float32))
    assert f"{name} has size 4 along axis 0" in str(ours), (name, str(ours))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_traced_jaxpr_names_its_inputs_as_jax_jit(kind):
    """``jit(f).trace(...).jaxpr``'s debug info names the inputs as ``jax.jit``'s does."""
    names = []
    for jit in (jax.jit, foldax.jit):
        f, args, kwargs, options = KINDS[kind](lambda v: v, _value(jnp.float32))
        traced = jit(f, **options).trace(*args, **kwargs)
        names.append(traced.jaxpr.jaxpr.debug_info.arg_names)
    theirs, ours = names
    assert ours == theirs


def _decorated_method_of_a_pytree(jit: Callable, use: Callable) -> Callable[[], Any]:
    @jax.tree_util.register_dataclass
    @dataclasses.dataclass
    class Net:
        w: Any

        @jit
        def apply(self, x):
            return x + use(self.w)

    return lambda: Net(_value(jnp.float32)).apply(A)


def _decorated_method_with_static_self(jit: Callable, use: Callable) -> Callable[[], Any]:
    class Scaled:
        @functools.partial(jit, static_argnums=0)
        def apply(self, x, y):
            return x + use(y)

        def __hash__(self) -> int:
            return 0

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Scaled)

    return lambda: Scaled().apply(A, _value(jnp.float32))


METHODS = {"pytree_self": _decorated_method_of_a_pytree, "static_self": _decorated_method_with_static_self}


@pytest.mark.parametrize("use", ["bool", "int", "float"])
@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_decorated_method_names_self_as_jax_jit(method, use):
    """``@jit`` on a method: ``self`` is the first argument (``self.w``), as with ``jax.jit``."""
    theirs, ours = (_raised(METHODS[method](jit, USES[use])) for jit in (jax.jit, foldax.jit))
    assert _ARGUMENT.search(str(theirs)), str(theirs)
    assert_named_as_jax(theirs, ours)
