"""A training step of the MLP example (examples/train_mlp.py): foldax.jit(foldax.value_and_grad)
vs the same code in plain JAX + optax (jax.jit(jax.value_and_grad)) and vs equinox
(filter_jit(filter_value_and_grad)). Steady-state step time (target 1.00 +- 0.05 of JAX), the
same with the example's NaN guard (``guarded``; ``jax guarded`` is the same guard around
``jax.jit``: the guard waits for each step's result, so compare the two guarded rows), the same
on NumPy batches (traced through ``variable_args``, as the example trains), and the time to the
first step (trace + compile)."""

from __future__ import annotations

import dataclasses
import pathlib
import sys
from typing import Any

import equinox as eqx
import jax
import numpy as np
from harness import Case

import foldax
from foldax import random

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import train_mlp  # noqa: E402
from common import regression_data  # noqa: E402

COMPILERS = {  # implementation -> (jit, value_and_grad)
    "jax": (jax.jit, jax.value_and_grad),
    "foldax": (foldax.jit, foldax.value_and_grad),
    "equinox": (eqx.filter_jit, eqx.filter_value_and_grad),
}


def _setup(cfg: train_mlp.Config) -> tuple:
    model = train_mlp.init_mlp(random.key(0), (4, *cfg.hidden, 1), cfg.activation, cfg.dropout)
    optimiser = train_mlp.make_optimiser(cfg)
    x, y = regression_data(random.key(1), cfg.batch_size)
    return optimiser, (model, optimiser.init(model), x, y, random.key(2))


def _jax_guarded(step: Any) -> Any:
    """``GuardedStep``'s fast path around ``jax.jit``: the step and whether its outputs are
    finite, waited for after each step."""
    fast = jax.jit(lambda *args: (lambda out: (out, train_mlp.all_finite(out)))(step(*args)))

    def guarded(*args: Any) -> Any:
        out, finite = fast(*args)
        if not finite:
            raise FloatingPointError("the step's outputs are not finite")
        return out

    return guarded


def _steady_case(cfg: train_mlp.Config, label: str) -> Case:
    optimiser, args = _setup(cfg)
    fns = {}
    for impl, (jit, value_and_grad) in COMPILERS.items():
        step = jit(train_mlp.make_train_step(optimiser, value_and_grad))
        fns[impl] = (lambda s: lambda: s(*args))(step)
    guarded = train_mlp.GuardedStep(train_mlp.make_train_step(optimiser))
    fns["guarded"] = lambda: guarded(*args)  # foldax + the NaN guard
    jax_guarded = _jax_guarded(train_mlp.make_train_step(optimiser, jax.value_and_grad))
    fns["jax guarded"] = lambda: jax_guarded(*args)
    return Case(f"MLP train step {label}, steady state", "jax", fns, target="1.00 +- 0.05")


def _numpy_batches_case(cfg: train_mlp.Config, label: str) -> Case:
    """The step on NumPy batches, as a data loader yields them: foldax traces them through
    ``variable_args`` (its fast call path), jax.jit converts them."""
    optimiser, (model, state, x, y, key) = _setup(cfg)
    args = (model, state, np.asarray(x), np.asarray(y), key)
    jax_step = jax.jit(train_mlp.make_train_step(optimiser, jax.value_and_grad))
    step = foldax.jit(train_mlp.make_train_step(optimiser), variable_args=("x", "y"))
    guarded = train_mlp.GuardedStep(train_mlp.make_train_step(optimiser), variable_args=("x", "y"))
    jax_guarded = _jax_guarded(train_mlp.make_train_step(optimiser, jax.value_and_grad))
    fns = {
        "jax": lambda: jax_step(*args),
        "foldax": lambda: step(*args),
        "guarded": lambda: guarded(*args),
        "jax guarded": lambda: jax_guarded(*args),
    }
    return Case(f"MLP train step {label}, NumPy batches, steady state", "jax", fns, target="<= 1.2x")


def _first_step_case(cfg: train_mlp.Config, label: str) -> Case:
    optimiser, args = _setup(cfg)

    def fresh(jit, value_and_grad):  # a new function each repeat: trace + compile + one step
        return lambda: (lambda s: lambda: s(*args))(jit(train_mlp.make_train_step(optimiser, value_and_grad)))

    return Case(
        f"MLP train step {label}, time to first step",
        "jax",
        {impl: fresh(*c) for impl, c in COMPILERS.items()},
        target="<= 1.3x",
        fresh=True,
    )


def cases(quick: bool) -> list[Case]:
    example = train_mlp.FULL
    wide = dataclasses.replace(example, hidden=(512, 512), batch_size=1024)
    rows = [
        _steady_case(example, "(64x64, batch 64)"),
        _steady_case(wide, "(512x512, batch 1024)"),
        _numpy_batches_case(example, "(64x64, batch 64)"),
        _first_step_case(example, "(64x64, batch 64)"),
    ]
    return rows
