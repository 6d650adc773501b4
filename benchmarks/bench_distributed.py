"""Multi-process overhead, 1 process x 8 devices (the reference) vs 2 processes x 4 devices
(gloo collectives between local processes):

* a training step of examples/distributed_training.py on the same global batch and the same
  (data=4, fsdp=2) mesh: the median over the steps after the first (compiling) one, measured
  inside process 0 of each run;
* saving (until committed) and restoring a checkpoint of the example's MLP at about 100 MB of
  parameters, every weight split over all 8 devices, with ``foldax.CheckpointManager``
  (``checkpoint_worker.py``: each process writes and reads its own part).

Each repeat is a fresh run. On a 2-core machine the absolute times mean little: the ratio is the
overhead of crossing processes."""

from __future__ import annotations

import dataclasses
import json
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
        return Row(
            self.name, self.reference, {k: statistics.median(v) for k, v in samples.items()}, self.target
        )


def _run(processes: int, devices_per_process: int, steps: int, **sizes: Any) -> float:
    cfg = distributed_training.RunConfig(
        processes=processes, devices_per_process=devices_per_process, steps=steps, **sizes
    )
    with tempfile.TemporaryDirectory() as out:
        return distributed_training.launch(cfg, pathlib.Path(out), show_progress=False)["step_seconds"]


CHECKPOINTED = {"dim": 8, "hidden": (4096, 4096, 2048), "fsdp": 8, "batch_size": 8}  # 100.7 MB
_unused_restores: dict[str, list[float]] = {}  # restore times of runs a save case made


def _checkpoint_run(processes: int, devices_per_process: int, repeats: int) -> dict:
    """One run of checkpoint_worker.py: process 0's save and restore times (seconds)."""
    cfg = distributed_training.RunConfig(
        processes=processes, devices_per_process=devices_per_process, **CHECKPOINTED
    )
    config = json.dumps(dict(dataclasses.asdict(cfg), hidden=list(cfg.hidden)))
    worker = pathlib.Path(__file__).with_name("checkpoint_worker.py")
    coordinator = f"127.0.0.1:{distributed_training.free_port()}"
    with tempfile.TemporaryDirectory() as out:
        logs = [pathlib.Path(out) / f"process_{i}.log" for i in range(processes)]
        distributed_training.run_processes(
            [
                [sys.executable, str(worker), config, str(i), coordinator, f"{out}/checkpoints", str(repeats)]
                for i in range(processes)
            ],
            logs,
            devices_per_process,
            cfg.timeout,
        )
        line = next(x for x in logs[0].read_text().splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def _checkpoint_seconds(what: str, processes: int, devices_per_process: int, repeats: int) -> float:
    """Median save (or restore) time of a run; a restore case first uses the restore times of
    the runs the save case made."""
    key = f"{processes}x{devices_per_process}"
    if what == "restore" and _unused_restores.get(key):
        return _unused_restores[key].pop(0)
    times = _checkpoint_run(processes, devices_per_process, repeats)
    if what == "save":
        _unused_restores.setdefault(key, []).append(statistics.median(times["restore"]))
    return statistics.median(times[what])


def cases(quick: bool) -> list[Case]:
    steps = 8 if quick else 40
    sizes = {"batch_size": 256, "hidden": (256, 256), "n_examples": 4096}
    repeats = 2 if quick else 3
    checkpoints = [
        ReportedCase(
            f"CheckpointManager {what} of a 100 MB MLP, split over 8 devices",
            "1x8",
            {
                "1x8": lambda what=what: _checkpoint_seconds(what, 1, 8, repeats),
                "2x4": lambda what=what: _checkpoint_seconds(what, 2, 4, repeats),
            },
            target="overhead",
        )
        for what in ("save", "restore")
    ]
    return [
        ReportedCase(
            f"distributed MLP step, global batch {sizes['batch_size']}, mesh (data=4, fsdp=2)",
            "1x8",
            {"1x8": lambda: _run(1, 8, steps, **sizes), "2x4": lambda: _run(2, 4, steps, **sizes)},
            target="overhead",
        ),
        *checkpoints,
    ]
