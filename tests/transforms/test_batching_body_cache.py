"""Batching a function that calls ``jax.jit(f)`` (or a ``cond``, ``scan``, ``while``, ``remat``,
custom derivative) again, eagerly, compiles as often as ``jax.vmap`` does: the batched body of the
same source jaxpr, batched the same way (axis size, name, in/out dims, SPMD and Explicit mesh
axes, trace context), is the same jaxpr object (``core.body_cache``), so JAX's compilation caches
hit. Compilations are counted (``compile_counting``) against JAX's count for the same calls, each
library from empty caches; results are compared with ``jax.vmap``'s bit for bit."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from compile_counting import (
    no_leak_checker,  # noqa: F401  (a fixture)
    per_call,
)
from jax.experimental import checkify

import foldax


def _magnitude(a):
    return jnp.sum(jnp.abs(a).astype(jnp.float32))


def _branch_a(u, v):
    return u * v + u


def _branch_b(u, v):
    return u - v * v


def _scan_step(c, v):
    return c * v + v, c - v


def _loop_going(c):
    return c[1] < 3


def _loop_step(c):
    return c[0] * c[0] - c[0], c[1] + 1


def _batched_going(c):  # differs per element: the batched predicate's loop
    return _magnitude(c[0]) < 4.0 * c[1] + 8.0


def _batched_step(c):
    return c[0] + c[0], c[1] + 1


@jax.custom_jvp
def _custom_jvp(u, v):
    return u * v


_custom_jvp.defjvp(lambda p, t: (_custom_jvp(*p), t[0] * p[1] + p[0] * t[1]))


@jax.custom_vjp
def _custom_vjp(u, v):
    return u * v - u


_custom_vjp.defvjp(lambda u, v: (_custom_vjp(u, v), (u, v)), lambda r, c: (c * (r[1] - 1), c * r[0]))

_multiply = jax.jit(lambda u, v: u * v + v)

BODIES = {
    "jit": lambda a, b: _multiply(a, b),
    "calls_jit": lambda a, b: _multiply(a, b) * a,
    "cond": lambda a, b: jax.lax.cond(_magnitude(b) > 1.0, _branch_a, _branch_b, a, b),
    "batched_cond": lambda a, b: jax.lax.cond(_magnitude(a) > 1.0, _branch_a, _branch_b, a, b),
    "scan": lambda a, b: jax.lax.scan(_scan_step, a, jnp.stack([b, a, b]))[1],
    "while": lambda a, b: jax.lax.while_loop(_loop_going, _loop_step, (a * b, 0))[0],
    "batched_while": lambda a, b: jax.lax.while_loop(_batched_going, _batched_step, (a * b, 0))[0],
    "remat": lambda a, b: jax.checkpoint(_branch_a)(a, b),
    "custom_jvp": _custom_jvp,
    "custom_vjp": _custom_vjp,
}
JITTED = {name: jax.jit(body) for name, body in BODIES.items()}
DTYPES = [jnp.float32, jnp.bfloat16, jnp.float16, jnp.complex64, jnp.int32]


def _inputs(dtype, a_axis: int = 0):
    a = (np.arange(12).reshape(4, 3) % 5 - 1).astype(dtype)
    b = (np.arange(12).reshape(4, 3) % 3 + 1).astype(dtype)
    return jnp.asarray(a if a_axis == 0 else a.T), jnp.asarray(b)


def _assert_same(ours, theirs):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours.view(np.uint8), theirs.view(np.uint8))


def _assert_no_more(ours: list[int], theirs: list[int]) -> None:
    """The first call compiles no more than JAX's (it may compile less: foldax keeps a scan's
    stacked outputs where its body puts them, JAX transposes them after), a repeated call
    exactly as much (nothing, once the bodies are cached)."""
    assert ours[0] <= theirs[0] and ours[1:] == theirs[1:]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("jitted", [True, False], ids=["jitted", "eager"])
@pytest.mark.parametrize("name", list(BODIES))
@pytest.mark.usefixtures("no_leak_checker")
def test_eager_vmap_compiles_as_often_as_jax_vmap(name, jitted, dtype):
    body = (JITTED if jitted else BODIES)[name]
    a, b = _inputs(dtype)
    ours = per_call(lambda: foldax.vmap(body)(a, b))
    theirs = per_call(lambda: jax.vmap(body)(a, b))
    _assert_no_more(ours, theirs)
    _assert_same(foldax.vmap(body)(a, b), jax.vmap(body)(a, b))


AXES = {
    "in_axes=(1, 0)": {"in_axes": (1, 0)},
    "in_axes=(None, 0)": {"in_axes": (None, 0)},
    "out_axes=1": {"out_axes": 1},
    "in_axes=(1, 0), out_axes=1": {"in_axes": (1, 0), "out_axes": 1},
    "axis_name": {"axis_name": "batch"},
}


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.int32], ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("axes", list(AXES))
@pytest.mark.parametrize("name", ["jit", "cond", "while", "batched_while"])
@pytest.mark.usefixtures("no_leak_checker")
def test_in_and_out_axes_and_axis_names_compile_as_in_jax(name, axes, dtype):
    body, kwargs = JITTED[name], AXES[axes]
    a, b = _inputs(dtype, a_axis=1 if kwargs.get("in_axes", (0,))[0] == 1 else 0)
    if kwargs.get("in_axes", (0,))[0] is None:
        a = a[0]
    ours = per_call(lambda: foldax.vmap(body, **kwargs)(a, b))
    theirs = per_call(lambda: jax.vmap(body, **kwargs)(a, b))
    _assert_no_more(ours, theirs)
    _assert_same(foldax.vmap(body, **kwargs)(a, b), jax.vmap(body, **kwargs)(a, b))


COMPOSED = {
    "grad(vmap)": lambda lib, g, a, b: lib.grad(lambda u, v: jnp.sum(jnp.real(lib.vmap(g)(u, v))))(a, b),
    "vmap(grad)": lambda lib, g, a, b: lib.vmap(lib.grad(lambda u, v: jnp.sum(jnp.real(g(u, v)))))(a, b),
    "vmap(vmap)": lambda lib, g, a, b: lib.vmap(lib.vmap(g))(a[None], b[None]),
    "vmap(jvp)": lambda lib, g, a, b: lib.vmap(lambda u, v: lib.jvp(g, (u, v), (v, u)))(a, b),
}


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.complex64], ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("name", ["jit", "cond", "scan"])
@pytest.mark.parametrize("how", list(COMPOSED))
@pytest.mark.usefixtures("no_leak_checker")
def test_vmap_composed_with_autodiff_and_vmap_compiles_as_in_jax(how, name, dtype):
    """(float16 and bfloat16 are left out here: the loss's ``jnp.sum`` of them is a ``jit`` JAX
    compiles once, which foldax, having inlined it, evaluates equation by equation: a matter of
    eager evaluation, not of the body cache.)"""
    body, call = JITTED[name], COMPOSED[how]
    a, b = _inputs(dtype)
    ours = per_call(lambda: call(foldax, body, a, b))
    theirs = per_call(lambda: call(jax, body, a, b))
    _assert_no_more(ours, theirs)
    chex.assert_trees_all_close(call(foldax, body, a, b), call(jax, body, a, b), rtol=1e-6)


def _batched_body(lib, size: int = 4, **kwargs):
    """The ``jit`` body staged for ``lib.vmap(JITTED['jit'], **kwargs)`` at batch ``size``."""
    a, b = jnp.ones((size, 3)), jnp.ones((size, 3))
    if kwargs.get("in_axes") == (1, 0):
        a = a.T
    jaxpr = jax.make_jaxpr(lib.vmap(JITTED["jit"], **kwargs))(a, b).jaxpr
    [eqn] = [e for e in jaxpr.eqns if e.primitive.name == "jit"]
    return eqn.params["jaxpr"]


def test_the_batched_body_is_one_object_per_batching_as_in_jax():
    """The same body batched the same way twice is the same jaxpr, batched another way (axis
    size, axis name, in dims, SPMD axis names) another, ``jax.clear_caches()`` forgets it: as
    with ``jax.vmap``."""
    ways = [{"size": 5}, {"axis_name": "batch"}, {"in_axes": (1, 0)}, {"spmd_axis_name": "d"}]
    for lib in (foldax, jax):
        first = _batched_body(lib)
        assert _batched_body(lib) is first
        others = [_batched_body(lib, **way) for way in ways]
        assert all(other is not first for other in others)
        assert all(_batched_body(lib, **way) is other for way, other in zip(ways, others))
        jax.clear_caches()
        assert _batched_body(lib) is not first


def test_a_batched_body_inside_jit_keeps_no_tracer():
    """Batched under an outer ``jit`` (the leak checker, on here, finds no tracer kept once the
    trace is over), including a body closing over the outer trace's value; then eagerly."""
    a, b = _inputs(jnp.float32)

    def outer(lib, a, b, y):
        return lib.vmap(lambda u, v: jax.jit(lambda w: w * y)(JITTED["cond"](u, v)))(a, b)

    for y in (2.0, 3.0):
        ours = jax.jit(lambda a, b: outer(foldax, a, b, y))(a, b)
        chex.assert_trees_all_close(ours, jax.jit(lambda a, b: outer(jax, a, b, y))(a, b))
    _assert_same(foldax.vmap(JITTED["cond"])(a, b), jax.vmap(JITTED["cond"])(a, b))


def _checked_twice(u):
    checkify.check(jnp.all(jnp.abs(u) < 3), "too large: {}", jnp.max(jnp.abs(u)))
    return u * 2


def _select_checked(a):
    """A batched cond (a per-element mask) whose branch calls a jit with a check."""
    return jax.lax.cond(jnp.sum(a) > 1, jax.jit(_checked_twice), lambda u: u - 1, a)


def test_a_body_batched_where_only_some_elements_are_kept_is_checked_per_element():
    """Under a batched ``cond`` only the elements taking a branch are checked in it: the branch's
    ``jit`` body is traced under that mask, so it is not reused for another input. Errors and
    outputs as JAX's ``checkify`` of ``jax.vmap``."""
    ours = foldax.checkify(foldax.vmap(_select_checked))
    theirs = checkify.checkify(jax.vmap(_select_checked))
    for rows in ([[0.0, 0.5], [4.0, 1.0], [0.1, 0.1]], [[4.0, 1.0], [0.0, 0.2], [2.0, 2.5]]):
        x = jnp.asarray(rows)
        (err, out), (jax_err, jax_out) = ours(x), theirs(x)
        assert (err.get() is None) == (jax_err.get() is None)
        _assert_same(out, jax_out)
