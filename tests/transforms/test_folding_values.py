"""Folding never changes a value: hypothesis draws small programs whose operands include Python
and NumPy literals (nan, ±inf, ±0.0, huge and tiny numbers) in several dtypes, some steps inside
shared nested ``jax.jit`` bodies (inlined by folding at every call site), and the folded Program
must give bit for bit what the same function gives under JAX."""

from __future__ import annotations

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from jax.extend.core import Literal

import foldax

SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, 3.0, -2.5, 1e30, -1e-30, 65504.0, 1e-8]
DTYPES = [jnp.float32, jnp.float16, jnp.bfloat16, jnp.float8_e5m2, jnp.float8_e4m3fn, jnp.int32]

BINARY = {
    "add": jnp.add,
    "sub": jnp.subtract,
    "mul": jnp.multiply,
    "max": jnp.maximum,
    "min": jnp.minimum,
    "where_gt": lambda a, b: jnp.where(a > b, a, b),
    "where_eq": lambda a, b: jnp.where(a == b, b, a),
    "copysign": jnp.copysign,
}
UNARY = {
    "neg": jnp.negative,
    "abs": jnp.abs,
    "sign": jnp.sign,
    "signbit": jnp.signbit,
    "isnan_to_zero": lambda a: jnp.where(jnp.isnan(a), 0.0, a),
    # computed by XLA when folded (core/eager.py), the ones above mostly by NumPy rules
    "tanh": jnp.tanh,
    "exp": jnp.exp,
    "sqrt": jnp.sqrt,
    "cumsum": jnp.cumsum,
    "sum": jnp.sum,
}
# One jitted body per operation, shared by every call site (as jnp.where's `_where` is).
JITTED = {name: jax.jit(f) for name, f in {**BINARY, **UNARY}.items()}


def _operand(draw, n_steps: int):
    kind = draw(st.sampled_from(["x", "step", "python", "numpy"]))
    if kind == "step" and n_steps:
        return ("step", draw(st.integers(0, n_steps - 1)))
    if kind in ("python", "numpy"):
        return (kind, draw(st.sampled_from(SPECIALS)))
    return ("x",)


@st.composite
def programs(draw):
    """A list of steps ``(operation, jitted, operands)``, then which step values to return."""
    steps = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):
            name = draw(st.sampled_from(sorted(BINARY)))
            operands = (_operand(draw, len(steps)), _operand(draw, len(steps)))
        elif draw(st.booleans()):
            name = "nan_to_num"
            operands = (_operand(draw, len(steps)),) + tuple(
                ("python", draw(st.sampled_from(SPECIALS))) for _ in range(3)
            )
        else:
            name = draw(st.sampled_from(sorted(UNARY)))
            operands = (_operand(draw, len(steps)),)
        steps.append((name, draw(st.booleans()), operands))
    return steps


def build(steps, dtype):
    """The function of ``x`` the drawn steps describe (NumPy literals take x's dtype when it is
    inexact, float32 otherwise)."""
    np_dtype = dtype if jnp.issubdtype(dtype, jnp.inexact) else np.float32

    def fun(x):
        values = []

        def value(op):
            if op[0] == "x":
                return x
            if op[0] == "step":
                return values[op[1]]
            if op[0] == "python":
                return op[1]
            return np.asarray(op[1]).astype(np_dtype)

        for name, jitted, operands in steps:
            if name == "nan_to_num":
                a, nan, posinf, neginf = operands
                values.append(jnp.nan_to_num(value(a), nan=nan[1], posinf=posinf[1], neginf=neginf[1]))
                continue
            f = JITTED[name] if jitted else {**BINARY, **UNARY}[name]
            values.append(jnp.asarray(f(*map(value, operands))))
        return values

    return fun


def op_by_op(jaxpr, consts, *args):
    """Evaluate a jaxpr one primitive at a time, nested jit bodies included."""
    env = dict(zip([*jaxpr.constvars, *jaxpr.invars], [*consts, *args]))
    read = lambda a: a.val if isinstance(a, Literal) else env[a]  # noqa: E731
    for eqn in jaxpr.eqns:
        ins = [read(a) for a in eqn.invars]
        if eqn.primitive.name == "jit":
            body = eqn.params["jaxpr"]
            outs = op_by_op(body.jaxpr, body.consts, *ins)
        else:
            outs = eqn.primitive.bind(*ins, **eqn.params)
            outs = outs if eqn.primitive.multiple_results else [outs]
        env.update(zip(eqn.outvars, outs))
    return [read(a) for a in jaxpr.outvars]


def assert_same_values(got, want):
    """Equal dtypes, shapes and bits (any NaN equals any NaN)."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape
        if jnp.issubdtype(g.dtype, jnp.inexact):
            nan_g, nan_w = np.isnan(g.astype(np.float32)), np.isnan(w.astype(np.float32))
            np.testing.assert_array_equal(nan_g, nan_w)
            bits = np.dtype(f"u{g.dtype.itemsize}")
            np.testing.assert_array_equal(g.view(bits)[~nan_g], w.view(bits)[~nan_w])
        else:
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@settings(max_examples=12, deadline=None, derandomize=True)
@given(steps=programs(), data=st.data())
def test_folded_program_equals_the_function_under_jax(dtype, steps, data):
    # a scalar x keeps folded scalars as literals; a vector x makes them broadcast consts
    size = data.draw(st.sampled_from([None, 3]), label="size")
    element = st.sampled_from(SPECIALS) if jnp.issubdtype(dtype, jnp.inexact) else st.integers(-5, 5)
    raw = data.draw(st.lists(element, min_size=size or 1, max_size=size or 1), label="x")
    x = jnp.asarray(np.asarray(raw if size else raw[0]).astype(dtype))
    fun = build(steps, dtype)
    # Operation by operation on both sides: no fusion, so each result is rounded as JAX
    # rounds it and the comparison can be bitwise.
    with jax.disable_jit():
        try:
            want = fun(x)
        except Exception as e:  # noqa: BLE001 - e.g. signbit of an 8-bit float: refuse alike
            with pytest.raises(type(e)):
                foldax.trace(fun)(x)
            return
    program = foldax.trace(fun)(x)
    got = program.assemble(op_by_op(program.jaxpr.jaxpr, program.jaxpr.consts, x))
    assert_same_values(got, want)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 2.0])
def test_nan_to_num_under_jit_matches_jax(value):
    f = lambda x: jnp.nan_to_num(x, nan=0.0, posinf=jnp.inf)  # noqa: E731
    x = jnp.float32(value)
    assert_same_values([foldax.jit(f)(x)], [jax.jit(f)(x)])
    # the Python scalars nan_to_num's jit receives stay its arguments, as in JAX's own jaxpr
    assert str(foldax.trace(f)(x).jaxpr) == str(jax.make_jaxpr(f)(x))
