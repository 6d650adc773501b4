"""Every composition of foldax's transformations on arrays laid across 2 processes x 2 devices,
over an Explicit and an Auto mesh, equals JAX's transformations of the same function (see
compositions_worker.py). Every process runs under a timeout on a free port."""

TRANSFORMS = ["grad", "value_and_grad", "vmap(grad)", "hessian", "jvp", "jacfwd", "jacrev"]
CASES = [
    *TRANSFORMS,
    *(f"jit({t})" for t in TRANSFORMS),
    "checkify",
    "checkify-values",
    "checkify(jit)",
    "checkify(jit)-values",
    "jit(keyed)",
]


def test_compositions_across_processes_match_jax(run_workers):
    for text in run_workers("compositions_worker.py", timeout=480):
        found = {}
        for line in text.splitlines():
            if line.startswith("case "):
                _, mesh, case, diff = line.split()[:4]
                found[mesh, case] = float(diff)
        expected = {(mesh, case) for mesh in ("Explicit", "Auto") for case in CASES}
        assert set(found) == expected, (sorted(expected - set(found)), text[-3000:])
        assert all(d <= 1e-5 for d in found.values()), (found, text[-3000:])
