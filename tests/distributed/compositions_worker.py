"""One process of the compositions test (started by test_distributed_compositions.py): every
composition of foldax's transformations (jit, grad, value_and_grad, vmap, hessian, jvp, jacfwd,
jacrev, checkify, keyed) on
arrays laid across the devices of all processes, over an Explicit and an Auto mesh, against
JAX's own transformations of the same function (for keyed, against the same call on the whole
array on one device: the layout must not change the draws). Prints one line per case for the
test to read: ``case <mesh> <name> <max abs difference>``."""

import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify as jax_checkify
from jax.experimental.multihost_utils import process_allgather
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "examples"))
import foldax  # noqa: E402
from foldax import random  # noqa: E402

from distributed_training import RunConfig, join  # noqa: E402

process_id, processes, coordinator = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
join(coordinator, RunConfig(processes=processes, devices_per_process=2, join_timeout=60), process_id)


def loss(w, x):
    return jnp.sum(jnp.tanh(x @ w) ** 2)


def predict(w, x):
    return jnp.tanh(x @ w)  # one output per row: sharded like x


def along_ones(jvp):
    """``predict``'s value and derivative along (ones, x) at (w, x), by ``jvp``."""
    return lambda w, x: jvp(predict, (w, x), (jnp.ones_like(w), x))


def checked(w, x):
    return jnp.log(x @ w)  # NaN where x @ w < 0


def global_array(values: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """``values`` laid out by ``sharding``; each process supplies only its own rows."""
    return jax.make_array_from_callback(values.shape, sharding, lambda index: values[index])


def gathered(tree):
    return jax.tree_util.tree_map(lambda a: np.asarray(process_allgather(a, tiled=True)), tree)


def difference(ours, theirs) -> float:
    pairs = zip(jax.tree_util.tree_leaves(gathered(ours)), jax.tree_util.tree_leaves(theirs))
    return max(float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))) for a, b in pairs)


n = jax.device_count()
w_values = np.linspace(-1.0, 1.0, 3, dtype=np.float32)
x_values = np.linspace(-2.0, 2.0, 2 * n * 3, dtype=np.float32).reshape(2 * n, 3)
for axis_type in (AxisType.Explicit, AxisType.Auto):
    mesh = jax.make_mesh((n,), ("data",), axis_types=(axis_type,))
    name = axis_type.name
    with jax.set_mesh(mesh):
        w = global_array(w_values, NamedSharding(mesh, P()))
        x = global_array(x_values, NamedSharding(mesh, P("data")))
        transformed = {  # name: (foldax's, JAX's), each called on (w, x)
            "grad": (foldax.grad(loss), jax.grad(loss)),
            "value_and_grad": (foldax.value_and_grad(loss), jax.value_and_grad(loss)),
            "vmap(grad)": (
                foldax.vmap(foldax.grad(loss), in_axes=(None, 0)),
                jax.vmap(jax.grad(loss), in_axes=(None, 0)),
            ),
            "hessian": (foldax.hessian(loss), jax.hessian(loss)),
            "jvp": (along_ones(foldax.jvp), along_ones(jax.jvp)),
            "jacfwd": (foldax.jacfwd(predict), jax.jacfwd(predict)),
            "jacrev": (foldax.jacrev(predict), jax.jacrev(predict)),
        }
        cases = {
            **transformed,
            **{f"jit({k})": (foldax.jit(ours), jax.jit(theirs)) for k, (ours, theirs) in transformed.items()},
        }
        for case, (ours, theirs) in cases.items():
            try:
                print(f"case {name} {case} {difference(ours(w, x), gathered(theirs(w, x)))!r}", flush=True)
            except Exception as e:  # noqa: BLE001 -- reported for the test to show
                print(f"case {name} {case} nan {type(e).__name__}: {str(e)[:300]!r}", flush=True)
        for case, wrap in (("checkify", lambda f: f), ("checkify(jit)", jax.jit)):
            our_err, our_out = foldax.checkify(
                wrap(checked) if wrap is jax.jit else checked, errors=foldax.nan_checks
            )(w, x)
            their_err, their_out = jax_checkify.checkify(wrap(checked), errors=jax_checkify.nan_checks)(w, x)
            same_error = (our_err.get() is None) == (their_err.get() is None)
            out_difference = np.nanmax(np.abs(gathered(our_out) - gathered(their_out)))
            print(f"case {name} {case} {0.0 if same_error else 1.0}", flush=True)
            print(f"case {name} {case}-values {float(out_difference)!r}", flush=True)
        drop = foldax.jit(random.keyed(lambda v: random.dropout(None, 0.5, v)))
        key = random.key(3)
        whole = random.keyed(lambda v: random.dropout(None, 0.5, v))(key, jnp.asarray(x_values))
        print(f"case {name} jit(keyed) {difference(drop(key, x), np.asarray(whole))!r}", flush=True)
jax.distributed.shutdown()
