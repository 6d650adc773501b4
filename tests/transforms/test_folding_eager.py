"""Constants computed with XLA while tracing come from foldax's bounded cache of the computations
JAX's eager evaluation compiles (core/eager.py): bit for bit JAX's eager values and abstract
values, in every dtype, and a trace at a new shape leaves at most the cache's worth behind.

References: JAX's eager evaluation (``jax.ensure_compile_time_eval``) and jax.jit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import foldax
from foldax.transforms.core import eager
from foldax.transforms.core.numpy_eval import compute_now

DTYPES = [
    "bool",
    "int8",
    "uint32",
    "int64",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "complex64",
    "float8_e4m3fn",
    "float8_e5m2",
    "int4",
]


def assert_same_bits(mine, ref):
    assert jax.typeof(mine) == jax.typeof(ref)
    mine, ref = np.asarray(mine), np.asarray(ref)
    bits = np.dtype(f"u{ref.dtype.itemsize}") if ref.dtype.itemsize in (1, 2, 4, 8) else None
    if bits is None or ref.dtype.kind == "b" or ref.dtype.itemsize == 16:
        np.testing.assert_array_equal(mine, ref)
    else:
        np.testing.assert_array_equal(mine.view(bits), ref.view(bits))


@pytest.mark.parametrize("dtype", DTYPES)
def test_computed_as_jax_eager_evaluation(dtype):
    dt = jnp.dtype(dtype)
    values = np.asarray([[0.0, -0.0, 1.5, -2.5], [np.inf, np.nan, 1e-40, 3.0]])
    x = values.astype(dt) if dt.kind in "fcV" else np.arange(-4, 4).reshape(2, 4).astype(dt)
    calls = [
        (lax.add_p, [x, x], {}),
        (lax.mul_p, [x, x[::-1]], {}),
        (lax.reduce_max_p, [x], {"axes": (1,), "out_sharding": None}),
        (lax.cumsum_p, [x], {"axis": 1, "reverse": False}),
    ]
    if dt.kind in "fc" or dt.name.startswith("float8") or dt.name == "bfloat16":
        calls += [
            (lax.tanh_p, [x], {"accuracy": None}),
            (lax.exp_p, [x], {"accuracy": None}),
            (lax.reduce_sum_p, [x], {"axes": (0, 1), "out_sharding": None}),
        ]
    for prim, args, params in calls:
        try:
            with jax.ensure_compile_time_eval():
                ref = prim.bind(*args, **params)
        except Exception as e:  # noqa: BLE001 - JAX refuses (e.g. no such op for int4): alike
            with pytest.raises(type(e)):
                compute_now(prim, args, params)
            continue
        assert_same_bits(compute_now(prim, args, params), ref)
        assert_same_bits(compute_now(prim, args, params), ref)  # again, from the cache


def test_weak_type_and_placement_are_part_of_the_key():
    strong, weak = np.float32(2.0), jnp.asarray(2.0)  # same shape and dtype, weak differs
    for arg in (strong, weak, strong):
        with jax.ensure_compile_time_eval():
            ref = lax.mul_p.bind(arg, arg)
        assert_same_bits(compute_now(lax.mul_p, [arg, arg], {}), ref)


def test_folding_computes_from_the_bounded_cache():
    label = np.linspace(-1, 1, 7, dtype=np.float32)

    def loss_of(w, label):
        return jnp.sum((w - jnp.tanh(2 * label)) ** 2)

    loss = lambda w: loss_of(w, label)  # noqa: E731 - tanh(2 * label): folded

    w = jnp.linspace(0, 1, 7)
    first = eager.cache_info()
    foldax.trace(loss)(w)
    second = eager.cache_info()
    assert second.misses > first.misses  # computed by a computation of foldax's cache
    program = foldax.trace(lambda w: loss(w))(w)  # a new function: traced again
    third = eager.cache_info()
    assert third.misses == second.misses and third.hits > second.hits  # and reused
    assert third.currsize <= third.maxsize == eager.EAGER_CACHE_SIZE
    # (label passed to jax.jit: as a closed-over constant XLA would fold tanh with its own
    # evaluator, whose tanh differs from the compiled kernel's in the last bit)
    np.testing.assert_array_equal(program(w), jax.jit(loss_of)(w, label))


def test_numpy_and_uncommitted_arrays_share_a_computation_committed_ones_keep_their_device():
    x = np.linspace(-1, 1, 13, dtype=np.float32)  # a shape no other test computes sin at
    on_default = jnp.asarray(x)  # uncommitted: placed as a NumPy value would be
    on_last = jax.device_put(x, jax.devices()[-1])  # committed to another device
    before = eager.cache_info()
    for arg in (x, on_default, x):
        with jax.ensure_compile_time_eval():
            ref = lax.sin_p.bind(arg, accuracy=None)
        assert_same_bits(compute_now(lax.sin_p, [arg], {"accuracy": None}), ref)
    shared = eager.cache_info()
    assert shared.misses == before.misses + 1  # one computation (and executable) for both
    with jax.ensure_compile_time_eval():
        ref = lax.sin_p.bind(on_last, accuracy=None)
    out = compute_now(lax.sin_p, [on_last], {"accuracy": None})
    assert_same_bits(out, ref)
    assert out.sharding == ref.sharding == on_last.sharding
    assert eager.cache_info().misses == shared.misses + 1
