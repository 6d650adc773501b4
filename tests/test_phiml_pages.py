"""The ΦML seed pages on NumPy constants (000) and JIT compilation (001), translated to foldax,
their printed outputs asserted against the pages (and against ΦML itself where they differ)."""

import contextlib
import io

import jax.numpy as jnp
import numpy as np
import scipy.sparse
from jax.experimental import sparse

import foldax
from foldax import tensors as math


def printed(fn, *args):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        out = fn(*args)
    return buf.getvalue().strip(), out


def test_page_000_backends():
    assert math.random_uniform().default_backend == "numpy"
    assert math.wrap(np.asarray([0, 1, 2])).default_backend == "numpy"


def test_page_000_numpy_computed_at_trace_time():
    @foldax.jit
    def fun(a):
        b = math.wrap([1, 2])
        print(f"Tracing with a = {a}, b = {b}")
        return a + math.sin(b**2)

    a = math.tensor(jnp.array([1, 2]))
    text, out = printed(fun, a)
    # The page shows int64 for the tracer; JAX without x64 traces int32.
    assert text == "Tracing with a = (vectorᶜ=2) int32 jax tracer, b = (1, 2) int64"
    assert str(out) == "(1.841, 1.243)"
    np.testing.assert_allclose(out.native(), np.array([1, 2]) + np.sin(np.array([1, 2]) ** 2), rtol=1e-6)
    assert printed(fun, a)[0] == ""  # traced once
    program = fun.trace(a)
    # b ** 2 and sin ran in NumPy: what remains is the addition (and the int -> float cast of a).
    assert [e.primitive.name for e in program.jaxpr.jaxpr.eqns] == ["convert_element_type", "add"]

    @foldax.jit
    def fun_variable(a):
        b = a
        return a + math.sin(b**2)

    assert fun_variable.trace(a).num_equations > program.num_equations


def test_page_000_matrix_from_function():
    def lin(x):
        two = math.tensor(2)
        return two * x.x[:-1]

    matrix = foldax.matrix_from_function(lin, math.zeros(math.spatial(x=3)))[0]
    assert matrix.default_backend == "numpy"
    assert str(matrix) == "x=0 2. 0. 0. along ~x\nx=1 0. 2. 0. along ~x"
    assert scipy.sparse.issparse(matrix.native()) and matrix.native().nnz == 2

    def lin2(x, a):
        return a * x.x[:-1]

    matrix = foldax.matrix_from_function(lin2, math.zeros(math.spatial(x=3)), math.tensor(jnp.asarray(2.0)))[
        0
    ]
    assert matrix.default_backend == "jax" and isinstance(matrix.native(), sparse.BCOO)
    assert str(matrix) == "x=0 2. 0. 0. along ~x\nx=1 0. 2. 0. along ~x"
    assert matrix.native().nse == 2


def test_page_001_jit_traces_once_and_on_new_shapes():
    @foldax.jit
    def fun(x):
        print(f"Tracing fun with x = {x}")
        return 2 * x

    text, out = printed(fun, math.tensor(jnp.array(1.0)))
    assert text == "Tracing fun with x = () float32 jax tracer" and str(out) == "2.0"
    assert printed(fun, math.tensor(jnp.array(1.0)))[0] == ""
    text, out = printed(fun, math.tensor(jnp.array([1, 2])))
    assert text == "Tracing fun with x = (vectorᶜ=2) int32 jax tracer"
    np.testing.assert_array_equal(out.native(), [2, 4])


def test_page_001_numpy_control_flow_and_auxiliary_args():
    @foldax.jit
    def fun(x):
        y = math.wrap(2)
        z = math.sin(y**2)
        if z > 1:
            return z * x
        return z / x

    np.testing.assert_allclose(fun(math.tensor(jnp.array(1.0))).native(), np.sin(4.0), rtol=1e-6)

    @foldax.jit(auxiliary_args="y")
    def fun2(x, y):
        z = math.sin(y**2)
        if (z > 1).all:
            return z * x
        return z / x

    np.testing.assert_allclose(
        fun2(math.tensor(jnp.array(1.0)), math.wrap(2)).native(), np.sin(4.0), rtol=1e-6
    )
    assert foldax.trace_check(fun2, math.tensor(jnp.array(1.0)), math.wrap(2)) == (True, "")
    assert foldax.trace_check(fun2, math.tensor(jnp.array(1.0)), math.wrap(-1)) == (
        False,
        "Auxiliary arguments do not match",
    )
