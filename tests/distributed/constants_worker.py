"""One process of the constants test (started by test_distributed_training.py): ``foldax.jit``
with NumPy and Python constants that are the same on every process, then with a NumPy constant
that differs; prints what happened for the test to read."""

import pathlib
import sys

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "examples"))
import foldax  # noqa: E402
from foldax.errors import ProcessMismatchError  # noqa: E402

from distributed_training import RunConfig, join  # noqa: E402

process_id, processes, coordinator = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
join(coordinator, RunConfig(processes=processes, devices_per_process=2, join_timeout=60), process_id)
mesh = jax.make_mesh((jax.device_count(),), ("data",))
sharding = NamedSharding(mesh, P("data"))
n = 2 * jax.device_count()
rows = sharding.addressable_devices_indices_map((n,))
local = np.concatenate([np.arange(n, dtype=np.float32)[r] for r in rows.values()])
x = jax.make_array_from_process_local_data(sharding, np.unique(local), (n,))
scale = foldax.jit(lambda x, c, s: jax.numpy.sum(x * c) * s)
same = scale(x, np.float32(3.0), 2.0)  # NumPy and Python constants equal on every process
print(f"same {float(same)!r} reference {float(np.sum(np.arange(n) * 3.0) * 2.0)!r}", flush=True)
try:
    scale(x, np.float32(process_id + 1), 2.0)
    print("differing: no error", flush=True)
except ProcessMismatchError as e:
    print(f"differing: {type(e).__name__}: {e}", flush=True)
jax.distributed.shutdown()
