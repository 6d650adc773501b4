"""Constants that must agree across the processes of a multi-process run (``jax.distributed``).

``foldax.jit`` folds NumPy arrays and Python numbers passed as static constants into the
compiled program. In a multi-process run every process compiles its own copy of the program
and the copies must be the same: a constant that differs between processes would make each
process compute something else over the same global arrays, silently. So when
``jax.process_count() > 1``, each newly traced call compares a digest of its constants
across processes (one small all-gather per new trace, none per cached call) and raises
``ProcessMismatchError`` naming the argument leaves that differ.

Example:
    >>> import numpy as np
    >>> from foldax.pytrees.leaves import ByValue
    >>> import jax
    >>> tree = jax.tree_util.tree_structure(((np.ones(3),), {}))
    >>> check_same_on_every_process(tree, [(0, ByValue(np.ones(3)))], [], "f")  # 1 process: no-op
"""

from __future__ import annotations

import hashlib
import pickle
from typing import Any, Sequence

import jax
import numpy as np

from foldax._compat import is_tracer
from foldax.errors import ProcessMismatchError
from foldax.pytrees.leaves import ByValue, _short
from foldax.transforms.core.trace import variable_paths


def _digest(value: ByValue) -> np.ndarray:
    """32 bytes identifying ``value`` by content (from the key ``foldax.jit`` caches it under)."""
    return np.frombuffer(hashlib.sha256(pickle.dumps(value.key, protocol=4)).digest(), np.uint8)


def _gather(local: np.ndarray) -> np.ndarray:
    """``local`` of every process stacked along a new leading axis."""
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(local, tiled=False))


def check_same_on_every_process(
    tree: Any, constants: Sequence[tuple[int, ByValue]], variables: Sequence, where: str
) -> None:
    """Raise unless every process passes equal ``constants`` (no-op on one process, and inside
    an outer trace, whose own call was checked).

    Arguments:
        tree: the tree structure of the call's ``(args, kwargs)`` leaves.
        constants: ``(argument leaf index, ByValue(value))`` of the constants of one call.
        variables: the call's traced arguments.
        where: the function's name, for the message.

    Raises:
        ProcessMismatchError: a constant (or the number of constants) differs between
            processes; the message names the leaves and the processes.
    """
    if jax.process_count() == 1 or any(map(is_tracer, variables)):
        return
    digests = np.stack([_digest(v) for _, v in constants]) if constants else np.zeros((0, 32), np.uint8)
    summary = np.concatenate(
        [
            np.array([len(constants)], np.uint8),
            np.frombuffer(hashlib.sha256(digests.tobytes()).digest(), np.uint8),
        ]
    )
    every = _gather(summary)
    if (every == every[0]).all():
        return
    if not (every[:, 0] == every[0, 0]).all():
        raise ProcessMismatchError(
            f"{where}: the processes pass different numbers of NumPy/Python constants "
            f"({', '.join(f'process {p}: {int(n)}' for p, n in enumerate(every[:, 0]))}). Every "
            f"process must call it with arguments of the same structure."
        )
    per_leaf = _gather(digests)
    differing = [i for i, (leaf, _) in enumerate(constants) if not (per_leaf[:, i] == per_leaf[0, i]).all()]
    paths = variable_paths(tree, [True] * tree.num_leaves)
    leaves = ", ".join(paths[constants[i][0]] for i in differing)
    raise ProcessMismatchError(
        f"{where}: the constant {leaves} differs between processes (process "
        f"{jax.process_index()} has {_short(constants[differing[0]][1].value)}). NumPy arrays and "
        f"Python numbers are folded into the compiled program, which must be the same on every "
        f"process: pass the same value everywhere, or pass per-process data as a global "
        f"jax.Array (jax.make_array_from_process_local_data)."
    )
