"""foldax.vmap against jax.vmap: in_axes/out_axes prefixes, keyword arguments, NumPy leaves,
constant outputs, collectives, random keys, a primitive without a batching rule, and the Program
of a vmapped function (unbatched work stays unbatched, unmapped constants stay folded)."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import foldax


# -- in_axes / out_axes as pytree prefixes ------------------------------------------------------
def f_tree(params, x, scale):
    return {"y": params["w"] @ x + params["b"], "s": scale * jnp.sum(x)}, params["b"]


PARAMS = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(2)}


@pytest.mark.parametrize(
    "in_axes,out_axes",
    [
        (({"w": None, "b": None}, 0, None), ({"y": 0, "s": 0}, None)),
        ((None, 1, 0), 0),
        (({"w": 0, "b": None}, -1, None), ({"y": -1, "s": 0}, 0)),
        ([None, 0, None], ({"y": 1, "s": 0}, None)),
    ],
)
def test_prefix_axes_match_jax(in_axes, out_axes):
    w_batched = jnp.stack([PARAMS["w"], 2 * PARAMS["w"], 3 * PARAMS["w"], -PARAMS["w"]])
    x = jnp.arange(12.0).reshape(4, 3)
    scale = jnp.arange(4.0)
    params = dict(PARAMS)
    in_list = list(in_axes) if isinstance(in_axes, list) else in_axes
    if isinstance(in_list[0], dict) and in_list[0]["w"] == 0:
        params["w"] = w_batched
    if in_list[1] in (1, -1):
        x = x.T
    args = (params, x, scale if in_list[2] == 0 else 2.0)
    expected = jax.vmap(f_tree, in_axes=in_axes, out_axes=out_axes)(*args)
    chex.assert_trees_all_close(foldax.vmap(f_tree, in_axes=in_axes, out_axes=out_axes)(*args), expected)


def test_prefix_with_list_entries():
    f = lambda pair, s: pair[0] * s + pair[1]  # noqa: E731
    args = ([jnp.arange(6.0).reshape(3, 2), jnp.ones(2)], jnp.arange(3.0))
    for in_axes in [([0, None], 0), ([1, None], None)]:
        a = args if in_axes[0][0] == 0 else ([args[0][0].T, args[0][1]], 2.0)
        chex.assert_trees_all_close(foldax.vmap(f, in_axes=in_axes)(*a), jax.vmap(f, in_axes=in_axes)(*a))


def test_empty_batch():
    f = lambda x, y: (jnp.sin(x) @ y, x.sum())  # noqa: E731
    for x in (jnp.ones((0, 3)), np.ones((0, 3), np.float32)):
        ours = foldax.vmap(f, in_axes=(0, None))(x, jnp.ones((3, 2)))
        chex.assert_trees_all_close(ours, jax.vmap(f, in_axes=(0, None))(x, jnp.ones((3, 2))))


def test_keyword_arguments_are_mapped_along_axis_0():
    f = lambda x, *, y: x * y  # noqa: E731
    x, y = jnp.arange(3.0), jnp.arange(6.0).reshape(3, 2)
    chex.assert_trees_all_close(foldax.vmap(f, in_axes=None)(2.0, y=y), jax.vmap(f, in_axes=None)(2.0, y=y))
    chex.assert_trees_all_close(
        foldax.vmap(lambda x, y: x + y, in_axes=(0,))(x, y=x),
        jax.vmap(lambda x, y: x + y, in_axes=(0,))(x, y=x),
    )


def test_axis_size_without_mapped_arguments():
    f = lambda: jnp.ones(2)  # noqa: E731
    chex.assert_trees_all_close(foldax.vmap(f, axis_size=3)(), jax.vmap(f, axis_size=3)())
    g = lambda x: x * 2  # noqa: E731
    chex.assert_trees_all_close(
        foldax.vmap(g, in_axes=None, axis_size=2)(jnp.ones(3)),
        jax.vmap(g, in_axes=None, axis_size=2)(jnp.ones(3)),
    )


def test_unbatched_output_is_broadcast_like_jax():
    f = lambda x, w: (x * w, jnp.sin(w))  # noqa: E731
    args = (jnp.arange(3.0), jnp.ones(2)[:, None] * jnp.ones(3))
    for out_axes in [0, 1, (0, 2), (None, None)]:
        if out_axes == (None, None):
            out_axes = (0, None)
        chex.assert_trees_all_close(
            foldax.vmap(f, in_axes=(0, None), out_axes=out_axes)(*args),
            jax.vmap(f, in_axes=(0, None), out_axes=out_axes)(*args),
        )


def test_dataclass_model_is_mapped_over_its_variable_fields():
    @foldax.dataclass
    class Affine:
        w: jax.Array
        b: jax.Array
        act: str = foldax.field(kind="static", default="tanh")

        def __call__(self, x):
            return getattr(jnp, self.act)(self.w @ x + self.b)

    models = Affine(jnp.arange(24.0).reshape(4, 2, 3) / 10, jnp.arange(8.0).reshape(4, 2))
    xs = jnp.ones((4, 3))
    expected = jax.vmap(lambda m, x: m(x))(models, xs)
    chex.assert_trees_all_close(foldax.vmap(lambda m, x: m(x))(models, xs), expected)
    # returning the model keeps its static field and batches its arrays
    scaled = foldax.vmap(lambda m: foldax.replace(m, w=2 * m.w))(models)
    assert scaled.act == "tanh"
    chex.assert_trees_all_close(scaled.w, 2 * models.w)


# -- NumPy leaves ---------------------------------------------------------------------------------
def test_unmapped_numpy_leaf_stays_a_folded_constant():
    def f(x, table):
        return x * np.cos(table**2).sum() + np.exp(table)[0]

    table = np.linspace(0.0, 1.0, 3).astype(np.float32)
    xs = jnp.arange(4.0)
    program = foldax.trace(foldax.vmap(f, in_axes=(0, None)))(xs, table)
    per_element = foldax.trace(f)(xs[0], table)
    assert program.variable_mask == (True, False)  # the table is still a constant input
    assert program.num_equations == per_element.num_equations == 2  # np work folded: mul, add
    chex.assert_trees_all_close(program(xs, table), jax.vmap(f, in_axes=(0, None))(xs, table))


def test_constants_are_folded_under_jax_own_traces_too():
    def f(x, table):
        big = jnp.broadcast_to(jnp.float32(1.0), (200, 200))  # would blow up: left for XLA
        return x * jnp.cos(jnp.asarray(table) ** 2).sum() + big[0, :3]

    table = np.linspace(0.0, 1.0, 3).astype(np.float32)
    ours = jax.make_jaxpr(lambda x: foldax.vmap(f, in_axes=(0, None))(x, table))(jnp.ones((4, 3)))
    theirs = jax.make_jaxpr(lambda x: jax.vmap(f, in_axes=(0, None))(x, table))(jnp.ones((4, 3)))
    names = [e.primitive.name for e in ours.jaxpr.eqns]
    assert "cos" in [e.primitive.name for e in theirs.jaxpr.eqns]
    assert "cos" not in names and "integer_pow" not in names  # computed once, at trace time
    assert "broadcast_in_dim" in names
    chex.assert_trees_all_close(
        foldax.vmap(f, in_axes=(0, None))(jnp.ones((4, 3)), table),
        jax.vmap(f, in_axes=(0, None))(jnp.ones((4, 3)), table),
    )


def test_mapped_numpy_leaf_becomes_a_variable():
    def f(x, row):
        return x * jnp.sum(row)

    rows = np.arange(12.0, dtype=np.float32).reshape(4, 3)
    out = foldax.vmap(f, in_axes=(None, 0))(jnp.float32(2.0), rows)
    chex.assert_trees_all_close(out, jax.vmap(f, in_axes=(None, 0))(jnp.float32(2.0), rows))
    seen = []

    def g(x, row):
        seen.append(type(row))
        return x * row

    foldax.vmap(g, in_axes=(None, 0))(1.0, rows)
    assert issubclass(seen[0], jax.core.Tracer)


def test_constant_outputs_stay_numpy_and_are_repeated():
    out = foldax.vmap(lambda x: (x, np.ones(2, np.float32), 3.0))(jnp.arange(3.0))
    expected = jax.vmap(lambda x: (x, np.ones(2, np.float32), 3.0))(jnp.arange(3.0))
    assert isinstance(out[1], np.ndarray) and isinstance(out[2], np.ndarray)
    chex.assert_trees_all_close(out, expected)


# -- what stays unbatched -------------------------------------------------------------------------
def test_equation_without_batched_input_stays_unbatched():
    def f(x, w):
        return x * jnp.sin(w).sum()

    program = foldax.trace(foldax.vmap(f, in_axes=(0, None)))(jnp.ones((5, 3)), jnp.ones(7))
    sin = [e for e in program.jaxpr.jaxpr.eqns if e.primitive is lax.sin_p]
    assert len(sin) == 1 and sin[0].outvars[0].aval.shape == (7,)  # not (5, 7)
    reference = jax.make_jaxpr(jax.vmap(f, in_axes=(0, None)))(jnp.ones((5, 3)), jnp.ones(7))
    ref_sin = [e for e in reference.jaxpr.eqns if e.primitive is lax.sin_p]
    assert ref_sin[0].outvars[0].aval.shape == sin[0].outvars[0].aval.shape


def test_unbatched_control_flow_stays_unbatched():
    def f(x, w):
        y = lax.fori_loop(0, 3, lambda i, c: c * 2.0, w)  # depends on w only
        return x + lax.cond(w[0] > 0, jnp.sin, jnp.cos, y)

    program = foldax.trace(foldax.vmap(f, in_axes=(0, None)))(jnp.ones((5, 2)), jnp.ones(2))
    loops = [e for e in program.jaxpr.jaxpr.eqns if e.primitive.name in ("while", "cond")]
    assert loops and all(v.aval.shape == (2,) for e in loops for v in e.outvars)


# -- collectives over axis_name ---------------------------------------------------------------------
COLLECTIVES = {
    "psum": lambda x: x / lax.psum(x, "i"),
    "pmean": lambda x: x - lax.pmean(x, "i"),
    "pmax": lambda x: lax.pmax(x, "i"),
    "all_gather": lambda x: lax.all_gather(x, "i"),
    "axis_index": lambda x: x * lax.axis_index("i"),
    "psum_of_constant": lambda x: x * lax.psum(1, "i"),
    "in_jit": lambda x: jax.jit(lambda y: lax.psum(y, "i"))(x),
    "in_scan": lambda x: lax.scan(lambda c, r: (c + lax.psum(r, "i"), None), 0.0, x)[0],
}


@pytest.mark.parametrize("name", list(COLLECTIVES))
def test_collectives_match_jax(name):
    f = COLLECTIVES[name]
    x = jnp.arange(12.0).reshape(4, 3) + 1
    chex.assert_trees_all_close(foldax.vmap(f, axis_name="i")(x), jax.vmap(f, axis_name="i")(x))


def test_nested_axis_names_match_jax():
    x = jnp.arange(24.0).reshape(2, 3, 4)
    for axes in ["i", "j", ("i", "j")]:
        f = lambda v: lax.psum(v, axes) * lax.axis_index("j")  # noqa: E731,B023
        ours = foldax.vmap(foldax.vmap(f, axis_name="j"), axis_name="i")(x)
        chex.assert_trees_all_close(ours, jax.vmap(jax.vmap(f, axis_name="j"), axis_name="i")(x))


# -- random keys --------------------------------------------------------------------------------------
def test_typed_key_arrays_batch():
    def sample(key, scale):
        k1, k2 = jax.random.split(key)
        return scale * jax.random.normal(k1, (3,)) + jax.random.uniform(k2)

    def uses(vmap, keys):
        return (
            vmap(sample, in_axes=(0, None))(keys, 2.0),
            jax.random.key_data(vmap(jax.random.split)(keys)),
            jax.random.key_data(vmap(jax.random.fold_in, in_axes=(None, 0))(keys[0], jnp.arange(3))),
        )

    keys = jax.random.split(jax.random.key(0), 4)
    ours, expected = jax.jit(lambda k: (uses(foldax.vmap, k), uses(jax.vmap, k)))(keys)
    chex.assert_trees_all_close(ours, expected)
    chex.assert_trees_all_close(foldax.vmap(sample, in_axes=(0, None))(keys, 2.0), expected[0])


# -- a primitive without a batching rule --------------------------------------------------------------
def _primitive_without_batching_rule():
    from jax.extend.core import Primitive
    from jax.interpreters import mlir

    prim = Primitive("cumsum_without_batching_rule")
    prim.def_impl(lambda x: jnp.cumsum(x))
    prim.def_abstract_eval(lambda x: jax.core.ShapedArray(x.shape, x.dtype))
    mlir.register_lowering(prim, mlir.lower_fun(lambda x: jnp.cumsum(x), multiple_results=False))
    return prim


def test_primitive_without_rule_is_mapped_one_equation_at_a_time():
    prim = _primitive_without_batching_rule()
    f = lambda x, y: prim.bind(x) * y  # noqa: E731
    x = jnp.arange(12.0).reshape(3, 4)
    with pytest.raises(NotImplementedError):
        jax.vmap(f, in_axes=(0, None))(x, 2.0)  # JAX has no rule; the reference is a loop
    for in_axis in (0, 1):
        xs = x if in_axis == 0 else x.T
        expected = jnp.stack([jnp.cumsum(row) * 2.0 for row in x])
        chex.assert_trees_all_close(foldax.vmap(f, in_axes=(in_axis, None))(xs, 2.0), expected)
    program = foldax.trace(foldax.vmap(f, in_axes=(0, None)))(x, 2.0)
    assert [e.primitive.name for e in program.jaxpr.jaxpr.eqns][0] == "scan"
