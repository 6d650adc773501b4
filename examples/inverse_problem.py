"""Recover the initial state of a diffusion simulation from a NumPy observation, by gradient
descent through the simulation, and see the simulation of the observation folded away.

A 1-D periodic field ``u0`` diffuses for ``diffusion_steps`` explicit steps; we observe the result
with sensor noise, as a NumPy array. To recover ``u0`` we minimise the misfit between the
simulated and the observed field, both smoothed by a further ``smoothing_steps`` of the same
simulation (a low-pass filter, so the fit does not chase the sensor noise), plus a small
smoothness penalty (diffusion erases fine detail, so without it the recovered state rings)::

    objective(u0, observation) = mean((diffuse(diffuse(u0, T), S) - diffuse(observation, S)) ** 2)
                                 + smoothness * mean((u0[i+1] - u0[i]) ** 2)

starting from the observation itself as the first guess.

Under ``foldax.jit`` the observation is a NumPy array, so a constant: ``diffuse(observation, S)``
runs once, at trace time, and the compiled step only simulates ``u0`` (forward and backward).
Under ``jax.jit`` the same code simulates the observation again in every step. The script prints
how many diffusion steps each compiled step runs and their times per call, measured in
interleaved rounds; it calls the ratio a speed-up only when the middle half of the rounds agree
that it is one (at the quick size, a step takes about as long as ``foldax.jit``'s per-call work
in Python, and the folding does not show). Then it plots the recovered state.

Run: ``python examples/inverse_problem.py [--quick] [--out DIR]``.

Example:
    >>> diffuse(jnp.array([0.0, 1.0, 0.0]), 1)
    Array([0.2, 0.6, 0.2], dtype=float32)
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

import foldax

from common import (
    example_options,
    interleaved_seconds,
    output_dir,
    place_legend_below,
    progress,
    pyplot,
    save_curves,
)

RATE = 0.2  # diffusivity * dt / dx^2; explicit Euler is stable below 0.5


def diffuse(u: Any, steps: int) -> jax.Array:
    """``steps`` explicit diffusion steps of the periodic field ``u`` (NumPy or JAX)."""

    def step(_: Any, u: jax.Array) -> jax.Array:
        return u + RATE * (jnp.roll(u, 1) + jnp.roll(u, -1) - 2 * u)

    return jax.lax.fori_loop(0, steps, step, jnp.asarray(u))


@dataclasses.dataclass(frozen=True)
class Config:
    n: int = 512
    diffusion_steps: int = 200
    smoothing_steps: int = 400
    sensor_noise: float = 0.01
    smoothness: float = 1e-2
    iterations: int = 500
    learning_rate: float = 0.05
    seed: int = 0


FULL = Config()
QUICK = Config(n=128, diffusion_steps=60, smoothing_steps=60, iterations=150)


def true_initial_state(n: int) -> np.ndarray:
    """Two bumps of different height and width on ``[0, 1)``."""
    s = np.linspace(0.0, 1.0, n, endpoint=False)
    return (np.exp(-(((s - 0.3) / 0.05) ** 2)) + 0.5 * np.exp(-(((s - 0.7) / 0.08) ** 2))).astype(np.float32)


def observe(u0: np.ndarray, cfg: Config) -> np.ndarray:
    """The diffused field with Gaussian sensor noise, as a NumPy array."""
    rng = np.random.default_rng(cfg.seed)
    clean = np.asarray(diffuse(u0, cfg.diffusion_steps))
    return (clean + cfg.sensor_noise * rng.normal(size=clean.shape)).astype(np.float32)


def make_step(
    cfg: Config, optimiser: optax.GradientTransformation, value_and_grad: Callable = foldax.value_and_grad
) -> Callable:
    """One descent step ``(u0, opt_state, observation) -> (u0, opt_state, objective)``."""

    def objective(u0: jax.Array, observation: Any) -> jax.Array:
        predicted = diffuse(diffuse(u0, cfg.diffusion_steps), cfg.smoothing_steps)
        misfit = jnp.mean((predicted - diffuse(observation, cfg.smoothing_steps)) ** 2)
        return misfit + cfg.smoothness * jnp.mean((jnp.roll(u0, -1) - u0) ** 2)

    def step(u0: jax.Array, opt_state: Any, observation: Any) -> tuple:
        loss, grad = value_and_grad(objective)(u0, observation)
        updates, opt_state = optimiser.update(grad, opt_state, u0)
        return optax.apply_updates(u0, updates), opt_state, loss

    return step


def diffusion_steps(jaxpr: Any) -> int:
    """How many diffusion steps a compiled descent step runs: the lengths of its loops."""
    return sum(eqn.params["length"] for eqn in jaxpr.eqns if eqn.primitive.name == "scan")


def compare_steps(
    cfg: Config, optimiser: optax.GradientTransformation, observation: np.ndarray, repeats: int, number: int
) -> dict[str, Any]:
    """The same descent step under ``foldax.jit`` and ``jax.jit``: the diffusion steps each
    compiled program runs, and their per-call times measured in interleaved rounds.

    Returns ``{"diffusion_steps": {name: count}, "seconds": {name: per-round times},
    "ratios": per-round jax.jit / foldax.jit time}``.
    """
    u0 = jnp.zeros(cfg.n)
    state = optimiser.init(u0)
    folded = foldax.jit(make_step(cfg, optimiser))
    plain_step = make_step(cfg, optimiser, jax.value_and_grad)
    plain = jax.jit(plain_step)
    counts = {
        "foldax.jit": diffusion_steps(folded.trace(u0, state, observation).jaxpr.jaxpr),
        "jax.jit": diffusion_steps(jax.make_jaxpr(plain_step)(u0, state, observation).jaxpr),
    }
    seconds = interleaved_seconds(
        {
            "foldax.jit": lambda: folded(u0, state, observation),
            "jax.jit": lambda: plain(u0, state, observation),
        },
        repeats,
        number,
    )
    ratios = [p / f for f, p in zip(seconds["foldax.jit"], seconds["jax.jit"])]
    return {"diffusion_steps": counts, "seconds": seconds, "ratios": ratios}


def describe_timing(timing: dict[str, Any]) -> str:
    """The timing comparison in words: a speed-up only where the rounds agree on one."""
    steps, seconds = timing["diffusion_steps"], timing["seconds"]
    low, mid, high = np.percentile(timing["ratios"], [25, 50, 75])
    ms = {name: 1e3 * float(np.median(times)) for name, times in seconds.items()}
    text = (
        f"one descent step simulates {steps['foldax.jit']} diffusion steps under foldax.jit, "
        f"{steps['jax.jit']} under jax.jit (the observation's simulation is folded at trace "
        f"time); median time per call over {len(timing['ratios'])} interleaved rounds: "
        f"foldax.jit {ms['foldax.jit']:.3f} ms, jax.jit {ms['jax.jit']:.3f} ms, ratio "
        f"{mid:.2f}x (middle half of the rounds {low:.2f}x-{high:.2f}x): "
    )
    if low > 1:
        return text + "a speed-up"
    if high < 1:
        return text + (
            "slower: at this size foldax.jit's per-call work in Python (flattening "
            "the arguments, finding the compiled program) costs more than the folded "
            "simulation saves"
        )
    return text + "no measurable difference at this size"


def plot_states(
    path: pathlib.Path, truth: np.ndarray, observation: np.ndarray, recovered: np.ndarray
) -> pathlib.Path:
    plt = pyplot()
    s = np.linspace(0.0, 1.0, truth.size, endpoint=False)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(s, truth, label="true initial state")
    ax.plot(s, observation, ".", markersize=3, label="observation (diffused, noisy)")
    ax.plot(s, recovered, label="recovered initial state")
    ax.set(
        xlabel="position x (periodic domain of length 1)",
        ylabel="field u (arbitrary units)",
        title="Inverse diffusion problem: recovered initial state",
    )
    ax.grid(alpha=0.3)
    place_legend_below(ax)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def main(quick: bool = False, out_dir: str | pathlib.Path = "out") -> dict[str, Any]:
    """Recover the initial state, time foldax.jit against jax.jit, plot the result."""
    cfg = QUICK if quick else FULL
    out = output_dir(out_dir)
    truth = true_initial_state(cfg.n)
    observation = observe(truth, cfg)
    optimiser = optax.adam(cfg.learning_rate)
    step = foldax.jit(make_step(cfg, optimiser))
    u0 = jnp.asarray(observation)  # the first guess
    state, losses = optimiser.init(u0), []
    bar = progress(range(cfg.iterations), "inverse problem")
    for _ in bar:
        u0, state, loss = step(u0, state, observation)
        losses.append(float(loss))
        bar.set_postfix(objective=f"{losses[-1]:.2e}", refresh=False)
    error = float(np.linalg.norm(np.asarray(u0) - truth) / np.linalg.norm(truth))
    timing = compare_steps(
        cfg, optimiser, observation, repeats=15 if quick else 31, number=10 if quick else 20
    )
    curve = save_curves(
        out / "inverse_problem_loss.png",
        {"objective": (np.arange(1, cfg.iterations + 1), losses)},
        title="Inverse diffusion problem: descent on the initial state",
        xlabel="descent iteration",
        ylabel="objective (field units²)",
    )
    states = plot_states(out / "inverse_problem_states.png", truth, observation, np.asarray(u0))
    naive = float(np.linalg.norm(observation - truth) / np.linalg.norm(truth))
    print(
        f"objective {losses[0]:.2e} -> {losses[-1]:.2e}; relative error of the recovered "
        f"initial state {error:.1%} (of the observation taken for it: {naive:.1%})"
    )
    print(f"{describe_timing(timing)}; plots: {curve}, {states}")
    return {
        "recovered": np.asarray(u0),
        "truth": truth,
        "observation": observation,
        "losses": losses,
        "relative_error": error,
        "timing": timing,
        "plots": (curve, states),
    }


if __name__ == "__main__":
    main(**example_options(description=__doc__.splitlines()[0]))
