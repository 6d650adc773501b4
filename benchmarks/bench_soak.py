"""Soak: resident memory (RSS) over long runs, foldax.jit against jax.jit (a benchmark, not a test).

Three loops, each run by foldax.jit and by jax.jit in a fresh subprocess, sampling RSS as they go:

* ``train``: the README's MLP trained for 20,000 steps with optax Adam; each step gets a new
  NumPy batch (through ``variable_args`` in foldax, as a data loader yields it) and a new Python
  float learning rate. RSS every 1,000 steps.
* ``shapes``: a function called with 2,000 distinct input shapes. RSS every 100 calls.
* ``floats``: a function called with 2,000 distinct Python floats. RSS every 100 calls.

The growth of a loop is its last RSS minus its first sample (taken after the first call, so
imports and the first compilation are left out); the target is foldax's growth within 1.2x of
jax's. The curves are plotted with matplotlib into ``--out`` (default ``benchmarks/out``), and a
table with both curves is printed, with how often each jit traced the function (``train`` and
``floats`` must trace once: flat memory then comes from reusing one program, not from a cache
throwing programs away).

Run: ``python benchmarks/bench_soak.py [--quick] [--out DIR]`` (``--quick``: a tenth of the
steps). ``benchmarks/run.py`` skips it (``cases`` is empty): it measures memory, not time.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import pathlib
import subprocess
import sys

LOOPS = {"train": (20_000, 1_000), "shapes": (2_000, 100), "floats": (2_000, 100)}
IMPLS = ("jax", "foldax")


def cases(quick: bool) -> list:
    """None: this benchmark measures memory over minutes; run the file itself."""
    return []


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


TRACES = [0]  # how often the jitted function's Python body ran (once per trace) in this process


def _jit(impl: str, fun, **foldax_kwargs):
    """``fun`` under ``impl``'s jit, counting its traces in ``TRACES`` (a loop whose memory
    stays flat because it traced once, not because a cache threw entries away)."""
    import jax

    import foldax

    @functools.wraps(fun)
    def counted(*args, **kwargs):
        TRACES[0] += 1
        return fun(*args, **kwargs)

    return foldax.jit(counted, **foldax_kwargs) if impl == "foldax" else jax.jit(counted)


def _train(impl: str, steps: int, every: int) -> list[int]:
    """The README's MLP, with NumPy batches and a Python float learning rate per step."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    import foldax

    @foldax.dataclass
    class MLP:
        layers: list
        activation: str = foldax.field(kind="static", default="tanh")

        def __call__(self, x):
            for w, b in self.layers[:-1]:
                x = getattr(jnp, self.activation)(x @ w + b)
            w, b = self.layers[-1]
            return x @ w + b

    def loss(model, x, y):
        return jnp.mean((model(x) - y) ** 2)

    k1, k2 = foldax.random.split(foldax.random.key(0))
    model = MLP(
        [
            (foldax.random.normal(k1, (3, 16)) / 2, jnp.zeros(16)),
            (foldax.random.normal(k2, (16, 1)) / 4, jnp.zeros(1)),
        ]
    )
    opt = optax.adam(1.0)  # the step scales the updates by its learning-rate argument
    state = opt.init(model)
    grad = foldax.value_and_grad if impl == "foldax" else jax.value_and_grad

    def step(model, state, x, y, lr):
        value, grads = grad(loss)(model, x, y)
        updates, state = opt.update(grads, state, model)
        updates = jax.tree.map(lambda u: lr * u, updates)
        return optax.apply_updates(model, updates), state, value

    step = _jit(impl, step, variable_args=("x", "y"))
    rng = np.random.default_rng(0)
    samples = []
    for i in range(steps):
        x = rng.normal(size=(8, 3)).astype(np.float32)
        y = x.sum(1, keepdims=True)
        model, state, value = step(model, state, x, y, 1e-2 / (1 + i / 1000))
        if i % every == 0 or i == steps - 1:
            jax.block_until_ready(value)
            samples.append(_rss())
    return samples


def _shapes(impl: str, calls: int, every: int) -> list[int]:
    """One function called with ``calls`` distinct shapes of a jax.Array (traced by both jits).

    The inputs are placed with ``jax.device_put`` rather than made by ``jnp.ones``, which would
    compile one broadcast per shape in both processes and dilute the difference measured.
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    f = _jit(impl, lambda x: jnp.sin(x).sum() * 2)
    samples = []
    for n in range(1, calls + 1):
        out = f(jax.device_put(np.ones(n, np.float32)))
        if (n - 1) % every == 0 or n == calls:
            jax.block_until_ready(out)
            samples.append(_rss())
    return samples


def _floats(impl: str, calls: int, every: int) -> list[int]:
    import jax
    import jax.numpy as jnp

    f = _jit(impl, lambda x, s: jnp.sin(x * s).sum())
    x = jnp.ones(1000)
    samples = []
    for i in range(calls):
        out = f(x, 1.0 + i / calls)
        if i % every == 0 or i == calls - 1:
            jax.block_until_ready(out)
            samples.append(_rss())
    return samples


def _run_one(loop: str, impl: str, quick: bool) -> dict:
    """Run one loop in a fresh interpreter: ``{"rss": RSS samples, "traces": traces}``."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", loop, impl] + (["--quick"] if quick else []),
        check=True,
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _plot(results: dict, path: pathlib.Path, quick: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), squeeze=False)
    for ax, (loop, by_impl) in zip(axes[0], results.items()):
        total, every = _sizes(loop, quick)
        for impl, run in by_impl.items():
            samples = run["rss"]
            steps = [min(i * every, total - 1) for i in range(len(samples))]
            ax.plot(steps, [s / 2**20 for s in samples], marker=".", label=f"{impl}.jit")
        ax.set_title(loop)
        ax.set_xlabel("step" if loop == "train" else "call")
        ax.set_ylabel("RSS (MiB)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def _sizes(loop: str, quick: bool) -> tuple[int, int]:
    total, every = LOOPS[loop]
    return (total // 10, every // 10) if quick else (total, every)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(pathlib.Path(__file__).parent / "out"))
    parser.add_argument("--child", nargs=2, metavar=("LOOP", "IMPL"))
    parser.add_argument("--loops", default=",".join(LOOPS))
    args = parser.parse_args(argv)
    if args.child:
        loop, impl = args.child
        samples = {"train": _train, "shapes": _shapes, "floats": _floats}[loop](
            impl, *_sizes(loop, args.quick)
        )
        print(json.dumps({"rss": samples, "traces": TRACES[0]}))
        return
    results = {}
    for loop in args.loops.split(","):
        results[loop] = {impl: _run_one(loop, impl, args.quick) for impl in IMPLS}
        growth = {impl: (r["rss"][-1] - r["rss"][0]) / 2**20 for impl, r in results[loop].items()}
        ratio = growth["foldax"] / growth["jax"] if growth["jax"] > 0 else float("nan")
        print(
            f"{loop:7s} growth: jax {growth['jax']:+8.1f} MiB, foldax {growth['foldax']:+8.1f} MiB, "
            f"ratio {ratio:.2f} (target <= 1.2)"
        )
        for impl, run in results[loop].items():
            rss = " ".join(f"{s / 2**20:.1f}" for s in run["rss"])
            print(f"  {impl:7s} traces {run['traces']:5d}; RSS MiB: {rss}")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps(results))
    _plot(results, out / "soak.png", args.quick)
    print(f"curves: {out / 'soak.png'}")


if __name__ == "__main__":
    main(sys.argv[1:])
