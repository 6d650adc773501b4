"""foldax.grad vs jax.grad (and equinox.filter_grad): trace time of the gradient of a
~1000-equation function and of an MLP loss (each repeat traces a fresh gradient function), and
the steady state of the jitted gradient (the same XLA computation: ratio 1.00 +- 0.05)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from bench_jit import _mlp_params, mlp_loss  # the same MLP as the jit benchmarks
from harness import Case

import foldax


def long_chain(x):
    """About 1000 equations: 250 rounds of sin, mul, mul and add."""
    for _ in range(250):
        x = jnp.sin(x) * 1.01 + x * x * 0.001
    return jnp.sum(x)


def _trace_case(name: str, fun, *args) -> Case:
    def fresh(grad):  # a new gradient function per repeat, so make_jaxpr cannot reuse a trace
        return lambda: (lambda g: lambda: jax.make_jaxpr(g)(*args))(grad(fun))

    return Case(
        f"trace grad, {name}",
        "jax",
        {"jax": fresh(jax.grad), "foldax": fresh(foldax.grad), "equinox": fresh(eqx.filter_grad)},
        target="<= 1.5x",
        fresh=True,
    )


def _steady_case(name: str, fun, *args) -> Case:
    ours, theirs = jax.jit(foldax.grad(fun)), jax.jit(jax.grad(fun))
    via_foldax_jit = foldax.jit(foldax.grad(fun))
    return Case(
        f"steady state, jitted grad, {name}",
        "jax",
        {
            "jax": lambda: theirs(*args),
            "foldax": lambda: ours(*args),
            "foldax.jit": lambda: via_foldax_jit(*args),
        },
        target="1.00 +- 0.05",
    )


def cases(quick: bool) -> list[Case]:
    x = jnp.linspace(-1.0, 1.0, 64)
    params = _mlp_params()
    batch = (jnp.ones((128, 256)), jnp.zeros((128, 256)))
    return [
        _trace_case("1000-equation chain", long_chain, x),
        _trace_case("MLP loss (3x256, batch 128)", mlp_loss, params, *batch),
        _steady_case("1000-equation chain", long_chain, x),
        _steady_case("MLP loss (3x256, batch 128)", mlp_loss, params, *batch),
    ]
