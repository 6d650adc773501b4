"""Trace time: ``foldax.jit(f).trace`` against ``jax.jit(f).trace`` on bench_jit's functions and
on modified Gram-Schmidt (issue 13 §1: computing constants while tracing must not slow tracing).

Every trace is of a new function object, so neither side answers from its cache of traces;
JAX's and foldax's caches below that (jnp's jitted helpers, compiled eager operations) are warm,
as in a program that traces many functions. The "new shape" cases trace at a shape never seen
before, so what is computed on constants compiles afresh (one trace per repeat).
To compare with an older foldax, run this file with ``PYTHONPATH`` pointing at its checkout.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from bench_inspect import mgs
from bench_jit import Leaves, mlp_loss, sim_loss
from harness import Case

import foldax


def _traces(f, *args) -> dict:
    """``jax`` and ``foldax`` tracing a new wrapper of ``f`` on ``args`` at each call."""
    return {
        "jax": lambda: jax.jit(lambda *a: f(*a)).trace(*args),
        "foldax": lambda: foldax.jit(lambda *a: f(*a)).trace(*args),
    }


def _warm_cases(quick: bool) -> list[Case]:
    rng = np.random.default_rng(0)
    target = "<= 1.2x before"
    cases = []
    for n in (10, 100):
        model = Leaves(tuple(jnp.full((4,), float(i)) for i in range(n)))
        cases.append(
            Case(
                f"trace, dataclass with {n} array leaves -> one leaf",
                "jax",
                _traces(lambda m: m.xs[0], model),
                target=target,
            )
        )
    keys = jax.random.split(jax.random.key(0), 3)
    params = [(jax.random.normal(k, (256, 256)) / 16, jnp.zeros(256)) for k in keys]
    cases.append(
        Case(
            "trace, MLP loss (3x256, batch 128)",
            "jax",
            _traces(mlp_loss, params, jnp.ones((128, 256)), jnp.zeros((128, 256))),
            target=target,
        )
    )
    pred = jnp.asarray(rng.normal(size=4096).astype(np.float32))
    label = rng.normal(size=4096).astype(np.float32)
    cases.append(
        Case(
            "trace, |sim(pred) - sim(label)|^2, label NumPy (folded)",
            "jax",
            _traces(sim_loss, pred, label),
            target=target,
        )
    )
    cases.append(
        Case("trace, sin(x) * 2", "jax", _traces(lambda x: jnp.sin(x) * 2, jnp.ones(16)), target=target)
    )
    n = 40 if quick else 100
    x = jnp.asarray(rng.normal(size=(n, n)).astype(np.float32))
    cases.append(Case(f"trace, MGS {n}x{n}", "jax", _traces(mgs, x), target=target))
    return cases


def _new_shape_cases() -> list[Case]:
    """One trace per repeat, each at a size not traced before (the eager caches miss)."""
    sizes = itertools.count(1000)
    rng = np.random.default_rng(1)

    def fresh(lib):
        def make():
            n = next(sizes)
            pred = jnp.asarray(rng.normal(size=n).astype(np.float32))
            label = rng.normal(size=n).astype(np.float32)
            return lambda: lib.jit(lambda p, d: sim_loss(p, d)).trace(pred, label)

        return make

    return [
        Case(
            "trace at a new shape, |sim(pred) - sim(label)|^2, label NumPy",
            "jax",
            {"jax": fresh(jax), "foldax": fresh(foldax)},
            target="<= 1.2x before",
            fresh=True,
        )
    ]


def cases(quick: bool) -> list[Case]:
    return _warm_cases(quick) + _new_shape_cases()
