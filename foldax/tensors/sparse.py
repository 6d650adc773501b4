"""`SparseMatrix`: the matrix of a linear function of named-dimension tensors.

Rows are named after the output's dims, columns after the input's dims as dual dims (``~x``), as
in ΦML. The native matrix is a SciPy sparse matrix when the function involved only constants,
a ``jax.experimental.sparse.BCOO`` when it involved variables.

Example:
    >>> import numpy as np, scipy.sparse
    >>> from foldax.tensors import spatial
    >>> m = SparseMatrix(scipy.sparse.eye(2, 3, format="csr"), spatial(x=2), spatial(x=3))
    >>> print(m)
    x=0 1. 0. 0. along ~x
    x=1 0. 1. 0. along ~x
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from foldax.errors import FoldaxValueError
from foldax.tensors.shape import Shape, dual
from foldax.tensors.tensor import Tensor


class SparseMatrix:
    """A sparse matrix whose rows and columns carry named dims (columns are dual dims)."""

    def __init__(self, native: Any, rows: Shape, cols: Shape):
        self._native, self.rows, self.cols = native, rows, cols
        self.col_shape = dual(**dict(zip(cols.names, cols.sizes)))

    @property
    def shape(self) -> Shape:
        """The row dims followed by the dual column dims."""
        return self.rows & self.col_shape

    @property
    def default_backend(self) -> str:
        return "numpy" if type(self._native).__module__.startswith("scipy") else "jax"

    def native(self) -> Any:
        """The SciPy sparse matrix or BCOO (rows and columns flattened in dim order)."""
        return self._native

    def dense(self) -> np.ndarray:
        m = self._native
        return np.asarray(m.toarray() if hasattr(m, "toarray") else m.todense())

    def __matmul__(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.shape.names != self.cols.names:
            raise FoldaxValueError(
                f"SparseMatrix @ x: x must be a Tensor with dims {self.cols.names} (the matrix's "
                f"columns), found {getattr(x, 'shape', type(x).__name__)}."
            )
        flat = self._native @ x.native().reshape(-1)
        return Tensor(flat.reshape(self.rows.sizes), self.rows)

    def __str__(self) -> str:
        dense = self.dense()
        col_dims = ",".join("~" + n for n in self.cols.names)
        lines = []
        for i, index in enumerate(itertools.product(*map(range, self.rows.known_sizes("str(SparseMatrix)")))):
            label = ",".join(f"{n}={k}" for n, k in zip(self.rows.names, index))
            row = np.array2string(dense[i], separator=" ")[1:-1].strip()
            lines.append(f"{label} {row} along {col_dims}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"SparseMatrix({self.shape!r}, backend={self.default_backend})"
