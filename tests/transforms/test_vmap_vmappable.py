"""Types registered with ``jax.interpreters.batching.register_vmappable`` in ``foldax.vmap``,
compared with ``jax.vmap`` of the same function (JAX's batching_test VmappableTest cases, and an
output-only registered type), alone and under ``foldax.jit``."""

from __future__ import annotations

import doctest

import equinox  # noqa: F401 -- foldax.jit looks for Modules in trees once equinox is imported
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.interpreters import batching

import foldax
from foldax.transforms.batching import vmappable as vmappable_module


class Named:
    """An array with axis names (a pytree whose unflatten checks its children, as JAX's
    NamedArray test type), mapped by name."""

    def __init__(self, names, data):
        assert len(names) == data.ndim
        self.names, self.data = list(names), data


class NamedSpec:
    def __init__(self, name, axis):
        self.name, self.axis = name, axis


jax.tree_util.register_pytree_node(
    Named, lambda x: ((x.data,), x.names), lambda names, xs: Named(names, xs[0])
)


def _named_to_elt(cont, _, val, spec):
    if spec.name is None:
        return val
    names = list(val.names)
    assert names.pop(spec.axis) == spec.name
    return Named(names, cont(val.data, spec.axis))


def _named_from_elt(cont, size, elt, spec):
    data = cont(size, elt.data, spec.axis)
    if spec.axis is None:
        return Named(elt.names, data)
    names = list(elt.names)
    names.insert(spec.axis, spec.name)
    return Named(names, data)


class Shifted:
    """Not a pytree: its handlers compute before (to_elt) and after (from_elt) calling back."""

    def __init__(self, data):
        self.data = data


def _shifted_to_elt(cont, _, val, spec):
    return Shifted(cont(val.data * 2.0, spec))


def _shifted_from_elt(cont, size, elt, spec):
    return Shifted(cont(size, jnp.sin(elt.data), spec) + 1.0)


batching.register_vmappable(Named, NamedSpec, int, _named_to_elt, _named_from_elt, None)
batching.register_vmappable(Shifted, int, int, _shifted_to_elt, _shifted_from_elt, None)


def _both(f, *args, **vmap_kwargs):
    return foldax.vmap(f, **vmap_kwargs)(*args), jax.vmap(f, **vmap_kwargs)(*args)


@pytest.mark.parametrize("jit", [False, True])
def test_named_specs_in_and_out_axes(jit):
    def square(x):
        return Named(x.names, x.data * x.data)

    x = Named(["i", "j"], jnp.arange(12.0).reshape(3, 4))
    kw = {"in_axes": NamedSpec("i", 0), "out_axes": NamedSpec("i", 1), "axis_size": 3}
    ours = foldax.jit(foldax.vmap(square, **kw)) if jit else foldax.vmap(square, **kw)
    got, want = ours(x), jax.vmap(square, **kw)(x)
    assert got.names == want.names
    np.testing.assert_array_equal(got.data, want.data)


@pytest.mark.parametrize("jit", [False, True])
def test_handlers_that_compute_before_and_after_calling_back(jit):
    def f(s, y):
        return Shifted(s.data * y), s.data + y

    def mapped(vmap, y):  # the registered type is made and taken apart inside the jit
        out, total = vmap(f)(Shifted(jnp.arange(3.0)), y)
        return out.data, total

    def ours(y):
        return mapped(foldax.vmap, y)

    y = jnp.linspace(0.0, 1.0, 3)
    got = (foldax.jit(ours) if jit else ours)(y)
    want = mapped(jax.vmap, y)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_registered_type_returned_from_array_arguments():
    got, want = _both(lambda x: Shifted(x + 1.0), jnp.arange(4.0))
    np.testing.assert_allclose(got.data, want.data, rtol=1e-6)


def test_inside_foldax_jit_and_grad():
    def loss(w):
        out = foldax.vmap(lambda s: Shifted(s.data * w), axis_size=3)(Shifted(jnp.arange(3.0)))
        return jnp.sum(out.data)

    def reference(w):
        out = jax.vmap(lambda s: Shifted(s.data * w), axis_size=3)(Shifted(jnp.arange(3.0)))
        return jnp.sum(out.data)

    np.testing.assert_allclose(foldax.jit(foldax.grad(loss))(0.3), jax.grad(reference)(0.3), rtol=1e-6)


def test_jit_of_a_tree_whose_unflatten_checks_its_children():
    x = Named(["i", "j"], jnp.arange(6.0).reshape(2, 3))
    got = foldax.jit(lambda x: Named(x.names, x.data**2))(x)
    want = jax.jit(lambda x: Named(x.names, x.data**2))(x)
    assert got.names == want.names
    np.testing.assert_array_equal(got.data, want.data)


def test_jit_of_pmap_of_constants():
    """JAX's testIssue1170: a ``pmap`` (a shard_map) of NumPy constants is folded at trace time."""

    def f(i, j):
        return jnp.arange(36).reshape(6, 6)[i, j]

    got = foldax.jit(jax.pmap(f))(np.asarray([1]), np.asarray([2]))
    np.testing.assert_array_equal(got, jax.jit(jax.pmap(f))(np.asarray([1]), np.asarray([2])))


def test_module_example_runs():
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(vmappable_module, globs={}):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
