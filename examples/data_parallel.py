"""Data-parallel training on a device mesh: the MLP example's training step, unchanged, with
every batch sharded over 8 devices and the model and optimiser state replicated.

This is how a foldax user outgrows one device: with JAX's own sharding machinery. A
``jax.sharding.Mesh`` names the devices' axis ``"data"``; ``NamedSharding(mesh, P("data"))``
splits an array's first axis over it and ``NamedSharding(mesh, P())`` replicates an array.
``foldax.jit`` passes ``in_shardings``/``out_shardings`` (given per argument and per output, as
for ``jax.jit``) on to ``jax.jit``, mapped onto the leaves it traces; XLA inserts the
all-reduce of the gradients. The shardings are preserved through ``foldax.jit``,
``foldax.value_and_grad`` and ``foldax.vmap``: the trained model is still replicated, a
per-example computation on the sharded test set is still sharded. The loss trajectory equals
the single-device run's to float tolerance (only the order of the sums differs).

On a CPU-only machine the 8 devices are simulated:
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` must be set before jax is imported; this
script sets it itself when run by hand.

Run: ``python examples/data_parallel.py [--quick] [--out DIR]``.

Example:
    >>> mesh = make_mesh(8)
    >>> mesh.shape
    OrderedDict([('data', 8)])
"""

from __future__ import annotations

import os

N_DEVICES = 8
_FLAG = f"--xla_force_host_platform_device_count={N_DEVICES}"
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FLAG}".strip()

import dataclasses  # noqa: E402
import pathlib  # noqa: E402
from typing import Any  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P  # noqa: E402

import foldax  # noqa: E402

from common import example_options, output_dir, save_curves  # noqa: E402
from train_mlp import FULL, MLP, QUICK, train  # noqa: E402


def make_mesh(n_devices: int = N_DEVICES) -> Mesh:
    """A 1-D mesh of the first ``n_devices`` devices, its axis named ``"data"``."""
    devices = jax.devices()
    if len(devices) < n_devices:
        raise RuntimeError(
            f"data_parallel needs {n_devices} devices, found {len(devices)}. On a CPU set "
            f"XLA_FLAGS={_FLAG} before jax is imported (this script does so when run by hand)."
        )
    return Mesh(np.array(devices[:n_devices]), ("data",))


def squared_errors(model: MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    """One example's squared error (mapped over the batch with ``foldax.vmap``)."""
    return jnp.sum((model(x) - y) ** 2)


per_example_errors = foldax.jit(foldax.vmap(squared_errors, in_axes=(None, 0, 0)))


def train_sharded(cfg: Any, mesh: Mesh, show_progress: bool = True) -> dict[str, Any]:
    """``train_mlp.train`` with batches sharded over ``mesh`` and the state replicated."""
    batch, replicated = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
    if cfg.batch_size % mesh.size or cfg.n_test % mesh.size:
        raise ValueError(
            f"the batch size ({cfg.batch_size}) and the test set ({cfg.n_test}) must "
            f"divide evenly over the {mesh.size} devices."
        )
    return train(
        cfg,
        show_progress,
        label=f"{mesh.size} devices",
        place_batch=lambda x, y: (jax.device_put(x, batch), jax.device_put(y, batch)),
        place_state=lambda *state: jax.device_put(state, replicated),
        # per argument (model, opt_state, x, y, key) and for every output:
        in_shardings=(replicated, replicated, batch, batch, replicated),
        out_shardings=replicated,
    )


def is_replicated(tree: Any, mesh: Mesh) -> bool:
    """Whether every array leaf of ``tree`` is replicated over ``mesh``."""
    replicated = NamedSharding(mesh, P())
    return all(x.sharding.is_equivalent_to(replicated, x.ndim) for x in jax.tree.leaves(tree))


def main(quick: bool = False, out_dir: str | pathlib.Path = "out") -> dict[str, Any]:
    """Train on one device and on the mesh; compare the loss trajectories and the shardings."""
    cfg = dataclasses.replace(QUICK, epochs=2) if quick else FULL
    mesh = make_mesh()
    single = train(cfg, label="1 device")
    sharded = train_sharded(cfg, mesh)
    losses, reference = np.array(sharded["train_losses"]), np.array(single["train_losses"])
    difference = float(np.max(np.abs(losses - reference) / np.abs(reference)))
    x_test, y_test = sharded["test_data"]
    errors = per_example_errors(sharded["model"], x_test, y_test)
    shardings = {
        "model": "replicated" if is_replicated(sharded["model"], mesh) else "NOT replicated",
        "optimiser state": "replicated" if is_replicated(sharded["opt_state"], mesh) else "NOT replicated",
        "per-example test errors": str(errors.sharding.spec),
    }
    steps = np.arange(1, len(losses) + 1)
    sharded_label = f"{mesh.size} devices, batch sharded (dashed: drawn over the 1-device curve)"
    plot = save_curves(
        output_dir(out_dir) / "data_parallel_loss.png",
        {"1 device": (steps, reference), sharded_label: (steps, losses)},
        title=f"The same training step on 1 and on {mesh.size} devices\n"
        f"(largest relative difference {difference:.1e})",
        xlabel="training step",
        ylabel="batch mean squared error (target units²)",
        styles={
            "1 device": {"linewidth": 4, "alpha": 0.45},
            sharded_label: {"linestyle": "--", "linewidth": 1.2, "color": "black"},
        },
    )
    print(
        f"{len(losses)} steps on a mesh of {mesh.size} devices: largest relative difference "
        f"from the single-device losses {difference:.1e}; after training: {shardings}; "
        f"held-out MSE {sharded['test_losses'][-1]:.4f}; loss curves: {plot}"
    )
    return {
        "single": single,
        "sharded": sharded,
        "relative_difference": difference,
        "per_example_errors": errors,
        "shardings": shardings,
        "mesh": mesh,
        "plot": plot,
    }


if __name__ == "__main__":
    main(**example_options(description=__doc__.splitlines()[0]))
