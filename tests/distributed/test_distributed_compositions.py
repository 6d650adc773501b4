"""Every composition of foldax's transformations on arrays laid across 2 processes x 2 devices,
over an Explicit and an Auto mesh, equals JAX's transformations of the same function (see
compositions_worker.py). Every process runs under a timeout on a free port."""
import importlib
import pathlib
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))
distributed = importlib.import_module("distributed_training")

CASES = ["jit(grad)", "jit(value_and_grad)", "grad", "jit(vmap(grad))", "vmap(grad)", "checkify",
         "checkify-values", "checkify(jit)", "checkify(jit)-values", "jit(keyed)"]


def test_compositions_across_processes_match_jax(tmp_path):
    coordinator = f"127.0.0.1:{distributed.free_port()}"
    script = pathlib.Path(__file__).with_name("compositions_worker.py")
    logs = [tmp_path / f"process_{i}.log" for i in range(2)]
    distributed.run_processes([[sys.executable, str(script), str(i), "2", coordinator]
                               for i in range(2)], logs, 2, timeout=240)
    for log in logs:
        found = {}
        for line in log.read_text().splitlines():
            if line.startswith("case "):
                _, mesh, case, diff = line.split()
                found[mesh, case] = float(diff)
        expected = {(mesh, case) for mesh in ("Explicit", "Auto") for case in CASES}
        assert set(found) == expected, (sorted(expected - set(found)), log.read_text()[-3000:])
        assert all(d <= 1e-5 for d in found.values()), found
