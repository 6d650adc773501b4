"""foldax.jit takes and returns only arrays and numbers, as jax.jit does, and traces the Python
scalars a nested jit receives: each case is compared with jax.jit (exception type and message,
outputs, dtypes, weak types, jaxpr structure)."""

import dataclasses
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import foldax
from foldax.errors import InvalidArgumentError, InvalidOutputError

JAX_ARGUMENT = (
    "Error interpreting argument to .* as an abstract array. The problematic value is of type .* "
    "and was passed to the function at path {}."
)


def _jax_error(jit, fun, *args, **kwargs):
    with pytest.raises(TypeError) as error:
        jit(fun)(*args, **kwargs)
    return error


def positional(x):
    return x


def starred(x, *args, **kw):
    return x


@pytest.mark.parametrize(
    "fun, args, kwargs, path",
    [
        (positional, ("foo",), {}, "x"),
        (positional, (jnp.int32,), {}, "x"),
        (positional, (print,), {}, "x"),
        (positional, ({"k": [object()]},), {}, "x['k'][0]"),
        (starred, (1.0, "a"), {}, "args[0]"),
        (starred, (1.0,), {"a": "b"}, "kw['a']"),
    ],
    ids=["str", "jax_type", "function", "nested", "star_args", "star_kwargs"],
)
def test_non_array_arguments_raise_jax_type_error(fun, args, kwargs, path):
    jax_error = _jax_error(jax.jit, fun, *args, **kwargs)
    error = _jax_error(foldax.jit, fun, *args, **kwargs)
    assert isinstance(error.value, InvalidArgumentError)
    pattern = JAX_ARGUMENT.format(re.escape(path))
    assert re.search(pattern, str(jax_error.value)) and re.search(pattern, str(error.value))
    assert str(error.value).startswith(str(jax_error.value).split(" at 0x")[0])
    assert "Fix: name the argument in static_argnames" in str(error.value)


def test_non_array_argument_named_static_or_auxiliary_is_accepted():
    f = lambda x, act: x if act == "id" else -x  # noqa: E731
    want = jax.jit(f, static_argnames="act")(jnp.ones(2), "neg")
    np.testing.assert_array_equal(foldax.jit(f, static_argnames="act")(jnp.ones(2), "neg"), want)
    np.testing.assert_array_equal(foldax.jit(f, auxiliary_args="act")(jnp.ones(2), "neg"), want)


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Tagged:
    w: jax.Array
    tag: str = dataclasses.field(metadata={"static": True}, default="t")


def test_static_fields_none_and_empty_containers_are_no_leaves():
    f = lambda m, n, e: (m.w * 2, n, e)  # noqa: E731
    args = (Tagged(jnp.ones(2)), None, ((), {}))
    jax.tree.map(np.testing.assert_array_equal, foldax.jit(f)(*args), jax.jit(f)(*args))


def test_non_array_leaves_inside_an_equinox_module_are_static_as_in_filter_jit():
    mlp = eqx.nn.MLP(2, 2, 4, 1, key=jax.random.key(0))  # activation: a function leaf
    x = jnp.ones(2)
    with pytest.raises(TypeError):
        jax.jit(lambda m, x: m(x))(mlp, x)
    np.testing.assert_allclose(
        foldax.jit(lambda m, x: m(x))(mlp, x), eqx.filter_jit(lambda m, x: m(x))(mlp, x)
    )


@pytest.mark.parametrize(
    "fun",
    [lambda x: "label", lambda x: (x, {"a": print}), lambda t: t.tag],
    ids=["top", "nested", "static_field"],
)
def test_non_array_outputs_raise_jax_type_error(fun):
    arg = Tagged(jnp.ones(2))
    jax_error = _jax_error(jax.jit, fun, arg)
    error = _jax_error(foldax.jit, fun, arg)
    assert isinstance(error.value, InvalidOutputError)
    assert "returned a value of type" in str(error.value)
    assert str(error.value).startswith(str(jax_error.value))


@pytest.mark.parametrize("x64", [False, True])
@pytest.mark.parametrize("value", [3, 2.5, True, 1j])
def test_python_scalar_outputs_are_weakly_typed_arrays(value, x64):
    with jax.enable_x64(x64):
        f = lambda x: (value, x)  # noqa: E731
        got, want = foldax.jit(f)(1.0), jax.jit(f)(1.0)
        for a, b in zip(got, want):
            assert isinstance(a, jax.Array) and (a.dtype, a.weak_type) == (b.dtype, b.weak_type)
            np.testing.assert_array_equal(a, b)


class Plain:
    def __init__(self, k):
        self.k = k

    @foldax.jit
    def scale(self, x):
        return self.k * x


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Model:
    w: jax.Array

    @foldax.jit
    def apply(self, x):
        return self.w * x

    @jax.jit
    def reference(self, x):
        return self.w * x


def test_method_of_a_pytree_traces_self():
    a, b = Model(jnp.ones(2)), Model(2 * jnp.ones(2))
    np.testing.assert_array_equal(a.apply(3.0), a.reference(3.0))
    np.testing.assert_array_equal(b.apply(3.0), b.reference(3.0))
    assert Model.apply.trace_count == 1  # self's leaves are traced: one program


def test_method_of_a_plain_object_binds_self_statically():
    p, q = Plain(2.0), Plain(3.0)
    f = lambda k, x: k * x  # noqa: E731
    np.testing.assert_array_equal(p.scale(jnp.ones(2)), jax.jit(f)(2.0, jnp.ones(2)))
    np.testing.assert_array_equal(q.scale(jnp.ones(2)), jax.jit(f)(3.0, jnp.ones(2)))
    p.scale(jnp.ones(2))
    assert Plain.scale._static_self.trace_count == 2  # one per instance, by hash
    with pytest.raises(TypeError):  # jax.jit refuses such a self
        jax.jit(lambda s, x: s.k * x)(p, jnp.ones(2))


def _outer_body(fun, *args):
    """The body of the outer jit equation of ``fun``'s jaxpr."""
    (outer,) = jax.make_jaxpr(fun)(*args).jaxpr.eqns
    return outer.params["jaxpr"].jaxpr


@pytest.mark.parametrize("x64", [False, True])
@pytest.mark.parametrize("scalar", [2, 2.5, True])
def test_nested_jit_keeps_python_scalar_arguments_as_jax_does(scalar, x64):
    def body(x, y):
        return y + 2 * x, 3

    with jax.enable_x64(x64):
        outers = {}
        for name, jit in (("foldax", foldax.jit), ("jax", jax.jit)):
            inner = jit(body)
            outers[name] = jit(lambda y: inner(scalar, y))
        for y in (3, 3.0, jnp.ones(2, jnp.float16)):
            got, want = outers["foldax"](y), outers["jax"](y)
            for a, b in zip(got, want):
                assert (a.dtype, a.weak_type) == (b.dtype, b.weak_type)
                np.testing.assert_array_equal(a, b)
            (mine,), (theirs,) = (_outer_body(outers[k], y).eqns for k in ("foldax", "jax"))
            assert mine.primitive.name == theirs.primitive.name == "jit"
            got_prims = [e.primitive.name for e in mine.params["jaxpr"].jaxpr.eqns]
            assert got_prims == [e.primitive.name for e in theirs.params["jaxpr"].jaxpr.eqns]
            assert [str(v.aval) for v in mine.invars] == [str(v.aval) for v in theirs.invars]


def test_nested_jit_still_folds_numpy_and_folded_constants():
    inner = foldax.jit(lambda x, y: y + 2 * x)
    for c in (np.float32(2.0), jnp.sin(np.float32(1.0))):
        outer = foldax.jit(lambda y: inner(c, y))
        body = _outer_body(outer, jnp.ones(2))
        primitives = [e.primitive.name for e in body.eqns] + [
            e.primitive.name for e in body.eqns if "jaxpr" in e.params for e in e.params["jaxpr"].jaxpr.eqns
        ]
        assert "mul" not in primitives and "add" in primitives  # 2 * c folded
        np.testing.assert_allclose(outer(jnp.ones(2)), jax.jit(lambda y: y + 2 * c)(jnp.ones(2)))
