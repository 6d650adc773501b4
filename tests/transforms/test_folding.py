"""Tracing folds constants: equation counts before/after against the unfolded jaxpr, values
against running the function, and the large-constant threshold of foldax.jit."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.core import Var, jaxpr_as_fun

import foldax
from foldax.transforms import jit as jit_module
from foldax.transforms.core.passes import (
    count_equations,
    eliminate_common_subexpressions,
    eliminate_dead_code,
    fold_constants,
)


def mix(x, c):
    y = jnp.sin(c**2) * jnp.cos(c)  # constants only
    z = jax.jit(lambda a, b: a * jnp.exp(b))(x, c)  # nested jit receiving a constant
    return x * y + z + jnp.sum(c)


def test_fold_removes_every_constant_only_equation():
    x, c = jnp.linspace(0, 1, 5), np.linspace(1, 2, 5).astype(np.float32)
    unfolded = jax.make_jaxpr(mix)(x, c)  # c traced too
    program = foldax.trace(mix)(x, c)  # c constant
    # Brute force: what remains must depend on x. Trace with only x as input and count the
    # equations reachable from x in JAX's own jaxpr (mul, exp-mul of nested jit inlined, adds).
    assert program.num_equations < count_equations(unfolded)
    for eqn in program.jaxpr.jaxpr.eqns:
        assert any(isinstance(v, Var) for v in eqn.invars)
    chex.assert_trees_all_close(program(x, c), mix(x, c), rtol=1e-6)


def test_phiml_numpy_constants_page_one_operation_remains():
    # ΦML: `a + sin(b ** 2)` with b a NumPy constant: b ** 2 and sin run at trace time.
    def fun(a):
        b = np.array([1, 2])
        return a + jnp.sin(b**2)

    program = foldax.trace(fun)(jnp.array([1.0, 2.0]))
    assert [e.primitive.name for e in program.jaxpr.jaxpr.eqns] == ["add"]
    variable_b = foldax.trace(lambda a: a + jnp.sin(a**2))(jnp.array([1.0, 2.0]))
    assert variable_b.num_equations == 3
    chex.assert_trees_all_close(program(jnp.array([1.0, 2.0])), fun(jnp.array([1.0, 2.0])))


def test_python_control_flow_on_constants_inside_trace():
    def fun(x):
        z = np.sin(np.float64(2) ** 2)
        return z * x if z > 1 else z / x

    program = foldax.trace(fun)(jnp.float32(1.0))
    assert program.num_equations == 1
    chex.assert_trees_all_close(program(jnp.float32(3.0)), fun(jnp.float32(3.0)))


def test_expanding_constants_are_left_to_xla():
    f = lambda x: x + jnp.ones((256, 256)) * 2  # noqa: E731
    program = foldax.trace(f)(jnp.ones((256, 256)))
    prims = [e.primitive.name for e in program.jaxpr.jaxpr.eqns]
    assert "broadcast_in_dim" in prims and not program.jaxpr.consts


def test_cse_and_dce_against_counts():
    def f(x):
        a = jnp.sin(x)
        b = jnp.sin(x)  # common subexpression
        jnp.cos(x)  # dead
        return a + b

    closed = jax.make_jaxpr(f)(1.0)
    assert len(closed.jaxpr.eqns) == 4
    cse = eliminate_common_subexpressions(closed)
    dce = eliminate_dead_code(cse)
    assert len(dce.jaxpr.eqns) == 2
    chex.assert_trees_all_close(jaxpr_as_fun(dce)(0.3), [f(0.3)])


def test_effects_are_never_folded_or_removed():
    def f(x):
        jax.debug.print("{}", np.float32(1.0))
        return x * 2

    program = foldax.trace(f)(jnp.ones(2))
    assert any(e.effects for e in program.jaxpr.jaxpr.eqns)


def test_fold_constants_pass_is_idempotent_and_value_preserving():
    closed = jax.make_jaxpr(lambda x: x + jnp.sin(np.arange(3.0)) * np.pi)(jnp.ones(3))
    once = fold_constants(closed)
    twice = fold_constants(once)
    assert len(once.jaxpr.eqns) == len(twice.jaxpr.eqns) == 1
    ref = jnp.ones(3) + jnp.sin(np.arange(3.0)) * np.pi
    chex.assert_trees_all_close(jaxpr_as_fun(twice)(jnp.ones(3))[0], ref)


@pytest.mark.parametrize("n,hoisted", [(64, False), (256, True)])
def test_large_folded_constants_become_arguments(n, hoisted):
    c = np.random.default_rng(0).normal(size=(n, n)).astype(np.float32)
    f = foldax.jit(lambda x, c: x @ jnp.tanh(c))
    x = jnp.ones((2, n))
    chex.assert_trees_all_close(f(x, c), x @ jnp.tanh(c), rtol=1e-5)
    assert (c.nbytes > jit_module.EMBED_MAX_BYTES) == hoisted
    entry = next(iter(f.entries.values()))
    assert bool(entry.hoisted) == hoisted
    text = f.lower(x, c).as_text()
    # An embedded constant appears in the HLO text as its dense literal; a hoisted one does not.
    assert (len(text) < c.nbytes) == hoisted
