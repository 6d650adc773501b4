"""foldax.jit has jax.jit's surface, caches as safely and holds no tracer: each test compares with
jax.jit doing the same thing."""

import functools
import gc
import inspect
import weakref

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import foldax
from foldax.errors import FoldaxError, FoldaxTypeError, FoldaxValueError

JITS = {"jax": jax.jit, "foldax": foldax.jit}


def _f(x, y):
    return jnp.sin(x) * y


X, Y = jnp.arange(3.0), jnp.ones(3)


# -- item 3: no leaked tracers -----------------------------------------------------------------
@pytest.mark.parametrize("outer", ["jit", "make_jaxpr", "checkify", "grad", "vmap"])
def test_no_tracer_leaks_under_outer_transformations(outer):
    transforms = {
        "jit": lambda g: jax.jit(g)(X, Y),
        "make_jaxpr": lambda g: [str(a) for a in jax.make_jaxpr(g)(X, Y).out_avals],
        "checkify": lambda g: foldax.checkify(g)(X, Y)[1],
        "grad": lambda g: foldax.grad(lambda x, y: g(x, y).sum())(X, Y),
        "vmap": lambda g: foldax.vmap(g)(X, Y),
    }
    with jax.checking_leaks():
        got = transforms[outer](foldax.jit(_f))
        got_again = transforms[outer](foldax.jit(_f))  # from the cache this time
    expected = transforms[outer](jax.jit(_f))
    assert jax.tree.structure(got) == jax.tree.structure(expected)
    for a, b in zip(jax.tree.leaves((got, got_again)), jax.tree.leaves((expected, expected))):
        assert a == b if isinstance(a, str) else np.allclose(a, b)


def test_closure_over_an_outer_tracer_is_used_once_and_not_cached():
    # jax.jit keeps such a tracer in its own caches (its second call raises
    # UnexpectedTracerError), so the reference is the function run without jit.
    cell = {}
    inner = foldax.jit(lambda y: cell["x"] * y)

    def outer(x, y):
        cell["x"] = x
        out = inner(y)
        del cell["x"]
        return out

    for x in (X, 2 * X):
        with jax.checking_leaks():
            got = jax.jit(outer)(x, Y)
        chex.assert_trees_all_close(got, np.asarray(x) * np.asarray(Y))
    assert inner.entries == {}  # its program held an outer tracer: nothing was kept


def _leak_message(jit):
    """The tracer-leak error of a jitted function whose inner jit keeps its argument in a list
    (JAX's api_test ``test_leak_checker_catches_a_sublevel_leak``), under ``jit``."""
    with jax.checking_leaks():

        @jit
        def f(x):
            kept = []

            @jit
            def g(x):
                kept.append(x)
                return x

            return g(x)

        with pytest.raises(Exception, match="Leaked trace") as raised:
            f(3)
    return str(raised.value)


def test_a_leaked_tracer_is_reported_as_jax_jit_reports_it():
    """The same trace and tracer are named, and the same function and line (foldax names the
    argument by its path, args[0], where jax.jit names it x: only the rest is compared)."""
    ours, theirs = _leak_message(foldax.jit), _leak_message(jax.jit)
    assert theirs.startswith("Leaked trace DynamicJaxprTrace. Leaked tracer(s):")
    before_the_argument = "depends on the value of the argument"
    assert ours.split(before_the_argument)[0] == theirs.split(before_the_argument)[0]


# -- item 4: jit's surface ---------------------------------------------------------------------
def _outputs(x, y):
    return {"s": jnp.sin(x), "pair": (x * y, y.sum())}


def test_lower_compile_returns_the_output_structure_and_jax_trees():
    lowered = {k: jit(_outputs).lower(X, Y) for k, jit in JITS.items()}
    compiled = {k: low.compile() for k, low in lowered.items()}
    chex.assert_trees_all_close(compiled["foldax"](X, Y), compiled["jax"](X, Y))
    for attr in ("in_tree", "out_tree"):
        assert getattr(lowered["foldax"], attr) == getattr(lowered["jax"], attr)
        assert getattr(compiled["foldax"], attr) == getattr(compiled["jax"], attr)
    assert lowered["foldax"].out_info == lowered["jax"].out_info
    assert isinstance(lowered["foldax"].as_text(), str)


def test_lower_compile_with_a_folded_constant_returns_it():
    c = np.arange(3.0)
    f = foldax.jit(lambda x, c: (x * np.sum(c), c))
    out = f.lower(X, c).compile()(X, c)
    ref = jax.jit(lambda x, c: (x * jnp.sum(c), c)).lower(X, c).compile()(X, c)
    chex.assert_trees_all_close(out, ref)
    assert isinstance(out[1], jax.Array) and out[1].dtype == ref[1].dtype
    with pytest.raises(
        FoldaxTypeError, match="(?s)^Function compiled with input pytree does not match.*constant"
    ):
        f.lower(X, c).compile()(X, c + 1)


def test_lower_accepts_shape_dtype_structs():
    spec = jax.ShapeDtypeStruct((3,), jnp.float32)
    outs = {k: jit(lambda x: 2 * x).lower(spec).compile()(X) for k, jit in JITS.items()}
    chex.assert_trees_all_close(outs["foldax"], outs["jax"])


def test_trace_has_jax_traced_surface_and_the_program():
    traced = {k: jit(_outputs).trace(X, Y) for k, jit in JITS.items()}
    assert str(traced["foldax"].jaxpr) == str(traced["jax"].jaxpr)
    assert traced["foldax"].out_info == traced["jax"].out_info
    chex.assert_trees_all_close(
        traced["foldax"].lower().compile()(X, Y), traced["jax"].lower().compile()(X, Y)
    )
    assert isinstance(traced["foldax"].program, foldax.Program)
    assert traced["foldax"].num_equations == traced["foldax"].program.num_equations


def test_eval_shape_matches_jax():
    spec = jax.ShapeDtypeStruct((3,), jnp.float32)
    for args in [(X, Y), (spec, spec)]:
        assert foldax.jit(_outputs).eval_shape(*args) == jax.jit(_outputs).eval_shape(*args)


def test_clear_cache_and_cache_size_match_jax():
    for jit in JITS.values():
        calls = []

        def f(x):
            calls.append(1)
            return x + 1

        g = jit(f)
        assert g._cache_size() == 0
        g(X), g(X)
        assert g._cache_size() == 1 and len(calls) == 1
        g.clear_cache()
        assert g._cache_size() == 0
        g(X)
        assert len(calls) == 2


def test_wrapped_attributes_and_signature_match_jax():
    def f(x: jax.Array, y: int = 2) -> jax.Array:
        """docstring of f."""
        return x * y

    f.some_value = 4
    jf, ff = jax.jit(f), foldax.jit(f)
    for attr in (
        "__doc__",
        "__name__",
        "__module__",
        "__qualname__",
        "__annotations__",
        "__wrapped__",
        "some_value",
    ):
        assert getattr(ff, attr) == getattr(jf, attr), attr
    assert inspect.signature(ff) == inspect.signature(jf) == inspect.signature(f)


@pytest.mark.parametrize(
    "spec,call",
    [
        ({"donate_argnames": "x"}, lambda g, x, y: g(x, y)),
        ({"donate_argnames": "x"}, lambda g, x, y: g(x=x, y=y)),
        ({"donate_argnums": 0}, lambda g, x, y: g(x=x, y=y)),
        ({"donate_argnums": (0, 1)}, lambda g, x, y: g(x, y=y)),
        ({"donate_argnames": ("x", "y")}, lambda g, x, y: g(y=y, x=x)),
    ],
)
def test_donation_of_positional_and_keyword_arguments_matches_jax(spec, call):
    deleted = {}
    for name, jit in JITS.items():
        g = jit(lambda x, y: (x + 1, y * 2), **spec)
        x, y = jnp.ones(4), jnp.ones(4)
        chex.assert_trees_all_close(call(g, x, y), (jnp.full(4, 2.0), jnp.full(4, 2.0)))
        deleted[name] = (x.is_deleted(), y.is_deleted())
    assert deleted["foldax"] == deleted["jax"]


def test_donation_after_static_arguments_matches_jax():
    deleted = {}
    for name, jit in JITS.items():
        g = jit(lambda n, x, y: (x * n, y), static_argnums=0, donate_argnums=1)
        x, y = jnp.ones(4), jnp.ones(4)
        g(3, x, y)
        deleted[name] = (x.is_deleted(), y.is_deleted())
    assert deleted["foldax"] == deleted["jax"] == (True, False)


def test_static_and_donated_names_must_not_intersect():
    with pytest.raises(ValueError, match="cannot intersect") as reference:
        jax.jit(lambda x: x, static_argnames="x", donate_argnames="x")
    with pytest.raises(FoldaxValueError, match="cannot intersect.*Fix"):
        foldax.jit(lambda x: x, static_argnames="x", donate_argnames="x")
    assert reference.type is ValueError


def test_disable_jit_runs_the_python_body_like_jax():
    counts = {}
    for name, jit in JITS.items():
        calls = []

        @jit
        def f(x):
            calls.append(type(x))
            return x * 2

        with jax.disable_jit():
            chex.assert_trees_all_close(f(X), X * 2)
            f(X)
        f(X), f(X)
        counts[name] = len(calls)
    assert counts["foldax"] == counts["jax"] == 3


def test_token_arguments_and_outputs_like_jax():
    token = jax.lax.create_token()
    for jit in JITS.values():
        arr, out_token = jit(lambda a, t: (a * 2, t))(X, token)
        chex.assert_trees_all_close(arr, X * 2)
        assert isinstance(out_token, type(token)) and out_token is not token
        assert isinstance(jit(lambda x: jax.lax.create_token())(X), type(token))


class _Opaque:  # __jax_array__ alone: JAX refuses it as an argument
    def __init__(self, value):
        self.value = value

    def __jax_array__(self):
        return self.value

    shape = property(lambda self: self.value.shape)
    dtype = property(lambda self: self.value.dtype)


@functools.partial(jax.tree_util.register_dataclass, data_fields=["value"], meta_fields=[])
class _Registered(_Opaque):  # the same as a pytree: its leaves are traced
    pass


def test_jax_array_protocol_objects_like_jax():
    outs = {k: jit(lambda a: jnp.sin(a) + 1)(_Registered(X)) for k, jit in JITS.items()}
    chex.assert_trees_all_close(outs["foldax"], outs["jax"])
    for jit in JITS.values():
        with pytest.raises(ValueError, match=r"Triggering __jax_array__\(\) during abstractif"):
            jit(lambda a: a)(_Opaque(X))


def test_callable_checks_match_jax():
    def gen(x):
        yield x

    for bad, message in [
        (3, "Expected a callable value"),
        (gen, "Expected a function, got a generator function"),
        (staticmethod(lambda x: x), "staticmethod arguments are not supported"),
    ]:
        with pytest.raises(TypeError, match=message):
            jax.jit(bad)
        with pytest.raises(FoldaxTypeError, match=message + ".*Fix"):
            foldax.jit(bad)


def test_unhashable_static_argument_raises_jax_value_error():
    for jit in JITS.values():
        with pytest.raises(ValueError, match="Non-hashable static arguments are not supported"):
            jit(lambda x, y: x, static_argnums=1)(X, np.ones(2))


# -- item 5: caching as safe as jax.jit's ------------------------------------------------------
def _counting(jit):
    calls = []

    def f(a, b):
        calls.append(1)
        return a @ b

    return jit(f), calls


def test_matmul_precision_change_retraces_like_jax():
    m = jnp.linspace(0.0, 1.0, 16).reshape(4, 4)
    counts, texts = {}, {}
    for name, jit in JITS.items():
        g, calls = _counting(jit)
        g(m, m)
        with jax.default_matmul_precision("highest"):
            g(m, m)
            texts[name] = g.lower(m, m).as_text()
        g(m, m)
        counts[name] = len(calls)
    assert counts["foldax"] == counts["jax"]
    assert ("HIGHEST" in texts["foldax"]) == ("HIGHEST" in texts["jax"])


@pytest.mark.parametrize(
    "setting,value,args",
    [
        (jax.numpy_rank_promotion, "raise", (jnp.ones(3), jnp.ones((2, 3)))),
        (jax.numpy_dtype_promotion, "strict", (jnp.ones(3, jnp.int32), jnp.ones(3, jnp.float32))),
    ],
)
def test_promotion_settings_are_part_of_the_key_like_jax(setting, value, args):
    for jit in JITS.values():
        g = jit(lambda a, b: a + b)
        g(*args)  # allowed by default
        with setting(value), pytest.raises((ValueError, TypeError)):
            g(*args)  # a cached program would silently answer here


def test_x64_change_retraces_like_jax():
    outs = {}
    for name, jit in JITS.items():
        g = jit(lambda a: jnp.asarray(a) * 2)
        g(np.float32(1.0))
        with jax.enable_x64(True):
            outs[name] = g(jnp.ones(2, jnp.float64)).dtype
    assert outs["foldax"] == outs["jax"] == jnp.float64


@pytest.mark.parametrize(
    "fn, args",
    [
        (lambda c: c, (np.arange(3.0),)),  # every output folded: no XLA computation
        (lambda x, c: (x * 2, c, 3.0), (jnp.ones(2), np.arange(2.0))),  # traced and folded
    ],
    ids=["folded", "mixed"],
)
def test_folded_outputs_follow_x64_like_jax(fn, args):
    dtypes = {}
    for name, jit in JITS.items():
        g = jit(fn)
        before = g(*args)
        with jax.enable_x64(True):
            inside = g(*args)
        after = g(*args)
        dtypes[name] = [jax.tree.map(lambda a: a.dtype, out) for out in (before, inside, after)]
    assert dtypes["foldax"] == dtypes["jax"]


def test_compiled_code_is_shared_per_function_like_jax():
    counts = {}
    for name, jit in JITS.items():
        calls = []

        def f(x):
            calls.append(1)
            return x * 2

        for _ in range(20):
            jit(f)(X)
        counts[name] = len(calls)
    assert counts["foldax"] == counts["jax"] == 1


def test_different_options_do_not_share_code():
    calls = []

    def f(x, n):
        calls.append(1)
        return x * n

    foldax.jit(f, static_argnums=1)(X, 2)
    foldax.jit(f, auxiliary_args="n")(X, 2)
    assert len(calls) == 2


def test_the_cache_lets_the_function_go_like_jax():
    for jit in JITS.values():

        def f(x):
            return x + 1

        jit(f)(X)
        ref = weakref.ref(f)
        del f
        gc.collect()
        assert ref() is None


def test_function_without_weak_references_fails_when_called_like_jax():
    class Slotted:
        __slots__ = ()

        def __call__(self, x):
            return x + 1

    for jit in JITS.values():
        g = jit(Slotted())  # building it is fine
        with pytest.raises(TypeError, match="cannot create weak reference"):
            g(X)
    with pytest.raises(FoldaxError, match="weak.*Fix"):
        foldax.jit(Slotted())(X)


def test_eval_shape_knows_out_shardings_like_jax():
    sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    outs = {k: jit(lambda x: x * 2, out_shardings=sharding).eval_shape(X) for k, jit in JITS.items()}
    assert outs["foldax"] == outs["jax"] and outs["foldax"].sharding == sharding


def test_static_argument_whose_eq_raises_gives_jax_value_error():
    class HashableWithoutEq:
        def __hash__(self):
            return 1

        def __eq__(self, other):
            raise NotImplementedError("no comparison")

    for jit in JITS.values():
        g = jit(lambda x, s: x + 3, static_argnums=1)
        g(X, HashableWithoutEq())
        with pytest.raises(ValueError, match="static arguments should be comparable using __eq__"):
            g(X, HashableWithoutEq())


# -- JAX's api_test conformance: repr, jax.clear_caches, nothing compiled for folded calls ------
def test_repr_is_jax_jits():
    def f(x):
        return x

    class BadRepr:
        def __call__(self, x):
            return x

        def __repr__(self):
            raise ValueError("invalid repr")

    assert repr(foldax.jit(f)) == repr(jax.jit(f)) == f"<PjitFunction of {f!r}>"
    for jit in JITS.values():
        jitted = jit(BadRepr())
        assert repr(jitted) == "<PjitFunction>"  # the function's own repr fails
        del jitted.__wrapped__
        assert repr(jitted) == "<PjitFunction>"


def test_jax_clear_caches_clears_foldax_jit_like_jax():
    for jit in JITS.values():
        calls = []

        def f(x):
            calls.append(1)
            return jax.lax.cond(x > 0, lambda: x, lambda: -x)

        g = jit(f)
        g(X[1]), g(X[1])
        jaxpr = g.trace(X[1]).jaxpr
        inner = weakref.ref(jaxpr.jaxpr)
        jax.clear_caches()
        assert g._cache_size() == 0
        del jaxpr
        gc.collect()
        assert inner() is None  # nothing cached keeps the traced jaxpr alive
        g(X[1])
        assert len(calls) == 2  # traced again after clear_caches, as jax.jit


def _compile_events(fn):
    """JAX's jaxpr traces and XLA compilations while ``fn`` runs (jax.monitoring events)."""
    names = {
        "/jax/core/compile/jaxpr_trace_duration": "traces",
        "/jax/core/compile/backend_compile_duration": "compiles",
    }
    counts = dict.fromkeys(names.values(), 0)

    def listener(event, duration, **kwargs):
        if event in names:
            counts[names[event]] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        fn()
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    return counts


def test_a_call_folded_entirely_compiles_nothing():
    def f(x):
        return x

    inp = np.arange(8)
    events = {}
    for name, jit in JITS.items():
        jax.eval_shape(f, inp)
        events[name] = _compile_events(lambda: jit(f)(inp))
    # foldax.jit folds the NumPy argument: no trace or compilation beyond what jax.jit does,
    # and nothing for XLA at all
    assert events["foldax"]["traces"] <= events["jax"]["traces"]
    assert events["foldax"]["compiles"] == 0 < events["jax"]["compiles"]
    out, ref = foldax.jit(f)(inp), jax.jit(f)(inp)
    assert isinstance(out, jax.Array) and out.dtype == ref.dtype
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize(
    "jit_kwargs, lower_args, call_args",
    [
        ({}, (X, Y), (X, jnp.ones(4))),
        ({"static_argnames": "n"}, (X, 2), (jnp.ones(4), 2)),
    ],
    ids=["positional", "after-static"],
)
def test_compiled_call_with_other_shapes_names_parameters_like_jax(jit_kwargs, lower_args, call_args):
    def f(x, n):
        return x * n

    messages = []
    for jit in JITS.values():
        compiled = jit(f, **jit_kwargs).lower(*lower_args).compile()
        args = call_args if jit is foldax.jit or not jit_kwargs else call_args[:1]
        with pytest.raises(TypeError) as error:
            compiled(*args)
        messages.append(str(error.value))
    assert messages[0] == messages[1]


def test_jit_errors_start_with_jax_words():
    def f(x, n):
        return x

    class EqRaises:
        def __hash__(self):
            return 1

        def __eq__(self, other):
            raise ValueError("no comparison")

    def gen(x):
        yield x

    class Slotted:
        __slots__ = ()

        def __call__(self, x):
            return x

    cases = [
        lambda jit: jit(3),
        lambda jit: jit(gen),
        lambda jit: jit(f, static_argnames="z"),
        lambda jit: jit(f, static_argnums=5),
        lambda jit: jit(f, static_argnums=1)(X, [1]),
        lambda jit: jit(f)(2**70, 1),
        lambda jit: jit(f)(np.ma.masked_array([1.0, 2.0], mask=[0, 1]), 1),
        lambda jit: [jit(f, static_argnums=1)(X, EqRaises()) for _ in range(2)],
        lambda jit: jit(f, in_shardings=(None,) * 3)(X, Y),
        lambda jit: jit(Slotted())(X),
    ]
    for case in cases:
        with pytest.raises(Exception) as reference:
            case(jax.jit)
        with pytest.raises(type(reference.value)) as error:
            case(foldax.jit)
        assert isinstance(error.value, FoldaxError)
        jax_words = str(reference.value).split(".")[0]
        assert str(error.value).startswith(jax_words), (str(error.value), jax_words)
        assert "Fix" in str(error.value) or "fix" in str(error.value)
