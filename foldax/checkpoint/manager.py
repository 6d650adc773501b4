"""Checkpoints of a training run in a directory, one per step, through orbax-checkpoint.

``foldax.CheckpointManager`` keeps ``max_to_keep`` steps, saves every ``save_interval_steps``,
writes in the background (the training step goes on meanwhile) and, in a multi-process run,
each process writes and reads only its own shards. A step becomes visible only once orbax has
committed it (its directory is renamed into place when complete), so a step whose save was
interrupted is never restored. Trees are stored as the flat list of their leaves (typed PRNG
keys as their ``key_data``) next to a small JSON description of each leaf (path, shape, dtype,
key implementation); restoring compares it with ``like`` and rebuilds ``like``'s structure, so
static and value fields of dataclass models come from ``like``.

Example:
    >>> import foldax, jax, jax.numpy as jnp, tempfile
    >>> with foldax.CheckpointManager(tempfile.mkdtemp(), max_to_keep=2) as manager:
    ...     for step in range(3):
    ...         _ = manager.save(step, {"w": jnp.full(2, step), "key": jax.random.key(step)})
    ...     manager.wait_until_finished()
    ...     print(manager.all_steps(), manager.restore({"w": jnp.zeros(2, int),
    ...                                                 "key": jax.random.key(0)})["w"])
    [1, 2] [2 2]
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Any

import jax
import numpy as np

from foldax._compat import Tracer
from foldax.checkpoint.format import FORMAT, VERSION, damaged, records_from_json
from foldax.checkpoint.leaves import Record, decode, describe, stored_value
from foldax.checkpoint.orbax_dtypes import from_storage, storage_dtype, to_storage
from foldax.checkpoint.structure import check_structure
from foldax.errors import CheckpointNotFoundError, FoldaxValueError
from foldax.pytrees.tree import flatten, leaves_with_paths, unflatten


class CheckpointManager:
    """Numbered checkpoints of a tree in ``directory``, saved and restored with orbax.

    Arguments:
        directory: where the steps are kept (created if missing).
        max_to_keep: how many of the latest steps to keep; ``None`` keeps all.
        save_interval_steps: ``save`` writes only steps that are a multiple of this, and the
            first step it is given (orbax's policy, so a run always has a checkpoint).
        async_save: write in a background thread (``wait_until_finished`` waits for it).

    Example:
        >>> import foldax, numpy as np, tempfile
        >>> manager = foldax.CheckpointManager(tempfile.mkdtemp(), save_interval_steps=10)
        >>> [manager.save(step, {"w": np.ones(2)}) for step in (5, 7, 10)]
        [True, False, True]
        >>> manager.close()
        >>> manager.all_steps()
        [5, 10]
    """

    def __init__(
        self,
        directory: str | pathlib.Path,
        *,
        max_to_keep: int | None = None,
        save_interval_steps: int = 1,
        async_save: bool = True,
    ) -> None:
        import orbax.checkpoint as ocp  # imported here: it takes a second to import

        if save_interval_steps < 1:
            raise FoldaxValueError(
                f"CheckpointManager(save_interval_steps={save_interval_steps!r}): must be at "
                f"least 1 (1 saves every step)."
            )
        if max_to_keep is not None and max_to_keep < 1:
            raise FoldaxValueError(
                f"CheckpointManager(max_to_keep={max_to_keep!r}): must be at least 1, or None "
                f"to keep every step."
            )
        self.directory = os.path.abspath(os.fspath(directory))
        self._ocp = ocp
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep,
            save_interval_steps=save_interval_steps,
            enable_async_checkpointing=async_save,
            create=True,
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def save(self, step: int, tree: Any, *, force: bool = False) -> bool:
        """Save ``tree`` as ``step`` if the interval asks for it (or ``force``). Steps at or
        before the latest saved one are not saved.

        Returns:
            Whether a save was started. With ``async_save`` it goes on in the background.

        Raises:
            FoldaxTypeError, FoldaxOverflowError: a leaf cannot be saved (as for
                ``foldax.save``); the message names its path.
            FoldaxValueError: ``step`` is negative or not an int, or (with ``force``) already
                saved.
        """
        if not isinstance(step, (int, np.integer)) or isinstance(step, bool) or step < 0:
            raise FoldaxValueError(f"CheckpointManager.save(step={step!r}): steps are non-negative ints.")
        pairs = leaves_with_paths(tree)
        records = [describe(path, leaf) for path, leaf in pairs]
        values = [to_storage(stored_value(r, leaf), r.data_dtype) for r, (_, leaf) in zip(records, pairs)]
        header = {"format": FORMAT, "version": VERSION, "leaves": [dataclasses.asdict(r) for r in records]}
        args = self._ocp.args
        try:
            return self._manager.save(
                step,
                force=force,
                args=args.Composite(leaves=args.StandardSave(values), header=args.JsonSave(header)),
            )
        except self._ocp.checkpoint_manager.StepAlreadyExistsError:
            raise FoldaxValueError(
                f"CheckpointManager.save(step={step!r}, force=True): step {step} is already saved "
                f"in {self.directory!r}. Save a later step."
            ) from None

    def restore(self, like: Any, step: int | None = None) -> Any:
        """The tree saved at ``step`` (the latest finished one by default), in ``like``'s
        structure: static and value fields, leaf kinds and shardings come from ``like``.

        Raises:
            CheckpointNotFoundError: there is no finished step (or not this one).
            CheckpointError: the step holds another structure, shape or dtype than ``like``,
                or its files are damaged. The message names the directory, step and leaf.
        """
        self._manager.wait_until_finished()
        step = self._existing(step)
        source = f"CheckpointManager.restore(step={step}) of {self.directory!r}"
        args = self._ocp.args
        try:
            header = self._manager.restore(step, args=args.Composite(header=args.JsonRestore()))["header"]
        except Exception as e:  # orbax's and tensorstore's errors, chained below
            raise damaged(source, "in the header", f"it cannot be read ({e})") from e
        records = records_from_json(header, source, checksums=False)
        like_leaves = leaves_with_paths(like)
        check_structure(records, like_leaves, source)
        abstract = [_abstract(r, x) for r, (_, x) in zip(records, like_leaves)]
        try:
            values = self._manager.restore(step, args=args.Composite(leaves=args.StandardRestore(abstract)))[
                "leaves"
            ]
        except Exception as e:  # orbax's and tensorstore's errors, chained below
            raise damaged(source, "in the leaves", f"they cannot be read ({e})") from e
        leaves = [
            decode(r, from_storage(v, r.data_dtype), x) for r, v, (_, x) in zip(records, values, like_leaves)
        ]
        return unflatten(flatten(like)[1], leaves)

    def latest_step(self) -> int | None:
        """The latest step whose save has finished, or ``None``."""
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        """Every finished step kept in the directory, in increasing order."""
        return sorted(self._manager.all_steps())

    def wait_until_finished(self) -> None:
        """Block until background saves are written and committed."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Finish background saves and release orbax's resources."""
        self._manager.close()

    def __enter__(self) -> CheckpointManager:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _existing(self, step: int | None) -> int:
        steps = self.all_steps()
        chosen = steps[-1] if step is None and steps else step
        if chosen is None or chosen not in steps:
            asked = "finished step" if step is None else f"step {step}"
            raise CheckpointNotFoundError(
                f"CheckpointManager.restore(step={step!r}): {self.directory!r} holds no "
                f"{asked} (finished steps: {steps}). Pass one of those steps, or save first."
            )
        return chosen


def _abstract(record: Record, like: Any) -> Any:
    """What orbax restores for one leaf: a ShapeDtypeStruct with ``like``'s sharding for
    jax leaves (of the key data for typed keys), a NumPy array for the others."""
    dtype = storage_dtype(record.data_dtype)
    if not isinstance(like, (jax.Array, jax.ShapeDtypeStruct)):
        return np.zeros(record.data_shape, dtype)
    return jax.ShapeDtypeStruct(record.data_shape, dtype, sharding=_data_sharding(record, like))


def _data_sharding(record: Record, like: Any) -> jax.sharding.Sharding:
    """``like``'s sharding (for a typed key, that of its key data); without one, the first
    device, or every device (replicated) when several processes take part."""
    sharding = None if isinstance(like, Tracer) else getattr(like, "sharding", None)
    if sharding is None:
        if jax.process_count() == 1:
            return jax.sharding.SingleDeviceSharding(jax.devices()[0])
        mesh = jax.sharding.Mesh(np.array(jax.devices()), ("devices",))
        return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    if record.key_impl is not None and isinstance(like, jax.Array):
        return jax.random.key_data(like).sharding
    return sharding
