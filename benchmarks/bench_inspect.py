"""foldax.inspect: trace + fold + CSE + every figure of modified Gram-Schmidt (the autoray
page's example) against ``jax.make_jaxpr`` alone and autoray's lazy arrays (dask too when
installed); and each figure on programs of 1k to 100k equations, to show it is linear.

In the scaling cases the reference ``walk`` is one pass over the equations reading their
operands (``passes.count_equations``): a ratio that stays the same from 1k to 100k equations
means the figure is linear in the number of equations.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from harness import Case
from jax import lax

import foldax
from foldax.inspect import Graph, figures, footprint, source, tree_lines, whatif
from foldax.transforms.core.passes import count_equations


def mgs(X):
    Q = []
    for j in range(X.shape[0]):
        q = X[j, :]
        for i in range(j):
            rij = jnp.tensordot(jnp.conj(Q[i]), q, 1)
            q = q - rij * Q[i]
        rjj = jnp.linalg.norm(q, 2)
        Q.append(q / rjj)
    return jnp.stack(tuple(Q), axis=0)


def mgs_autoray(X):
    from autoray import do, shape

    Q = []
    for j in range(shape(X)[0]):
        q = X[j, :]
        for i in range(j):
            rij = do("tensordot", do("conj", Q[i]), q, 1)
            q = q - rij * Q[i]
        rjj = do("linalg.norm", q, 2)
        Q.append(q / rjj)
    return do("stack", tuple(Q), axis=0)


def _mgs_case(n: int) -> Case:
    x_np = np.random.default_rng(0).normal(size=(n, n)).astype(np.float32)
    x = jnp.asarray(x_np)

    def once(f):
        return lambda: f

    def fresh_function():  # a new function object per repeat: jax.make_jaxpr caches by function
        return lambda X: mgs(X)

    def make_jaxpr():
        f = fresh_function()
        return lambda: _timed(jax.make_jaxpr(f), x)()()

    def inspect_all():
        f = fresh_function()

        def run():
            program = foldax.trace(f)(x)  # trace, fold, CSE, DCE
            whatif(program)  # figures of the program, after folding and after CSE

        return run

    fns = {"jax": make_jaxpr, "foldax": inspect_all}
    try:
        from autoray import lazy

        fns["autoray"] = once(lambda: lazy.compute(mgs_autoray(lazy.array(x_np))))
    except ImportError:
        pass
    try:
        import dask.array as da

        fns["dask"] = once(lambda: mgs_autoray(da.array(x_np)).compute())
    except ImportError:
        pass
    eqns = foldax.trace(mgs)(x).num_equations
    return Case(f"MGS {n}x{n} ({eqns} eqns): trace+fold+CSE+figures", "jax", fns, target="<= 2x", fresh=True)


def chain(n_equations: int):
    """A program of about ``n_equations`` equations with fan-out and a few reductions."""

    def f(x):
        acc = x
        for i in range(n_equations // 4):
            y = lax.sin(acc)
            acc = lax.add(lax.mul(y, acc), x if i % 7 else y)
            if i % 50 == 0:
                acc = lax.div(acc, lax.reduce_sum(acc, (0,)))
        return acc

    return foldax.trace(f, fold=False)(jnp.ones(64))


def _timed(fn, *args):
    """A fresh-case factory: each repeat times one call of ``fn(*args)`` (result dropped)."""

    def call():
        fn(*args)

    return lambda: call


def _scaling_cases(sizes: list[int]) -> list[Case]:
    cases = []
    for n in sizes:
        program = chain(n)
        graph = Graph.of(program)

        def fns(program=program, graph=graph):
            return {
                "walk": _timed(count_equations, program.jaxpr),
                "graph": _timed(Graph.of, program),
                "figures": _timed(figures, graph),
                "footprint": _timed(footprint, graph),
                "whatif": _timed(whatif, program),
                "source": _timed(source, program),
                "show1000": _timed(tree_lines, graph, 1000),
            }

        cases.append(
            Case(f"inspect {program.num_equations} eqns (ratio flat = linear)", "walk", fns(), fresh=True)
        )
    return cases


def cases(quick: bool) -> list[Case]:
    mgs_sizes = [40] if quick else [100]
    scaling = [1000, 4000] if quick else [1000, 10000, 100000]
    return [_mgs_case(n) for n in mgs_sizes] + _scaling_cases(scaling)
