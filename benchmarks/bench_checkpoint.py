"""Checkpoint save and load time of a model of 8 float32 arrays (64 MiB; 16 MiB with --quick):
``foldax.save``/``foldax.load`` (atomic, fsync'ed, CRC-32 checksummed) against ``np.savez`` and
equinox's ``tree_serialise_leaves`` (both write in place, without fsync or checksum), and
``foldax.CheckpointManager`` (orbax; each save waited for). Each repeat times one save or load."""

from __future__ import annotations

import itertools
import os
import tempfile

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from harness import Case

import foldax


def _tree(mebibytes: int) -> dict:
    n = mebibytes * 2**20 // (8 * 4)
    return {f"layer{i}": jnp.arange(n, dtype=jnp.float32) + i for i in range(8)}


def cases(quick: bool) -> list[Case]:
    tree = _tree(16 if quick else 64)
    host = {k: np.asarray(v) for k, v in tree.items()}
    directory = tempfile.mkdtemp(prefix="bench_checkpoint_")
    path = {name: os.path.join(directory, name) for name in ("npz", "eqx", "ckpt")}
    manager = foldax.CheckpointManager(os.path.join(directory, "run"), max_to_keep=1)
    steps = itertools.count()

    def manager_save():
        manager.save(next(steps), tree)
        manager.wait_until_finished()

    def factory(fn):
        return lambda: fn

    saves = {
        "numpy": lambda: np.savez(path["npz"] + ".npz", **host),
        "equinox": lambda: eqx.tree_serialise_leaves(path["eqx"], tree),
        "foldax": lambda: foldax.save(path["ckpt"], tree),
        "manager": manager_save,
    }
    for save in saves.values():
        save()
    loads = {
        "numpy": lambda: dict(np.load(path["npz"] + ".npz")),
        "equinox": lambda: eqx.tree_deserialise_leaves(path["eqx"], tree),
        "foldax": lambda: foldax.load(path["ckpt"], tree),
        "manager": lambda: manager.restore(tree),
    }
    size = "16 MiB" if quick else "64 MiB"
    return [
        Case(
            f"save a {size} model",
            "equinox",
            {k: factory(f) for k, f in saves.items()},
            target="<= 3x (fsync + CRC-32)",
            fresh=True,
        ),
        Case(
            f"load a {size} model",
            "equinox",
            {k: factory(f) for k, f in loads.items()},
            target="<= 2x (CRC-32)",
            fresh=True,
        ),
    ]


if __name__ == "__main__":
    from harness import format_table

    print(format_table([case.measure(repeat=5) for case in cases(quick=False)]))
