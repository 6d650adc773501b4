"""Train a small MLP with foldax and optax: the example to start from.

* The model is a ``@foldax.dataclass``: weights are *variable* fields (traced by ``jit``,
  differentiated by ``grad``, updated by optax); the activation name and the dropout rate are
  *static* configuration, part of the compiled program's identity.
* One training step is ``foldax.value_and_grad(loss)`` plus an optax update (Adam with a warm-up
  + cosine schedule, after global-norm clipping) and ``optax.apply_updates`` on the model itself,
  all compiled with ``foldax.jit``.
* Random keys are split explicitly: one for initialisation, one for the data, and per epoch one
  for shuffling and one per step for dropout.
* Batches arrive as NumPy arrays, as data loaders (grain, tf.data, PyTorch) yield them. NumPy
  arguments are constants to ``foldax.jit`` (compiled in by value), so the step names its batch
  arguments in ``variable_args=("x", "y")``: they are traced like ``jax.Array`` s and one
  compiled step serves every batch.
* A NaN guard (``GuardedStep``): each step also reports whether its outputs are finite, and the
  first step that is not is run again under ``foldax.checkify(..., errors=foldax.nan_checks)``,
  whose ``error.throw()`` names the operation and source line that produced the NaN. (As JAX's
  ``jax_debug_nans``: the fast step carries no checks, the checked one is compiled only when
  needed: NaN checks on every operation make a program that is slow to compile.)
* A held-out evaluation each epoch, the loss curve saved as a PNG, and the trained model with its
  optimiser state saved with ``foldax.save``, loaded back with ``foldax.load`` and compared.

Run: ``python examples/train_mlp.py [--quick] [--out DIR]`` (``FOLDAX_EXAMPLE_QUICK=1`` is
``--quick``). Outputs go to ``DIR`` (default ``./out``).

Example:
    >>> model = init_mlp(random.key(0), (4, 8, 1))
    >>> model(jnp.ones((2, 4))).shape
    (2, 1)
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import pathlib
from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

import foldax
from foldax import random

from common import example_options, output_dir, progress, regression_data, save_curves


# -- the model ----------------------------------------------------------------------------------
@foldax.dataclass
class Dense:
    """``x @ w + b``."""

    w: jax.Array
    b: jax.Array


@foldax.dataclass
class MLP:
    """Dense layers with an activation (a ``jax.nn`` name) and dropout between them."""

    layers: tuple[Dense, ...]
    activation: str = foldax.field(kind="static", default="gelu")
    dropout: float = foldax.field(kind="static", default=0.0)

    def __call__(self, x: jax.Array, key: jax.Array | None = None) -> jax.Array:
        """Outputs for inputs ``x`` of shape ``(..., in)``; with a ``key``, dropout is applied
        to the hidden layers (training), without one the model is deterministic (evaluation)."""
        act = getattr(jax.nn, self.activation)
        *hidden, last = self.layers
        keys = random.split(key, len(hidden)) if key is not None else [None] * len(hidden)
        for layer, layer_key in zip(hidden, keys):
            x = act(x @ layer.w + layer.b)
            x = random.dropout(layer_key, self.dropout, x, deterministic=layer_key is None)
        return x @ last.w + last.b


@foldax.jit(static_argnames=("sizes", "activation", "dropout"))  # shapes, a name and a static field
def init_mlp(key: jax.Array, sizes: tuple[int, ...], activation: str = "gelu", dropout: float = 0.0) -> MLP:
    """An MLP with layer widths ``sizes`` (inputs first), He-normal weights and zero biases."""
    keys = random.split(key, len(sizes) - 1)
    layers = tuple(
        Dense(random.normal(k, (n_in, n_out)) * np.sqrt(2.0 / n_in), jnp.zeros(n_out))
        for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:])
    )
    return MLP(layers, activation, dropout)


def mse_loss(model: MLP, x: jax.Array, y: jax.Array, key: jax.Array | None = None) -> jax.Array:
    """Mean squared error of ``model(x, key)`` against ``y``."""
    return jnp.mean((model(x, key) - y) ** 2)


# -- training -----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Config:
    """Sizes and hyper-parameters of one run."""

    hidden: tuple[int, ...] = (64, 64)
    n_train: int = 2048
    n_test: int = 512
    batch_size: int = 64
    epochs: int = 40
    learning_rate: float = 3e-3
    warmup_fraction: float = 0.05
    dropout: float = 0.05
    activation: str = "gelu"
    seed: int = 0

    @property
    def steps_per_epoch(self) -> int:
        return self.n_train // self.batch_size

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch


FULL = Config()
QUICK = Config(hidden=(32, 32), n_train=512, n_test=256, batch_size=32, epochs=10, learning_rate=1e-2)


def make_optimiser(cfg: Config) -> optax.GradientTransformation:
    """Global-norm clipping, then Adam on a warm-up + cosine-decay learning-rate schedule."""
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=cfg.learning_rate,
        warmup_steps=max(1, int(cfg.warmup_fraction * cfg.total_steps)),
        decay_steps=cfg.total_steps,
        end_value=cfg.learning_rate / 100,
    )
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))


def make_train_step(
    optimiser: optax.GradientTransformation, value_and_grad: Callable = foldax.value_and_grad
) -> Callable:
    """The pure step ``(model, opt_state, x, y, key) -> (model, opt_state, loss)``.

    Compile it with ``foldax.jit``; ``value_and_grad=jax.value_and_grad`` gives the same step in
    plain JAX (the tests and benchmarks compare the two).
    """

    def train_step(
        model: MLP, opt_state: Any, x: jax.Array, y: jax.Array, key: jax.Array
    ) -> tuple[MLP, Any, jax.Array]:
        loss, grads = value_and_grad(mse_loss)(model, x, y, key)
        updates, opt_state = optimiser.update(grads, opt_state, model)
        return optax.apply_updates(model, updates), opt_state, loss

    return train_step


def all_finite(tree: Any) -> jax.Array:
    """Whether every number in the floating-point leaves of ``tree`` is finite (one boolean)."""
    floats = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(jnp.result_type(x), jnp.inexact)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in floats] or [jnp.array(True)]))


class GuardedStep:
    """``foldax.jit(step)`` with a NaN guard: ``guarded(*args)`` returns ``step(*args)`` if all
    its outputs are finite. Otherwise it raises: ``FloatingPointError`` naming the arguments if
    they held NaN or inf already; else the ``CheckError`` of the same call run under
    ``foldax.checkify(step, errors=foldax.nan_checks)``, which names the operation and the line
    that produced the first NaN; else (no NaN, an infinity overflowed) ``FloatingPointError``.
    ``jit_kwargs`` (``in_shardings``, ``out_shardings`` for the step's outputs, ...) go to
    ``foldax.jit``.

    Example:
        >>> guarded = GuardedStep(lambda x: jnp.log(x))
        >>> guarded(jnp.ones(2))
        Array([0., 0.], dtype=float32)
    """

    def __init__(self, step: Callable, **jit_kwargs: Any) -> None:
        self.step = step
        checked_kwargs = dict(jit_kwargs)
        if "out_shardings" in jit_kwargs:  # outputs: (step's outputs, finite) / (error, outputs)
            jit_kwargs["out_shardings"] = (jit_kwargs["out_shardings"], None)
            checked_kwargs["out_shardings"] = (None, checked_kwargs["out_shardings"])

        @functools.wraps(step)  # keeps step's parameter names, which variable_args refers to
        def fast(*args: Any) -> tuple:
            out = step(*args)
            return out, all_finite(out)

        self.fast = foldax.jit(fast, **jit_kwargs)
        self.checked = foldax.jit(foldax.checkify(step, errors=foldax.nan_checks), **checked_kwargs)

    def __call__(self, *args: Any) -> Any:
        out, finite = self.fast(*args)
        if not finite:
            names = list(inspect.signature(self.step).parameters)
            bad = [
                f"{name}{path}"
                for name, arg in zip(names, args)
                for path, x in foldax.leaves_with_paths(arg)
                if not all_finite(x)
            ]
            if bad:
                raise FloatingPointError(
                    f"the step's inputs {', '.join(bad)} hold NaN or inf: check the data (or the "
                    f"step that produced them)."
                )
            error, _ = self.checked(*args)
            error.throw()
            raise FloatingPointError(
                "the step's outputs are not finite, but it produced no NaN: an infinity "
                "overflowed. Lower the learning rate or rescale the data."
            )
        return out


evaluate = foldax.jit(mse_loss)  # no key: dropout off


@foldax.jit(static_argnames="batch_size")
def batches(key: jax.Array, x: jax.Array, y: jax.Array, batch_size: int) -> tuple:
    """``x`` and ``y`` shuffled by ``key`` and cut into ``(n_batches, batch_size, ...)`` stacks."""
    n = (x.shape[0] // batch_size) * batch_size
    order = random.permutation(key, x.shape[0])[:n]
    return (x[order].reshape(-1, batch_size, *x.shape[1:]), y[order].reshape(-1, batch_size, *y.shape[1:]))


def _unchanged(*arrays: Any) -> tuple:
    return arrays


def train(
    cfg: Config,
    show_progress: bool = True,
    place_batch: Callable = _unchanged,
    place_state: Callable = _unchanged,
    label: str = "MLP training",
    **jit_kwargs: Any,
) -> dict[str, Any]:
    """Train an MLP on synthetic data; returns the model, optimiser state and loss histories.

    ``place_batch(x, y)`` and ``place_state(model, opt_state)`` put arrays on devices, and
    ``jit_kwargs`` (``in_shardings``, ``out_shardings``) go to ``foldax.jit``: the data-parallel
    example shards every batch over a device mesh and replicates the model with them.
    ``label`` names the progress bar (which counts epochs).
    """
    init_key, data_key, train_key = random.split(random.key(cfg.seed), 3)
    x, y = regression_data(data_key, cfg.n_train + cfg.n_test)
    x_train, y_train = x[: cfg.n_train], y[: cfg.n_train]
    x_test, y_test = place_batch(x[cfg.n_train :], y[cfg.n_train :])
    model = init_mlp(init_key, (x.shape[1], *cfg.hidden, 1), cfg.activation, cfg.dropout)
    optimiser = make_optimiser(cfg)
    model, opt_state = place_state(model, optimiser.init(model))
    step = GuardedStep(make_train_step(optimiser), variable_args=("x", "y"), **jit_kwargs)
    train_losses, test_losses = [], [float(evaluate(model, x_test, y_test))]
    bar = progress(range(cfg.epochs), f"{label} (epochs)") if show_progress else range(cfg.epochs)
    for epoch in bar:
        shuffle_key, dropout_key = random.split(random.fold_in(train_key, epoch))
        xb, yb = batches(shuffle_key, x_train, y_train, cfg.batch_size)
        xb, yb = np.asarray(xb), np.asarray(yb)  # NumPy batches, as a data loader yields them
        for i in range(xb.shape[0]):
            model, opt_state, loss = step(
                model, opt_state, *place_batch(xb[i], yb[i]), random.fold_in(dropout_key, i)
            )
            train_losses.append(float(loss))
        test_losses.append(float(evaluate(model, x_test, y_test)))
        if show_progress:
            bar.set_postfix(
                train=f"{np.mean(train_losses[-xb.shape[0] :]):.4f}",
                test=f"{test_losses[-1]:.4f}",
                refresh=False,
            )
    return {
        "model": model,
        "opt_state": opt_state,
        "optimiser": optimiser,
        "train_losses": train_losses,
        "test_losses": test_losses,
        "baseline": float(jnp.var(y_test)),
        "test_data": (x_test, y_test),
    }


def save_and_reload(path: pathlib.Path, cfg: Config, model: MLP, opt_state: Any) -> tuple:
    """Write ``(model, opt_state)`` with ``foldax.save``, read it back into a freshly built
    model of the same configuration with ``foldax.load``, and check it is identical."""
    foldax.save(path, (model, opt_state))
    like_model = init_mlp(
        random.key(0), (model.layers[0].w.shape[0], *cfg.hidden, 1), cfg.activation, cfg.dropout
    )
    restored = foldax.load(path, (like_model, make_optimiser(cfg).init(like_model)))
    chex.assert_trees_all_equal(restored, (model, opt_state))
    return restored


def main(quick: bool = False, out_dir: str | pathlib.Path = "out") -> dict[str, Any]:
    """Train, evaluate, plot, save and reload; returns the results (the tests read them)."""
    cfg = QUICK if quick else FULL
    out = output_dir(out_dir)
    results = train(cfg)
    epochs = np.arange(1, len(results["train_losses"]) + 1) / cfg.steps_per_epoch  # as the bar
    epoch_ends = np.arange(cfg.epochs + 1)
    results["plot"] = save_curves(
        out / "train_mlp_loss.png",
        {
            "train (each batch, with dropout)": (epochs, results["train_losses"]),
            "held-out (end of each epoch)": (epoch_ends, results["test_losses"]),
            "predicting the mean": (epoch_ends, [results["baseline"]] * len(epoch_ends)),
        },
        title="MLP regression, foldax + optax",
        xlabel="epoch",
        ylabel="mean squared error (target units²)",
    )
    results["checkpoint"] = out / "mlp.ckpt"
    results["restored"] = save_and_reload(results["checkpoint"], cfg, results["model"], results["opt_state"])
    print(
        f"held-out MSE {results['test_losses'][0]:.4f} -> {results['test_losses'][-1]:.4f} "
        f"(predicting the mean: {results['baseline']:.4f}); loss curve: {results['plot']}; "
        f"model + optimiser state saved to and reloaded from {results['checkpoint']}"
    )
    return results


if __name__ == "__main__":
    main(**example_options(description=__doc__.splitlines()[0]))
