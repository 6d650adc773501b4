"""optax, equinox, chex, flax dataclasses and JAX shardings with foldax's transformations, with no
adapter code: every result is compared with the same code under JAX's (or equinox's) own
transformations."""

import chex
import equinox as eqx
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

import foldax
from foldax import random

TOL = {"rtol": 1e-5, "atol": 1e-6}


@foldax.dataclass
class Regressor:
    w: jax.Array
    b: jax.Array
    scale: float = foldax.field(kind="value", default=2.0)  # held constant by grad and optax
    activation: str = foldax.field(kind="static", default="tanh")

    def __call__(self, x):
        return self.scale * getattr(jnp, self.activation)(x @ self.w + self.b)


def _regressor():
    return Regressor(jnp.linspace(-1.0, 1.0, 6).reshape(3, 2), jnp.array([0.1, -0.2]))


X = jnp.linspace(-1.0, 1.0, 12).reshape(4, 3)
Y = jnp.ones((4, 2))


def regressor_loss(model, x, y):
    return jnp.mean((model(x) - y) ** 2)


def _train(value_and_grad, optimiser, model, steps=2):
    """Plain, unjitted steps: optax.update and optax.apply_updates straight on the model."""
    state = optimiser.init(model)
    for _ in range(steps):
        loss, grads = value_and_grad(regressor_loss)(model, X, Y)
        updates, state = optimiser.update(grads, state, model)
        model = optax.apply_updates(model, updates)
    return model, state, loss


# -- optax --------------------------------------------------------------------------------------
OPTIMISERS = {
    "sgd+momentum": lambda: optax.sgd(0.1, momentum=0.9, nesterov=True),
    "adam": lambda: optax.adam(1e-2),
    "adamw schedule": lambda: optax.adamw(optax.warmup_cosine_decay_schedule(0.0, 1e-2, 1, 10)),
    "clip+lion": lambda: optax.chain(optax.clip_by_global_norm(0.5), optax.lion(1e-3)),
    "masked decay": lambda: optax.chain(
        optax.masked(optax.add_decayed_weights(0.1), lambda m: jax.tree.map(lambda x: x.ndim > 1, m)),
        optax.sgd(0.1),
    ),
}


@pytest.mark.parametrize("name", sorted(OPTIMISERS))
def test_optax_on_a_dataclass_model_matches_jax(name):
    ours = _train(foldax.value_and_grad, OPTIMISERS[name](), _regressor())
    reference = _train(jax.value_and_grad, OPTIMISERS[name](), _regressor())
    chex.assert_trees_all_close(ours, reference, **TOL)
    model = ours[0]
    assert isinstance(model, Regressor) and model.scale == 2.0 and model.activation == "tanh"


def test_optimiser_state_holds_models_and_the_jitted_step_matches_jax():
    optimiser = optax.adam(1e-2)
    model = _regressor()

    def step(value_and_grad):
        def train_step(model, state, x, y):
            loss, grads = value_and_grad(regressor_loss)(model, x, y)
            updates, state = optimiser.update(grads, state, model)
            return optax.apply_updates(model, updates), state, loss

        return train_step

    ours = foldax.jit(step(foldax.value_and_grad))(model, optimiser.init(model), X, Y)
    reference = jax.jit(step(jax.value_and_grad))(model, optimiser.init(model), X, Y)
    chex.assert_trees_all_close(ours, reference, **TOL)
    mu = ours[1][0].mu
    assert isinstance(mu, Regressor) and jax.tree.structure(mu) == jax.tree.structure(model)


def test_gradient_of_a_dataclass_keeps_value_and_static_fields():
    grads = foldax.grad(regressor_loss)(_regressor(), X, Y)
    reference = jax.grad(regressor_loss)(_regressor(), X, Y)
    chex.assert_trees_all_close(grads, reference, **TOL)
    assert isinstance(grads, Regressor) and grads.scale == 2.0 and grads.activation == "tanh"


# -- equinox -------------------------------------------------------------------------------------
def _eqx_arrays(tree):
    return eqx.filter(tree, eqx.is_array)


def _grad_and_outputs(grad, vmap):
    """``(gradient of the summed squared outputs, outputs)`` of a Module mapped over a batch."""

    def run(model, x):
        return grad(lambda m, x: jnp.sum(vmap(m)(x) ** 2))(model, x), vmap(model)(x)

    return run


EQX_MODELS = {
    "Linear": (lambda k: eqx.nn.Linear(3, 2, key=k), (5, 3)),
    "MLP": (lambda k: eqx.nn.MLP(3, 2, 4, 2, activation=jax.nn.softplus, key=k), (5, 3)),
    "Conv1d+LayerNorm": (
        lambda k: eqx.nn.Sequential(
            [eqx.nn.Conv1d(2, 3, 3, padding=1, key=k), eqx.nn.LayerNorm((3, 6)), eqx.nn.Lambda(jax.nn.relu)]
        ),
        (4, 2, 6),
    ),
    "GRUCell in a scan": (lambda k: _GRUSequence(eqx.nn.GRUCell(3, 4, key=k)), (2, 5, 3)),
}


class _GRUSequence(eqx.Module):
    cell: eqx.nn.GRUCell

    def __call__(self, xs):
        def step(h, x):
            h = self.cell(x, h)
            return h, h

        return jax.lax.scan(step, jnp.zeros(self.cell.hidden_size), xs)[1]


@pytest.mark.parametrize("name", sorted(EQX_MODELS))
def test_equinox_layers_jit_grad_vmap_match_equinox(name):
    make, shape = EQX_MODELS[name]
    model = make(random.key(0))
    x = random.normal(random.key(1), shape)
    ours = foldax.jit(_grad_and_outputs(foldax.grad, foldax.vmap))(model, x)
    reference = eqx.filter_jit(_grad_and_outputs(eqx.filter_grad, jax.vmap))(model, x)
    chex.assert_trees_all_close(_eqx_arrays(ours), _eqx_arrays(reference), **TOL)
    assert jax.tree.structure(ours[0]) == jax.tree.structure(reference[0])  # None where eqx has


def test_equinox_dropout_with_keys_and_inference_flag():
    dropout = eqx.nn.Dropout(0.5)  # its `inference` field is a Python bool: a constant for foldax
    x, key = jnp.arange(1.0, 9.0), random.key(3)
    f = lambda x, m, k: jnp.sum(m(x, key=k) ** 2)  # noqa: E731
    chex.assert_trees_all_close(
        foldax.jit(foldax.value_and_grad(f))(x, dropout, key),
        eqx.filter_jit(eqx.filter_value_and_grad(f))(x, dropout, key),
        **TOL,
    )
    off = eqx.nn.inference_mode(dropout)
    chex.assert_trees_all_equal(foldax.jit(lambda m, x: m(x))(off, x), x)


def test_equinox_batch_norm_state_through_foldax_vmap_with_axis_name():
    model, state = eqx.nn.make_with_state(eqx.nn.BatchNorm)(3, "batch", mode="batch")
    x = random.normal(random.key(2), (8, 3))

    def apply(vmap):
        def run(model, state, x):
            out, state = vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, state)
            return jnp.sum(out[:, 0] * jnp.arange(8.0)), state

        return run

    ours = foldax.jit(apply(foldax.vmap))(model, state, x)
    reference = eqx.filter_jit(apply(jax.vmap))(model, state, x)
    chex.assert_trees_all_close(ours, reference, **TOL)
    grad_x = lambda vmap, grad: grad(lambda x: apply(vmap)(model, state, x)[0])  # noqa: E731
    chex.assert_trees_all_close(
        foldax.jit(grad_x(foldax.vmap, foldax.grad))(x), jax.jit(grad_x(jax.vmap, jax.grad))(x), **TOL
    )


def test_grad_of_equinox_module_with_bool_and_float_fields():
    """eqx.nn.Dropout holds ``inference: bool`` and ``p: float`` as ordinary leaves. foldax
    leaves Python bools alone (None, as equinox does; they stay constants, so Dropout's Python
    ``if`` works) and, as ΦML does, differentiates Python floats of a differentiated argument."""
    model = eqx.nn.Sequential([eqx.nn.Linear(3, 2, key=random.key(0)), eqx.nn.Dropout(0.5)])
    loss = lambda m, x, k: jnp.sum(m(x, key=k) ** 2)  # noqa: E731
    x, key = jnp.arange(3.0), random.key(1)
    ours = foldax.value_and_grad(loss)(model, x, key)
    reference = eqx.filter_value_and_grad(loss)(model, x, key)
    chex.assert_trees_all_close(ours[0], reference[0], **TOL)
    chex.assert_trees_all_close(_eqx_arrays(ours[1].layers[0]), _eqx_arrays(reference[1].layers[0]), **TOL)
    assert ours[1].layers[1].inference is None
    with_p = lambda p: loss(eqx.tree_at(lambda m: m.layers[1].p, model, p), x, key)  # noqa: E731
    chex.assert_trees_all_close(ours[1].layers[1].p, jax.grad(with_p)(jnp.float32(0.5)), **TOL)


class _Scaled(eqx.Module):
    weight: jax.Array
    fn: object  # a non-array leaf (a function)
    name: str = eqx.field(static=True)

    def __call__(self, x):
        return self.fn(self.weight * x)


def test_custom_equinox_module_with_static_and_function_fields():
    model = _Scaled(jnp.array([1.0, 2.0]), jnp.sin, "scaled")
    x = jnp.array([0.5, 0.25])
    loss = lambda m, x: jnp.sum(m(x))  # noqa: E731
    ours = foldax.jit(foldax.value_and_grad(loss))(model, x)
    reference = eqx.filter_jit(eqx.filter_value_and_grad(loss))(model, x)
    chex.assert_trees_all_close(_eqx_arrays(ours), _eqx_arrays(reference), **TOL)
    assert ours[1].fn is None and ours[1].name == "scaled"  # like equinox: None for non-arrays


# -- chex ------------------------------------------------------------------------------------------
@chex.dataclass
class ChexParams:
    w: jax.Array
    b: jax.Array


def _chex_loss(params, x):
    chex.assert_shape(params.w, (3, 2))
    chex.assert_rank(x, 2)
    chex.assert_type([params.w, x], float)
    chex.assert_equal_shape_suffix([x, params.w[:, 0][None]], 1)
    return jnp.sum(jnp.tanh(x @ params.w + params.b) ** 2)


def test_chex_dataclass_and_assertions_inside_transformations():
    params, x = ChexParams(w=jnp.ones((3, 2)) / 3, b=jnp.zeros(2)), X
    chex.assert_trees_all_close(
        foldax.jit(foldax.grad(_chex_loss))(params, x), jax.jit(jax.grad(_chex_loss))(params, x), **TOL
    )
    per_example = foldax.vmap(lambda p, xi: _chex_loss(p, xi[None]), in_axes=(None, 0))
    chex.assert_trees_all_close(
        per_example(params, x),
        jax.vmap(lambda p, xi: _chex_loss(p, xi[None]), in_axes=(None, 0))(params, x),
        **TOL,
    )
    assert isinstance(foldax.grad(_chex_loss)(params, x), ChexParams)


def test_chex_assertion_failures_surface_at_trace_time():
    params = ChexParams(w=jnp.ones((4, 2)), b=jnp.zeros(2))
    with pytest.raises(AssertionError, match=r"Error in shape compatibility check"):
        foldax.jit(foldax.grad(_chex_loss))(params, jnp.ones((4, 4)))
    with pytest.raises(AssertionError, match=r"rank"):
        foldax.vmap(lambda xi: _chex_loss(ChexParams(w=jnp.ones((3, 2)), b=jnp.zeros(2)), xi))(
            jnp.ones((4, 3))
        )


def test_chex_max_traces_counts_one_trace_per_signature():
    @foldax.jit
    @chex.assert_max_traces(n=1)
    def f(x):
        return jnp.sum(x**2)

    f(jnp.ones(3))
    f(jnp.arange(3.0))  # same shape and dtype: no new trace
    with pytest.raises(AssertionError, match=r"traced > 1 times"):
        f(jnp.ones(4))


# -- flax dataclasses ------------------------------------------------------------------------------
@flax.struct.dataclass
class FlaxParams:
    w: jax.Array
    act: str = flax.struct.field(pytree_node=False, default="tanh")


def test_flax_struct_dataclass():
    params = FlaxParams(jnp.linspace(0.0, 1.0, 3))
    loss = lambda p, x: jnp.sum(getattr(jnp, p.act)(p.w * x))  # noqa: E731
    ours = foldax.jit(foldax.value_and_grad(loss))(params, jnp.ones(3))
    chex.assert_trees_all_close(ours, jax.jit(jax.value_and_grad(loss))(params, jnp.ones(3)), **TOL)
    assert ours[1].act == "tanh"


# -- JAX shardings -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mesh():
    return Mesh(np.array(jax.devices()[:8]), ("data",))


def test_shardings_flow_through_jit_grad_and_vmap_as_in_jax(mesh):
    model = jax.device_put(_regressor(), NamedSharding(mesh, P()))
    x = jax.device_put(jnp.linspace(-1.0, 1.0, 24).reshape(8, 3), NamedSharding(mesh, P("data")))
    y = jax.device_put(jnp.ones((8, 2)), NamedSharding(mesh, P("data")))
    ours = foldax.jit(foldax.value_and_grad(regressor_loss))(model, x, y)
    reference = jax.jit(jax.value_and_grad(regressor_loss))(model, x, y)
    chex.assert_trees_all_close(ours, reference, **TOL)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(reference)):
        assert a.sharding.is_equivalent_to(b.sharding, a.ndim)
    per_example = lambda m, x, y: jnp.sum((m(x) - y) ** 2)  # noqa: E731
    ours = foldax.jit(foldax.vmap(per_example, in_axes=(None, 0, 0)))(model, x, y)
    reference = jax.jit(jax.vmap(per_example, in_axes=(None, 0, 0)))(model, x, y)
    chex.assert_trees_all_close(ours, reference, **TOL)
    assert ours.sharding.is_equivalent_to(reference.sharding, 1)
    assert ours.sharding.is_equivalent_to(NamedSharding(mesh, P("data")), 1)
