"""Train an equinox Module through foldax's transformations, unchanged.

An ``eqx.nn.MLP`` is a pytree like any other: ``foldax.jit`` traces its arrays and keeps its
non-array leaves (the activation functions) as static parts of the compiled program's identity;
``foldax.value_and_grad`` returns a gradient of the same Module type, with ``None`` where a leaf
is not an array; ``foldax.vmap`` maps the Module over a batch. So the usual equinox training
step works with foldax in place of ``eqx.filter_jit`` / ``eqx.filter_value_and_grad``, with optax
and ``eqx.apply_updates`` as in any equinox script.

Run: ``python examples/equinox_model.py [--quick] [--out DIR]``.

Example:
    >>> model = eqx.nn.MLP(4, 1, 8, 1, key=random.key(0))
    >>> float(mse_loss(model, jnp.zeros((3, 4)), jnp.zeros((3, 1)))) >= 0
    True
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import foldax
from foldax import random

from common import example_options, output_dir, progress, regression_data, save_curves


def mse_loss(model: eqx.nn.MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    """Mean squared error of the Module mapped over the batch with ``foldax.vmap``."""
    return jnp.mean((foldax.vmap(model)(x) - y) ** 2)


def make_train_step(
    optimiser: optax.GradientTransformation, value_and_grad: Callable = foldax.value_and_grad
) -> Callable:
    """``(model, opt_state, x, y) -> (model, opt_state, loss)``: the step of any equinox
    script (``value_and_grad=eqx.filter_value_and_grad`` gives equinox's own)."""

    def train_step(model: eqx.Module, opt_state: Any, x: jax.Array, y: jax.Array) -> tuple:
        loss, grads = value_and_grad(mse_loss)(model, x, y)
        updates, opt_state = optimiser.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), opt_state, loss

    return train_step


@dataclasses.dataclass(frozen=True)
class Config:
    width: int = 64
    depth: int = 2
    n_train: int = 2048
    n_test: int = 512
    batch_size: int = 128
    steps: int = 1500
    learning_rate: float = 1e-2
    seed: int = 0


FULL = Config()
QUICK = Config(width=32, n_train=512, n_test=256, batch_size=64, steps=150, learning_rate=3e-2)


def main(quick: bool = False, out_dir: str | pathlib.Path = "out") -> dict[str, Any]:
    """Train an ``eqx.nn.MLP`` on the synthetic regression data with foldax + optax."""
    cfg = QUICK if quick else FULL
    model_key, data_key, train_key = random.split(random.key(cfg.seed), 3)
    x, y = regression_data(data_key, cfg.n_train + cfg.n_test)
    x_train, y_train, x_test, y_test = (
        x[: cfg.n_train],
        y[: cfg.n_train],
        x[cfg.n_train :],
        y[cfg.n_train :],
    )
    model = eqx.nn.MLP(x.shape[1], 1, cfg.width, cfg.depth, activation=jax.nn.gelu, key=model_key)
    optimiser = optax.adamw(optax.cosine_decay_schedule(cfg.learning_rate, cfg.steps))
    opt_state = optimiser.init(eqx.filter(model, eqx.is_array))
    step = foldax.jit(make_train_step(optimiser))
    evaluate = foldax.jit(mse_loss)
    losses, first_test = [], float(evaluate(model, x_test, y_test))
    bar = progress(range(cfg.steps), "equinox MLP")
    for i in bar:
        idx = random.choice(random.fold_in(train_key, i), cfg.n_train, (cfg.batch_size,), replace=False)
        model, opt_state, loss = step(model, opt_state, x_train[idx], y_train[idx])
        losses.append(float(loss))
        bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    test_loss, baseline = float(evaluate(model, x_test, y_test)), float(jnp.var(y_test))
    plot = save_curves(
        output_dir(out_dir) / "equinox_model_loss.png",
        {
            "train (batch)": (np.arange(1, cfg.steps + 1), losses),
            "held-out, predicting the mean": ([1, cfg.steps], [baseline] * 2),
        },
        title="eqx.nn.MLP trained with foldax.jit / foldax.value_and_grad",
        xlabel="training step",
        ylabel="batch mean squared error (target units²)",
    )
    print(
        f"held-out MSE {first_test:.4f} -> {test_loss:.4f} (predicting the mean: "
        f"{baseline:.4f}); loss curve: {plot}"
    )
    return {"model": model, "losses": losses, "test_loss": test_loss, "baseline": baseline, "plot": plot}


if __name__ == "__main__":
    main(**example_options(description=__doc__.splitlines()[0]))
