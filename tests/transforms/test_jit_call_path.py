"""foldax.jit's fast call path (``jit/plans.py``) finds exactly the entry its full key finds.

Each call below is first asked ``foldax.trace_check`` (which builds the full key) whether it
reuses a compiled program; the call must then trace exactly when it said no, and return what
``jax.jit`` returns. Evicted entries leave the fast path, and ``jax.disable_jit`` still runs the
Python body."""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import foldax
from foldax.errors import FoldaxTypeError


def assert_same_arrays(out, ref):
    assert jax.tree.structure(out) == jax.tree.structure(ref)
    for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(ref)):
        assert isinstance(a, jax.Array), type(a)
        assert (a.dtype, a.shape, a.weak_type) == (b.dtype, b.shape, b.weak_type)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def assert_calls_agree_with_jax_jit(f, calls):
    """Call ``foldax.jit(f)`` and ``jax.jit(f)`` on each ``(args, kwargs)``; foldax traces exactly
    when ``trace_check`` said the call would not reuse a program."""
    fx, jj = foldax.jit(f), jax.jit(f)
    for args, kwargs in calls:
        reuses, _ = foldax.trace_check(fx, *args, **kwargs)
        count = fx.trace_count
        assert_same_arrays(fx(*args, **kwargs), jj(*args, **kwargs))
        assert fx.trace_count == count + (not reuses), (args, kwargs)
    return fx


X = jnp.arange(3.0)
SEQUENCES = {
    "signed zeros": [np.float32(0), np.float32(-0.0), np.float32(0), np.float32(-0.0)],
    "nan": [np.array([1.0, np.nan])] * 3 + [np.array([np.nan, 1.0])],
    "same bits other dtype": [
        np.arange(1, 4, dtype=np.uint8).view(d)
        for d in (ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2, ml_dtypes.float8_e4m3fn)
    ],
    "digested arrays": [np.zeros(5000, np.float32), np.zeros(5000, np.float32), -np.zeros(5000, np.float32)],
    "python scalars": [1, 2.5, True, 1.5 - 2j, 3, 0.5],
    "numpy then jax array": [np.ones(3, np.float32), jnp.ones(3), np.ones(3, np.float32), jnp.ones(3)],
}


@pytest.mark.parametrize("name", SEQUENCES)
def test_positional_calls_reuse_exactly_what_the_full_key_reuses(name):
    calls = [((X, c), {}) for c in SEQUENCES[name]]
    assert_calls_agree_with_jax_jit(lambda x, c: x * jnp.sum(jnp.asarray(c).astype(jnp.float32)), calls)


@pytest.mark.parametrize("name", SEQUENCES)
def test_one_argument_calls_reuse_exactly_what_the_full_key_reuses(name):
    calls = [((c,), {}) for c in SEQUENCES[name]]  # plans found by the argument's type alone
    assert_calls_agree_with_jax_jit(lambda c: 2 * jnp.sum(jnp.asarray(c).astype(jnp.float32)), calls)


@pytest.mark.parametrize("name", SEQUENCES)
def test_nested_and_keyword_calls_reuse_exactly_what_the_full_key_reuses(name):
    calls = [(({"x": X, "c": [c]},), {"scale": c}) for c in SEQUENCES[name]]
    f = lambda tree, scale: tree["x"] * jnp.sum(jnp.asarray(scale).astype(jnp.float32))  # noqa: E731
    assert_calls_agree_with_jax_jit(f, calls)


@foldax.dataclass
class Affine:
    w: jax.Array
    b: object = foldax.field(kind="value")
    activation: str = foldax.field(kind="static")

    def __call__(self, x):
        return getattr(jnp, self.activation)(self.w * x + self.b)


def test_dataclass_calls_reuse_exactly_what_the_full_key_reuses():
    models = [
        Affine(jnp.ones(3), 0.0, "tanh"),
        Affine(jnp.ones(3), -0.0, "tanh"),
        Affine(jnp.ones(3), 0.0, "sin"),
        Affine(2 * jnp.ones(3), 0.0, "tanh"),
        Affine(jnp.ones(3), np.ones(3), "tanh"),
        Affine(jnp.ones(3), np.ones(3), "tanh"),
    ]
    assert_calls_agree_with_jax_jit(lambda m, x: m(x), [((m, X), {}) for m in models])


def test_evicted_entries_leave_the_fast_path():
    fx = foldax.jit(lambda x, c: x + c, max_entries=1)
    constants = [np.float32(0), np.float32(1)] * 3
    for i, c in enumerate(constants):
        assert_same_arrays(fx(X, c), jax.jit(lambda x, c: x + c)(X, c))
        assert fx.trace_count == i + 1  # the other constant's entry was evicted
        assert len(fx.entries) == 1
        assert sum(len(plan.entries) for plan in fx.entries.plans.values()) <= 2  # flat and full


def test_cleared_cache_leaves_the_fast_path():
    fx = foldax.jit(lambda x: 2 * x)
    fx(X), fx(X)
    fx.clear_cache()
    assert_same_arrays(fx(X), 2 * X)
    assert fx.trace_count == 2
    assert len(fx.entries.plans) == 2


def test_disable_jit_runs_the_python_body_after_the_fast_path_is_known():
    seen = []

    def f(x):
        seen.append(type(x))
        return x + 1

    fx = foldax.jit(f)
    fx(X), fx(X)
    with jax.disable_jit():
        assert_same_arrays(fx(X), X + 1)
    assert seen[-1] is type(X) and len(seen) == 2


def test_folded_and_traced_outputs_through_the_fast_path():
    def f(x, c):  # at length 1 the second output is folded, else traced
        return x * 2, (c.sum() if x.shape[0] == 1 else x.sum() + c.sum()), 3, None

    c = np.ones(2, np.float32)
    fx = foldax.jit(f)
    for n in (1, 2, 1, 2, 1):
        x = jnp.ones(n)
        out = fx(x, c)
        assert out[3] is None
        assert_same_arrays(out[:3], jax.jit(f)(x, c)[:3])


class Unhashable:
    def __init__(self, hashable):
        self.hashable = hashable

    def __hash__(self):
        if not self.hashable:
            raise TypeError("unhashable Unhashable")
        return 0

    def __eq__(self, other):
        return isinstance(other, Unhashable)


class Holder(eqx.Module):
    s: Any  # not an array: static inside an equinox Module, as eqx.filter_jit keeps it


def test_an_unhashable_static_leaf_after_a_hashable_one_raises_foldax_error():
    fx = foldax.jit(lambda x, h: x)
    fx(X, Holder(Unhashable(True))), fx(X, Holder(Unhashable(True)))
    with pytest.raises(FoldaxTypeError, match="unhashable Unhashable"):
        fx(X, Holder(Unhashable(False)))


@pytest.mark.parametrize("value", [2**40, -(2**63) - 1], ids=["above_int32", "below_int64"])
def test_an_out_of_range_int_after_a_known_plan_raises_foldax_overflow_like_jax(value):
    f = lambda x, n: x * n  # noqa: E731
    fx, jj = foldax.jit(f), jax.jit(f)
    assert_same_arrays(fx(jnp.float32(1.0), 3), jj(jnp.float32(1.0), 3))  # the plan (Array, int) is known
    with pytest.raises(OverflowError) as jax_error:
        jj(jnp.float32(1.0), value)
    with pytest.raises(foldax.errors.FoldaxOverflowError, match=r"argument path is n\b") as error:
        fx(jnp.float32(1.0), value)
    assert str(error.value).startswith(str(jax_error.value).split(" whose argument path")[0])


# -- the last call's plan (plans.RecentPlan), tried first by the next call -----------------------
@foldax.dataclass
class Many:
    xs: tuple
    scale: object = foldax.field(kind="value", default=1.0)


def _many(*xs, scale=1.0):
    return Many(tuple(xs), scale)


A, B = jnp.arange(3.0), jnp.ones(3)
LEAF_CHANGES = {  # one leaf of a 3-leaf tree changes between calls with the same structure
    "jax arrays": [_many(A, B, B), _many(B, A, B), _many(A, B, B)],
    "to numpy and back": [_many(A, B, B), _many(A, np.ones(3, np.float32), B), _many(A, B, B)],
    "to python scalars": [_many(A, B, B), _many(A, 2.0, B), _many(A, 3, B), _many(A, B, B)],
    "dtypes": [_many(A, B, B), _many(A, B.astype(jnp.int32), B), _many(A, B.astype(jnp.bfloat16), B)],
    "weak types": [
        _many(A, B, jnp.asarray(1.0)),
        _many(A, B, jnp.float32(1.0)),
        _many(A, B, jnp.asarray(2.0)),
    ],
    "value field": [_many(A, B, B), _many(A, B, B, scale=2.0), _many(A, B, B, scale=-0.0), _many(A, B, B)],
}


def _sum_leaves(m):
    return sum(jnp.sum(x) for x in m.xs) * m.scale, m.xs[2]


@pytest.mark.parametrize("name", LEAF_CHANGES)
def test_a_leaf_changing_under_the_last_calls_structure_reuses_what_the_full_key_reuses(name):
    fx = assert_calls_agree_with_jax_jit(_sum_leaves, [((m,), {}) for m in LEAF_CHANGES[name] * 2])
    assert fx.entries.recent is not None  # the calls went through the last call's plan


@pytest.mark.parametrize("name", ["jax arrays", "to python scalars", "dtypes", "weak types"])
def test_traced_leaf_changes_trace_as_often_as_jax_jit(name):
    traces = {"foldax": 0, "jax": 0}

    def counted(impl):
        def f(m):
            traces[impl] += 1
            return _sum_leaves(m)

        return f

    fx, jj = foldax.jit(counted("foldax")), jax.jit(counted("jax"))
    for m in LEAF_CHANGES[name] * 2:
        assert_same_arrays(fx(m), jj(m))
    assert traces["foldax"] == traces["jax"]


STRUCTURE_CHANGES = {  # what flatten_up_to with the last call's structure must not take
    "dict keys": [{"a": A, "b": B}, {"a": A, "c": B}, {"a": A, "b": B}],
    "subtree at a leaf": [{"a": A, "b": B}, {"a": A, "b": (B, B)}, {"a": A, "b": B}],
    "None at a leaf": [{"a": A, "b": B}, {"a": A, "b": None}, {"a": A, "b": B}],
    "list for tuple": [{"a": (A, B)}, {"a": [A, B]}, {"a": (A, B)}],
    "static field": [Affine(A, 0.0, "tanh"), Affine(A, 0.0, "sin"), Affine(A, 0.0, "tanh")],
}


@pytest.mark.parametrize("name", STRUCTURE_CHANGES)
def test_another_structure_than_the_last_calls_reuses_what_the_full_key_reuses(name):
    def f(tree):
        return sum(jnp.sum(x) for x in jax.tree.leaves(tree))

    assert_calls_agree_with_jax_jit(f, [((t,), {}) for t in STRUCTURE_CHANGES[name] * 2])


def test_an_invalid_leaf_under_the_last_calls_structure_raises_jax_error():
    f = lambda m: m.xs[0]  # noqa: E731
    fx = foldax.jit(f)
    fx(_many(A, B, B)), fx(_many(A, B, B))
    with pytest.raises(TypeError) as jax_error:
        jax.jit(f)(_many(A, "relu", B))
    with pytest.raises(foldax.errors.InvalidArgumentError) as error:
        fx(_many(A, "relu", B))
    assert str(error.value).startswith(str(jax_error.value).split("\n")[0])


def test_the_last_calls_plan_leaves_with_its_evicted_entry():
    fx = foldax.jit(lambda m: m.xs[0] * m.scale, max_entries=1)
    calls = [_many(A, B, B), _many(A, B, B, scale=2.0)] * 3
    for i, m in enumerate(calls):
        reuses, _ = foldax.trace_check(fx, m)
        assert_same_arrays(fx(m), jax.jit(lambda m: m.xs[0] * m.scale)(m))
        assert not reuses and fx.trace_count == i + 1 and len(fx.entries) == 1


# -- variable_args take the fast path --------------------------------------------------------
def test_variable_args_calls_reuse_exactly_what_the_full_key_reuses_and_trace_as_jax_jit():
    traces = {"foldax": 0, "jax": 0}

    def counted(impl):
        def step(w, batch, lr):
            traces[impl] += 1
            return w - lr * (w * batch).mean(0)

        return step

    fx, jj = foldax.jit(counted("foldax"), variable_args="batch"), jax.jit(counted("jax"))
    rng = np.random.default_rng(0)
    w = jnp.ones(3)
    batches = [rng.normal(size=(4, 3)).astype(np.float32) for _ in range(3)]
    calls = [((w, b, 0.1), {}) for b in batches] + [
        ((w, jnp.asarray(batches[0]), 0.5), {}),  # a jax array for the same argument
        ((w,), {"batch": batches[1], "lr": 0.2}),  # by keyword
        ((w, batches[2].astype(np.float64), 0.1), {}),  # another dtype
        ((w, batches[0], 0.1), {}),
    ]
    for args, kwargs in calls * 2:
        reuses, _ = foldax.trace_check(fx, *args, **kwargs)
        count = fx.trace_count
        assert_same_arrays(fx(*args, **kwargs), jj(*args, **kwargs))
        assert fx.trace_count == count + (not reuses), (args, kwargs)
    assert traces["foldax"] == traces["jax"]


def test_a_variable_argument_that_cannot_be_traced_raises_after_the_fast_path_is_known():
    fx = foldax.jit(lambda x, cfg: x, variable_args="cfg")
    fx(X, np.ones(2)), fx(X, np.ones(2))
    with pytest.raises(FoldaxTypeError, match=r"jit\(<lambda>\): argument 1 is listed in variable_args.*str"):
        fx(X, "relu")
    with pytest.raises(FoldaxTypeError, match=r"argument 'cfg' is listed in variable_args.*str"):
        fx(X, cfg={"a": np.ones(2), "b": "relu"})
