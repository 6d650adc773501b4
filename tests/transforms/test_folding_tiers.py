"""Computations folding asks for often are compiled and taken from the bounded eager cache
(core/eager.py ``evaluate_if_hot``), and a hot nested jit whose body computes with one primitive
at most is computed whole (core/whole_call.py): bit for bit what the cheap routes (NumPy,
inlining) give, what JAX's eager evaluation gives and what jax.jit computes, weak types included;
the cache stays bounded; checkify still sees what it checks inside such a call.

References: JAX's eager evaluation (``jax.ensure_compile_time_eval``), jax.jit, JAX's checkify."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.experimental import checkify as jc

import foldax
from foldax.transforms.core import eager
from foldax.transforms.core.numpy_eval import compute_now
from foldax.transforms.core.whole_call import computes_whole

DTYPES = ["bool", "int8", "uint32", "float16", "bfloat16", "float32", "complex64"]


def _same(mine, ref):
    assert jax.typeof(mine) == jax.typeof(ref)
    mine, ref = np.asarray(mine), np.asarray(ref)
    if ref.dtype.kind == "b" or ref.dtype.itemsize not in (1, 2, 4, 8):
        np.testing.assert_array_equal(mine, ref)
    else:
        bits = np.dtype(f"u{ref.dtype.itemsize}")
        np.testing.assert_array_equal(mine.view(bits), ref.view(bits))


def _values(dtype, n):
    dt = jnp.dtype(dtype)
    if dt.kind == "b":
        return np.arange(n) % 3 == 0
    if dt.kind in "iu":
        return (np.arange(n) % 7).astype(dt)
    x = np.random.default_rng(n).normal(size=n) * 3
    return (x + 1j * x[::-1] if dt.kind == "c" else x).astype(dt)


@pytest.fixture
def promote_at_once(monkeypatch):
    """Every computation counts as asked for often."""
    monkeypatch.setattr(eager, "PROMOTE_AFTER", 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_compiled_route_equals_the_numpy_route_and_jax(dtype, monkeypatch):
    x = _values(dtype, 37)
    y = x[::-1].copy()
    calls = [
        (lax.concatenate_p, [x, y], {"dimension": 0}),
        (lax.rev_p, [x], {"dimensions": (0,)}),
        (lax.reshape_p, [x[:36]], {"new_sizes": (6, 6), "dimensions": None, "sharding": None}),
    ]
    if jnp.dtype(dtype).kind != "b":
        calls += [(lax.add_p, [x, y], {}), (lax.sub_p, [x, y], {}), (lax.mul_p, [x, y], {})]
    for prim, args, params in calls:
        with jax.ensure_compile_time_eval():
            ref = prim.bind(*args, **params)
        monkeypatch.setattr(eager, "PROMOTE_AFTER", 10**9)
        cheap = compute_now(prim, args, params)  # NumPy where exact, else compiled
        monkeypatch.setattr(eager, "PROMOTE_AFTER", 1)
        before = eager.cache_info()
        compiled = compute_now(prim, args, params)
        after = eager.cache_info()
        assert (after.hits, after.misses) != (before.hits, before.misses)  # from the cache
        _same(cheap, ref)
        _same(compiled, ref)


def _step(u):
    """A step of bench_jit's diffusion: jnp ufuncs and roll, each a nested jit computing with
    one primitive at most."""
    return u + 2 * (jnp.roll(u, 1) + jnp.roll(u, -1) - u * 3)


@pytest.mark.parametrize("dtype", ["int8", "float16", "bfloat16", "float32", "complex64"])
def test_whole_calls_equal_inlining_jax_eager_and_jax_jit(dtype, monkeypatch):
    label = _values(dtype, 29)

    def loss(p, d):
        for _ in range(3):
            d = _step(d)
        return p * d, jnp.add(1.5, 2) * d, jnp.multiply(2, 3.5)  # weakly typed ones too

    p = jnp.ones(29, label.dtype)
    monkeypatch.setattr(eager, "PROMOTE_AFTER", 10**9)
    inlined = foldax.jit(loss)(p, label)
    monkeypatch.setattr(eager, "PROMOTE_AFTER", 1)
    before = eager.cache_info()
    program = foldax.trace(loss)(p, label)
    assert program.num_equations <= 2  # the loop on the label is folded
    whole = program(p, label)
    assert eager.cache_info().hits + eager.cache_info().misses > before.hits + before.misses
    eager_ref = loss(p, jnp.asarray(label))  # JAX's eager mode: each jnp call compiled whole
    with jax.disable_jit():
        op_by_op = loss(p, label)
    jit_ref = jax.jit(loss)(p, label)
    for mine, alone, ref, unfused, staged in zip(whole, inlined, eager_ref, op_by_op, jit_ref):
        _same(mine, ref)
        _same(alone, ref)
        _same(mine, unfused)
        if jnp.dtype(dtype).kind in "iu":
            _same(mine, staged)
        else:  # jax.jit fuses the whole loop (contracting a * b + c, float16 kept in float32
            # throughout): its roundings are not eager JAX's, which folding keeps
            np.testing.assert_allclose(
                np.asarray(mine, np.complex128), np.asarray(staged, np.complex128), rtol=1e-2
            )


def test_only_bodies_computing_with_one_primitive_are_computed_whole():
    x = jnp.ones(8)
    body = lambda f: jax.make_jaxpr(f)(x).eqns[0].params["jaxpr"]  # noqa: E731
    assert computes_whole(body(lambda u: jnp.roll(u, 3)))
    assert computes_whole(body(jax.jit(lambda u: jnp.multiply(2, u))))  # a conversion and a mul
    assert not computes_whole(body(jax.jit(lambda u: u * 2 + 1)))  # two: fused, XLA may differ
    assert not computes_whole(body(jax.jit(lambda u: jnp.broadcast_to(u, (4096, 8)))))  # expands
    keys = jax.make_jaxpr(jax.jit(jax.random.key_data))(jax.random.key(0))  # one primitive, on a key
    assert not computes_whole(keys.eqns[0].params["jaxpr"])


def test_the_answer_of_computes_whole_does_not_keep_a_body_alive():
    import gc
    import weakref

    def nested_body():
        big = jnp.arange(100_000.0)  # closed over: a constant of the body
        return jax.make_jaxpr(jax.jit(lambda u: u + big))(jnp.ones(100_000)).eqns[0].params["jaxpr"]

    closed = nested_body()
    computes_whole(closed)
    body = weakref.ref(closed)
    consts = [weakref.ref(c) for c in closed.consts]
    del closed
    gc.collect()
    assert body() is None
    assert all(c() is None for c in consts)


def test_the_cache_stays_bounded(promote_at_once, monkeypatch):
    monkeypatch.setattr(eager._CACHE, "maxsize", 3)
    before = eager.cache_info()
    for n in range(3001, 3007):  # six computations, each compiled
        u = np.ones(n, np.float32)
        _same(compute_now(lax.add_p, [u, u], {}), jnp.add(u, u))
        assert eager.cache_info().currsize <= 3
    after = eager.cache_info()
    assert after.misses == before.misses + 6 and after.currsize == 3


def test_traces_at_new_shapes_compile_nothing_for_their_calls():
    def loss(p, d):
        for _ in range(5):
            d = _step(d)
        return jnp.sum(p * d)

    foldax.trace(loss)(jnp.ones(5), np.ones(5, np.float32))  # scalar conversions, compiled once
    before = eager.cache_info().misses
    for n in (2101, 2102, 2103):
        foldax.trace(loss)(jnp.ones(n), np.ones(n, np.float32))
    assert eager.cache_info().misses == before


def test_checkify_sees_a_checked_primitive_inside_a_hot_nested_jit(promote_at_once):
    log = jax.jit(jnp.log)  # one primitive: computed whole when hot, unless checkify checks it

    def f(x, c):
        for _ in range(3):
            c = log(c)
        return x + c

    c = np.float32([2.0, -1.0])
    err, out = foldax.checkify(f, errors=foldax.nan_checks)(jnp.ones(2), c)
    jerr, jout = jc.checkify(f, errors=jc.nan_checks)(jnp.ones(2), c)
    assert err.get() is not None and err.get() == jerr.get()
    _same(out, jout)
