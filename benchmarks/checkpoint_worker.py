"""One process of the distributed checkpoint benchmark (started by bench_distributed.py).

Usage: ``python checkpoint_worker.py CONFIG_JSON PROCESS_ID COORDINATOR DIRECTORY REPEATS``.
Joins the run like examples/distributed_training.py, builds the example's MLP (sizes from the
config, about 100 MB of float32 parameters) with every weight matrix split over all devices
(``fsdp`` = all of them, so each process holds and writes its own part), then ``REPEATS`` times:
saves it with ``foldax.CheckpointManager`` and waits for the save to be committed, and restores
it onto the same layout. Each time is taken on process 0 between barriers of all processes;
process 0 prints ``RESULT {"save": [...], "restore": [...], "megabytes": ...}``.
"""

import json
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
from distributed_training import RunConfig, fsdp_layout, init_model, join  # noqa: E402

config = json.loads(sys.argv[1])
config["hidden"] = tuple(config["hidden"])
cfg = RunConfig(**config)
process_id, coordinator, directory, repeats = (int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]))
join(coordinator, cfg, process_id)

import jax  # noqa: E402
from jax.experimental import multihost_utils  # noqa: E402
from jax.sharding import AxisType  # noqa: E402

import foldax  # noqa: E402

mesh = jax.make_mesh(
    cfg.mesh_shape(jax.device_count()), ("data", "fsdp"), axis_types=(AxisType.Auto, AxisType.Auto)
)
layout = fsdp_layout(jax.eval_shape(lambda: init_model(cfg)), mesh)
model = jax.block_until_ready(foldax.jit(lambda: init_model(cfg), out_shardings=layout)())
times: dict[str, list[float]] = {"save": [], "restore": []}


def timed(name: str, fn) -> None:
    multihost_utils.sync_global_devices(f"before {name}")
    started = time.perf_counter()
    fn()
    multihost_utils.sync_global_devices(f"after {name}")
    times[name].append(time.perf_counter() - started)


with foldax.CheckpointManager(directory, max_to_keep=1) as manager:
    for step in range(repeats):
        timed("save", lambda step=step: (manager.save(step, model), manager.wait_until_finished()))
        timed("restore", lambda step=step: jax.block_until_ready(manager.restore(model, step=step)))
megabytes = sum(x.nbytes for x in jax.tree.leaves(model)) / 1e6
if jax.process_index() == 0:
    print("RESULT " + json.dumps({**times, "megabytes": megabytes}), flush=True)
if cfg.processes > 1:
    jax.distributed.shutdown()
