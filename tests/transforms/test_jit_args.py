"""foldax.jit's arguments as jax.jit users expect them (issue 13 §3), against jax.jit: Python
scalars traced weakly typed, outputs as jax Arrays with JAX's dtypes, read-only NumPy arguments,
traced indexing of NumPy arguments, exact keys, NumPy batches and variable_args."""

import operator
import re
import warnings

import chex
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import foldax
from foldax.errors import (
    ConstantWriteError,
    FoldaxError,
    FoldaxOverflowError,
    FoldaxTypeError,
    FoldaxValueError,
    RetraceWarning,
    TracerToIntegerError,
    TracerToNumpyError,
)


def assert_same_arrays(out, ref):
    """Equal values, dtypes, weak types and types (jax Arrays) leaf by leaf."""
    out_leaves, ref_leaves = jax.tree.leaves(out), jax.tree.leaves(ref)
    assert jax.tree.structure(out) == jax.tree.structure(ref)
    for a, b in zip(out_leaves, ref_leaves):
        assert isinstance(a, jax.Array), type(a)
        assert (a.dtype, a.shape, a.weak_type) == (b.dtype, b.shape, b.weak_type)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# -- 1. Python scalars are traced, weakly typed ------------------------------------------------
SCALARS = [True, 3, -2.5, 1.5 - 2j]


@pytest.mark.parametrize("s", SCALARS, ids=lambda s: type(s).__name__)
def test_python_scalars_are_traced_like_jax_jit(s):
    f = lambda x, s: (x * s, s)  # noqa: E731
    fx, jj = foldax.jit(f), jax.jit(f)
    x = jnp.arange(3.0)
    values = [s, type(s)(0), type(s)(1)] if not isinstance(s, bool) else [True, False]
    for v in values:
        assert_same_arrays(fx(x, v), jj(x, v))
    assert fx.trace_count == jj._cache_size() == 1


def test_new_learning_rate_each_step_does_not_retrace():
    step = lambda w, lr: w - lr * 2 * w  # noqa: E731
    fx, jj = foldax.jit(step), jax.jit(step)
    w = jnp.ones(3)
    for i in range(20):
        assert_same_arrays(fx(w, 1e-3 * (i + 1)), jj(w, 1e-3 * (i + 1)))
    assert fx.trace_count == jj._cache_size() == 1


def test_static_and_auxiliary_scalars_stay_constants():
    calls = []

    def f(x, n):
        calls.append(n)
        return x * n if n > 1 else x - n

    fs = foldax.jit(f, static_argnames="n")
    fa = foldax.jit(f, auxiliary_args="n")
    js = jax.jit(f, static_argnames="n")
    for n in [2.0, 0.5]:
        assert_same_arrays(fs(jnp.ones(2), n=n), js(jnp.ones(2), n=n))
        assert_same_arrays(fa(jnp.ones(2), n), js(jnp.ones(2), n=n))
    assert fs.trace_count == fa.trace_count == js._cache_size() == 2


@foldax.dataclass
class Scaled:
    w: jax.Array
    lr: float  # variable field: traced
    scale: float = foldax.field(kind="value", default=1.0)
    name: str = foldax.field(kind="static", default="s")

    def __call__(self, x):
        return self.w * x * self.lr / self.scale


def test_scalars_in_dataclass_fields_follow_the_field_kind():
    fx, jj = foldax.jit(lambda m, x: m(x)), jax.jit(lambda m, x: m(x))
    x = jnp.ones(2)
    for lr in [0.1, 0.2, 0.3]:  # variable field: one trace, as in jax.jit
        assert_same_arrays(fx(Scaled(jnp.ones(2), lr), x), jj(Scaled(jnp.ones(2), lr), x))
    assert fx.trace_count == jj._cache_size() == 1
    for scale in [2.0, 4.0]:  # value field: in the tree structure, by value
        assert_same_arrays(fx(Scaled(jnp.ones(2), 0.1, scale), x), jj(Scaled(jnp.ones(2), 0.1, scale), x))
    assert fx.trace_count == jj._cache_size() == 3


def test_the_rule_is_documented():
    assert "Python scalars" in foldax.jit.__doc__ and "variable_args" in foldax.jit.__doc__
    assert "weakly typed" in foldax.jit.__doc__


# -- 2. outputs are jax Arrays with JAX's dtypes -------------------------------------------------
DTYPES = [
    np.float64,
    np.float32,
    np.float16,
    ml_dtypes.bfloat16,
    ml_dtypes.float8_e4m3fn,
    np.int64,
    np.int8,
    np.uint32,
    np.bool_,
    np.complex128,
    ml_dtypes.int4,
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_folded_outputs_are_jax_arrays_with_jax_dtypes(dtype):
    c = np.arange(3).astype(dtype)
    f = lambda x, c: (x, c, c[1:], 7, 2.5, True, 1j)  # noqa: E731
    assert_same_arrays(foldax.jit(f)(jnp.ones(2), c), jax.jit(f)(jnp.ones(2), c))


def test_issue_examples_of_outputs():
    assert_same_arrays(foldax.jit(lambda x: x * 2)(np.arange(3.0)), jax.jit(lambda x: x * 2)(np.arange(3.0)))
    assert_same_arrays(foldax.jit(lambda x: x + 1)(1), jax.jit(lambda x: x + 1)(1))


def test_traced_programs_keep_their_constants():
    program = foldax.trace(lambda x: (x, np.arange(3.0)))(jnp.ones(2))
    assert program.out_leaves[1].dtype == np.float64


# -- 3. NumPy arguments are read-only ----------------------------------------------------------
def test_numpy_arguments_are_read_only_inside():
    def mutate(x, c):
        c[0] = 100.0
        return x + c

    c = np.zeros(2)
    with pytest.raises(TypeError) as jax_error:
        jax.jit(mutate)(jnp.ones(2), c)  # the reference: a traced NumPy argument is immutable
    with pytest.raises(ConstantWriteError) as error:
        foldax.jit(mutate)(jnp.ones(2), c)
    assert str(error.value).startswith(str(jax_error.value))  # JAX's words first, then the fix
    assert re.search(r"(?s)NumPy argument.*c.copy\(\)", str(error.value))
    assert isinstance(error.value, TypeError) and isinstance(error.value, ValueError)  # NumPy's
    assert c[0] == 0.0 and c.flags.writeable  # the caller's array itself is left as it was

    def out_argument(x, c):
        np.add(c, 1.0, out=c)
        return x

    with pytest.raises(ConstantWriteError, match=r"out_argument writes into a NumPy argument.*read-only"):
        foldax.jit(out_argument)(jnp.ones(2), c)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x, c: _in_place(c, x),
        lambda x, c: _in_place(c * 2, x),
        lambda x, c: _in_place(c.T, c),
    ],
    ids=["argument", "numpy-result", "view"],
)
def test_in_place_operators_on_numpy_arguments_make_new_arrays_like_jax_jit(fn):
    c = np.arange(1.0, 4.0)
    assert_same_arrays(foldax.jit(fn)(jnp.ones(3), c), jax.jit(fn)(jnp.ones(3), c))
    assert (c == np.arange(1.0, 4.0)).all()


def _in_place(a, b):
    """Every in-place operator; ``before`` names the first array, which ``x += y`` on a jax
    array (or on the tracer jax.jit makes of a NumPy argument) leaves as it was."""
    before = a
    a += b
    a -= 0.5
    a *= b
    a /= 2.0
    a **= 1.0
    a //= 1.0
    a %= 100.0
    return a, before


@pytest.mark.parametrize(
    "fn",
    [operator.index, hex, lambda i: np.arange(4)[i], lambda i: np.sin(i)],
    ids=["index", "hex", "numpy-index", "numpy-function"],
)
def test_traced_values_handed_to_numpy_raise_jax_errors_first(fn):
    with pytest.raises(TypeError) as reference:
        jax.jit(fn)(jnp.int32(1))
    jax_error = type(reference.value)  # TracerIntegerConversionError or TracerArrayConversionError
    with pytest.raises(jax_error) as error:
        foldax.jit(fn)(jnp.int32(1))
    mine = (
        TracerToIntegerError if jax_error is jax.errors.TracerIntegerConversionError else TracerToNumpyError
    )
    assert isinstance(error.value, mine)
    assert str(error.value).splitlines()[0] == str(reference.value).splitlines()[0]  # JAX's words first
    assert "Fix: use jnp" in str(error.value)


def test_numpy_code_on_read_only_arguments_still_works():
    f = lambda x, c: x * np.sin(c**2).sum() + np.cumsum(c)  # noqa: E731
    ref = lambda x, c: x * jnp.sin(c**2).sum() + jnp.cumsum(c)  # noqa: E731
    c = np.linspace(0, 1, 4)
    chex.assert_trees_all_close(foldax.jit(f)(jnp.ones(4), c), jax.jit(ref)(jnp.ones(4), c), rtol=1e-6)


# -- 4. traced indices and .at on NumPy arguments ---------------------------------------------
@pytest.mark.parametrize(
    "fn",
    [
        lambda c, i: c[i],
        lambda c, i: c[i, 1:],
        lambda c, i: (c * 2)[i],
        lambda c, i: c[jnp.array([0, 2]) + i],
        lambda c, i: c.at[i].set(7.0),
        lambda c, i: c.at[i, 0].add(1.0),
        lambda c, i: (c - 1).at[i].get(),
    ],
    ids=["index", "index-slice", "numpy-result", "array-index", "at-set", "at-add", "at-get"],
)
def test_numpy_arguments_index_with_traced_indices_like_jax_jit(fn):
    c, i = np.arange(12.0).reshape(3, 4), 1
    assert_same_arrays(foldax.jit(fn)(c, i), jax.jit(fn)(c, i))


def test_numpy_closure_indexed_with_a_traced_index_shows_the_fix():
    table = np.arange(4.0)
    f = lambda i: table[i]  # noqa: E731
    with pytest.raises(TypeError):
        jax.jit(f)(1)
    with pytest.raises(FoldaxTypeError, match=r"jnp.asarray\(c\)\[i\]"):
        foldax.jit(f)(1)


# -- 5. keys are exact ---------------------------------------------------------------------------
@foldax.dataclass
class Divide:
    d: object = foldax.field(kind="value")

    def __call__(self, x):
        return x / self.d


@pytest.mark.parametrize(
    "pair",
    [(0.0, -0.0), (0j, -0j), (np.float32(0), np.float32(-0.0)), (np.zeros(2), -np.zeros(2))],
    ids=["float", "complex", "np32", "array"],
)
def test_signed_zeros_are_different_keys(pair):
    fx, jj = foldax.jit(lambda m, x: m(x)), jax.jit(lambda m, x: m(x))
    x = jnp.ones(2)
    for d in pair:
        assert_same_arrays(fx(Divide(d), x), jj(Divide(d), x))
    assert fx.trace_count == 2


@pytest.mark.parametrize(
    "nan", [float("nan"), np.float32("nan"), np.array([1.0, np.nan])], ids=["python", "np-scalar", "array"]
)
def test_nan_constants_do_not_retrace(nan):
    fx = foldax.jit(lambda m, x: m(x))
    for _ in range(3):
        out = fx(Divide(nan), jnp.ones(2))
    assert_same_arrays(out, jax.jit(lambda x: x / nan)(jnp.ones(2)))
    assert fx.trace_count == 1


def test_jax_array_in_value_field_is_keyed_by_value():
    fx = foldax.jit(lambda m, x: m(x))
    for _ in range(3):
        fx(Divide(jnp.full(2, 2.0)), jnp.ones(2))  # a new, equal array each call
    assert fx.trace_count == 1
    assert_same_arrays(
        fx(Divide(jnp.full(2, 4.0)), jnp.ones(2)),
        jax.jit(lambda m, x: m(x))(Divide(jnp.full(2, 4.0)), jnp.ones(2)),
    )
    assert fx.trace_count == 2


@pytest.mark.parametrize(
    "pair",
    [(ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2), (np.float16, ml_dtypes.bfloat16), (np.int8, np.uint8)],
    ids=lambda p: np.dtype(p).name,
)
def test_same_bits_other_dtype_is_another_key(pair):
    f = lambda x, c: x + c.astype(np.float32)  # noqa: E731
    fx = foldax.jit(f)
    bits = np.arange(1, 5, dtype=np.uint8 if np.dtype(pair[0]).itemsize == 1 else np.uint16)
    for dtype in pair:
        c = bits.view(dtype)
        assert_same_arrays(fx(jnp.ones(4), c), jax.jit(f)(jnp.ones(4), c))
    assert fx.trace_count == 2


@pytest.mark.parametrize("n", [10, 100_000], ids=["small", "digest"])
def test_array_keys_follow_content(n):
    fx = foldax.jit(lambda x, c: x + c.sum())
    c = np.arange(n, dtype=np.float32)
    fx(jnp.ones(1), c)
    fx(jnp.ones(1), c.copy())  # equal content: same entry
    assert fx.trace_count == 1
    c[n // 2] = -1.0  # the caller changed it: a new key
    assert_same_arrays(fx(jnp.ones(1), c), jax.jit(lambda x, c: x + c.sum())(jnp.ones(1), c))
    assert fx.trace_count == 2
    frozen = c.copy()
    frozen.flags.writeable = False  # read-only: its digest is remembered
    fx(jnp.ones(1), frozen), fx(jnp.ones(1), frozen)
    assert fx.trace_count == 2


# -- 6. NumPy batches ----------------------------------------------------------------------------
def _retrace_warnings(caught):
    return [str(w.message) for w in caught if issubclass(w.category, RetraceWarning)]


def test_second_numpy_batch_warns_naming_argument_and_fix():
    def step(w, batch):
        return w * batch.mean()

    f = foldax.jit(step)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f(jnp.ones(2), np.zeros((4, 2)))
        assert not _retrace_warnings(caught)
        f(jnp.ones(2), np.ones((4, 2)))
    messages = _retrace_warnings(caught)
    assert len(messages) == 1
    jax_name = jax.jit(step).trace(jnp.ones(2), np.ones((4, 2))).jaxpr.debug_info.arg_names[1]  # 'batch'
    assert f"the NumPy argument {jax_name} (float64[4, 2])" in messages[0]
    assert "variable_args=('batch',)" in messages[0] and f"jnp.asarray({jax_name})" in messages[0]


def test_variable_args_trace_numpy_batches():
    def step(w, batch, lr):
        return w - lr * (w * batch).mean(0)

    fx = foldax.jit(step, variable_args="batch")
    jj = jax.jit(step)
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RetraceWarning)
        for i in range(5):
            batch = rng.normal(size=(8, 3))
            assert_same_arrays(fx(jnp.ones(3), batch, 0.1 / (i + 1)), jj(jnp.ones(3), batch, 0.1 / (i + 1)))
    assert fx.trace_count == jj._cache_size() == 1
    assert_same_arrays(fx(jnp.ones(3), batch=batch, lr=0.5), jj(jnp.ones(3), batch=batch, lr=0.5))


def test_variable_args_errors():
    with pytest.raises(FoldaxValueError, match=r"variable_args.*'nope' is not a parameter"):
        foldax.jit(lambda x: x, variable_args="nope")
    f = foldax.jit(lambda x, cfg: x, variable_args="cfg")
    with pytest.raises(FoldaxTypeError, match=r"argument 1 is listed in variable_args.*str"):
        f(jnp.ones(1), "relu")
    assert issubclass(FoldaxTypeError, FoldaxError)


# -- bounded caches (issue 14) -------------------------------------------------------------------
def test_entries_are_evicted_least_recently_used_first():
    f = foldax.jit(lambda x, c: x + c, max_entries=2)
    x, cs = jnp.ones(2), [np.float32(i) for i in range(3)]
    f(x, cs[0]), f(x, cs[1]), f(x, cs[0]), f(x, cs[2])  # cs[1] is the least recently used
    assert f.trace_count == 3 and len(f.entries) == 2
    assert foldax.trace_check(f, x, cs[0]) == (True, "")
    ok, reason = foldax.trace_check(f, x, cs[1])
    assert not ok and reason.startswith("Evicted") and "max_entries" in reason
    assert_same_arrays(f(x, cs[1]), jax.jit(lambda x, c: x + c)(x, cs[1]))
    assert f.trace_count == 4  # the retrace after eviction is counted


def test_entries_are_bounded_by_held_constant_bytes():
    f = foldax.jit(lambda x, c: x + c.sum(), max_constant_bytes=int(2.5 * 2**20))
    arrays = [np.full(2**18, float(i), np.float32) for i in range(4)]  # 1 MiB each
    for c in arrays:
        f(jnp.ones(1), c)
    assert len(f.entries) == 2 and f.entries.held_bytes() <= 2.5 * 2**20


def test_evicted_constants_are_released():
    import gc
    import weakref

    f = foldax.jit(lambda x, c: x + c.sum(), max_entries=1)
    c = np.ones(10_000)
    ref = weakref.ref(c)
    f(jnp.ones(1), c)
    del c
    f(jnp.ones(1), np.zeros(10_000))
    gc.collect()
    assert ref() is None


def test_global_cache_limits_apply_to_functions_without_their_own():
    previous = foldax.jit_cache_limits(max_entries=1)
    try:
        f = foldax.jit(lambda x, c: x * c)
        g = foldax.jit(lambda x, c: x * c, max_entries=3)
        for i in range(3):
            f(jnp.ones(1), np.float32(i)), g(jnp.ones(1), np.float32(i))
        assert (len(f.entries), len(g.entries)) == (1, 3)
    finally:
        foldax.jit_cache_limits(**previous)
    for bad in [0, -1, 1.5, "many"]:
        with pytest.raises(FoldaxValueError, match="positive integer"):
            foldax.jit_cache_limits(max_entries=bad)
        with pytest.raises(ValueError, match="max_constant_bytes"):
            foldax.jit(lambda x: x, max_constant_bytes=bad)


# -- misuses of traced scalars, as jax.jit refuses them -------------------------------------------
@pytest.mark.parametrize("value", [2**64, -(2**63) - 1], ids=["above", "below"])
def test_out_of_range_python_int_raises_overflow_like_jax_jit(value):
    f = lambda x, n: x * n  # noqa: E731
    with pytest.raises(OverflowError):
        jax.jit(f)(1.0, n=value)
    with pytest.raises(FoldaxOverflowError, match=r"kwargs\['n'\].*static_argnames"):
        foldax.jit(f)(1.0, n=value)
    assert issubclass(FoldaxOverflowError, OverflowError)


@pytest.mark.parametrize(
    "fn", [lambda x: x.item(), lambda x: int(x), lambda x: x if x > 0 else -x], ids=["item", "int", "if"]
)
def test_concrete_value_of_a_traced_scalar_raises_jax_concretization_error(fn):
    with pytest.raises(jax.errors.ConcretizationTypeError) as jax_error:
        jax.jit(fn)(1)
    with pytest.raises(jax.errors.ConcretizationTypeError) as foldax_error:
        foldax.jit(fn)(1)
    assert isinstance(foldax_error.value, FoldaxError)
    assert str(jax_error.value).splitlines()[0] in str(foldax_error.value)


def test_masked_arrays_are_refused_like_jax_jit():
    x = np.ma.array([1, 2, 3], mask=[True, False, True])
    with pytest.raises(ValueError, match="numpy masked arrays are not supported"):
        jax.jit(lambda x: x)(x)
    with pytest.raises(FoldaxValueError, match=r"numpy masked arrays are not supported.*filled"):
        foldax.jit(lambda x: x)(x)


@pytest.mark.parametrize(
    "options", [{"donate_argnames": ("z", "y")}, {"donate_argnums": (0, 1)}], ids=["argnames", "argnums"]
)
def test_donated_scalars_in_dicts_like_jax_jit(options):
    f = lambda z, y, x: (z, y, x)  # noqa: E731
    args = ({"c": 3.0},)
    kwargs = {"y": {"b": 2.0}, "x": {"a": 1.0}}
    ref = jax.jit(f, **options).lower(*args, **kwargs).args_info
    out = foldax.jit(f, **options).lower(*args, **kwargs).args_info
    donated = lambda info: [leaf.donated for leaf in jax.tree.leaves(info)]  # noqa: E731
    assert donated(out) == donated(ref) == [True, False, True]


def test_static_argnums_and_argnames_may_disagree_like_jax_jit():
    def f(x, y):
        return isinstance(x, jax.core.Tracer), isinstance(y, jax.core.Tracer)

    for options, args, kwargs in [
        ({"static_argnums": 1, "static_argnames": ()}, (1,), {"y": 2}),
        ({"static_argnums": (), "static_argnames": "y"}, (2, 3), {}),
    ]:
        seen = []
        g = lambda x, y: seen.append(f(x, y)) or 1  # noqa: E731
        jax.jit(g, **options)(*args, **kwargs)
        foldax.jit(g, **options)(*args, **kwargs)
        assert seen[0] == seen[1] == (True, True)


# -- cache-miss explanations (jax_explain_cache_misses) ------------------------------------------
def _explanations(caplog, fn, first, second):
    """The warnings logged by the second call when the first was made without explaining."""
    fn(*first)
    caplog.clear()
    with jax.explain_cache_misses(True), caplog.at_level("WARNING"):
        fn(*second)
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]


@pytest.mark.parametrize(
    "first, second, expected",
    [
        (
            (np.float32(0), np.float32(1)),
            (np.float32(0), np.int32(1)),
            ["different input types", "at y, now i32[] and before f32[]"],
        ),
        (
            (np.float32(0), np.arange(1, dtype=np.float32)),
            (np.float32(0), np.arange(2, dtype=np.float32)),
            ["different input types", "at y, now f32[2] and before f32[1]"],
        ),
        (
            (jnp.float32(0), jnp.ones(2)),
            (0.0, jnp.ones(2)),
            ["different input types", "at x, now f32[]{weak_type=True} and before f32[]{weak_type=False}"],
        ),
        ((0.0, 1.0), ((0.0, 1.0), 1.0), ["different input pytree"]),
    ],
    ids=["numpy-dtype", "numpy-shape", "weak-type", "tree"],
)
def test_cache_misses_are_explained_like_jax(caplog, first, second, expected):
    f = lambda x, y: jax.tree.leaves(x)[0] + y  # noqa: E731
    for jit in (jax.jit, foldax.jit):
        messages = _explanations(caplog, jit(f), first, second)
        assert len(messages) == 1, (jit, messages)
        assert "TRACING CACHE MISS" in messages[0] and "explanation unavailable" not in messages[0]
        for text in expected:
            assert text in messages[0], (jit, messages[0])


def test_new_function_in_a_loop_is_explained_like_jax(caplog):
    for jit in (jax.jit, foldax.jit):
        caplog.clear()
        with jax.explain_cache_misses(True), caplog.at_level("WARNING"):
            for _ in range(2):
                jit(lambda x: 2 * x)(3)
        messages = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert len(messages) == 2 and "never seen function" in messages[0]
        assert "another function defined on the same line" in messages[1]


def test_static_arguments_of_equal_value_and_other_type_trace_apart_as_in_jax_jit():
    ours = foldax.jit(lambda k: k, static_argnums=(0,))
    theirs = jax.jit(lambda k: k, static_argnums=(0,))
    for x in [1, True, 1.0]:
        got, want = ours(x), theirs(x)
        assert got.dtype == want.dtype and got.weak_type == want.weak_type and got == want


def test_negative_static_argnums_count_from_the_last_parameter_as_in_jax_jit():
    seen = []
    ours = foldax.jit(lambda x, y: seen.append(type(y)) or x * y, static_argnums=-1)
    theirs = jax.jit(lambda x, y: x * y, static_argnums=-1)
    for i in range(3):
        assert ours(2, i) == theirs(2, i)
    assert seen == [int, int, int]


@pytest.mark.parametrize("options", [{"static_argnames": ("a", "b")}, {"auxiliary_args": ("a", "b")}])
def test_keyword_order_makes_no_new_key_as_in_jax_jit(options):
    def traced_count(jit, **kw):
        seen = []

        def f(x, a, b):
            seen.append((a, b))
            return x * a + b

        g = jit(f, **kw)
        outs = [g(jnp.ones(2), a=2, b=3), g(jnp.ones(2), b=3, a=2), g(jnp.ones(2), b=3, a=4)]
        return len(seen), outs

    jax_options = {"static_argnames": options.get("static_argnames") or options["auxiliary_args"]}
    ours, theirs = traced_count(foldax.jit, **options), traced_count(jax.jit, **jax_options)
    assert ours[0] == theirs[0] == 2
    for a, b in zip(ours[1], theirs[1]):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
