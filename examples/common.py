"""What every example shares: the command line (``--quick``, ``--out``), a progress bar, saving
a plot, interleaved timing and the synthetic regression data.

Each example runs as a script, ``python examples/<name>.py [--quick] [--out DIR]``; the quick
configuration (also selected by the environment variable ``FOLDAX_EXAMPLE_QUICK=1``) is the
small, fast one the tests run.

Example:
    >>> from common import example_options
    >>> example_options(["--quick", "--out", "/tmp/foldax-out"])
    {'quick': True, 'out_dir': PosixPath('/tmp/foldax-out')}
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time
from typing import Any, Callable, Iterable, Sequence

import jax
import jax.numpy as jnp
from tqdm.auto import tqdm

import foldax
from foldax import random

QUICK_ENV = "FOLDAX_EXAMPLE_QUICK"


def quick_from_env() -> bool:
    """Whether ``FOLDAX_EXAMPLE_QUICK`` asks for the small configuration."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def example_options(argv: Sequence[str] | None = None, description: str = "") -> dict[str, Any]:
    """``main``'s keyword arguments from the command line: ``quick`` and ``out_dir``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=f"small, fast configuration (as {QUICK_ENV}=1)")
    parser.add_argument("--out", default="out", help="directory for plots and checkpoints")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return {"quick": args.quick or quick_from_env(), "out_dir": pathlib.Path(args.out)}


def output_dir(out_dir: str | pathlib.Path) -> pathlib.Path:
    """``out_dir`` as a path, created if needed."""
    path = pathlib.Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def progress(iterable: Iterable, desc: str, total: int | None = None) -> tqdm:
    """A tqdm progress bar on stderr (``bar.set_postfix(loss=...)`` shows the latest loss)."""
    return tqdm(iterable, desc=desc, total=total, dynamic_ncols=True, mininterval=0.5)


def save_curves(
    path: pathlib.Path,
    curves: dict[str, tuple[Sequence, Sequence]],
    title: str,
    xlabel: str,
    ylabel: str,
    log: bool = True,
    styles: dict[str, dict[str, Any]] | None = None,
) -> pathlib.Path:
    """Plot ``{label: (xs, ys)}`` into one figure and save it as ``path`` (PNG).

    ``xlabel`` and ``ylabel`` name the axes with their units. The legend sits below the axes, so
    it never covers a curve; ``styles`` gives matplotlib keyword arguments per label (curves
    drawn later are drawn on top: give a curve that coincides with an earlier one a dashed line).
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for label, (xs, ys) in curves.items():
        ax.plot(xs, ys, label=label, **(styles or {}).get(label, {}))
    if log:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    place_legend_below(ax)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend, imported on first use: a script that
    draws nothing (a worker of ``distributed_training``, started again after each failure) does
    not pay for importing it."""
    import matplotlib

    matplotlib.use("Agg")  # plots go to files: no display needed
    import matplotlib.pyplot as plt

    return plt


def place_legend_below(ax: Any) -> None:
    """The legend of ``ax`` under its x-axis label, in up to 3 columns, so it covers no curve."""
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=min(3, len(handles)), frameon=False)


def interleaved_seconds(
    fns: dict[str, Callable[[], Any]], repeats: int, number: int
) -> dict[str, list[float]]:
    """Per-call times of each of ``fns`` over ``repeats`` rounds (``number`` calls per function
    per round, waiting for every result, after one warm-up call each). The functions take turns
    within a round, in an order that alternates from round to round, so a change of machine
    load during the measurement affects them alike: compare them round by round."""
    for fn in fns.values():
        jax.block_until_ready(fn())
    times: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(repeats):
        for name in list(fns) if round_ % 2 == 0 else list(fns)[::-1]:
            start = time.perf_counter()
            for _ in range(number):
                out = fns[name]()
            jax.block_until_ready(out)
            times[name].append((time.perf_counter() - start) / number)
    return times


def target_function(x: jax.Array) -> jax.Array:
    """The function the regression examples learn: smooth, non-linear, of the first 3 inputs."""
    return jnp.sin(jnp.pi * x[..., :1]) * jnp.cos(jnp.pi * x[..., 1:2]) + 0.5 * x[..., 2:3] ** 2


@foldax.jit(static_argnames=("n", "dim"))  # shapes: static, as jax.jit needs them too
def regression_data(key: jax.Array, n: int, dim: int = 4, noise: float = 0.05) -> tuple[jax.Array, jax.Array]:
    """``n`` inputs uniform in ``[-1, 1]^dim`` and noisy targets ``target_function(x)`` (n, 1)."""
    x_key, noise_key = random.split(key)
    x = random.uniform(x_key, (n, dim), minval=-1.0, maxval=1.0)
    return x, target_function(x) + noise * random.normal(noise_key, (n, 1))
