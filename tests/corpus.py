"""A corpus of functions that together use every higher-order primitive foldax's interpreter
core handles and a broad spread of lax primitives. Each entry: (name, fn, args_factory).

Transformation tests compare foldax's transformation of each function with JAX's.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


@jax.custom_jvp
def soft_clip(x):
    return jnp.tanh(x)


@soft_clip.defjvp
def _soft_clip_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return soft_clip(x), t * 0.5  # deliberately not the true derivative: must be honoured


@jax.custom_vjp
def scaled_identity(x):
    return x


def _si_fwd(x):
    return x, None


def _si_bwd(_, ct):
    return (3.0 * ct,)


scaled_identity.defvjp(_si_fwd, _si_bwd)


def elementwise(x):
    return jnp.sin(x) * jnp.exp(-(x**2)) + jnp.log1p(x**2) - jnp.tanh(x) / (1.0 + jnp.abs(x))


def reductions(x):
    return jnp.sum(x**2) + jnp.max(x) - jnp.min(x) + jnp.prod(1 + 0.1 * x) + jnp.mean(x)


def matmul(x):
    w = jnp.arange(12.0).reshape(3, 4) / 10
    return jnp.tanh(x[:3, :3] @ w).sum(axis=0)


def conv(x):
    img = x[:4, :4].reshape(1, 1, 4, 4)
    kernel = jnp.ones((1, 1, 2, 2)) * 0.25
    return lax.conv_general_dilated(img, kernel, (1, 1), "SAME").ravel()


def gather_scatter(x):
    idx = jnp.array([0, 2, 1, 2])
    y = x.ravel()[idx]
    return jnp.zeros(5).at[idx].add(y * 2) + x.ravel()[:5]


def dynamic_slicing(x):
    flat = x.ravel()
    s = lax.dynamic_slice(flat, (2,), (4,))
    return lax.dynamic_update_slice(flat, s * 2, (5,))


def sorting_cumulative(x):
    flat = x.ravel()
    return jnp.sort(flat) + jnp.cumsum(flat) + lax.cummax(flat, axis=0)


def linear_algebra(x):
    a = x[:3, :3]
    spd = a @ a.T + 3 * jnp.eye(3)
    chol = jnp.linalg.cholesky(spd)
    return jnp.linalg.solve(spd, jnp.ones(3)) + jnp.diag(chol)


def control_cond(x):
    return lax.cond(jnp.sum(x) > 0, lambda y: jnp.sin(y) * 2, lambda y: jnp.cos(y) - 1, x)


def control_switch(x):
    i = jnp.clip(jnp.sum(x > 0), 0, 2).astype(jnp.int32)
    return lax.switch(i, [jnp.sin, jnp.cos, lambda y: y**2], x)


def control_scan(x):
    def body(c, row):
        c = jnp.tanh(c * 0.9 + row)
        return c, c.sum()

    carry, ys = lax.scan(body, jnp.zeros(x.shape[1:]), x)
    return carry.sum() + ys.sum()


def control_fori(x):
    return lax.fori_loop(0, 4, lambda i, c: c * 0.5 + jnp.sin(c) * i, x)


def control_while(x):
    def cond(c):
        return c[0] < 5

    def body(c):
        return c[0] + 1, c[1] * 1.1 + jnp.cos(c[1])

    return lax.while_loop(cond, body, (0, x))[1]


def remat_fn(x):
    return jax.checkpoint(lambda y: jnp.sin(jnp.sin(y)) * y)(x)


def nested_jit(x):
    inner = jax.jit(lambda y, s: y * s + jnp.sin(y))
    return inner(inner(x, 2.0), 0.5)


def custom_derivatives(x):
    return soft_clip(x) + scaled_identity(x) * x


def mixed_constants(x):
    c = np.linspace(0.0, 1.0, x.size).reshape(x.shape).astype(np.float32)
    return x * jnp.cos(c**2) + jnp.exp(c)


def _matrix():
    return jnp.asarray(np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32))


CORPUS = [
    ("elementwise", elementwise, _matrix),
    ("reductions", reductions, _matrix),
    ("matmul", matmul, _matrix),
    ("conv", conv, _matrix),
    ("gather_scatter", gather_scatter, _matrix),
    ("dynamic_slicing", dynamic_slicing, _matrix),
    ("sorting_cumulative", sorting_cumulative, _matrix),
    ("linear_algebra", linear_algebra, _matrix),
    ("control_cond", control_cond, _matrix),
    ("control_switch", control_switch, _matrix),
    ("control_scan", control_scan, _matrix),
    ("control_fori", control_fori, _matrix),
    ("control_while", control_while, _matrix),
    ("remat", remat_fn, _matrix),
    ("nested_jit", nested_jit, _matrix),
    ("custom_derivatives", custom_derivatives, _matrix),
    ("mixed_constants", mixed_constants, _matrix),
]
CORPUS_IDS = [c[0] for c in CORPUS]


def _inexact_dtypes() -> list[np.dtype]:
    """Every float and complex dtype jax.numpy names that the backend computes in (bfloat16,
    float16, the float8 and float4 types, ...), each once as JAX canonicalises it (float64
    only under x64)."""
    found = {}
    for name in dir(jnp):
        obj = getattr(jnp, name)
        try:
            if not isinstance(obj, type) or not jax.dtypes.issubdtype(obj, jnp.inexact):
                continue
            dtype = jax.dtypes.canonicalize_dtype(obj)
            jax.block_until_ready(jnp.zeros(2, dtype) + 1)  # float6 types: not on XLA's CPU
        except Exception:  # noqa: BLE001 - not a dtype this backend computes in
            continue
        found[dtype.name] = dtype
    return sorted(found.values(), key=lambda d: (jnp.issubdtype(d, jnp.complexfloating), d.itemsize, d.name))


INEXACT_DTYPES = _inexact_dtypes()
# float32: the corpora's own. float8_e8m0fnu (powers of two only, no sign, no zero) is listed too:
# the cases JAX cannot run in it (type promotion) are refused alike, the rest agree with JAX.
OTHER_INEXACT_DTYPES = [d for d in INEXACT_DTYPES if d.name != "float32"]


def tolerance(dtype) -> float:
    """Relative and absolute tolerance for comparing two computations in ``dtype`` that may
    round differently (two units in the last place; float32's usual 2e-4 at least)."""
    return max(2e-4, 2 * float(jnp.finfo(dtype).eps))


def assert_close_in_dtype(ours, expected, dtype) -> None:
    """Same tree, same dtypes (JAX's tangent dtypes) and values within ``tolerance(dtype)``
    (NaNs where JAX has NaNs)."""
    assert jax.tree.structure(ours) == jax.tree.structure(expected)
    tol = tolerance(dtype)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(expected)):
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
        wide = np.complex128 if jnp.iscomplexobj(b) else np.float64
        np.testing.assert_allclose(
            np.asarray(a).astype(wide), np.asarray(b).astype(wide), rtol=tol, atol=tol, equal_nan=True
        )


def assert_agrees_with_jax(side, args, names, dtype) -> None:
    """``side(names, ours, *args)`` computes a dict per case name with foldax (``ours=True``) or
    JAX. A case JAX refuses in ``dtype`` when tracing must be refused by foldax with the same
    builtin error type. The others are compiled once, foldax's and JAX's side in one program
    (XLA shares what the two have in common: one compilation instead of one per case and side),
    and must agree (``assert_close_in_dtype``). If XLA cannot compile that program (an operation
    it lacks in this dtype), the cases are compiled one by one, refusals compared likewise."""

    def refusal(names, ours, compile_):
        fun = functools.partial(side, names, ours)
        try:
            if compile_:
                jax.jit(fun).lower(*args).compile()
            else:
                jax.eval_shape(fun, *args)
        except Exception as e:  # noqa: BLE001 - the same refusal is expected of foldax
            return e
        return None

    def working(names, compile_):
        kept = []
        for name in names:
            refused = refusal([name], False, compile_)
            if refused is None:
                kept.append(name)
                continue
            ours = refusal([name], True, compile_)
            assert isinstance(ours, type(refused)), (
                f"{name} in {dtype}: JAX raises {type(refused).__name__}: {refused}; foldax "
                f"{'computes it' if ours is None else f'raises {ours!r}'}"
            )
        return kept

    def both(names):
        return jax.jit(lambda *a: (side(names, True, *a), side(names, False, *a)))(*args)

    names = working(names, compile_=False)
    try:
        ours, expected = both(names)
    except Exception:  # noqa: BLE001 - XLA cannot compile some case in this dtype
        ours, expected = both(working(names, compile_=True))
    assert_close_in_dtype(ours, expected, dtype)
