"""Every misuse of foldax.vmap raises a foldax error naming the argument, what was found, and the
fix, with JAX's own sentence where JAX has one; JAX raises for the same misuse."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import foldax
from foldax.errors import FoldaxError, FoldaxIndexError, FoldaxTypeError, FoldaxValueError


def add(x, y):
    return x + y


def _raises_like_jax(call, foldax_class, match=None):
    """The foldax error ``call(foldax.vmap)`` raises: a ``foldax_class`` that is also an instance
    of the builtin class of the error ``call(jax.vmap)`` raises (JAX users' ``except`` clauses
    keep working)."""
    with pytest.raises(Exception) as jax_error:
        call(jax.vmap)
    with pytest.raises(foldax_class, match=match) as e:
        call(foldax.vmap)
    builtin = next(c for c in type(jax_error.value).__mro__ if c.__module__ == "builtins")
    assert isinstance(e.value, builtin), (type(e.value).__mro__, type(jax_error.value).__mro__)
    return e.value


def test_mapped_sizes_differ_names_each_argument_and_size():
    call = lambda vmap: vmap(add)(jnp.ones(3), jnp.ones((4, 2)))  # noqa: E731
    error = _raises_like_jax(call, FoldaxValueError)
    msg = str(error)
    assert "x has size 3 along axis 0" in msg
    assert "y has size 4 along axis 0" in msg
    assert "vmap got inconsistent sizes" in msg


def test_mapped_sizes_differ_from_axis_size():
    with pytest.raises(
        FoldaxValueError,
        match=r"x has size 3 along "
        r"axis 0; axis_size=5",
    ):
        foldax.vmap(lambda x: x, axis_size=5)(jnp.ones(3))


def test_sizes_of_nested_leaves_are_named_by_path():
    with pytest.raises(FoldaxValueError, match=r"p\['b'\] has size 2"):
        foldax.vmap(lambda p: p["a"] + p["b"].sum())({"a": jnp.ones(3), "b": jnp.ones(2)})


def test_in_axes_tuple_of_wrong_length_shows_both():
    call = lambda vmap: vmap(add, in_axes=(0, 0, 0))(jnp.ones(3), jnp.ones(3))  # noqa: E731
    _raises_like_jax(
        call,
        FoldaxValueError,
        match=r"in_axes=\(0, 0, 0\) has 3 entries but the call "
        r"passes 2 positional argument",
    )


def test_in_axes_structure_not_fitting_shows_both():
    call = lambda vmap: vmap(add, in_axes=({"a": 0}, 0))(jnp.ones(3), jnp.ones(3))  # noqa: E731
    error = _raises_like_jax(call, FoldaxValueError)
    assert "in_axes=({'a': 0}, 0) does not fit the positional arguments, whose structure is ((*, *))" in str(
        error
    )
    assert "pytree prefix" in str(error)


def test_out_axes_structure_not_fitting_shows_both():
    call = lambda vmap: vmap(add, out_axes=(0, 1))(jnp.ones(3), jnp.ones(3))  # noqa: E731
    _raises_like_jax(
        call,
        FoldaxValueError,
        match=r"out_axes=\(0, 1\) does not fit the outputs, "
        r"whose structure is \(\*\)",
    )


@pytest.mark.parametrize("axis", [1, 5, -2])
def test_in_axis_out_of_range_for_rank(axis):
    call = lambda vmap: vmap(add, in_axes=(axis, None))(jnp.ones(3), 1.0)  # noqa: E731
    error = _raises_like_jax(call, FoldaxIndexError)
    assert (
        f"in_axes maps input x along axis {axis}, but it has rank 1 "
        f"(shape (3,)); the axis must be in [-1, 1)" in str(error)
    )
    assert isinstance(error, IndexError)  # foldax's class, and JAX's ValueError


def test_mapping_a_python_scalar_is_out_of_range():
    with pytest.raises(
        FoldaxIndexError,
        match=r"y along axis 0, but "
        r"it has rank 0",
    ):
        foldax.vmap(add)(jnp.ones(3), 2.0)


def test_out_axes_none_for_a_batched_output():
    call = lambda vmap: vmap(
        lambda x: {"a": x, "b": 1.0 * x.sum()},  # noqa: E731
        out_axes={"a": 0, "b": None},
    )(jnp.ones((3, 2)))
    error = _raises_like_jax(call, FoldaxValueError)
    assert "out_axes gives None for output['b'], but that output is batched" in str(error)
    assert "got axis spec None but output was batched on axis 0" in str(error)


def test_out_axis_out_of_range():
    call = lambda vmap: vmap(lambda x: x * 2, out_axes=2)(jnp.ones(3))  # noqa: E731
    _raises_like_jax(
        call,
        FoldaxIndexError,
        match="out_axes asks for the output to be batched along "
        r"axis 2, but the batched output has rank 1",
    )


def test_nothing_mapped_needs_axis_size():
    call = lambda vmap: vmap(add, in_axes=None)(jnp.ones(3), jnp.ones(3))  # noqa: E731
    _raises_like_jax(call, FoldaxValueError, match="nothing is mapped .* Pass axis_size=")


@pytest.mark.parametrize("spec,found", [("a", "str"), ((0, 1.5), "float"), ((0, [True]), "bool")])
def test_axis_spec_of_wrong_type(spec, found):
    with pytest.raises((TypeError, ValueError)):
        jax.vmap(add, in_axes=spec)(jnp.ones(3), jnp.ones(3))
    with pytest.raises(FoldaxTypeError, match=found):
        foldax.vmap(add, in_axes=spec)


def test_out_axes_of_wrong_type():
    with pytest.raises(FoldaxTypeError, match="every leaf of out_axes must be an int"):
        foldax.vmap(add, out_axes="0")


def test_mapping_a_static_leaf():
    with pytest.raises(
        FoldaxTypeError,
        match=r"maps input y along axis "
        r"0, but it is a str, not an array",
    ):
        foldax.vmap(add)(jnp.ones(3), "label")


def test_numpy_code_on_a_mapped_numpy_leaf():
    with pytest.raises(FoldaxTypeError) as e:
        foldax.vmap(lambda x: np.sin(x))(np.ones((3, 2)))
    assert "NumPy was applied to a traced variable" in str(e.value)
    assert "x is mapped" in str(e.value)
    assert "in_axes None" in str(e.value)


def test_not_callable_and_bad_axis_size():
    with pytest.raises(FoldaxTypeError, match="expected a callable, found int"):
        foldax.vmap(3)
    with pytest.raises(FoldaxValueError, match="axis_size must be a non-negative int"):
        foldax.vmap(add, axis_size=-1)


def test_cond_with_batched_predicate_and_io_effect():
    def f(x):
        def noisy(v):
            jax.experimental.io_callback(lambda: None, None)
            return v

        return jax.lax.cond(x > 0, noisy, lambda v: -v, x)

    with pytest.raises(NotImplementedError):
        jax.vmap(f)(jnp.ones(2))
    with pytest.raises(FoldaxError, match="predicate is batched has a branch with I/O callbacks"):
        foldax.vmap(f)(jnp.ones(2))


def test_every_error_is_a_foldax_error():
    for call in [
        lambda: foldax.vmap(add)(jnp.ones(3), jnp.ones(4)),
        lambda: foldax.vmap(add, in_axes=(3, 0))(jnp.ones(3), jnp.ones(3)),
    ]:
        with pytest.raises(FoldaxError):
            call()


def test_collective_jax_cannot_batch_gets_a_foldax_sentence():
    f = lambda x: jax.lax.psum(x, "i", axis_index_groups=[[0, 1], [2, 3]])  # noqa: E731
    with pytest.raises(NotImplementedError):
        jax.vmap(f, axis_name="i")(jnp.arange(4.0))
    with pytest.raises(FoldaxError) as e:
        foldax.vmap(f, axis_name="i")(jnp.arange(4.0))
    assert "JAX's batching rule for 'psum'" in str(e.value)
    assert "over the mapped axis 'i'" in str(e.value)
    assert "axis_index_groups not supported" in str(e.value)


@pytest.mark.parametrize("output", ["hello", {"a": 1.0, "b": [2.0, "label"]}])
def test_non_array_output_is_a_type_error_as_in_jax(output):
    call = lambda vmap: vmap(lambda x: output)(jnp.arange(5))  # noqa: E731
    error = _raises_like_jax(call, FoldaxTypeError, match="cannot be batched")
    assert "is not a valid JAX type" in str(error)
    assert "Fix:" in str(error)


@pytest.mark.parametrize("transform", [foldax.vmap, foldax.jit, foldax.grad, foldax.checkify])
def test_escaped_tracer_is_jax_unexpected_tracer_error(transform):
    # JAX's checkify closes over its arguments instead of tracing them: nothing of it escapes
    reference = {foldax.vmap: jax.vmap, foldax.jit: jax.jit, foldax.grad: jax.grad}
    for t in (transform, *([reference[transform]] if transform in reference else [])):
        leaked = []
        with jax.check_tracer_leaks(False):  # the leak is the point; JAX's checker would stop it
            t(lambda x: leaked.append(x) or x.sum())(jnp.arange(5.0))
        with pytest.raises(jax.errors.UnexpectedTracerError):
            leaked[0] + 1


@pytest.mark.parametrize("axis", [-2, 1])
def test_out_axis_out_of_range_for_a_constant_output(axis):
    call = lambda vmap: vmap(
        lambda *xs: xs,
        in_axes=(0, None),  # noqa: E731
        out_axes=(0, axis),
    )(np.arange(5), 7)
    error = _raises_like_jax(call, FoldaxIndexError, match=r"out_axes asks for output\[1\]")
    assert f"axis {axis} is out of bounds for array of dimension 1" in str(error)
