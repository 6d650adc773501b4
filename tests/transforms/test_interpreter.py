"""The interpreter core: evaluating every corpus function through it equals running it, eagerly
and under jax.jit, both with higher-order primitives bound unchanged and re-traced generically."""

import chex
import jax
import jax.numpy as jnp
import pytest
from corpus import CORPUS, CORPUS_IDS
from jax import lax
from jax.extend.core import Primitive

from foldax.errors import MissingRuleError
from foldax.transforms.core.interpreter import EvalInterpreter, Interpreter, bind_eqn


class Regenerating(Interpreter):
    """Binds first-order primitives; re-traces every higher-order one generically."""

    transformation = "regenerating"

    def default_rule(self, eqn, invals):
        return bind_eqn(eqn, invals)


class Counting(Regenerating):
    """Threads a counter through every sub-jaxpr: how many equations ran."""

    def __init__(self):
        self.count = jnp.zeros((), jnp.int32)

    def get_state(self):
        return [self.count]

    def set_state(self, arrays):
        (self.count,) = arrays

    def default_rule(self, eqn, invals):
        self.count = self.count + 1
        return super().default_rule(eqn, invals)


@pytest.mark.parametrize("name,fn,make", CORPUS, ids=CORPUS_IDS)
@pytest.mark.parametrize("interpreter", [EvalInterpreter, Regenerating, Counting])
def test_interpreting_equals_running(name, fn, make, interpreter):
    x = make()
    closed = jax.make_jaxpr(fn)(x)
    expected = fn(x)
    chex.assert_trees_all_close(interpreter().run(closed, x)[0], expected, rtol=1e-5, atol=1e-5)
    jitted = jax.jit(lambda a: interpreter().run(closed, a)[0])
    chex.assert_trees_all_close(jitted(x), expected, rtol=1e-5, atol=1e-5)


def test_state_counts_loop_iterations_like_a_python_loop():
    def f(x):
        return lax.while_loop(lambda c: c[0] < 7, lambda c: (c[0] + 1, jnp.sin(c[1])), (0, x))

    closed = jax.make_jaxpr(f)(1.0)

    def run(x):
        interp = Counting()
        interp.run(closed, x)
        return interp.count

    # Brute force: the body's equations times the trip count, plus one predicate per test is
    # not counted (the predicate's state is discarded), plus the equations outside the loop.
    while_eqn = next(e for e in closed.jaxpr.eqns if e.primitive is lax.while_p)
    per_iteration = len(while_eqn.params["body_jaxpr"].jaxpr.eqns)
    outside = len(closed.jaxpr.eqns) - 1
    assert int(jax.jit(run)(1.0)) == 7 * per_iteration + outside


def test_missing_rule_names_primitive_and_how_to_register():
    mystery = Primitive("mystery")
    mystery.def_abstract_eval(lambda x: x)
    closed = jax.make_jaxpr(lambda x: mystery.bind(x))(1.0)

    class Strict(Interpreter):
        transformation = "strict"

    with pytest.raises(MissingRuleError, match=r"no rule for the primitive 'mystery'.*register"):
        Strict().run(closed, 1.0)


def test_user_registered_rule_is_used():
    mystery = Primitive("mystery2")
    mystery.def_abstract_eval(lambda x: x)
    closed = jax.make_jaxpr(lambda x: mystery.bind(x) * 2)(1.0)

    class Strict(Interpreter):
        transformation = "strict"

        def default_rule(self, eqn, invals):
            return bind_eqn(eqn, invals)

    @Strict.register(mystery)
    def _rule(interp, eqn, invals):
        return [jnp.cos(invals[0])]

    chex.assert_trees_all_close(Strict().run(closed, 0.5)[0], jnp.cos(0.5) * 2)
