"""foldax.grad / value_and_grad / jvp / vjp / jacfwd / jacrev / hessian against JAX's own
transformations of the same functions: argnums and wrt, has_aux, NumPy and Python-number leaves,
dataclass / equinox / dict pytrees, optax updates, integer inputs and composition."""

from __future__ import annotations

import re

import chex
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import foldax

X = jnp.array([0.3, -1.2, 0.8])
Y = jnp.array([[0.5, 1.0, -0.3], [0.2, 0.1, 0.4]])


def f3(x, y, z):
    return jnp.sum(jnp.sin(y @ x)) * jnp.sum(x**2) + z**2 * jnp.sum(x)


ARGS = (X, Y, 1.5)


def assert_same(ours, theirs, *args, rtol=1e-6):
    """Run both under one jax.jit (one compilation instead of op-by-op dispatch) and compare."""
    got, expected = jax.jit(lambda *a: (ours(*a), theirs(*a)))(*args)
    chex.assert_trees_all_close(got, expected, rtol=rtol, atol=1e-6)


@pytest.mark.parametrize("argnums", [0, 1, 2, -1, (0, 2), (2, 0, 1)])
def test_grad_argnums_matches_jax(argnums):
    assert_same(foldax.grad(f3, argnums), jax.grad(f3, argnums), *ARGS)
    assert_same(foldax.value_and_grad(f3, argnums), jax.value_and_grad(f3, argnums), *ARGS)


def test_an_argument_selected_twice_gets_its_gradient_twice():
    assert_same(foldax.grad(f3, (1, 1)), lambda *a: (jax.grad(f3, 1)(*a),) * 2, *ARGS)


def test_has_aux_matches_jax():
    def f(x, y):
        return jnp.sum(x * y), {"pred": x * 2, "n": 3}

    chex.assert_trees_all_close(foldax.grad(f, has_aux=True)(X, X), jax.grad(f, has_aux=True)(X, X))
    assert_same(
        foldax.value_and_grad(f, (0, 1), has_aux=True), jax.value_and_grad(f, (0, 1), has_aux=True), X, X
    )


def test_wrt_selects_parameters_by_name():
    expected = jax.grad(f3, (0, 2))(*ARGS)
    chex.assert_trees_all_close(foldax.grad(f3, wrt="x,z")(*ARGS), expected)
    chex.assert_trees_all_close(foldax.grad(f3, wrt=("x", "z"))(X, Y, z=1.5), expected)
    chex.assert_trees_all_close(foldax.grad(f3, wrt="y")(x=X, y=Y, z=1.5), jax.grad(f3, 1)(*ARGS))
    chex.assert_trees_all_close(foldax.grad(f3, wrt=["z", "x"])(*ARGS), expected[::-1])

    def with_default(x, scale=2.0):
        return jnp.sum(x) * scale

    chex.assert_trees_all_close(foldax.grad(with_default, wrt="scale")(X), jax.grad(with_default, 1)(X, 2.0))


def test_numpy_and_python_leaves_become_variables_for_the_call():
    x_np = np.asarray(X)
    chex.assert_trees_all_close(foldax.grad(f3, (0, 2))(x_np, Y, 1.5), jax.grad(f3, (0, 2))(X, Y, 1.5))
    # ΦML's gradient promotes a differentiated Python int to float, as if 2.0 had been passed;
    # grad refuses it as jax.grad does (test_jax_errors)
    chex.assert_trees_all_close(
        foldax.gradient(f3, wrt="z", get_output=False)(X, Y, z=2), jax.grad(f3, 2)(X, Y, 2.0)
    )


def test_constant_loss_has_zero_gradient():
    def f(x, c):
        return np.float32(c) * 2.0

    chex.assert_trees_all_close(foldax.value_and_grad(f)(X, 3.0), jax.value_and_grad(f)(X, 3.0))


@foldax.dataclass
class Linear:
    w: jax.Array
    b: jax.Array
    scale: float = foldax.field(kind="value", default=2.0)
    act: str = foldax.field(kind="static", default="tanh")

    def __call__(self, x):
        return jnp.tanh(x @ self.w + self.b) * self.scale


def _model():
    return Linear(jnp.arange(6.0).reshape(3, 2) / 5, jnp.array([0.1, -0.2]))


def _loss(model, x):
    return jnp.mean(model(x) ** 2)


def test_dataclass_gradient_is_the_same_dataclass():
    model = _model()
    g = foldax.grad(_loss)(model, X[None])
    assert type(g) is Linear and g.scale == 2.0 and g.act == "tanh"
    chex.assert_trees_all_close(g, jax.grad(_loss)(model, X[None]))


def test_optax_adam_applies_dataclass_gradients_directly():
    opt = optax.adam(0.1)

    def train(grad_fn):
        params, state = _model(), opt.init(_model())
        for _ in range(3):
            updates, state = opt.update(grad_fn(_loss)(params, X[None]), state, params)
            params = optax.apply_updates(params, updates)
        return params

    ours, theirs = train(foldax.grad), train(jax.grad)
    assert type(ours) is Linear and ours.scale == 2.0
    chex.assert_trees_all_close(ours, theirs, rtol=1e-6)


def test_equinox_module_static_leaves_get_none():
    model = eqx.nn.MLP(3, 2, 4, 2, key=jax.random.PRNGKey(0))

    def loss(m, x):
        return jnp.sum(m(x) ** 2)

    ours = foldax.jit(foldax.grad(loss))(model, X)
    theirs = eqx.filter_jit(eqx.filter_grad(loss))(model, X)
    chex.assert_trees_all_close(eqx.filter(ours, eqx.is_array), eqx.filter(theirs, eqx.is_array))
    assert ours.activation is None


def test_dict_and_nested_pytrees():
    params = {"a": X, "b": [Y, (jnp.float32(0.5),)]}

    def loss(p, k):
        return jnp.sum(p["b"][0] @ p["a"]) * p["b"][1][0] + k

    chex.assert_trees_all_close(
        foldax.value_and_grad(loss)(params, 1.0), jax.value_and_grad(loss)(params, 1.0)
    )


def test_integer_inputs_get_float0_with_allow_int():
    def f(x, n):
        return jnp.sum(x) * n

    ours = foldax.grad(f, (0, 1), allow_int=True)(X, jnp.int32(3))
    theirs = jax.grad(f, (0, 1), allow_int=True)(X, jnp.int32(3))
    chex.assert_trees_all_close(ours[0], theirs[0])
    assert ours[1].dtype == theirs[1].dtype == jax.dtypes.float0


def test_jvp_matches_jax_on_pytrees_and_aux():
    def f(p, s):
        return {"y": jnp.sin(p["a"]) * s, "z": p["b"] @ p["a"]}, p["a"].sum()

    p, t = {"a": X, "b": Y}, {"a": jnp.ones(3), "b": jnp.full((2, 3), 0.5)}
    assert_same(
        lambda p, t: foldax.jvp(f, (p, 2.0), (t, 1.0), has_aux=True),
        lambda p, t: jax.jvp(f, (p, 2.0), (t, 1.0), has_aux=True),
        p,
        t,
    )


def test_jvp_integer_primal_takes_float0_tangent():
    def f(x, n):
        return x * n, n * 2

    tn = np.zeros((), jax.dtypes.float0)
    ours = foldax.jvp(f, (X, jnp.int32(3)), (jnp.ones(3), tn))
    theirs = jax.jvp(f, (X, jnp.int32(3)), (jnp.ones(3), tn))
    chex.assert_trees_all_close(ours[0], theirs[0])
    chex.assert_trees_all_close(ours[1][0], theirs[1][0])
    assert ours[1][1].dtype == jax.dtypes.float0


def test_vjp_matches_jax_and_pullback_is_a_pytree():
    def f(x, y):
        return {"u": y @ x, "v": jnp.tanh(x)}, x.sum()

    ct = {"u": jnp.array([1.0, -2.0]), "v": jnp.array([0.5, 0.0, 1.0])}
    out, pullback, aux = foldax.vjp(f, X, Y, has_aux=True)
    out_j, pullback_j, aux_j = jax.vjp(f, X, Y, has_aux=True)
    chex.assert_trees_all_close((out, aux, pullback(ct)), (out_j, aux_j, pullback_j(ct)))
    # returned from a jitted function, like JAX's
    jitted = jax.jit(lambda x, y: foldax.vjp(lambda a, b: (b @ a) ** 2, x, y)[1])(X, Y)
    chex.assert_trees_all_close(jitted(ct["u"]), jax.vjp(lambda a, b: (b @ a) ** 2, X, Y)[1](ct["u"]))


def test_vjp_of_integer_input_is_float0():
    ours = foldax.vjp(lambda x, n: x * n, X, jnp.int32(2))[1](jnp.ones(3))
    theirs = jax.vjp(lambda x, n: x * n, X, jnp.int32(2))[1](jnp.ones(3))
    chex.assert_trees_all_close(ours[0], theirs[0])
    assert ours[1].dtype == jax.dtypes.float0


def _vector_fn(p, s):
    return {"out": jnp.tanh(p["w"] @ p["x"]) * s, "sq": p["x"] ** 2}


P = {"w": Y, "x": X}


@pytest.mark.parametrize("jac", ["jacfwd", "jacrev", "jacobian"])
@pytest.mark.parametrize("argnums", [0, (0, 1)])
def test_jacobians_match_jax_on_pytrees(jac, argnums):
    assert_same(getattr(foldax, jac)(_vector_fn, argnums), getattr(jax, jac)(_vector_fn, argnums), P, 1.5)


def test_jacobian_with_aux_and_wrt():
    def f(x, y):
        return jnp.outer(x, y), x.sum()

    for ours_fn, jax_fn in [(foldax.jacfwd, jax.jacfwd), (foldax.jacrev, jax.jacrev)]:
        assert_same(ours_fn(f, wrt="y", has_aux=True), jax_fn(f, 1, has_aux=True), X, X[:2])


def test_hessian_matches_jax():
    def f(x, y):
        return jnp.sum(jnp.sin(y @ x) ** 2) * jnp.sum(jnp.cos(x))

    assert_same(foldax.hessian(f, (0, 1)), jax.hessian(f, (0, 1)), X, Y, rtol=1e-5)


# -- composition ------------------------------------------------------------------------------
def scalar(x):
    return jnp.sum(jnp.sin(x) ** 2 * jnp.exp(-x))


def test_higher_order_composition_matches_jax():
    assert_same(
        lambda x: (
            foldax.grad(lambda y: foldax.grad(scalar)(y).sum())(x),
            foldax.jacfwd(foldax.jacrev(scalar))(x),
            foldax.jacrev(foldax.jacfwd(foldax.grad(scalar)))(x),
        ),
        lambda x: (
            jax.grad(lambda y: jax.grad(scalar)(y).sum())(x),
            jax.jacfwd(jax.jacrev(scalar))(x),
            jax.jacrev(jax.jacfwd(jax.grad(scalar)))(x),
        ),
        X,
        rtol=1e-4,
    )


def test_composition_with_jit_both_ways():
    expected = jax.grad(scalar)(X)
    chex.assert_trees_all_close(foldax.jit(foldax.grad(scalar))(X), expected)
    chex.assert_trees_all_close(foldax.grad(foldax.jit(scalar))(X), expected)
    chex.assert_trees_all_close(jax.jit(foldax.grad(scalar))(X), expected)
    chex.assert_trees_all_close(foldax.grad(jax.jit(scalar))(X), expected)


def test_jax_transformations_around_foldax_ones():
    assert_same(
        lambda x, y: (
            jax.grad(lambda v: foldax.grad(scalar)(v).sum())(x),
            jax.vmap(foldax.grad(scalar))(y),
            jax.jacfwd(foldax.jacrev(scalar))(x),
        ),
        lambda x, y: (
            jax.grad(lambda v: jax.grad(scalar)(v).sum())(x),
            jax.vmap(jax.grad(scalar))(y),
            jax.hessian(scalar)(x),
        ),
        X,
        Y,
        rtol=1e-5,
    )


def test_foldax_vmap_of_grad():
    chex.assert_trees_all_close(foldax.vmap(foldax.grad(scalar))(Y), jax.vmap(jax.grad(scalar))(Y))


# -- activity analysis and constant folding -------------------------------------------------------
def test_equations_no_differentiated_input_reaches_are_not_differentiated():
    untraceable = jax.extend.core.Primitive("no_derivative_here")
    untraceable.def_impl(lambda y: y * 2)
    untraceable.def_abstract_eval(lambda y: y)
    jax.interpreters.mlir.register_lowering(
        untraceable, jax.interpreters.mlir.lower_fun(lambda y: y * 2, multiple_results=False)
    )

    def f(x, y):
        return jnp.sum(x * untraceable.bind(y))

    chex.assert_trees_all_close(foldax.grad(f)(X, X), jax.grad(lambda x, y: jnp.sum(x * y * 2))(X, X))
    chex.assert_trees_all_close(jax.jit(foldax.grad(f))(X, X), 2 * X)


def test_constants_stay_folded_in_the_gradient():
    table = np.linspace(0.0, 1.0, 3).astype(np.float32)

    def f(x):
        return jnp.sum(x * np.exp(np.sin(table) ** 2) + x**2)

    ours = jax.make_jaxpr(foldax.grad(f))(X)
    assert not any(e.primitive.name in ("sin", "exp") for e in ours.jaxpr.eqns)
    assert len(ours.jaxpr.eqns) <= len(jax.make_jaxpr(jax.grad(f))(X).jaxpr.eqns)
    chex.assert_trees_all_close(foldax.grad(f)(X), jax.grad(f)(X))


def test_tensor_loss_with_only_batch_dims_is_summed():
    from foldax.tensors import batch, channel, tensor

    x = tensor(np.array([0.0, 1.0, 2.0], np.float32), batch("b"))
    g = foldax.grad(lambda v: v**2)(x)
    assert g.shape == x.shape
    chex.assert_trees_all_close(g.native(), jax.grad(lambda v: jnp.sum(v**2))(x.native()))
    with pytest.raises(foldax.errors.FoldaxTypeError, match="non-batch dimensions"):
        foldax.grad(lambda v: v**2)(tensor(np.ones(3, np.float32), channel("c")))


def _optimized_hlo(fn, *args):
    """The optimized XLA program without source locations and instruction numbering."""
    text = jax.jit(fn).lower(*args).compile().as_text()
    text = text[text.index("StackFrames") :] if "StackFrames" in text else text
    text = re.sub(r", metadata=\{[^}]*\}", "", text[text.index("\n\n") :])
    return re.sub(r"\.\d+", "", text)


def test_jitted_gradient_is_the_same_xla_program_as_jax():
    params = [(Y.T, jnp.zeros(2)), (Y, X)]

    def mlp(p, x):
        for w, b in p:
            x = jnp.tanh(x @ w + b)
        return jnp.mean(x**2)

    assert _optimized_hlo(foldax.grad(mlp), params, X) == _optimized_hlo(jax.grad(mlp), params, X)


# -- allow_int: integers stay integers in the primal computation, as in JAX ----------------------
@pytest.mark.parametrize("index", [1, np.int32(2), jnp.int32(0)], ids=["python", "numpy", "jax"])
def test_allow_int_keeps_integer_inputs_integer(index):
    def f(x, i):
        return jnp.sum(x[i] * x * i)

    x = jnp.arange(3.0)
    ours = foldax.grad(f, argnums=(0, 1), allow_int=True)(x, index)
    theirs = jax.grad(f, argnums=(0, 1), allow_int=True)(x, index)
    chex.assert_trees_all_close(ours[0], theirs[0])
    assert ours[1].dtype == theirs[1].dtype == jax.dtypes.float0
    assert ours[1].shape == theirs[1].shape
