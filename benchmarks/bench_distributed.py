"""Multi-process overhead: a training step of examples/distributed_training.py on 1 process x 8
devices (the reference) vs 2 processes x 4 devices (gloo collectives between local processes),
on the same global batch and the same (data=4, fsdp=2) mesh. The step time is the median over
the steps after the first (compiling) one, measured inside process 0 of each run; each repeat is
a fresh run. On a 2-core machine the absolute times mean little: the ratio is the overhead of
crossing processes."""
from __future__ import annotations

import dataclasses
import pathlib
import statistics
import sys
import tempfile
from typing import Any

from harness import Case, Row

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import distributed_training  # noqa: E402


@dataclasses.dataclass
class ReportedCase(Case):
    """A case whose implementations report their own time per step (they run in other
    processes): each ``fns[impl]()`` is one run returning seconds per step."""

    def measure(self, repeat: int = 7, number: int = 20) -> Row:
        runs = max(1, repeat // 3)  # each run is a whole launch: a few suffice
        samples: dict[str, list[float]] = {k: [] for k in self.fns}
        for _ in range(runs):  # interleaved, so machine noise hits both alike
            for impl, fn in self.fns.items():
                samples[impl].append(fn())
        return Row(self.name, self.reference, {k: statistics.median(v) for k, v in samples.items()},
                   self.target)


def _run(processes: int, devices_per_process: int, steps: int, **sizes: Any) -> float:
    cfg = distributed_training.RunConfig(processes=processes,
                                         devices_per_process=devices_per_process, steps=steps,
                                         **sizes)
    with tempfile.TemporaryDirectory() as out:
        return distributed_training.launch(cfg, pathlib.Path(out), show_progress=False)[
            "step_seconds"]


def cases(quick: bool) -> list[Case]:
    steps = 8 if quick else 40
    sizes = {"batch_size": 256, "hidden": (256, 256), "n_examples": 4096}
    return [ReportedCase(
        f"distributed MLP step, global batch {sizes['batch_size']}, mesh (data=4, fsdp=2)",
        "1x8", {"1x8": lambda: _run(1, 8, steps, **sizes), "2x4": lambda: _run(2, 4, steps, **sizes)},
        target="overhead")]
