"""Generated source, executed and compared with the original function."""

import io
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from corpus import CORPUS, CORPUS_IDS
from programs import mgs

import foldax
from foldax.inspect import print_source, source


def _run(program, *variables):
    return list(source(program).function()(*variables))


@pytest.mark.parametrize("name, fn, make", CORPUS, ids=CORPUS_IDS)
def test_source_reproduces_the_function(name, fn, make):
    x = make()
    expected = jax.tree_util.tree_leaves(fn(x))
    chex.assert_trees_all_close(_run(jax.make_jaxpr(fn)(x), x), expected, rtol=1e-5, atol=1e-6)
    prog = foldax.trace(fn)(x)
    chex.assert_trees_all_close(prog.assemble(_run(prog, x)), fn(x), rtol=1e-5, atol=1e-6)


def test_source_is_readable_python_calling_lax():
    text = source(foldax.trace(mgs)(jnp.ones((3, 3)))).text
    lines = text.splitlines()
    assert lines[:4] == ["import jax", "import jax.numpy as jnp", "import numpy as np", "from jax import lax"]
    assert "def jit_norm(a):" in lines and "def mgs(X):" in lines
    assert text.count("def jit_norm(") == 1  # the shared body is written once
    assert "    a = lax.slice(X, start_indices=(0, 0), limit_indices=(1, 3))" in lines
    assert any("= lax.dot_general(" in ln for ln in lines)
    assert len(re.findall(r"\n    \(\w+,\) = jax\.jit\(jit_norm\)\(\w+\)\n", text)) == 3
    compile(text, "<test>", "exec")
    x = jnp.asarray(np.random.default_rng(0).normal(size=(3, 3)).astype(np.float32))
    chex.assert_trees_all_close(source(foldax.trace(mgs)(x)).function()(x)[0], mgs(x), rtol=1e-5)


def test_large_constants_go_to_the_namespace_small_ones_inline():
    big, small = np.arange(100.0, dtype=np.float32), np.arange(3.0, dtype=np.float32)
    closed = jax.make_jaxpr(lambda x: x[:3] * jnp.asarray(small) + jnp.asarray(big)[:3])(jnp.ones(3))
    src = source(closed)
    assert (
        list(src.namespace) == ["const_0"]
        and src.namespace["const_0"] is closed.consts[[np.size(c) for c in closed.consts].index(100)]
    )
    assert "# From Source.namespace: const_0 (f32[100])" in src.text
    assert "np.asarray([0.0, 1.0, 2.0], dtype=np.float32)" in src.text
    chex.assert_trees_all_close(src.function()(jnp.ones(3))[0], small + big[:3])


def test_print_source_prints_the_text():
    prog = foldax.trace(lambda x: jnp.sin(x) * 2)(jnp.ones(3))
    buffer = io.StringIO()
    print_source(prog, file=buffer)
    assert buffer.getvalue() == source(prog).text.rstrip("\n") + "\n"
    assert "def lambda_(x):" in buffer.getvalue()
    assert source(prog, name="double_sine").name == "double_sine"
