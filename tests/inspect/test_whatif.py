"""What-if views and declaring variables, against references: autoray's shared intermediates,
foldax.trace with NumPy constants, and the original function's values."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from autoray import do, lazy, shape
from programs import mgs

import foldax
from foldax.errors import FoldaxIndexError, FoldaxTypeError, FoldaxValueError
from foldax.inspect import declare_variables, figures, whatif


def _mgs_autoray(X):
    Q = []
    for j in range(shape(X)[0]):
        q = X[j, :]
        for i in range(j):
            q = q - do("tensordot", do("conj", Q[i]), q, 1) * Q[i]
        Q.append(q / do("linalg.norm", q, 2))
    return do("stack", tuple(Q), axis=0)


def test_cse_saves_as_many_nodes_as_autoray_sharing():
    x = np.random.default_rng(0).normal(size=(6, 6)) + 1j * np.random.default_rng(1).normal(size=(6, 6))
    plain = _mgs_autoray(lazy.array(x)).history_num_nodes()
    with lazy.shared_intermediates():
        shared = _mgs_autoray(lazy.array(x)).history_num_nodes()
    view = whatif(jax.make_jaxpr(mgs)(jnp.asarray(x, jnp.complex64)))
    before, folded, after = view.change("unique nodes")
    assert before == folded  # nothing constant to fold
    assert before - after == plain - shared  # the repeated conj(Q[i]) merged, as autoray shares
    assert "unique nodes" in str(view) and f"{before} -> {folded} -> {after}" in str(view)


def test_folding_with_declared_variables_matches_tracing_with_constants():
    def f(x, y):
        return jnp.sin(y) ** 2 / (x + jnp.cos(y)) + jnp.exp(y).sum()

    x, y = jnp.linspace(0.5, 1.5, 4), np.linspace(0.0, 1.0, 4).astype(np.float32)
    prog = foldax.trace(f)(x, jnp.asarray(y))
    reference = foldax.trace(f)(x, y)  # y a NumPy constant: folded at trace time
    view = whatif(prog, x, y)
    assert view.change("equations")[1] == reference.num_equations < prog.num_equations
    for selection in ("args[0]", 0, [0]):
        folded = declare_variables(prog, x, jnp.asarray(y), variables=selection)
        assert folded.num_equations == reference.num_equations
        chex.assert_trees_all_close(folded(x * 2, y), f(x * 2, y), rtol=1e-6)
    kept = declare_variables(prog, x, y, fold_constants=False)
    assert kept.num_equations == prog.num_equations
    chex.assert_trees_all_close(kept(x, y), f(x, y), rtol=1e-6)


def test_folding_a_closed_jaxpr_and_its_figures():
    closed = jax.make_jaxpr(lambda a, b: jnp.tanh(a) @ jnp.tanh(b))(jnp.ones((3, 3)), jnp.ones((3, 3)))
    b = np.eye(3, dtype=np.float32)
    folded = declare_variables(closed, jnp.ones((3, 3)), b)
    assert figures(folded).equations == {"tanh": 1, "dot_general": 1}
    chex.assert_trees_all_close(
        folded(jnp.ones((3, 3)) * 2, b)[0], jnp.tanh(2 * jnp.ones((3, 3))) @ jnp.tanh(b)
    )


def test_declaration_errors_name_the_argument_and_the_fix():
    prog = foldax.trace(lambda x, y=None: x * 2)(jnp.ones(3), y=np.ones(2))
    with pytest.raises(
        FoldaxValueError,
        match=r"input args\[0\] has shape \[3\] in the program "
        r"but the value given has shape \[4\]",
    ):
        declare_variables(prog, np.ones(4), y=np.ones(2))
    with pytest.raises(
        FoldaxValueError,
        match=r"input kwargs\['y'\] was a constant when <lambda> "
        r"was traced .* Trace again passing it as a jax\.Array",
    ):
        declare_variables(prog, jnp.ones(3), y=jnp.ones(2), variables="y")
    with pytest.raises(FoldaxValueError, match=r"input kwargs\['y'\] is the constant"):
        declare_variables(prog, jnp.ones(3), y=np.zeros(2))
    with pytest.raises(FoldaxValueError, match=r"tree structure .* differs from the program's"):
        declare_variables(prog, jnp.ones(3))
    with pytest.raises(FoldaxIndexError, match=r"position 3 is out of range for 1 positional"):
        declare_variables(prog, jnp.ones(3), y=np.ones(2), variables=3)
    with pytest.raises(
        FoldaxValueError,
        match=r"'z' names no argument of this call \(named: "
        r"\['y'\]\)\. Use a position",
    ):
        declare_variables(prog, jnp.ones(3), y=np.ones(2), variables="z")
    with pytest.raises(FoldaxTypeError, match=r"expected argument positions \(int\) or names \(str\)"):
        declare_variables(prog, jnp.ones(3), y=np.ones(2), variables=[1.5])
    with pytest.raises(FoldaxValueError, match=r"has dtype complex64, which does not cast safely"):
        declare_variables(prog, np.ones(3, np.complex64), y=np.ones(2))
