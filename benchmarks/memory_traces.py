"""Memory of many distinct traces: RSS growth over 150 ``jit(vmap(grad(loss)))`` functions, each
at a shape not seen before, foldax against jax (issue 13 §1: eager evaluation of constants must
not fill JAX's caches with one compiled executable per primitive and shape).

The loss holds NumPy constants (a label and a scale) and jnp code on them alone, which foldax
computes while tracing and jax.jit stages. Each side
runs in a fresh subprocess: warm up on one shape, then RSS is read before and after the 150
traces (``--mode trace``: ``jit(...).trace``; ``--mode call``: trace, compile and run).

Usage: ``python benchmarks/memory_traces.py [--n 150] [--mode trace|call|both]`` (default trace)
(``--side foldax|jax`` runs one side in this process and prints its growth in MiB).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys


def rss_mib() -> float:
    """Resident set size of this process in MiB (Linux ``/proc``)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _loss_on(jnp, np, width: int):
    label = np.linspace(-1.0, 1.0, width, dtype=np.float32)  # NumPy: constants for foldax
    scale = np.float32(1.0) / np.sqrt(np.float32(width))

    def loss(w, x):
        target = jnp.tanh(2 * label) / jnp.linalg.norm(label)  # from constants alone
        h = jnp.tanh(x @ w * scale)
        return jnp.mean((h - target) ** 2) + 1e-3 * jnp.sum(w**2)

    return loss


def run_side(side: str, mode: str, n: int) -> float:
    """RSS growth (MiB) over ``n`` distinct traces on ``side`` in this process."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    if side == "foldax":
        import foldax as lib
    else:
        lib = jax

    def once(width: int) -> None:
        f = lib.jit(lib.vmap(lib.grad(_loss_on(jnp, np, width)), in_axes=(None, 0)))
        # inputs made by NumPy and put on the device: no eager XLA operation on either side
        w = jnp.asarray(np.full((width, width), 1.0 / width, np.float32))
        x = jnp.asarray(np.ones((4, width), np.float32))
        if mode == "trace":
            f.trace(w, x)
        else:
            jax.block_until_ready(f(w, x))

    for width in (2, 3):  # warm-up: imports, first compiles, JAX's own caches
        once(width)
    gc.collect()
    before = rss_mib()
    for width in range(4, 4 + n):
        once(width)
    gc.collect()
    return rss_mib() - before


def measure(side: str, mode: str, n: int) -> float:
    """``run_side`` in a fresh subprocess (so neither side inherits the other's caches)."""
    out = subprocess.run(
        [sys.executable, __file__, "--side", side, "--mode", mode, "--n", str(n)],
        check=True,
        capture_output=True,
        text=True,
        env=os.environ,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["mib"]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--mode", choices=["trace", "call", "both"], default="trace")
    parser.add_argument("--side", choices=["foldax", "jax"])
    args = parser.parse_args(argv)
    if args.side:
        print(json.dumps({"mib": run_side(args.side, args.mode, args.n)}))
        return
    modes = ["trace", "call"] if args.mode == "both" else [args.mode]
    print(
        f"{'RSS growth over ' + str(args.n) + ' distinct jit(vmap(grad))':48s} "
        f"{'foldax':>10s} {'jax':>10s} {'ratio':>7s}  target"
    )
    for mode in modes:
        fx, jx = measure("foldax", mode, args.n), measure("jax", mode, args.n)
        print(f"{mode:48s} {fx:7.1f}MiB {jx:7.1f}MiB {fx / max(jx, 1e-9):7.2f}  <= 2x", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
