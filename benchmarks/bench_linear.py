"""matrix_from_function: the 2-D five-point Laplacian's matrix, foldax's sparse-coefficient
interpreter vs ΦML's matrix_from_function (reference) and vs the dense Jacobian where it fits."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from harness import Case

from foldax.transforms.linear import matrix_from_function


def laplace(u):
    p = jnp.pad(u, 1)
    return p[2:, 1:-1] + p[:-2, 1:-1] + p[1:-1, 2:] + p[1:-1, :-2] - 4 * u


def _case(n: int, dense: bool) -> Case:
    grid = np.zeros((n, n), np.float32)
    # fresh=True: each repeat times one call (the factory returns the call to time).
    fns = {"foldax": lambda: lambda: matrix_from_function(laplace, grid)[0].nnz}
    if dense:
        fns["jax.jacfwd (dense)"] = lambda: lambda: jax.jacfwd(laplace)(jnp.asarray(grid))
    try:
        from phiml import math

        def phiml_laplace(u):
            return math.laplace(u, padding=0)

        u = math.zeros(math.spatial(x=n, y=n))
        math.matrix_from_function(phiml_laplace, u)
        fns["phiml"] = lambda: lambda: (math.matrix_from_function(phiml_laplace, u), None)[1]
    except Exception:  # noqa: BLE001 - ΦML is optional
        pass
    reference = "phiml" if "phiml" in fns else "foldax"
    return Case(
        f"matrix_from_function, 5-point Laplacian {n}x{n}",
        reference,
        fns,
        target="a few seconds at 1000x1000",
        fresh=True,
    )


def cases(quick: bool) -> list[Case]:
    out = [_case(64, dense=True)]
    out.append(_case(256 if quick else 1000, dense=False))
    return out
