"""One process of a multi-process CheckpointManager run (started by test_checkpoint_manager.py).

Usage: ``python multiprocess_worker.py PROCESS_ID NUM_PROCESSES PORT DIRECTORY``. Each process
has 2 CPU devices, builds its half of a tree sharded over the 4-device mesh, saves it as step 3,
restores it and prints the restored local shards as JSON.
"""

import json
import os
import sys

process_id, processes, port, directory = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4])
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import jax  # noqa: E402

jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(
    f"127.0.0.1:{port}", num_processes=processes, process_id=process_id, initialization_timeout=60
)

import numpy as np  # noqa: E402
from jax.sharding import (  # noqa: E402
    NamedSharding,
    PartitionSpec as P,
)

import foldax  # noqa: E402

GLOBAL_X = np.arange(16.0, dtype=np.float32).reshape(8, 2)
GLOBAL_KEY_DATA = np.asarray(jax.random.key_data(jax.random.split(jax.random.key(0), 8)))


def local_rows(a):
    rows = len(a) // processes
    return a[process_id * rows : (process_id + 1) * rows]


sharding = NamedSharding(jax.make_mesh((2 * processes,), ("data",)), P("data"))
tree = {
    "x": jax.make_array_from_process_local_data(sharding, local_rows(GLOBAL_X)),
    "keys": jax.random.wrap_key_data(
        jax.make_array_from_process_local_data(sharding, local_rows(GLOBAL_KEY_DATA))
    ),
    "step": 3,
    "host": np.ones(3),
}
with foldax.CheckpointManager(directory) as manager:
    manager.save(3, tree)
    manager.wait_until_finished()
    restored = manager.restore(tree)
local = {
    "x": [np.asarray(s.data).tolist() for s in restored["x"].addressable_shards],
    "keys": [np.asarray(jax.random.key_data(s.data)).tolist() for s in restored["keys"].addressable_shards],
    "step": restored["step"],
    "host": restored["host"].tolist(),
    "sharding_kept": restored["x"].sharding == sharding,
}
print("RESULT " + json.dumps(local), flush=True)
