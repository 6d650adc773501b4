"""foldax.jit against jax.jit: values on the corpus and on library pytrees, trace counting,
trace_check reasons, static/auxiliary/donated arguments, retrace warnings, and errors."""

import re
import warnings

import chex
import equinox as eqx
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from corpus import CORPUS, CORPUS_IDS

import foldax
from foldax.errors import (
    FoldaxError,
    FoldaxTypeError,
    FoldaxValueError,
    RetraceWarning,
    TracerBoolControlFlowError,
    TracerControlFlowError,
)


@pytest.mark.parametrize("name,fn,make", CORPUS, ids=CORPUS_IDS)
def test_corpus_equals_jax_jit(name, fn, make):
    x = make()
    chex.assert_trees_all_close(foldax.jit(fn)(x), jax.jit(fn)(x), rtol=1e-5, atol=1e-6)


def test_nested_foldax_jit_and_under_jax_transformations():
    inner = foldax.jit(lambda x, s: jnp.sin(x) * s)
    outer = foldax.jit(lambda x: inner(inner(x, 2.0), np.float32(3.0)))
    ref = lambda x: jnp.sin(jnp.sin(x) * 2.0) * 3.0  # noqa: E731
    x = jnp.linspace(0.0, 1.0, 4)
    chex.assert_trees_all_close(outer(x), ref(x), rtol=1e-6)
    chex.assert_trees_all_close(
        jax.grad(lambda x: outer(x).sum())(x), jax.grad(lambda x: ref(x).sum())(x), rtol=1e-5
    )
    chex.assert_trees_all_close(jax.vmap(outer)(x[:, None]), jax.vmap(ref)(x[:, None]), rtol=1e-6)


def test_body_runs_once_per_cache_key():
    calls = []

    @foldax.jit
    def f(x, n):
        calls.append(1)
        return x * n

    x, two, three = jnp.ones(3), np.int32(2), np.int32(3)
    for y in (x, x + 1, x * 3):  # same shapes, same constant: one trace
        f(y, two)
    assert len(calls) == 1 and f.trace_count == 1
    f(x, three)  # new constant value
    f(jnp.ones(4), three)  # new shape
    f(x.astype(jnp.int32), three)  # new dtype
    assert len(calls) == f.trace_count == 4
    for args in [(x, two), (x, three), (jnp.ones(4), three)]:
        chex.assert_trees_all_close(f(*args), jax.jit(lambda x, n: x * n, static_argnums=1)(*args))
    assert len(calls) == 4


def test_trace_check_reasons_for_every_kind_of_miss():
    @foldax.jit(static_argnames="mode", auxiliary_args="y")
    def f(x, y, c, mode="a"):
        return x * y + c

    x = jnp.ones(2)
    assert foldax.trace_check(f, x, 2.0, np.ones(2)) == (False, "Function has not yet been traced")
    f(x, 2.0, np.ones(2))
    assert foldax.trace_check(f, x, 2.0, np.ones(2)) == (True, "")
    assert foldax.trace_check(f, jnp.ones(3), 2.0, np.ones(2)) == (
        False,
        "Variable shapes or dtypes do not match",
    )
    assert foldax.trace_check(f, x, 3.0, np.ones(2)) == (False, "Auxiliary arguments do not match")
    assert foldax.trace_check(f, x, 2.0, np.zeros(2))[1].startswith("Constant")
    assert foldax.trace_check(f, x, 2.0, np.ones(2), mode="b") == (False, "Static arguments do not match")
    assert foldax.trace_check(f, [x], 2.0, np.ones(2)) == (False, "Argument tree structure does not match")


def test_phiml_jit_page():
    traced = []

    @foldax.jit
    def fun(x):
        traced.append(isinstance(x, jax.core.Tracer))  # not x itself: that would leak a tracer
        return 2 * x

    chex.assert_trees_all_close(fun(jnp.float32(1.0)), 2 * jnp.float32(1.0))
    fun(jnp.float32(1.0))
    assert traced == [True]
    chex.assert_trees_all_close(fun(jnp.array([1, 2])), jnp.array([2, 4]))
    assert len(traced) == 2

    @foldax.jit(auxiliary_args="y")
    def fun2(x, y):
        z = np.sin(y**2)
        return z * x if (z > 1).all() else z / x

    chex.assert_trees_all_close(fun2(jnp.float32(1.0), np.array(2)), np.sin(4) / jnp.float32(1.0))
    assert foldax.trace_check(fun2, jnp.float32(1.0), np.array(2)) == (True, "")
    assert foldax.trace_check(fun2, jnp.float32(1.0), np.array(-1)) == (
        False,
        "Auxiliary arguments do not match",
    )


def test_static_argnums_and_auxiliary_jax_arrays():
    f = foldax.jit(lambda x, k: jnp.roll(x, k), static_argnums=1)
    x = jnp.arange(5.0)
    chex.assert_trees_all_close(f(x, 2), jnp.roll(x, 2))
    g = foldax.jit(lambda x, n: x * (n if n > 0 else -n), auxiliary_args="n")
    chex.assert_trees_all_close(g(x, jnp.array(-3.0)), x * 3.0)


def test_donation_is_passed_to_jax():
    f = foldax.jit(lambda x, y: x + y, donate_argnums=0)
    x = jnp.ones(1000)
    out = f(x, jnp.ones(1000))
    chex.assert_trees_all_close(out, 2 * jnp.ones(1000))
    assert x.is_deleted()


def test_retrace_warning_names_argument_and_fix():
    f = foldax.jit(lambda x, n: x * n)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(8):
            f(jnp.ones(2), np.float32(n))
    messages = [str(w.message) for w in caught if issubclass(w.category, RetraceWarning)]
    assert len(messages) == 1
    assert "the NumPy argument n (float32[])" in messages[0] and "jnp.asarray(n)" in messages[0]


def _retrace_messages(f, calls):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for args in calls:
            f(*args)
    return [str(w.message) for w in caught if issubclass(w.category, RetraceWarning)]


def test_retrace_warning_names_leaves_as_jax_names_them():
    def f(x, batch):
        return x * batch["scale"]

    calls = [(jnp.float32(1), {"scale": jnp.ones(n)}) for n in range(1, 9)]
    (message,) = _retrace_messages(foldax.jit(f), calls)  # at the sixth trace
    jax_names = jax.jit(f).trace(*calls[0]).jaxpr.debug_info.arg_names  # ('x', "batch['scale']")
    assert f"because {jax_names[1]} changed from float32[5] to float32[6]" in message, message


def test_retrace_warning_explains_a_retrace_with_the_same_arguments():
    f = foldax.jit(lambda x: x + 1)

    def clear_then_call(x):
        jax.clear_caches()  # drops the compiled program: the same call traces again
        return f(x)

    messages = _retrace_messages(clear_then_call, [(jnp.ones(2),)] * 8)
    assert len(messages) == 1 and "?" not in messages[0]
    assert "the same as at the previous trace" in messages[0] and "jax.clear_caches()" in messages[0]


@foldax.dataclass
class Linear:
    w: jax.Array
    b: jax.Array
    scale: np.ndarray = foldax.field(kind="value", default_factory=lambda: np.float32(1.0))
    act: str = foldax.field(kind="static", default="tanh")

    def __call__(self, x):
        return getattr(jnp, self.act)(x @ self.w + self.b) * self.scale


def test_dataclass_models_static_and_value_fields():
    m = Linear(jnp.ones((3, 2)), jnp.zeros(2))
    x = jnp.ones((4, 3))
    f = foldax.jit(lambda m, x: m(x))
    chex.assert_trees_all_close(f(m, x), jax.jit(lambda m, x: m(x))(m, x))
    f(m.replace(act="sin"), x)
    f(m.replace(scale=np.float32(2.0)), x)
    f(m.replace(scale=np.float32(2.0)), x)
    assert f.trace_count == 3


def test_equinox_chex_flax_and_optax_pytrees():
    key = jax.random.key(0)
    mlp = eqx.nn.MLP(3, 2, 8, 2, key=key)
    x = jnp.ones(3)
    chex.assert_trees_all_close(
        foldax.jit(lambda m, x: m(x))(mlp, x), eqx.filter_jit(lambda m, x: m(x))(mlp, x)
    )

    @chex.dataclass
    class Params:
        w: jax.Array

    @flax.struct.dataclass
    class FParams:
        w: jax.Array
        name: str = flax.struct.field(pytree_node=False, default="p")

    for p in [Params(w=jnp.ones(3)), FParams(w=jnp.ones(3))]:
        chex.assert_trees_all_close(
            foldax.jit(lambda p: jnp.sum(p.w**2))(p), jax.jit(lambda p: jnp.sum(p.w**2))(p)
        )

    opt = optax.adam(1e-2)
    params = {"w": jnp.ones(3)}
    state = opt.init(params)
    grads = {"w": jnp.full(3, 0.5)}

    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    chex.assert_trees_all_close(foldax.jit(step)(params, state, grads), jax.jit(step)(params, state, grads))


def test_constant_outputs_are_jax_arrays():
    f = lambda x: (x * 2, np.arange(3), 7)  # noqa: E731
    out, ref = foldax.jit(f)(jnp.ones(2)), jax.jit(f)(jnp.ones(2))
    chex.assert_trees_all_equal(out, ref)
    assert all(isinstance(a, jax.Array) and a.dtype == b.dtype for a, b in zip(out, ref))


def test_trace_and_lower_give_program_and_hlo():
    f = foldax.jit(lambda x, c: x + jnp.sin(c))
    program = f.trace(jnp.ones(2), np.ones(2))
    assert program.num_equations == 1
    assert "stablehlo" in f.lower(jnp.ones(2), np.ones(2)).as_text()


def test_method_decoration():
    class Model:
        def __init__(self, s):
            self.s = s

        @foldax.jit
        def apply(self, x):
            return x * self.s

    chex.assert_trees_all_close(Model(3.0).apply(jnp.ones(2)), jnp.full(2, 3.0))


# -- errors ----------------------------------------------------------------------------------
def test_tracer_in_control_flow_error():
    f = foldax.jit(lambda x: x if x > 0 else -x)
    expected = r"variables of this call are: x: float32\[\].*NumPy array.*static_argnames.*jnp.where"
    with pytest.raises(TracerControlFlowError, match=expected):
        f(jnp.float32(1.0))
    assert issubclass(TracerControlFlowError, TypeError) and issubclass(TracerControlFlowError, FoldaxError)


CONTROL_FLOW_MISUSES = {
    "if": lambda *args: args[0] if args[0] > 0 else -args[0],
    "while": lambda *args: [args[0] for _ in range(3) if args[0] < 2],
    "int": lambda *args: int(args[0]),
    "float": lambda *args: float(args[0]),
    "bool": lambda *args: bool(args[0]),
}


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16, jnp.int32, jnp.bool_])
@pytest.mark.parametrize("misuse", list(CONTROL_FLOW_MISUSES))
def test_control_flow_on_a_tracer_starts_with_jax_jit_s_message(misuse, dtype):
    """The whole message jax.jit raises for the same function comes first (the same words,
    source line and "for jit"), then foldax's: the variables and the fix."""
    f = CONTROL_FLOW_MISUSES[misuse]
    x = jnp.ones((), dtype)
    with pytest.raises(jax.errors.ConcretizationTypeError) as reference:
        jax.jit(f)(x)
    with pytest.raises(type(reference.value)) as error:
        foldax.jit(f)(x)
    bool_misuse = isinstance(reference.value, jax.errors.TracerBoolConversionError)
    assert isinstance(error.value, TracerBoolControlFlowError if bool_misuse else TracerControlFlowError)
    jax_message = str(reference.value).strip()
    assert str(error.value).startswith(jax_message + "\n\n<lambda>: a traced variable was used")
    assert re.search(r"args\[0\]: \w+\[\].*NumPy array.*static_argnames.*jnp.where", str(error.value))


def test_a_named_argument_s_misuse_is_reported_at_the_function_s_line_for_jit():
    """JAX's error under foldax.jit names the function, its line and the transformation as
    jax.jit's does (its debug info says "jit", not "foldax", and points at the user's function,
    not foldax's wrapper)."""

    def f(x):
        return x if x > 0 else -x

    with pytest.raises(jax.errors.TracerBoolConversionError) as reference:
        jax.jit(f)(jnp.float32(1.0))
    with pytest.raises(TracerBoolControlFlowError) as error:
        foldax.jit(f)(jnp.float32(1.0))
    theirs, ours = str(reference.value).splitlines(), str(error.value.__cause__).splitlines()
    assert ours[0] == theirs[0]
    where = re.compile(r"while tracing the function f at (\S+) for (\w+)\.")
    assert (
        where.search(ours[1]).groups()
        == where.search(theirs[1]).groups()
        == (f"{__file__}:{_line_of(f)}", "jit")
    )


def _line_of(f) -> int:
    return f.__code__.co_firstlineno


def test_unhashable_static_field_and_static_arg():
    with pytest.raises(FoldaxTypeError, match=r"field 'act' of Linear.*unhashable list.*tuple"):
        Linear(jnp.ones((3, 2)), jnp.zeros(2), act=["tanh"])
    f = foldax.jit(lambda x, cfg: x, static_argnums=1)
    with pytest.raises(FoldaxTypeError, match=r"static argument 1 .*unhashable list.*tuple"):
        f(jnp.ones(2), [1, 2])


def test_unknown_names_in_static_argnames_and_auxiliary_args():
    def f(x, y):
        return x

    with pytest.raises(ValueError, match=r"invalid argnames \{'z'\} in static_argnames"):
        jax.jit(f, static_argnames="z")  # the reference: foldax says the same, and the fix
    with pytest.raises(
        FoldaxValueError,
        match=r"(?s)^Jitted function has invalid argnames \{'z'\} in static_argnames.*jit\(f, "
        r"...\): .*signature \(x, y\)",
    ):
        foldax.jit(f, static_argnames="z")
    with pytest.raises(FoldaxValueError, match=r"auxiliary_args.*'q' is not a parameter"):
        foldax.jit(f, auxiliary_args="q")


def test_static_argnums_out_of_range():
    with pytest.raises(ValueError, match=r"static_argnums=\(3,\), but only accepts 2 positional"):
        jax.jit(lambda x, y: x, static_argnums=3)  # the reference
    with pytest.raises(
        FoldaxValueError,
        match=r"(?s)static_argnums=\(3,\), but only accepts 2 positional"
        r".*Fix",
    ):
        foldax.jit(lambda x, y: x, static_argnums=3)
    f = foldax.jit(lambda x, y=1, z=2: x, static_argnums=2)
    chex.assert_trees_all_close(f(jnp.ones(1)), jnp.ones(1))


def test_non_pytree_return_value():
    class Opaque:
        pass

    with pytest.raises(FoldaxTypeError, match=r"returned a Opaque.*not a pytree.*register"):
        foldax.jit(lambda x: Opaque())(jnp.ones(1))


def test_not_callable():
    with pytest.raises(TypeError, match=r"Expected a callable value"):
        jax.jit(3)  # the reference
    with pytest.raises(FoldaxTypeError, match=r"(?s)^Expected a callable value, got 3.*'int'.*Fix"):
        foldax.jit(3)
    with pytest.raises(FoldaxTypeError, match=r"trace_check.*foldax.jit"):
        foldax.trace_check(lambda x: x, 1.0)


def test_shardings_pass_through_to_jax():
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    devices = np.array(jax.devices())
    if devices.size < 2:
        pytest.skip("needs several (host) devices: XLA_FLAGS=--xla_force_host_platform_device_count")
    mesh = Mesh(devices, ("data",))
    batch, replicated = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
    n = devices.size * 2
    f = lambda w, x: (jnp.tanh(x @ w), jnp.sum(w))  # noqa: E731
    fx = foldax.jit(f, in_shardings=(replicated, batch), out_shardings=(batch, replicated))
    w, x = jnp.ones((3, 3)), jnp.arange(n * 3.0).reshape(n, 3)
    out = fx(w, x)
    ref = jax.jit(f, in_shardings=(replicated, batch), out_shardings=(batch, replicated))(w, x)
    chex.assert_trees_all_close(out, ref)
    assert out[0].sharding == ref[0].sharding and out[1].sharding == ref[1].sharding
