"""Differentiating a function that calls ``jax.pmap(f)`` or ``jax.jit(f)`` again, eagerly, compiles
as often as JAX's ``jvp``/``vjp`` do: the transformed body of the same source jaxpr is the same
jaxpr object (``core.body_cache``), so JAX's compilation caches hit. Compilations are counted
(``compile_counting``) against JAX's count for the same calls."""

from __future__ import annotations

from types import SimpleNamespace

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from compile_counting import (
    lowerings as _lowerings,
    no_leak_checker,  # noqa: F401  (a fixture)
)

import foldax
from foldax.transforms.core import body_cache


def _pair(x, y):
    return x, y


def _twice(call) -> int:
    with _lowerings() as count:
        for _ in range(2):
            call()
    return count()


def _jvp(lib, make, x):
    return lambda: lib.jvp(make(), (x, x), (x, x))


def _vjp(lib, make, x):
    def call():
        out, pullback = lib.vjp(make(), x, x)
        pullback(out)

    return call


PMAPS = {
    "defaults": lambda: jax.pmap(_pair),
    "axis_name": lambda: jax.pmap(_pair, "i"),
    **{
        f"in_axes={i}_out_axes={o}": (lambda i=i, o=o: jax.pmap(_pair, "i", in_axes=i, out_axes=o))
        for i, o in [((0, 1), (2, 0)), ((2, 2), (1, 1)), ((1, 0), (0, 2))]
    },
}


@pytest.mark.parametrize("mode", ["jvp", "vjp"])
@pytest.mark.parametrize("name", list(PMAPS))
@pytest.mark.usefixtures("no_leak_checker")
def test_pmap_under_eager_jvp_and_vjp_compiles_as_in_jax(mode, name):
    """JAX's test_pmap_global_cache: ``jvp(jax.pmap(f))`` twice compiles once, ``vjp`` twice
    compiles the forward and the backward pass once each."""
    make = PMAPS[name]
    x = np.ones((1, 1, 1), np.float32)
    build = _jvp if mode == "jvp" else _vjp
    ours = _twice(build(foldax, make, x))
    theirs = _twice(build(jax, make, x))
    assert ours == theirs
    chex.assert_trees_all_close(foldax.jvp(make(), (x, x), (x, x)), jax.jvp(make(), (x, x), (x, x)))
    ct = (x * 2, x * 3)
    chex.assert_trees_all_close(foldax.vjp(make(), x, x)[1](ct), jax.vjp(make(), x, x)[1](ct))


def _body(a, b):
    return a * b, jnp.sin(a)


def _cond_body(a, b):
    return jax.lax.cond(jnp.sum(a) > 0, lambda u, v: u * v, lambda u, v: u - v, a, b), a


def _scan_body(a, b):
    return jax.lax.scan(lambda c, v: (c * v, c + v), a, b)


def _remat_body(a, b):
    return jax.checkpoint(lambda u, v: jnp.sin(u * v))(a, b), b


BODIES = {"plain": _body, "cond": _cond_body, "scan": _scan_body, "remat": _remat_body}


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16, jnp.complex64])
@pytest.mark.parametrize("mode", ["jvp", "vjp"])
@pytest.mark.parametrize("name", list(BODIES))
@pytest.mark.usefixtures("no_leak_checker")
def test_jit_under_eager_jvp_and_vjp_compiles_as_in_jax(name, mode, dtype):
    """``jax.jit(f)`` called under eager ``jvp``/``vjp`` twice compiles as often as under JAX's."""
    body = BODIES[name]
    x = jnp.linspace(0.5, 1.5, 3).astype(dtype)
    build = _jvp if mode == "jvp" else _vjp
    ours = _twice(build(foldax, lambda: jax.jit(body), x))
    theirs = _twice(build(jax, lambda: jax.jit(body), x))
    assert ours == theirs


@pytest.mark.parametrize(
    "call",
    [
        lambda lib, g, x: lib.grad(lambda a: jnp.sum(g(a, a)[0]))(x),
        lambda lib, g, x: lib.jacfwd(lambda a: g(a, a)[0])(x),
        lambda lib, g, x: lib.jacrev(lambda a: g(a, a)[0])(x),
    ],
    ids=["grad", "jacfwd", "jacrev"],
)
@pytest.mark.usefixtures("no_leak_checker")
def test_a_repeated_derivative_of_a_jit_call_compiles_nothing_new_as_in_jax(call):
    """After a first call, the same derivative again compiles what JAX's compiles again."""
    x = jnp.linspace(0.5, 1.5, 7)
    g = jax.jit(_cond_body)
    counts = []
    for lib in (foldax, jax):
        call(lib, g, x)
        with _lowerings() as count:
            call(lib, g, x)
        counts.append(count())
    assert counts[0] == counts[1]
    chex.assert_trees_all_close(call(foldax, g, x), call(jax, g, x), rtol=1e-5)


def _jit_body_of(trace_fn, x):
    """The ``jit`` body staged for ``trace_fn(x)``, the call's equation found in the jaxpr."""
    jaxpr = jax.make_jaxpr(trace_fn)(x).jaxpr
    [eqn] = [e for e in jaxpr.eqns if e.primitive.name == "jit"]
    return eqn.params["jaxpr"]


def _differentiated(lib):
    g = jax.jit(jnp.sin)
    return lambda x: lib.jvp(g, (x,), (jnp.ones_like(x),))


def test_the_transformed_body_is_one_object_until_jax_clear_caches_as_in_jax():
    """The same body differentiated twice is the same jaxpr; ``jax.clear_caches()`` forgets it;
    another trace context (a config value JAX's caches key on) gives another: as with JAX's."""
    x = jnp.ones(4)
    for lib in (foldax, jax):
        first = _jit_body_of(_differentiated(lib), x)
        assert _jit_body_of(_differentiated(lib), x) is first
        jax.clear_caches()
        cleared = _jit_body_of(_differentiated(lib), x)
        assert cleared is not first
        with jax.default_matmul_precision("highest"):
            assert _jit_body_of(_differentiated(lib), x) is not cleared
        assert _jit_body_of(_differentiated(lib), x) is cleared


def test_a_body_capturing_an_outer_tracer_is_not_kept():
    """A transformed body whose consts hold a tracer of an enclosing trace is returned but not
    kept: the next lookup builds it again (the reference: a count of builds), and the tracer-leak
    checker, on here, finds nothing kept once the trace is over."""
    source = jax.make_jaxpr(jnp.sin)(1.0).jaxpr
    builds = []

    def traced(y):
        def build():
            builds.append(1)
            return SimpleNamespace(consts=[y])

        first = body_cache.cached_body(source, ("captures", 1), build)
        second = body_cache.cached_body(source, ("captures", 1), build)
        assert first is not second
        return y * 2

    chex.assert_trees_all_close(jax.jit(traced)(3.0), 6.0)
    assert len(builds) == 2
    plain = lambda: SimpleNamespace(consts=[np.float32(1)])  # noqa: E731
    assert body_cache.cached_body(source, ("plain",), plain) is body_cache.cached_body(
        source, ("plain",), plain
    )
