"""Constants are keyed by dtype and exact bits: a call never reuses a program traced for another
value that merely compares equal (-0.0 and 0.0), and a value that is not equal to itself (NaN)
does not retrace on every call. Compared with jax.jit on the same function."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import foldax


def reciprocal(x, c):
    return x / c


@pytest.mark.parametrize("first, second", [(0.0, -0.0), (-0.0, 0.0), (0j, -0j)])
def test_signed_zeros_are_distinct_constants(first, second):
    f = foldax.jit(reciprocal)
    x = jnp.ones(2, jnp.complex64 if isinstance(first, complex) else jnp.float32)
    for c in (first, second):
        np.testing.assert_array_equal(np.asarray(f(x, c)), np.asarray(jax.jit(reciprocal)(x, c)))


@pytest.mark.parametrize("dtype", [np.float32, np.float16, jnp.bfloat16, jnp.float8_e4m3fn, jnp.float8_e5m2])
def test_numpy_signed_zero_arrays_of_every_float_dtype(dtype):
    f = foldax.jit(lambda x, c: x / c.astype(np.float32))
    x = jnp.ones(2)
    for c in (np.zeros(2, dtype), -np.zeros(2, dtype)):
        np.testing.assert_array_equal(
            np.asarray(f(x, c)), np.asarray(jax.jit(lambda x, c: x / c.astype(np.float32))(x, c))
        )


def test_float8_variants_with_equal_bytes_are_distinct_constants():
    f = foldax.jit(lambda x, c: x + c.astype(np.float32))
    bits = np.full(3, 0x38, np.uint8)
    for dtype in (jnp.float8_e4m3fn, jnp.float8_e5m2):
        c = bits.view(dtype)
        np.testing.assert_array_equal(np.asarray(f(jnp.zeros(3), c)), c.astype(np.float32))


def test_nan_constant_does_not_retrace_every_call():
    f = foldax.jit(lambda x, c: x + c)
    for _ in range(3):
        out = f(jnp.ones(2), float("nan"))
    assert np.isnan(np.asarray(out)).all()
    assert f.trace_count == 1


def test_large_arrays_are_keyed_by_content():
    f = foldax.jit(lambda x, c: x + c.sum())
    big = np.arange(100_000, dtype=np.float32)  # above the digest threshold
    f(jnp.zeros(()), big)
    f(jnp.zeros(()), big.copy())  # equal content: the same entry
    assert f.trace_count == 1
    changed = big.copy()
    changed[-1] += 1
    np.testing.assert_allclose(np.asarray(f(jnp.zeros(()), changed)), changed.sum(), rtol=1e-6)
    assert f.trace_count == 2


def test_jax_array_in_a_value_field_is_keyed_by_value():
    @foldax.dataclass
    class Scaled:
        scale: jax.Array = foldax.field(kind="value")

    f = foldax.jit(lambda m, x: m.scale * x)
    f(Scaled(jnp.float32(2.0)), jnp.ones(2))
    out = f(Scaled(jnp.float32(2.0)), jnp.ones(2))  # an equal new array: no retrace
    assert f.trace_count == 1
    np.testing.assert_array_equal(np.asarray(out), np.full(2, 2.0, np.float32))
    np.testing.assert_array_equal(
        np.asarray(f(Scaled(jnp.float32(-0.0)), 1 / jnp.zeros(1))),
        np.asarray(jnp.float32(-0.0) * (1 / jnp.zeros(1))),
    )


DIGEST_DTYPES = [
    np.float32,
    np.float64,
    np.complex64,
    np.int8,
    np.bool_,
    jnp.bfloat16,
    jnp.float8_e4m3fn,
    jnp.float8_e5m2,
    jnp.int4,
    np.dtype([("a", np.int32), ("b", np.float64)]),
]


@pytest.mark.parametrize("dtype", DIGEST_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_digests_are_of_the_bytes_in_c_order(dtype, layout):
    import xxhash

    from foldax.pytrees.digest import DIGEST_MIN_BYTES, array_key

    a = np.arange(4 * DIGEST_MIN_BYTES).reshape(64, -1).astype(dtype)
    a = {"C": a, "F": np.asfortranarray(a), "strided": a[:, ::3]}[layout]
    raw = np.ascontiguousarray(a).view(np.uint8).reshape(-1)
    assert array_key(a) == ("ndarray", a.dtype, a.shape, xxhash.xxh3_128_digest(raw))
