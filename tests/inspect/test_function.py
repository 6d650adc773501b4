"""Programs as functions of their declared variables, compared with the original function."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from programs import mgs, primitive_counts

import foldax
from foldax.errors import FoldaxTypeError, FoldaxValueError
from foldax.inspect import Function


def f(x, y, scale=1.0):
    y2 = y + jnp.transpose(y)  # jnp: staged into the jaxpr even when y is a NumPy constant
    return scale * (y2**2) / (x + 3)


X = jnp.asarray(np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32))
Y = np.random.default_rng(1).normal(size=(4, 4)).astype(np.float32)


@pytest.mark.parametrize("jit", [True, False])
def test_function_of_declared_variables(jit):
    fn = Function(f, X, jnp.asarray(Y), variables="x", jit=jit)
    assert fn.variable_arguments == ["x"]
    new = X * 2 + 1
    chex.assert_trees_all_close(fn(new), f(new, Y), rtol=1e-6)
    # folded like tracing with y as a NumPy constant
    assert fn.program.num_equations == foldax.trace(f)(X, Y).num_equations


def test_fold_constants_false_keeps_the_constant_work():
    folded = Function(f, X, Y, variables="x")
    kept = Function(f, X, Y, variables="x", fold_constants=False)
    reference = foldax.trace(f, fold=False)(X, Y)
    assert kept.program.num_equations == reference.num_equations > folded.program.num_equations
    chex.assert_trees_all_close(kept(X), f(X, Y), rtol=1e-6)
    assert "lax.transpose(" in kept.source.text and "lax.transpose(" not in folded.source.text


def test_from_program_closed_jaxpr_and_keywords():
    prog = foldax.trace(f)(X, jnp.asarray(Y), scale=jnp.float32(2))
    fn = Function(prog)
    assert fn.variable_arguments == ["args[0]", "args[1]", "scale"]
    chex.assert_trees_all_close(fn(X, Y, jnp.float32(3)), f(X, Y, 3.0), rtol=1e-6)
    chex.assert_trees_all_close(fn(X, Y, scale=jnp.float32(3)), f(X, Y, 3.0), rtol=1e-6)
    partial = Function(prog, X, Y, scale=jnp.float32(2), variables="kwargs['scale']")
    chex.assert_trees_all_close(partial(jnp.float32(5)), f(X, Y, 5.0), rtol=1e-6)
    closed = jax.make_jaxpr(mgs)(X)
    chex.assert_trees_all_close(Function(closed)(X)[0], mgs(X), rtol=1e-5)


def test_a_jax_array_declared_constant_is_folded():
    def shifted(x, c):
        return x + jnp.sin(c) * jnp.exp(c)

    c = jnp.linspace(0.0, 1.0, X.shape[-1])
    folded = Function(shifted, X, c, variables="x")
    kept = Function(shifted, X, c, variables="x", fold_constants=False)
    chex.assert_trees_all_close(folded(X), shifted(X, c), rtol=1e-6)
    chex.assert_trees_all_close(kept(X), shifted(X, c), rtol=1e-6)
    assert primitive_counts(folded.program.jaxpr) == {"add": 1}  # the shift is a constant now
    assert primitive_counts(kept.program.jaxpr)["sin"] == 1
    # draws from a constant key stay in the program, as in JAX (key-reuse checks see them)
    key = jax.random.key(0)
    noisy = Function(lambda x, k: x + jax.random.normal(k, x.shape), X, key, variables="x")
    assert primitive_counts(noisy.program.jaxpr)["random_bits"] == 1


def test_print_source_and_repr(capsys):
    fn = Function(f, X, Y, variables="x")
    fn.print_source()
    assert capsys.readouterr().out == fn.source.text.rstrip("\n") + "\n"
    assert repr(fn) == f"<Function f(x) -> 1 output(s), {fn.program.num_equations} equations>"


def test_call_errors():
    fn = Function(f, X, Y, variables="x")
    with pytest.raises(
        FoldaxTypeError,
        match=r"takes the variable argument\(s\) \['x'\] \(1 in "
        r"all\), found 2 positional",
    ):
        fn(X, X)
    with pytest.raises(
        FoldaxValueError,
        match=r"input args\[0\] has shape \[4, 4\] in the program "
        r"but the value given has shape \[3\]",
    ):
        fn(jnp.ones(3))
    with pytest.raises(
        FoldaxTypeError,
        match=r"Function\(fun=...\): expected a callable, a foldax "
        r"Program or a ClosedJaxpr, found int",
    ):
        Function(3)
