"""@foldax.dataclass models and tree utilities, compared with jax.tree_util / NumPy references."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import foldax
from foldax.errors import FoldaxTypeError, FoldaxValueError


@foldax.dataclass
class Layer:
    w: jax.Array
    b: jax.Array
    mask: np.ndarray = foldax.field(kind="value", default_factory=lambda: np.ones(2))
    act: str = foldax.field(kind="static", default="tanh")

    def __post_init__(self):
        if self.w.ndim != 2:
            raise ValueError("w must be a matrix")


@foldax.dataclass
class Net:
    layers: tuple
    name: str = foldax.field(static=True, default="net")


def make():
    return Net((Layer(jnp.ones((2, 2)), jnp.zeros(2)), Layer(2 * jnp.ones((2, 2)), jnp.ones(2))))


def test_only_variable_fields_are_jax_leaves():
    net = make()
    leaves = jax.tree_util.tree_leaves(net)
    expected = [net.layers[0].w, net.layers[0].b, net.layers[1].w, net.layers[1].b]
    assert len(leaves) == 4 and all(a is b for a, b in zip(leaves, expected))


def test_structure_compares_value_fields_by_value():
    a = jax.tree_util.tree_structure(make())
    b = jax.tree_util.tree_structure(make())
    assert a == b and hash(a) == hash(b)
    changed = make()
    changed = changed.replace(layers=(changed.layers[0].replace(mask=np.zeros(2)), changed.layers[1]))
    assert jax.tree_util.tree_structure(changed) != a


def test_unflatten_does_not_rerun_init_validation():
    net = make()
    calls = []
    original = Layer.__post_init__
    Layer.__post_init__ = lambda self: calls.append(1)
    try:
        rebuilt = jax.tree_util.tree_map(lambda x: x[None], net)  # w becomes 3-D: init would fail
    finally:
        Layer.__post_init__ = original
    assert not calls and rebuilt.layers[0].w.shape == (1, 2, 2)
    with pytest.raises(ValueError, match="matrix"):
        Layer(jnp.ones(2), jnp.ones(2))


def test_frozen_replace_keyword_construction_and_repr():
    layer = Layer(w=jnp.ones((1, 1)), b=jnp.zeros(1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.w = 1
    assert layer.replace(act="sin").act == "sin" and foldax.replace(layer, act="relu").act == "relu"
    assert repr(layer).startswith("Layer(w=Array(")
    with pytest.raises(FoldaxTypeError, match=r"Layer has no field\(s\) \['bias'\]"):
        layer.replace(bias=1)


def test_inheritance_keeps_kinds():
    @foldax.dataclass
    class Scaled(Layer):
        scale: float = foldax.field(kind="static", default=2.0)

    s = Scaled(jnp.ones((2, 2)), jnp.zeros(2))
    assert len(jax.tree_util.tree_leaves(s)) == 2
    assert jax.tree_util.tree_structure(s) != jax.tree_util.tree_structure(s.replace(scale=3.0))


def test_phiml_protocol_on_plain_dataclass():
    @dataclasses.dataclass
    class Vec:
        x1: object
        x2: object
        label: str = "v"

        def __value_attrs__(self):
            return "x1", "x2"

    v = Vec(1.0, 2.0)
    leaves, _ = foldax.pytrees.flatten(v)
    assert leaves == [1.0, 2.0]
    assert foldax.map_values(lambda x: x * 10, v) == Vec(10.0, 20.0)

    @dataclasses.dataclass
    class OnlySomeVariables:
        a: object
        b: object

        def __value_attrs__(self):
            return "a", "b"

        def __variable_attrs__(self):
            return ("a",)

    o = OnlySomeVariables(jnp.ones(1), jnp.zeros(1))
    assert len(foldax.pytrees.flatten(o)[0]) == 1
    chex.assert_trees_all_close(foldax.map_values(lambda x: x + 1, o).b, jnp.ones(1))


def test_map_variables_and_map_values_against_manual():
    net = make()
    doubled = foldax.map_variables(lambda x: x * 2, net)
    chex.assert_trees_all_close(doubled.layers[1].w, net.layers[1].w * 2)
    np.testing.assert_array_equal(doubled.layers[0].mask, net.layers[0].mask)  # value: untouched
    negated = foldax.map_values(lambda x: -x, net)
    np.testing.assert_array_equal(negated.layers[0].mask, -net.layers[0].mask)  # values: touched
    assert negated.name == "net" and negated.layers[0].act == "tanh"


def test_partition_combine_roundtrip_and_leaves_with_paths():
    tree = {"a": jnp.ones(2), "b": np.ones(2), "c": [3.0, "s"]}
    variables, rest = foldax.partition(tree, foldax.is_variable)
    assert rest["a"] is None and variables["b"] is None
    back = foldax.combine(variables, rest)
    assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(tree)
    paths = dict(foldax.leaves_with_paths(tree))
    ref = {jax.tree_util.keystr(p): v for p, v in jax.tree_util.tree_flatten_with_path(tree)[0]}
    assert paths.keys() == ref.keys()
    assert "[0].layers[1].w" in dict(foldax.leaves_with_paths([make()]))


def test_optax_and_jax_grad_accept_models():
    net = make()
    loss = lambda n: sum(jnp.sum(l.w**2) + jnp.sum(l.b) for l in n.layers)  # noqa: E731,E741
    grads = jax.grad(loss)(net)
    assert grads.name == "net" and grads.layers[0].act == "tanh"
    opt = optax.adam(0.1)
    state = opt.init(net)
    updates, state = opt.update(grads, state, net)
    new = optax.apply_updates(net, updates)
    np.testing.assert_array_equal(new.layers[0].mask, net.layers[0].mask)
    assert float(loss(new)) < float(loss(net))


def test_errors():
    with pytest.raises(FoldaxValueError, match=r"kind='weird'.*'variable', 'value' or 'static'"):
        foldax.field(kind="weird")
    with pytest.raises(FoldaxTypeError, match=r"field 'act' of Layer holds an unhashable dict"):
        Layer(jnp.ones((1, 1)), jnp.ones(1), act={"a": 1})
    with pytest.raises(FoldaxTypeError, match=r"expected a dataclass instance, found int"):
        foldax.replace(3, a=1)
