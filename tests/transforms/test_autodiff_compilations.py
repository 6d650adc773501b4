"""Reverse mode evaluated now compiles no more than JAX's: a ``jit`` call (``jnp.cumprod``'s)
is transposed into one ``jit`` call, compiled once, not into its primitives compiled one by one;
and the primal part evaluated now reuses the executables JAX's eager evaluation keeps (the
recorded empty mesh of a traced equation does not count as another context)."""

from __future__ import annotations

import logging

import jax
import jax.numpy as jnp
import pytest

import foldax


class _CompilationCount(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Compiling"):
            self.count += 1


def _compilations(call) -> int:
    handler = _CompilationCount()
    logger = logging.getLogger("jax")
    logger.addHandler(handler)
    try:
        with jax.log_compiles():
            call()
    finally:
        logger.removeHandler(handler)
    return handler.count


def test_the_primal_part_reuses_jax_s_eager_executables():
    """The primal part of ``vjp`` is evaluated now with the executables JAX's eager evaluation
    compiles and keeps: computing the same primitive eagerly afterwards compiles nothing. (The
    tracer-leak checker, on in this suite, makes JAX's eager evaluation compile every time.)"""
    with jax.check_tracer_leaks(False):
        x = jnp.linspace(0.1, 1.0, 43)  # a size no other test uses
        foldax.vjp(lambda x: jnp.sin(x) * x, x)
        assert _compilations(lambda: jax.lax.sin(x)) == 0


@pytest.mark.parametrize(
    "f",
    [
        jnp.cumprod,
        lambda x: jnp.sum(jnp.cumprod(jnp.sin(x) * x)),
        lambda x: jax.jit(lambda v: jnp.cos(v[1:] * v[:-1]))(x) ** 2,
    ],
    ids=["cumprod", "cumprod_inside", "jitted_body"],
)
def test_a_jit_call_is_transposed_into_one_jit_call_as_in_jax(f):
    """Evaluated now, each is compiled once; JAX's pullback has the same top-level equations."""
    x = jnp.linspace(0.1, 1.0, 9)
    ours, theirs = foldax.vjp(f, x), jax.vjp(f, x)
    ct = jnp.ones_like(theirs[0])
    assert [e.primitive for e in jax.make_jaxpr(ours[1])(ct).eqns] == [
        e.primitive for e in jax.make_jaxpr(theirs[1])(ct).eqns
    ]
    assert jnp.allclose(ours[1](ct)[0], theirs[1](ct)[0], rtol=1e-5)
