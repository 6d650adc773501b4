"""Every misuse of foldax's differentiation raises a foldax error (type checked) whose message
names the argument, what was found and the fix."""

from __future__ import annotations

import chex
import jax
import jax.extend  # the test primitives below are jax.extend.core.Primitive
import jax.numpy as jnp
import numpy as np
import pytest
from jax.interpreters import ad, mlir

import foldax
from foldax.errors import (
    FoldaxError,
    FoldaxIndexError,
    FoldaxTypeError,
    FoldaxValueError,
    MissingRuleError,
    NonDifferentiableError,
    NonDifferentiableLoopError,
)

X = jnp.array([0.5, -1.0, 2.0])


def loss(x, y):
    return jnp.sum(x * y)


def raises(exc, *phrases):
    """pytest.raises for a foldax error whose message contains every phrase."""

    class Matcher:
        def __enter__(self):
            self.ctx = pytest.raises(exc)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc_info):
            handled = self.ctx.__exit__(*exc_info)
            assert isinstance(self.info.value, FoldaxError)
            for phrase in phrases:
                assert phrase in str(self.info.value), (phrase, str(self.info.value))
            return handled

    return Matcher()


def assert_worded_as_jax(jax_call, foldax_call, exc, *phrases):
    """``foldax_call`` raises ``exc`` (a foldax error) that is an instance of the exception class
    ``jax_call`` raises and whose message starts with JAX's message (as ``jtu.check_raises``
    checks), then contains foldax's ``phrases``."""
    with pytest.raises(Exception) as theirs:
        jax_call()
    with raises(exc, *phrases) as ours:
        foldax_call()
    assert isinstance(ours.value, type(theirs.value)), (type(ours.value), type(theirs.value))
    jax_message = str(theirs.value).strip()
    assert str(ours.value).startswith(jax_message), (str(ours.value), jax_message)


def test_non_scalar_output_names_the_shape_and_the_fix():
    with raises(
        FoldaxTypeError, "Loss must be reduced to a scalar", "shape (3,)", ".sum()", ".mean()", "l2_loss"
    ) as info:
        foldax.grad(lambda x: x * 2)(X)
    assert isinstance(info.value, TypeError)


def test_pair_output_without_has_aux_suggests_it():
    with raises(FoldaxTypeError, "Loss must be reduced to a scalar", "has_aux=True"):
        foldax.grad(lambda x: (jnp.sum(x), x))(X)


def test_wrt_naming_a_missing_parameter_lists_the_parameters():
    with raises(FoldaxValueError, "'z'", "['x', 'y']"):
        foldax.grad(loss, wrt="x,z")
    with raises(FoldaxValueError, "'q'", "['x', 'y']"):
        foldax.jacrev(loss, wrt=("q",))


def test_wrt_parameter_missing_from_the_call():
    with raises(FoldaxTypeError, "no argument 'y'"):
        foldax.grad(loss, wrt="y")(X)


def test_argnums_out_of_range():
    with raises(FoldaxIndexError, "argnums contains 3", "1 positional argument") as info:
        foldax.grad(loss, argnums=(0, 3))(X, y=X)
    assert isinstance(info.value, IndexError)
    with raises(FoldaxIndexError, "argnums contains -3"):
        foldax.value_and_grad(loss, argnums=-3)(X, X)


def test_argnums_of_the_wrong_type_and_argnums_with_wrt():
    with raises(FoldaxTypeError, "argnums must be an int"):
        foldax.grad(loss, argnums="x")
    with raises(FoldaxValueError, "either argnums", "or wrt"):
        foldax.grad(loss, argnums=1, wrt="x")
    with raises(FoldaxTypeError, "expected a callable"):
        foldax.grad(3)


def test_has_aux_with_a_function_that_does_not_return_a_pair():
    with raises(FoldaxTypeError, "has_aux=True requires", "pair (output, aux)", "an array of shape ()"):
        foldax.grad(lambda x: jnp.sum(x), has_aux=True)(X)
    with raises(FoldaxTypeError, "has_aux=True", "tuple of length 3"):
        foldax.jacfwd(lambda x: (x, x, x), has_aux=True)(X)


def test_differentiating_with_respect_to_an_integer_array():
    with raises(NonDifferentiableError, "args[0]", "int32", "allow_int=True") as info:
        foldax.grad(lambda n: jnp.sum(n * 1.0))(jnp.arange(3))
    assert isinstance(info.value, TypeError)
    with raises(NonDifferentiableError, "int", "jvp"):  # jacfwd has no allow_int, as in JAX
        foldax.jacfwd(lambda n: n * 1.0)(np.arange(3))
    with raises(NonDifferentiableError, "['w']", "bool"):
        foldax.grad(lambda p: jnp.sum(p["w"] * 1.0))({"w": np.array([True, False])})


def test_integer_and_complex_outputs():
    with raises(NonDifferentiableError, "int32 scalar", "vjp"):
        foldax.grad(lambda x: jnp.sum(x > 0).astype(jnp.int32))(X)
    with raises(NonDifferentiableError, "complex64", "holomorphic=True"):
        foldax.grad(lambda x: jnp.sum(x * 1j))(X)
    with raises(NonDifferentiableError, "holomorphic=True requires complex inputs"):
        foldax.grad(lambda z: jnp.sum(z * z), holomorphic=True)(X)
    z = X.astype(jnp.complex64)
    chex.assert_trees_all_close(
        foldax.grad(lambda z: jnp.sum(z * z), holomorphic=True)(z),
        jax.grad(lambda z: jnp.sum(z * z), holomorphic=True)(z),
    )


def _primitive(name, impl):
    prim = jax.extend.core.Primitive(name)
    prim.def_impl(impl)
    prim.def_abstract_eval(lambda x: x)
    mlir.register_lowering(prim, mlir.lower_fun(impl, multiple_results=False))
    return prim


def test_primitive_without_a_differentiation_rule_is_named_with_how_to_register():
    square = _primitive("my_square", lambda x: x * x)
    with raises(
        MissingRuleError,
        "'my_square'",
        "no differentiation rule",
        "ad.primitive_jvps[my_square_p]",
        "JVPInterpreter.register",
    ) as info:
        foldax.grad(lambda x: jnp.sum(square.bind(x)))(X)
    assert isinstance(info.value, NotImplementedError)
    with raises(MissingRuleError, "'my_square'"):
        foldax.jvp(square.bind, (X,), (X,))
    # registering a JVP rule with JAX is enough for forward mode...
    scale = _primitive("my_scale", lambda t: 3.0 * t)
    ad.primitive_jvps[square] = lambda p, t: (square.bind(p[0]), scale.bind(t[0]) * p[0] * 2 / 3)
    chex.assert_trees_all_close(foldax.jvp(square.bind, (X,), (jnp.ones(3),))[1], 2 * X)
    # ...while reverse mode also needs the linear primitive's transpose rule
    with raises(MissingRuleError, "'my_scale'", "no transpose rule", "ad.primitive_transposes[my_scale_p]"):
        foldax.grad(lambda x: jnp.sum(square.bind(x)))(X)
    ad.primitive_transposes[scale] = lambda ct, t: [scale.bind(ct)]
    chex.assert_trees_all_close(foldax.grad(lambda x: jnp.sum(square.bind(x)))(X), 2 * X)


def _while(x):
    return jax.lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, jnp.sin(c[1]) * 2), (0, x))[1]


def test_reverse_mode_through_a_while_loop_explains_as_jax_does():
    with pytest.raises(ValueError) as jax_error:
        jax.grad(lambda x: jnp.sum(_while(x)))(X)
    with raises(NonDifferentiableLoopError, str(jax_error.value), "lax.scan", "Forward mode") as ours:
        foldax.grad(lambda x: jnp.sum(_while(x)))(X)
    assert isinstance(ours.value, type(jax_error.value))  # a ValueError, as JAX's
    assert isinstance(ours.value, NonDifferentiableError)
    with pytest.raises(ValueError, match="lax.while_loop"):
        jax.jacrev(_while)(X)
    with raises(NonDifferentiableLoopError, "while_loop"):
        foldax.jacrev(_while)(X)
    # forward mode works
    chex.assert_trees_all_close(
        foldax.jvp(_while, (X,), (jnp.ones(3),)), jax.jvp(_while, (X,), (jnp.ones(3),))
    )


@jax.custom_vjp
def _clip_gradient(x):
    return x


_clip_gradient.defvjp(lambda x: (x, None), lambda _, g: (jnp.clip(g, -1, 1),))


def test_forward_mode_of_a_custom_vjp_function():
    with pytest.raises(TypeError, match="can't apply forward-mode"):
        jax.jvp(_clip_gradient, (X,), (X,))
    with raises(NonDifferentiableError, "custom_vjp", "_clip_gradient", "forward-mode", "jax.custom_jvp"):
        foldax.jvp(_clip_gradient, (X,), (X,))
    with raises(NonDifferentiableError, "custom_vjp"):
        foldax.jacfwd(_clip_gradient)(X)


def test_jvp_arguments_are_checked():
    with raises(FoldaxTypeError, "primals must be a tuple or list", "float"):
        foldax.jvp(jnp.sin, 1.0, (1.0,))
    with raises(FoldaxTypeError, "same tree structure"):
        foldax.jvp(lambda a, b: a * b, (X, X), (X,))
    with raises(FoldaxValueError, "tangent leaf 0", "shape (2,)", "shape (3,)"):
        foldax.jvp(jnp.sin, (X,), (jnp.ones(2),))
    with raises(FoldaxTypeError, "tangent leaf 0", "int32", "float0"):
        foldax.jvp(lambda n: n * 2, (jnp.arange(3),), (jnp.arange(3),))


def test_vjp_cotangent_is_checked():
    _, pullback = foldax.vjp(lambda x: {"a": x}, X)
    with raises(FoldaxValueError, "tree structure"):
        pullback(X)
    with raises(FoldaxValueError, "cotangent leaf 0", "shape (2,)", "shape (3,)"):
        pullback({"a": jnp.ones(2)})


def test_reduce_axes_is_refused():
    with raises(FoldaxValueError, "reduce_axes"):
        foldax.grad(loss, reduce_axes=("batch",))


# -- JAX's wording first -----------------------------------------------------------------------
@jax.custom_vjp
def _identity_vjp(x):
    return x


_identity_vjp.defvjp(lambda x: (x, None), lambda _, g: (g,))

XC = X.astype(jnp.complex64)
WORDED_AS_JAX = {
    "non_scalar_output": (lambda t: t.grad(lambda x: x * 2)(X), FoldaxTypeError, "Loss must be reduced"),
    "integer_input": (lambda t: t.grad(lambda n: n * 1.0)(3), NonDifferentiableError, "allow_int=True"),
    "integer_array_input": (
        lambda t: t.grad(lambda n: jnp.sum(n * 1.0))(jnp.arange(3)),
        NonDifferentiableError,
        "args[0]",
    ),
    "holomorphic_float_input": (
        lambda t: t.grad(lambda z: z * z, holomorphic=True)(3.0),
        NonDifferentiableError,
        ".astype(complex)",
    ),
    "holomorphic_real_output": (
        lambda t: t.grad(lambda z: jnp.real(z), holomorphic=True)(XC[0]),
        NonDifferentiableError,
        "complex output",
    ),
    "integer_output": (
        lambda t: t.grad(lambda x: jnp.sum(x > 0).astype(jnp.int32))(X),
        NonDifferentiableError,
        "vjp",
    ),
    "complex_output": (lambda t: t.grad(lambda x: jnp.sum(x * 1j))(X), NonDifferentiableError, "vjp"),
    "jacfwd_integer_input": (
        lambda t: t.jacfwd(lambda n: n * 1.0)(jnp.arange(3)),
        NonDifferentiableError,
        "jvp",
    ),
    "jacrev_complex_output": (lambda t: t.jacrev(lambda x: x * 1j)(X), NonDifferentiableError, "holomorphic"),
    "argnums_out_of_range": (lambda t: t.grad(loss, argnums=(0, 3))(X, X), FoldaxIndexError, "argnums"),
    "jvp_not_tuples": (lambda t: t.jvp(jnp.sin, 1.0, (1.0,)), FoldaxTypeError, "Wrap a single"),
    "jvp_tree_mismatch": (
        lambda t: t.jvp(lambda a, b: a * b, (X, X), (X,)),
        FoldaxTypeError,
        "one tangent per primal",
    ),
    "jvp_tuple_and_list": (
        lambda t: t.jvp(lambda x, y: x * y, (np.float32(2),), [np.float32(2)]),
        FoldaxTypeError,
        "one tangent per primal",
    ),
    "jvp_dtype_mismatch": (
        lambda t: t.jvp(lambda x: -x, (np.float16(2),), (np.float32(4),)),
        FoldaxTypeError,
        "tangent leaf 0",
    ),
    "jvp_shape_mismatch": (lambda t: t.jvp(jnp.sin, (X,), (jnp.ones(2),)), FoldaxValueError, "shape (2,)"),
    "jvp_of_custom_vjp": (
        lambda t: t.jvp(_identity_vjp, (X,), (X,)),
        NonDifferentiableError,
        "jax.custom_jvp",
    ),
    "pullback_arguments": (lambda t: t.vjp(jnp.sin, X)[1](X, X), FoldaxTypeError, "pullback((ct1, ct2))"),
    "while_loop_reverse_mode": (
        lambda t: t.grad(lambda x: jnp.sum(_while(x)))(X),
        NonDifferentiableLoopError,
        "Forward mode",
    ),
}


@pytest.mark.parametrize("case", WORDED_AS_JAX)
def test_messages_start_with_jax_s_wording(case):
    call, exc, phrase = WORDED_AS_JAX[case]
    assert_worded_as_jax(lambda: call(jax), lambda: call(foldax), exc, phrase)


def test_has_aux_message_starts_with_jax_s_wording():
    """JAX's message shows the returned value, a tracer in both, whose repr differs."""
    start = "expected function with aux output to return a two-element tuple, but got type"
    with pytest.raises(TypeError, match=f"^{start}"):
        jax.grad(lambda x: jnp.sum(x), has_aux=True)(X)
    with raises(FoldaxTypeError, "pair (output, aux)") as ours:
        foldax.grad(lambda x: jnp.sum(x), has_aux=True)(X)
    assert str(ours.value).startswith(start)
