"""Per-example gradients with ``foldax.jit(foldax.vmap(foldax.grad(loss)))``: DP-SGD training.

Differentially private SGD (Abadi et al., 2016) needs each example's own gradient: it clips every
per-example gradient to a global L2 norm of at most ``clip_norm``, sums them, adds Gaussian noise
of standard deviation ``noise_multiplier * clip_norm`` and divides by the batch size. With foldax
the per-example gradients are one line, ``vmap`` of ``grad`` with the model unmapped
(``in_axes=(None, 0, 0)``), and the whole private step compiles with ``foldax.jit``. The script
checks the vectorised private gradient against a Python loop over the examples (same clipping,
same noise key), then trains a small classifier with it. (It does not account the privacy
budget: use a privacy accountant for the epsilon of a run.)

Run: ``python examples/per_example_grads.py [--quick] [--out DIR]``.

Example:
    >>> model = init_mlp(random.key(0), (2, 4, 1))
    >>> grads = per_example_grads(model, jnp.ones((3, 2)), jnp.ones(3))
    >>> grads.layers[0].w.shape                      # one gradient per example
    (3, 2, 4)
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import foldax
from foldax import random

from common import example_options, output_dir, progress, save_curves
from train_mlp import MLP, init_mlp


def example_loss(model: MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    """Logistic loss of one example: ``x`` of shape (features,), ``y`` a 0/1 label."""
    return optax.sigmoid_binary_cross_entropy(model(x)[0], y)


per_example_grads = foldax.jit(foldax.vmap(foldax.grad(example_loss), in_axes=(None, 0, 0)))


@foldax.jit
def mean_loss(model: MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    """The batch's mean logistic loss."""
    return jnp.mean(foldax.vmap(example_loss, in_axes=(None, 0, 0))(model, x, y))


def clip_factor(norm: jax.Array, clip_norm: float) -> jax.Array:
    """The factor that scales a gradient of global norm ``norm`` to a norm of at most
    ``clip_norm``."""
    return jnp.minimum(1.0, clip_norm / jnp.maximum(norm, 1e-12))


def clip_per_example(grads: Any, clip_norm: float) -> Any:
    """Every example's gradient (leading axis of each leaf) clipped to global norm
    ``clip_norm``."""
    leaves = jax.tree.leaves(grads)
    norms = jnp.sqrt(sum(jnp.sum(g.reshape(g.shape[0], -1) ** 2, axis=1) for g in leaves))
    factors = clip_factor(norms, clip_norm)
    return jax.tree.map(lambda g: g * factors.reshape(-1, *([1] * (g.ndim - 1))), grads)


@foldax.jit
def add_noise(tree: Any, key: jax.Array, std: float) -> Any:
    """``tree`` plus Gaussian noise of standard deviation ``std``, one subkey per leaf."""
    leaves, treedef = jax.tree.flatten(tree)
    keys = random.split(key, len(leaves))
    return jax.tree.unflatten(
        treedef, [x + std * random.normal(k, x.shape, x.dtype) for x, k in zip(leaves, keys)]
    )


def private_gradient(
    model: MLP, x: jax.Array, y: jax.Array, key: jax.Array, clip_norm: float, noise_multiplier: float
) -> MLP:
    """DP-SGD's gradient of a batch: per-example gradients clipped, summed, noised, averaged."""
    clipped = clip_per_example(per_example_grads(model, x, y), clip_norm)
    summed = jax.tree.map(lambda g: jnp.sum(g, axis=0), clipped)
    noisy = add_noise(summed, key, noise_multiplier * clip_norm)
    return jax.tree.map(lambda g: g / x.shape[0], noisy)


def loop_private_gradient(
    model: MLP, x: jax.Array, y: jax.Array, key: jax.Array, clip_norm: float, noise_multiplier: float
) -> MLP:
    """The same as ``private_gradient``, one example at a time in a Python loop (the check)."""
    grad_one = foldax.jit(foldax.grad(example_loss))
    total = None
    for i in range(x.shape[0]):
        g = grad_one(model, x[i], y[i])
        factor = clip_factor(optax.tree.norm(g), clip_norm)
        g = jax.tree.map(lambda leaf: leaf * factor, g)
        total = g if total is None else jax.tree.map(jnp.add, total, g)
    noisy = add_noise(total, key, noise_multiplier * clip_norm)
    return jax.tree.map(lambda g: g / x.shape[0], noisy)


@dataclasses.dataclass(frozen=True)
class Config:
    hidden: tuple[int, ...] = (32, 32)
    n_train: int = 4096
    n_test: int = 1024
    batch_size: int = 128
    steps: int = 600
    learning_rate: float = 1e-2
    clip_norm: float = 1.0
    noise_multiplier: float = 1.0
    check_size: int = 64  # examples in the comparison with the loop
    seed: int = 0


FULL = Config()
QUICK = Config(hidden=(16,), n_train=1024, n_test=512, batch_size=64, steps=80, check_size=16)


@foldax.jit(static_argnames="n")
def classification_data(key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """Points in the plane labelled by which side of a sine-shaped boundary they fall on."""
    x = random.normal(key, (n, 2))
    return x, (x[:, 1] > jnp.sin(2.0 * x[:, 0])).astype(jnp.float32)


def make_dp_step(cfg: Config, optimiser: optax.GradientTransformation) -> Any:
    """``foldax.jit`` of one DP-SGD step ``(model, opt_state, x, y, key) -> (model, opt_state,
    mean loss)``."""

    def dp_step(model: MLP, opt_state: Any, x: jax.Array, y: jax.Array, key: jax.Array) -> tuple:
        grads = private_gradient(model, x, y, key, cfg.clip_norm, cfg.noise_multiplier)
        updates, opt_state = optimiser.update(grads, opt_state, model)
        return optax.apply_updates(model, updates), opt_state, mean_loss(model, x, y)

    return foldax.jit(dp_step)


@foldax.jit
def accuracy(model: MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    """The fraction of examples on the right side of the decision boundary."""
    return jnp.mean((model(x)[:, 0] > 0) == (y > 0.5))


def main(quick: bool = False, out_dir: str | pathlib.Path = "out") -> dict[str, Any]:
    """Check the vectorised private gradient against the loop, then train with DP-SGD."""
    cfg = QUICK if quick else FULL
    init_key, data_key, check_key, train_key = random.split(random.key(cfg.seed), 4)
    x, y = classification_data(data_key, cfg.n_train + cfg.n_test)
    x_train, y_train, x_test, y_test = (
        x[: cfg.n_train],
        y[: cfg.n_train],
        x[cfg.n_train :],
        y[cfg.n_train :],
    )
    model = init_mlp(init_key, (2, *cfg.hidden, 1), activation="tanh")

    xb, yb = x_train[: cfg.check_size], y_train[: cfg.check_size]
    args = (cfg.clip_norm, cfg.noise_multiplier)
    vectorised = foldax.jit(private_gradient)(model, xb, yb, check_key, *args)
    looped = loop_private_gradient(model, xb, yb, check_key, *args)
    difference = max(
        float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(vectorised), jax.tree.leaves(looped))
    )
    print(f"vectorised vs loop over {cfg.check_size} examples: max difference {difference:.2e}")

    optimiser = optax.adam(cfg.learning_rate)
    opt_state = optimiser.init(model)
    step = make_dp_step(cfg, optimiser)
    losses = []
    bar = progress(range(cfg.steps), "DP-SGD")
    for i in bar:
        batch_key, noise_key = random.split(random.fold_in(train_key, i))
        idx = random.choice(batch_key, cfg.n_train, (cfg.batch_size,), replace=False)
        model, opt_state, loss = step(model, opt_state, x_train[idx], y_train[idx], noise_key)
        losses.append(float(loss))
        bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
    test_loss = float(mean_loss(model, x_test, y_test))
    test_accuracy = float(accuracy(model, x_test, y_test))
    plot = save_curves(
        output_dir(out_dir) / "per_example_grads_loss.png",
        {
            "DP-SGD batch loss": (np.arange(1, cfg.steps + 1), losses),
            "chance (log 2)": ([1, cfg.steps], [np.log(2.0)] * 2),
        },
        title=f"DP-SGD (clip {cfg.clip_norm}, noise x{cfg.noise_multiplier})",
        xlabel="training step",
        ylabel="batch cross-entropy (nats)",
    )
    print(
        f"held-out loss {test_loss:.3f} (chance {np.log(2.0):.3f}), accuracy "
        f"{test_accuracy:.1%}; loss curve: {plot}"
    )
    return {
        "model": model,
        "losses": losses,
        "test_loss": test_loss,
        "test_accuracy": test_accuracy,
        "vectorised": vectorised,
        "looped": looped,
        "difference": difference,
        "plot": plot,
    }


if __name__ == "__main__":
    main(**example_options(description=__doc__.splitlines()[0]))
