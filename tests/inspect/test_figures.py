"""Figures against independent references: counts read from the jaxpr, sizes as
np.prod(shape) * itemsize, peak memory by brute-force liveness simulation, FLOPs by XLA's cost
analysis and by unrolling scans."""

from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from corpus import CORPUS, CORPUS_IDS
from hypothesis import given, settings, strategies as st
from jax import lax
from programs import brute_force_peak, largest_output, mgs, primitive_counts

import foldax
from foldax.inspect import figures, footprint


def _x():
    return jnp.asarray(np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32))


@pytest.mark.parametrize("name, fn, make", CORPUS, ids=CORPUS_IDS)
def test_counts_sizes_and_peak_match_references(name, fn, make):
    for program in (jax.make_jaxpr(fn)(make()), foldax.trace(fn)(make())):
        closed = program if not hasattr(program, "in_tree") else program.jaxpr
        fig = figures(program)
        assert fig.equations == dict(primitive_counts(closed))
        if hasattr(program, "in_tree"):
            assert fig.num_equations == program.num_equations
        jaxpr = closed.jaxpr
        assert fig.num_nodes == len(jaxpr.invars) + len(jaxpr.constvars) + fig.num_equations
        assert (fig.largest.nbytes if fig.largest else 0) == largest_output(closed)
        assert fig.peak_memory == brute_force_peak(closed)
        assert figures(program, include_inputs=False).peak_memory == brute_force_peak(
            closed, include_inputs=False
        )
        assert len(footprint(program)) == len(jaxpr.eqns) + 1
        assert footprint(program).max() == fig.peak_memory


def test_mgs_counts_are_hand_checkable():
    n = 6
    fig = figures(foldax.trace(mgs)(jnp.ones((n, n))))
    pairs = n * (n - 1) // 2  # inner-loop iterations: one dot, one mul, one sub each
    assert fig.equations["dot_general"] == fig.equations["sub"] == pairs
    assert fig.equations["jit"] == fig.equations["div"] == n  # one norm and one division per row
    assert fig.equations["mul"] == pairs + n  # plus the mul inside each norm body
    assert fig.largest.nbytes == n * n * 4 and fig.largest.primitive == "stack"
    assert fig.flops["dot_general"] == pairs * 2 * n


def _xla_flops(f, *args):
    return jax.jit(f).lower(*args).cost_analysis()["flops"]


@pytest.mark.parametrize(
    "f, args",
    [
        (lambda a, b: a @ b, (jnp.ones((8, 16)), jnp.ones((16, 4)))),
        (lambda a, b: jnp.einsum("bij,bjk->bik", a, b), (jnp.ones((3, 5, 6)), jnp.ones((3, 6, 2)))),
        (lambda a: a + a * a - a / 3.0, (jnp.ones((8, 16)),)),
        (lambda a: jnp.sum(a), (jnp.ones((8, 16)),)),
        (lambda a: jnp.max(a, axis=0), (jnp.ones((8, 16)),)),
        (lambda a: a**3, (jnp.ones((8, 16)),)),
        (lambda a: a**7, (jnp.ones((5,)),)),
        (lambda a, k: lax.conv(a, k, (1, 1), "VALID"), (jnp.ones((2, 3, 10, 10)), jnp.ones((5, 3, 3, 3)))),
    ],
)
def test_flops_match_xla_cost_analysis(f, args):
    assert figures(jax.make_jaxpr(f)(*args)).total_flops == _xla_flops(f, *args)


def test_scan_body_counted_by_its_length():
    def body(c, row):
        c = jnp.tanh(c * 0.9 + row)
        return c, c * 2

    def scanned(x):
        return lax.scan(body, jnp.zeros(x.shape[1:]), x)

    def unrolled(x):
        c, ys = jnp.zeros(x.shape[1:]), []
        for row in x:
            c, y = body(c, row)
            ys.append(y)
        return c, jnp.stack(ys)

    x = jnp.ones((7, 3))
    a, b = figures(jax.make_jaxpr(scanned)(x)), figures(jax.make_jaxpr(unrolled)(x))
    for prim in ("mul", "add", "tanh"):
        assert a.executed[prim] == b.equations[prim] == 7 * a.equations[prim]
        assert a.flops[prim] == b.flops[prim]
    assert a.total_flops == b.total_flops


def test_cond_counts_the_costliest_branch_and_while_is_flagged():
    def f(x):
        y = lax.cond(x[0, 0] > 0, lambda v: v @ v.T, lambda v: v + 1, x)
        return lax.while_loop(lambda c: c[0, 0] < 3, lambda c: c + 1, y)

    fig = figures(jax.make_jaxpr(f)(jnp.ones((4, 4))))
    assert fig.flops["dot_general"] == 2 * 4 * 4 * 4
    assert fig.flops["add"] == 16  # the while body, counted once; not the cheaper branch
    assert fig.equations["add"] == 2  # both the branch's and the loop body's, in the text
    assert fig.unknown_trip_counts == 1
    assert "while loop(s) counted once" in str(fig)


_UNARY = [
    jnp.sin,
    jnp.exp,
    lambda v: v * 2.0,
    lambda v: v[:2],
    lambda v: jnp.concatenate([v, v]),
    lambda v: jnp.sum(v, keepdims=True),
    lambda v: jnp.outer(v, v).ravel(),
]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_UNARY) - 1), st.integers(0, 3)), min_size=1, max_size=12))
def test_peak_memory_matches_brute_force_on_random_programs(steps):
    def f(x):
        values = [x]
        for op, source in steps:
            v = values[-1 - min(source, len(values) - 1)]
            values.append(_UNARY[op](v) if v.size <= 64 else jnp.sum(v, keepdims=True))
        return values[-1], values[len(values) // 2]

    closed = jax.make_jaxpr(f)(jnp.ones(3))
    assert figures(closed).peak_memory == brute_force_peak(closed)
    assert Counter(figures(closed).equations) == primitive_counts(closed)


def test_figures_print_as_a_table():
    prog = foldax.trace(mgs)(jnp.ones((4, 4)))
    text = str(figures(prog))
    n = prog.num_equations  # counted by foldax.transforms.core.passes, independently
    assert text.splitlines()[0] == f"mgs: {n} equations, {n + 1} unique nodes (1 inputs, 0 constants)"
    assert "dot_general" in text and "peak memory" in text
