"""Flattening foldax dataclasses, against a brute-force reference: hypothesis draws instances whose
value/static fields mix numbers, strings, tuples and NumPy arrays that are equal, equal by ``==``
but not by bits (``-0.0`` and ``0.0``; ``1``, ``1.0`` and ``True``), or NaN; two tree structures
must be equal exactly when the reference (field names walked with ``dataclasses.fields``, values
compared by exact type and bits) says so, and unflattening must give back the very same objects."""

from __future__ import annotations

import dataclasses
import struct

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import foldax
from foldax.errors import FoldaxTypeError


@foldax.dataclass
class Mixed:
    a: object
    v: object = foldax.field(kind="value", default=0.0)
    b: object = 0.0
    s: object = foldax.field(kind="static", default="s")


@foldax.dataclass(slots=True)
class Slotted:  # no __dict__: fields are set through their slot descriptors
    a: object
    s: object = foldax.field(kind="static", default="s")


@foldax.dataclass
class AllVariables:
    a: object
    b: object


@dataclasses.dataclass
class Protocol:  # plain dataclass with the ΦML protocol; its variables depend on the instance
    a: object
    v: object
    s: object = "s"

    def __value_attrs__(self):
        return ("a", "v")

    def __variable_attrs__(self):
        return ("a",) if isinstance(self.v, (np.ndarray, str, tuple)) else ("a", "v")


foldax.pytrees.flatten(Protocol(1.0, 1.0))  # registers the protocol class


def _bits(x):
    return struct.pack("<d", x) if type(x) is float else struct.pack("<dd", x.real, x.imag)


def same_value(a, b) -> bool:
    """Reference: NumPy by kind (array or scalar), dtype, shape and bytes; Python numbers by exact
    type and bits; anything else by ``==``."""
    numpy_types = (np.ndarray, np.generic)
    if isinstance(a, numpy_types) or isinstance(b, numpy_types):
        return (
            isinstance(a, np.ndarray) == isinstance(b, np.ndarray)
            and isinstance(a, np.generic) == isinstance(b, np.generic)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and a.tobytes() == b.tobytes()
        )
    numbers = (bool, int, float, complex)
    if type(a) in numbers or type(b) in numbers:
        if type(a) is not type(b):
            return False
        return _bits(a) == _bits(b) if type(a) in (float, complex) else a == b
    return a == b


def reference_variables(x) -> tuple[str, ...]:
    if hasattr(type(x), "__variable_attrs__"):
        return tuple(x.__variable_attrs__())
    return tuple(
        f.name for f in dataclasses.fields(x) if f.metadata.get("foldax_kind", "variable") == "variable"
    )


def reference_same_structure(x, y) -> bool:
    if type(x) is not type(y) or reference_variables(x) != reference_variables(y):
        return False
    variables = reference_variables(x)
    others = [f.name for f in dataclasses.fields(x) if f.name not in variables]
    return all(same_value(getattr(x, n), getattr(y, n)) for n in others)


_VALUES = [  # factories: each draw makes new objects, so equality is never mere identity
    lambda: 0.0,
    lambda: -0.0,
    lambda: float("nan"),
    lambda: struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000001))[0],  # another NaN payload
    lambda: 1,
    lambda: 1.0,
    lambda: True,
    lambda: 1 + 0j,
    lambda: -0j,
    lambda: None,
    lambda: "relu",
    lambda: "".join(["re", "lu"]),  # an equal string, another object
    lambda: (1, 2.0),
    lambda: (1.0, 2),
    lambda: np.float32(1.0),
    lambda: np.float64(1.0),
    lambda: np.ones(3),
    lambda: np.ones(3, np.float32),
    lambda: np.ones((1, 3)),
    lambda: -np.zeros(2),
    lambda: np.zeros(2),
    lambda: np.full(2, np.nan),
    lambda: np.ones(2, ml_dtypes.bfloat16),
    lambda: np.ones(2, np.float16),
    lambda: np.ones(2, ml_dtypes.float8_e4m3fn),
    lambda: np.ones(2, ml_dtypes.int4),
    lambda: np.arange(2000.0),  # above the digest threshold
    lambda: np.arange(2000.0) + 1,
    lambda: np.array(["a", "b"]),
]
values = st.sampled_from(_VALUES).map(lambda make: make()) | st.floats() | st.integers(-3, 3)
leaves = st.sampled_from([0.0, 1.0]).map(jnp.float32) | st.floats(allow_nan=False).map(float)


@st.composite
def instances(draw):
    kind = draw(st.sampled_from(["mixed", "slotted", "all", "protocol"]))
    if kind == "mixed":
        return Mixed(draw(leaves), draw(values), draw(leaves), draw(values))
    if kind == "slotted":
        return Slotted(draw(leaves), draw(values))
    if kind == "all":
        return AllVariables(draw(leaves), draw(leaves))
    v = draw(values | st.sampled_from(["x", ("t",)]))  # a value field, or else a variable leaf:
    return Protocol(
        draw(leaves), v if isinstance(v, (np.ndarray, str, tuple)) else draw(leaves), draw(values)
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(instances(), min_size=2, max_size=6))
def test_structures_equal_exactly_as_the_reference(xs):
    structures = [jax.tree_util.tree_structure(x) for x in xs]  # flattened in turn: caches reused
    again = [jax.tree_util.tree_structure(x) for x in reversed(xs)][::-1]
    for i, x in enumerate(xs):
        assert structures[i] == again[i] and hash(structures[i]) == hash(again[i])
        for j, y in enumerate(xs):
            expected = reference_same_structure(x, y)
            assert (structures[i] == structures[j]) == expected, (x, y)
            if expected:
                assert hash(structures[i]) == hash(structures[j])


@settings(max_examples=200, deadline=None)
@given(instances())
def test_unflatten_gives_back_the_same_objects(x):
    leaves_, treedef = jax.tree_util.tree_flatten(x)
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves_)
    assert type(rebuilt) is type(x)
    for f in dataclasses.fields(x):
        assert getattr(rebuilt, f.name) is getattr(x, f.name)
    assert jax.tree_util.tree_structure(rebuilt) == treedef
    variables = reference_variables(x)
    assert leaves_ == [getattr(x, n) for n in variables]
    replaced = jax.tree_util.tree_unflatten(treedef, [f"leaf {n}" for n in variables])
    assert [getattr(replaced, n) for n in variables] == [f"leaf {n}" for n in variables]


@settings(max_examples=100, deadline=None)
@given(instances())
def test_flatten_with_path_matches_flatten(x):
    with_paths, treedef = jax.tree_util.tree_flatten_with_path(x)
    assert treedef == jax.tree_util.tree_structure(x)
    expected = [((jax.tree_util.GetAttrKey(n),), getattr(x, n)) for n in reference_variables(x)]
    assert [(p, v) for p, v in with_paths] == expected


def test_a_numpy_value_changed_in_place_changes_the_structure():
    mask = np.ones(2)
    before = jax.tree_util.tree_structure(Mixed(jnp.ones(1), mask))
    mask[0] = 0.0
    after = jax.tree_util.tree_structure(Mixed(jnp.ones(1), mask))
    assert before != after
    assert after == jax.tree_util.tree_structure(Mixed(jnp.ones(1), np.array([0.0, 1.0])))


def test_unhashable_value_raises_naming_the_field():
    with pytest.raises(
        FoldaxTypeError, match=r"field 's' of Mixed holds an unhashable list \(\[1, 2\]\)"
    ) as info:
        Mixed(jnp.ones(1), s=[1, 2])
    assert isinstance(info.value, TypeError)
    with pytest.raises(FoldaxTypeError, match=r"field 's' of Protocol holds an unhashable dict"):
        jax.tree_util.tree_structure(Protocol(jnp.ones(1), 1.0, s={"k": 1}))
    with pytest.raises(FoldaxTypeError, match=r"field 's' of Mixed holds an unhashable tuple"):
        Mixed(jnp.ones(1), s=(1, [2]))  # a tuple holding a list


def test_model_through_jit_grad_vmap_keeps_value_and_static_fields():
    m = Mixed(jnp.ones(3), np.arange(3.0), jnp.full(3, 2.0), "tag")
    f = lambda m: jnp.sum(m.a * m.v * m.b)  # noqa: E731
    ref = Mixed(jnp.ones(3), np.arange(3.0), jnp.full(3, 2.0), "tag")
    for transform in (foldax.grad, jax.grad):
        g = transform(f)(m)
        np.testing.assert_array_equal(g.a, jax.grad(f)(ref).a)
        assert g.v is m.v and g.s is m.s
    out = foldax.jit(lambda m: m)(m)
    assert out.s == "tag" and out.v is m.v
    mapped = foldax.vmap(lambda m: m.a * m.v)(m)
    np.testing.assert_array_equal(mapped, jax.vmap(lambda m: m.a * m.v)(m))
