"""Saving and loading models: ``foldax.save(path, tree)`` / ``foldax.load(path, like)``.

The leaves are written with equinox's serialisation (one ``.npy`` record per leaf), preceded by
a header record describing every leaf (path, shape, dtype), so loading into a model of another
structure fails with a message naming the first leaf that differs. Static and value fields of
dataclass models, and everything else that is not a leaf, come from ``like`` (equinox's
convention: build ``like`` the way the saved model was built, then load into it).

Example:
    >>> import foldax, jax.numpy as jnp, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "model.eqx")
    >>> foldax.save(path, {"w": jnp.arange(3.0)})
    >>> foldax.load(path, {"w": jnp.zeros(3)})
    {'w': Array([0., 1., 2.], dtype=float32)}
"""
from __future__ import annotations

import json
import pathlib
from typing import Any

import equinox as eqx
import numpy as np

from foldax.errors import FoldaxValueError
from foldax.pytrees.tree import leaves_with_paths

FORMAT = "foldax-1"


def _describe(tree: Any) -> list[list]:
    return [[path, list(np.shape(x)), str(np.asarray(x).dtype) if not hasattr(x, "dtype")
             else str(x.dtype)] for path, x in leaves_with_paths(tree)]


def save(path: str | pathlib.Path, tree: Any) -> None:
    """Write the leaves of ``tree`` (a model, an optimiser state, any pytree) to the file ``path``.

    The file holds a small header describing every leaf (its path, shape and dtype) followed by
    the leaves in equinox's serialisation format; static fields are not stored (they come from
    the ``like`` tree given to ``load``).

    Arguments:
        path: the file to write (a ``str`` or ``pathlib.Path``); it is overwritten.
        tree: any pytree of arrays and scalars.

    Returns:
        ``None``.

    Raises:
        OSError: the file cannot be written.

    Example:
        >>> import foldax, jax.numpy as jnp, tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.foldax"
        >>> foldax.save(path, {"w": jnp.ones(2), "step": 3})
        >>> foldax.load(path, {"w": jnp.zeros(2), "step": 0})
        {'step': 3, 'w': Array([1., 1.], dtype=float32)}
    """
    header = np.frombuffer(json.dumps({"format": FORMAT, "leaves": _describe(tree)}).encode(),
                           dtype=np.uint8)
    with open(path, "wb") as f:
        np.save(f, header)
        eqx.tree_serialise_leaves(f, tree)


def load(path: str | pathlib.Path, like: Any) -> Any:
    """Read a tree written by ``save`` into the structure of ``like``.

    Arguments:
        path: the file written by ``foldax.save``.
        like: a tree with the same structure, leaf shapes and dtypes as the saved one (for
            example a freshly initialised model); its static fields are kept.

    Returns:
        A tree like ``like`` whose leaves are the saved values.

    Raises:
        FoldaxValueError: the file was not written by ``foldax.save``, or its leaves differ from
            ``like``'s (the message names the first differing leaf, its shape and dtype).
        OSError: the file cannot be read.

    Example:
        >>> import foldax, jax.numpy as jnp, tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "pair.foldax"
        >>> foldax.save(path, (jnp.arange(3.0), jnp.int32(7)))
        >>> foldax.load(path, (jnp.zeros(3), jnp.int32(0)))
        (Array([0., 1., 2.], dtype=float32), Array(7, dtype=int32))
    """
    with open(path, "rb") as f:
        try:
            header = json.loads(np.load(f).tobytes().decode())
        except (ValueError, UnicodeDecodeError) as e:
            raise FoldaxValueError(
                f"load(path={str(path)!r}): the file was not written by foldax.save ({e}). Save "
                f"models with foldax.save(path, model).") from None
        stored, expected = header["leaves"], _describe(like)
        if stored != expected:
            raise FoldaxValueError(_mismatch(str(path), stored, expected))
        return eqx.tree_deserialise_leaves(f, like)


def _mismatch(path: str, stored: list, expected: list) -> str:
    for i, (s, e) in enumerate(zip(stored, expected)):
        if s != e:
            return (f"load(path={path!r}, like=...): leaf {i} differs: the file holds {s[0]} with "
                    f"shape {tuple(s[1])} and dtype {s[2]}, `like` has {e[0]} with shape "
                    f"{tuple(e[1])} and dtype {e[2]}. Build `like` with the same configuration as "
                    f"the saved model.")
    return (f"load(path={path!r}, like=...): the file holds {len(stored)} leaves, `like` has "
            f"{len(expected)}. Build `like` with the same configuration as the saved model.")
