"""A training step of the MLP example (examples/train_mlp.py): foldax.jit(foldax.value_and_grad)
vs the same code in plain JAX + optax (jax.jit(jax.value_and_grad)) and vs equinox
(filter_jit(filter_value_and_grad)). Steady-state step time (target 1.00 +- 0.05 of JAX), the
same with the example's NaN guard, and the time to the first step (trace + compile)."""

from __future__ import annotations

import dataclasses
import pathlib
import sys

import equinox as eqx
import jax
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


def _steady_case(cfg: train_mlp.Config, label: str) -> Case:
    optimiser, args = _setup(cfg)
    fns = {}
    for impl, (jit, value_and_grad) in COMPILERS.items():
        step = jit(train_mlp.make_train_step(optimiser, value_and_grad))
        fns[impl] = (lambda s: lambda: s(*args))(step)
    guarded = train_mlp.GuardedStep(train_mlp.make_train_step(optimiser))
    fns["guarded"] = lambda: guarded(*args)  # foldax + the NaN guard
    return Case(f"MLP train step {label}, steady state", "jax", fns, target="1.00 +- 0.05")


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
        _first_step_case(example, "(64x64, batch 64)"),
    ]
    return rows
