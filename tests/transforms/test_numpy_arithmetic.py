"""add, sub and mul of constants computed with NumPy (core/numpy_arithmetic.py) are bit for bit
JAX's eager evaluation, in every dtype (NumPy only where that holds, XLA elsewhere), and compile
nothing at a new shape.

References: JAX's eager evaluation (``jax.ensure_compile_time_eval``) and jax.jit."""

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from corpus import INEXACT_DTYPES
from jax import lax

import foldax
from foldax.transforms.core import eager
from foldax.transforms.core.numpy_arithmetic import exact_arithmetic
from foldax.transforms.core.numpy_eval import compute_now

PRIMITIVES = [lax.add_p, lax.sub_p, lax.mul_p]
# every integer width, and every float and complex dtype the backend computes in
DTYPES = ["bool", "int4", "int8", "uint16", "int32", "uint32", "int64", "uint64"] + [
    d.name for d in INEXACT_DTYPES
]


def _bits(a):
    a = np.asarray(a)
    return a.view(f"u{a.dtype.itemsize}") if a.dtype.itemsize in (1, 2, 4, 8) and a.dtype.kind != "b" else a


def _values(dtype, rng, n=64):
    """Random values of ``dtype`` with its edge cases: signed zeros, infinities, NaN, subnormals,
    the smallest normal and values whose products under- or overflow."""
    dt = jnp.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, n).astype(bool)
    if dt.kind in "iu" and dt.itemsize >= 1 and dt.name != "int4":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
    if dt.name == "int4":
        return rng.integers(-8, 8, n).astype(dt)
    info = ml_dtypes.finfo(dt) if dt.kind == "V" or dt.itemsize < 4 else np.finfo(dt)
    tiny, big = float(info.smallest_normal), float(info.max)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, tiny, -tiny, 1.5 * tiny, tiny / 3, big, -big, 1.0]
    scales = 10.0 ** rng.integers(-30, 30, n)
    pool = np.concatenate([rng.normal(size=n) * scales, special, np.sqrt(tiny) * rng.uniform(0.5, 2, 8)])
    with np.errstate(all="ignore"):
        return rng.choice(pool, n).astype(dt)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bit_for_bit_jax_eager_evaluation(dtype):
    rng = np.random.default_rng(abs(hash(dtype)) % 2**32)
    for _ in range(3):  # 64 values each, edge cases among them
        x, y = _values(dtype, rng), _values(dtype, rng)
        for prim in PRIMITIVES:
            for args in ([x, y], [x[:1].reshape(()), y], [x, x], [jnp.asarray(x), y]):
                try:
                    with jax.ensure_compile_time_eval():
                        ref = prim.bind(*args)
                except Exception as e:  # noqa: BLE001 - JAX refuses this dtype: foldax alike
                    with pytest.raises(type(e)):
                        compute_now(prim, args, {})
                    continue
                mine = compute_now(prim, args, {})
                assert jax.typeof(mine) == jax.typeof(ref), (prim, dtype)
                np.testing.assert_array_equal(_bits(mine), _bits(ref))


def test_numpy_only_where_xla_agrees():
    tiny = np.finfo(np.float32).smallest_normal
    plain = np.float32([1.5, -2.0, 0.0, np.inf])
    assert exact_arithmetic(lax.add_p, [plain, plain]) is not None
    assert exact_arithmetic(lax.mul_p, [plain, np.float32([tiny, 1, 1, 1])]) is None  # near underflow
    assert exact_arithmetic(lax.sub_p, [plain, np.float32([np.inf] * 4)]) is None  # inf - inf: NaN
    assert exact_arithmetic(lax.add_p, [plain, np.float32([tiny / 4] * 4)]) is None  # subnormal input
    assert exact_arithmetic(lax.add_p, [plain.astype(np.float16)] * 2) is None  # not float32/64
    assert exact_arithmetic(lax.add_p, [plain, plain.astype(np.float64)]) is None  # JAX converts
    committed = jax.device_put(plain, jax.devices()[0])
    assert exact_arithmetic(lax.add_p, [committed, plain]) is None  # the result stays on its device


def test_a_new_shape_compiles_no_arithmetic():
    def loss(p, d):
        for _ in range(3):
            d = d + 0.2 * (jnp.roll(d, 1) + jnp.roll(d, -1) - 2 * d)
        return jnp.sum((p - d) ** 2)

    foldax.trace(loss)(jnp.ones(5), np.ones(5, np.float32))  # scalar conversions, compiled once
    label = np.random.default_rng(0).normal(size=1237).astype(np.float32)  # a shape no test uses
    pred = jnp.ones(1237)
    before = eager.cache_info().misses
    program = foldax.trace(loss)(pred, label)
    assert eager.cache_info().misses == before  # nothing compiled for the label's arithmetic
    d = label
    with jax.ensure_compile_time_eval():  # the folded side, primitive by primitive, as JAX does
        for _ in range(3):
            d = d + 0.2 * (jnp.roll(d, 1) + jnp.roll(d, -1) - 2 * d)
    np.testing.assert_array_equal(program(pred, label), jax.jit(lambda p: jnp.sum((p - d) ** 2))(pred))
