"""Checkpoints: ``save``/``load`` of a tree to one file (atomic, checksummed, typed keys), and
``CheckpointManager`` for numbered, sharded, asynchronous checkpoints of a training run.

Modules: ``format`` (the file layout), ``format_v1`` (reading files of the first format),
``atomic`` (crash-safe replacement), ``leaves`` (what is written for each leaf), ``dtypes`` (the
dtype table), ``structure`` (does a file fit ``like``), ``single_file`` (``save``/``load``),
``manager`` (``CheckpointManager``, on orbax-checkpoint).
"""

from foldax.checkpoint.manager import CheckpointManager
from foldax.checkpoint.single_file import load, save

__all__ = ["CheckpointManager", "load", "save"]
