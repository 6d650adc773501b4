"""Side-by-side timing: every implementation of a case is measured in the same run, and the
table reports medians and ratios against the reference implementation (usually ``jax``).

A benchmark module ``benchmarks/bench_*.py`` defines ``cases(quick: bool) -> list[Case]``.

Example:
    >>> import jax.numpy as jnp
    >>> case = Case("add", "jax", {"jax": lambda: jnp.ones(3) + 1, "foldax": lambda: jnp.ones(3) + 1})
    >>> row = case.measure(repeat=3, number=5)
    >>> sorted(row.medians) == ["foldax", "jax"]
    True
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Any, Callable


def block(x: Any) -> Any:
    """Wait for every array in ``x`` (so a timing includes the computation)."""
    import jax

    return jax.block_until_ready(x)


@dataclasses.dataclass
class Row:
    name: str
    reference: str
    medians: dict[str, float]
    target: str = ""

    def ratio(self, impl: str) -> float:
        return self.medians[impl] / self.medians[self.reference]


@dataclasses.dataclass
class Case:
    """One benchmark: several implementations of the same work, timed side by side.

    ``fns`` map an implementation name to a zero-argument callable. With ``setup`` (a callable
    returning a fresh zero-argument callable per repeat, e.g. re-creating a jit so each repeat
    measures trace + compile), each repeat times one call of a freshly set-up function.
    """

    name: str
    reference: str
    fns: dict[str, Callable[[], Any]]
    target: str = ""
    fresh: bool = False  # if True, each fn is a factory: fn() -> callable timed once per repeat

    def measure(self, repeat: int = 7, number: int = 20) -> Row:
        samples: dict[str, list[float]] = {k: [] for k in self.fns}
        for _ in range(repeat):  # interleave implementations so noise hits all alike
            for impl, fn in self.fns.items():
                if self.fresh:
                    call = fn()
                    t0 = time.perf_counter()
                    block(call())
                    samples[impl].append(time.perf_counter() - t0)
                else:
                    block(fn())  # warm-up / compile outside the timing
                    t0 = time.perf_counter()
                    for _ in range(number):
                        out = fn()
                    block(out)
                    samples[impl].append((time.perf_counter() - t0) / number)
        return Row(
            self.name, self.reference, {k: statistics.median(v) for k, v in samples.items()}, self.target
        )


def format_table(rows: list[Row]) -> str:
    lines = [f"{'case':58s} {'impl':10s} {'median':>12s} {'ratio':>7s}  target"]
    for row in rows:
        for impl, med in row.medians.items():
            unit = f"{med * 1e6:10.1f}us" if med < 1e-2 else f"{med * 1e3:10.2f}ms"
            lines.append(
                f"{row.name:58s} {impl:10s} {unit:>12s} {row.ratio(impl):7.2f}  "
                f"{row.target if impl == 'foldax' else ''}"
            )
    return "\n".join(lines)
