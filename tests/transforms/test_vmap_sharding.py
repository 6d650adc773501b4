"""foldax.vmap and sharding: ``spmd_axis_name`` rewrites the shardings named inside the function
(``with_sharding_constraint``, a jit's in/out shardings) exactly as ``jax.vmap`` does, and inputs
sharded over an Explicit mesh axis along the mapped axis keep that axis on every batched value.
The reference is jax.vmap on the same function (8 host devices, see conftest)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

import foldax
from foldax.errors import FoldaxTypeError, FoldaxValueError

AUTO = jax.make_mesh((4, 2), ("x", "y"), axis_types=(AxisType.Auto,) * 2)
EXPLICIT = jax.make_mesh((4, 2), ("x", "y"), axis_types=(AxisType.Explicit,) * 2)


def constrained(a):
    b = jnp.sin(a) * 2
    b = jax.lax.with_sharding_constraint(b, NamedSharding(AUTO, P("y")))
    return b.sum()


def through_jit(a):
    inner = jax.jit(
        lambda t: jnp.cos(t) * 2,
        in_shardings=NamedSharding(AUTO, P("y")),
        out_shardings=NamedSharding(AUTO, P("y")),
    )
    return inner(a) + 1


def partly_batched_jit(a, w):
    inner = jax.jit(
        lambda t, u: t * u,
        in_shardings=(NamedSharding(AUTO, P("y")),) * 2,
        out_shardings=NamedSharding(AUTO, P("y")),
    )
    return inner(a, w)


def _sharding_params(closed):
    """Every sharding-valued param of every equation, in order (the part spmd_axis_name
    changes)."""
    out = []
    for eqn in closed.jaxpr.eqns:
        out.append((str(eqn.primitive), {k: v for k, v in eqn.params.items() if "sharding" in k}))
    return out


CASES = [
    (constrained, (0,), (jnp.arange(48.0).reshape(8, 6),)),
    (through_jit, (0,), (jnp.arange(48.0).reshape(8, 6),)),
    (partly_batched_jit, (0, None), (jnp.arange(48.0).reshape(8, 6), jnp.ones(6))),
]


@pytest.mark.parametrize("spmd", [None, "x", ("x",)])
@pytest.mark.parametrize("fun, in_axes, args", CASES, ids=[c[0].__name__ for c in CASES])
def test_shardings_inside_the_function_match_jax(fun, in_axes, args, spmd):
    ours = jax.make_jaxpr(foldax.vmap(fun, in_axes=in_axes, spmd_axis_name=spmd))(*args)
    theirs = jax.make_jaxpr(jax.vmap(fun, in_axes=in_axes, spmd_axis_name=spmd))(*args)
    assert _sharding_params(ours) == _sharding_params(theirs)
    with jax.set_mesh(AUTO):
        got = jax.jit(foldax.vmap(fun, in_axes=in_axes, spmd_axis_name=spmd))(*args)
        want = jax.jit(jax.vmap(fun, in_axes=in_axes, spmd_axis_name=spmd))(*args)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got.sharding.is_equivalent_to(want.sharding, got.ndim)


def _explicit(shape, spec):
    x = jnp.arange(float(np.prod(shape))).reshape(shape) / 7
    return jax.device_put(x, NamedSharding(EXPLICIT, spec))


EXPLICIT_CASES = {
    "elementwise": (lambda a, w: (jnp.sin(a) * w).sum(), (0, None), 0),
    "unbatched output broadcast": (lambda a, w: (a.sum(), w * 2), (0, None), 0),
    "out_axes=1": (lambda a, w: a * w, (0, None), 1),
    "batched while": (
        lambda a, w: jax.lax.while_loop(lambda c: c.sum() < a.sum(), lambda c: c + 1.0, w),
        (0, None),
        0,
    ),
    "nested jit": (lambda a, w: jax.jit(lambda t: t * w)(a), (0, None), 0),
}


@pytest.mark.parametrize("name", list(EXPLICIT_CASES))
def test_explicit_sharded_inputs_keep_their_mesh_axis_like_jax(name):
    fun, in_axes, out_axes = EXPLICIT_CASES[name]
    x, w = _explicit((8, 6), P("x", "y")), _explicit((6,), P("y"))
    with jax.set_mesh(EXPLICIT):
        got = foldax.vmap(fun, in_axes=in_axes, out_axes=out_axes)(x, w)
        want = jax.vmap(fun, in_axes=in_axes, out_axes=out_axes)(x, w)
    for g, t in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(g, t, rtol=1e-6)
        assert jax.typeof(g) == jax.typeof(t)  # shape, dtype and sharding in the type


def test_batched_cond_on_explicit_sharded_inputs_equals_a_loop():
    """jax.vmap refuses this one (its select mixes shardings); foldax shards the per-element
    predicate like the values it selects."""

    def f(a, w):
        return jax.lax.cond(a.sum() > 20, lambda: a * w, lambda: w)

    x, w = _explicit((8, 6), P("x", "y")), _explicit((6,), P("y"))
    with jax.set_mesh(EXPLICIT):
        got = foldax.vmap(f, in_axes=(0, None))(x, w)
    xs, ws = np.asarray(x), np.asarray(w)
    want = np.stack([xs[i] * ws if xs[i].sum() > 20 else ws for i in range(8)])  # rows 4-7 take a*w
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert jax.typeof(got).sharding.spec == P("x", "y")


# -- errors ------------------------------------------------------------------------------------
def test_spmd_axis_name_must_name_mesh_axes():
    with pytest.raises(
        FoldaxTypeError,
        match=r"spmd_axis_name=3\): spmd_axis_name must be a "
        r"mesh axis name \(a str\)",
    ):
        foldax.vmap(jnp.sin, spmd_axis_name=3)
    with pytest.raises(TypeError):  # foldax errors subclass the builtin JAX would raise
        foldax.vmap(jnp.sin, spmd_axis_name=())


def test_mapped_inputs_sharded_differently():
    x = _explicit((8, 6), P("x", "y"))
    other = _explicit((8, 6), P(None, "y"))
    call = lambda vmap: vmap(lambda a, b: a + b)(x, other)  # noqa: E731
    with jax.set_mesh(EXPLICIT):
        with pytest.raises(ValueError, match="should be sharded the same"):
            call(jax.vmap)
        with pytest.raises(FoldaxValueError) as e:
            call(foldax.vmap)
    msg = str(e.value)
    assert "a along 'x'; b along None" in msg
    assert "Reshard them" in msg


def test_unmapped_input_sharded_over_the_mapped_mesh_axis():
    x, y = _explicit((8, 6), P("x", "y")), _explicit((8, 6), P("x"))
    call = lambda vmap: vmap(lambda a, b: a + b.sum(), in_axes=(0, None))(x, y)  # noqa: E731
    with jax.set_mesh(EXPLICIT):
        with pytest.raises(ValueError, match="cannot be sharded along the mesh axis"):
            call(jax.vmap)
        with pytest.raises(
            FoldaxValueError,
            match=r"the unmapped input b is sharded over the mesh axis \('x',\)",
        ):
            call(foldax.vmap)


def test_spmd_axis_name_conflicting_with_explicit_sharding():
    x = _explicit((8, 6), P("x", "y"))
    call = lambda vmap: vmap(jnp.sin, spmd_axis_name="y")(x)  # noqa: E731
    with jax.set_mesh(EXPLICIT):
        with pytest.raises(ValueError, match="Only one of spmd_axis_name"):
            call(jax.vmap)
        with pytest.raises(
            FoldaxValueError,
            match=r"already sharded over the Explicit mesh axis "
            r"\('x',\).*give spmd_axis_name=\('x',\)",
        ):
            call(foldax.vmap)
        same = foldax.vmap(jnp.sin, spmd_axis_name="x")(x)  # naming the same axis is fine
    assert jax.typeof(same) == jax.typeof(jax.vmap(jnp.sin)(x))


# -- shard_map inside vmap -----------------------------------------------------------------------
def _shard_mapped():
    scale = jax.shard_map(lambda a: a * 2, mesh=AUTO, in_specs=P("x"), out_specs=P("x"))
    reduce = jax.shard_map(
        lambda a, b: (jax.lax.psum(a * b, "x"), a), mesh=AUTO, in_specs=(P("x"), P()), out_specs=(P(), P("x"))
    )
    xs = jnp.arange(16.0).reshape(2, 8)
    return [
        ("scale", scale, (0,), (xs,)),
        ("psum, unbatched weight", reduce, (0, None), (xs, jnp.float32(3.0))),
        ("psum, batched weight", reduce, (0, 0), (xs, jnp.arange(2.0))),
    ]


@pytest.mark.parametrize("spmd", [None, "y"])
@pytest.mark.parametrize("case", _shard_mapped(), ids=lambda c: c[0])
def test_shard_map_body_is_batched_like_jax(case, spmd):
    """The shard_map is batched inside (same program as jax.vmap, with the batch dimension in
    its specs), not mapped one element at a time."""
    _, fun, in_axes, args = case
    ours = jax.make_jaxpr(foldax.vmap(fun, in_axes=in_axes, spmd_axis_name=spmd))(*args)
    theirs = jax.make_jaxpr(jax.vmap(fun, in_axes=in_axes, spmd_axis_name=spmd))(*args)
    assert str(ours) == str(theirs)
    with jax.set_mesh(AUTO):
        got = jax.jit(foldax.vmap(fun, in_axes=in_axes, spmd_axis_name=spmd))(*args)
        want = jax.jit(jax.vmap(fun, in_axes=in_axes, spmd_axis_name=spmd))(*args)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(g, w, rtol=1e-6)
    eager = foldax.vmap(fun, in_axes=in_axes, spmd_axis_name=spmd)(*args) if spmd is None else got
    for g, w in zip(jax.tree.leaves(eager), jax.tree.leaves(want)):
        np.testing.assert_allclose(g, w, rtol=1e-6)


def test_shard_map_specs_cannot_use_the_batch_mesh_axis():
    _, fun, in_axes, args = _shard_mapped()[1]
    call = lambda vmap: vmap(fun, in_axes=in_axes, spmd_axis_name="x")(*args)  # noqa: E731
    with jax.set_mesh(AUTO):
        with pytest.raises(ValueError, match="spmd_axis_name cannot appear in shard_map"):
            call(jax.vmap)
        with pytest.raises(
            FoldaxValueError,
            match=r"sharded over the mesh axes \('x',\).*a "
            r"shard_map inside uses \['x'\] in its "
            r"in_specs",
        ):
            call(foldax.vmap)


def test_docstring_example():
    import doctest

    from foldax.transforms.batching import shard_map as batching_shard_map

    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(batching_shard_map, globs=dict(vars(batching_shard_map))):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
