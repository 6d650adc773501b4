"""Checkpoints: ``save``/``load`` of a whole tree to one file (atomic, checksummed, typed keys).

Modules: ``format`` (the file layout), ``atomic`` (crash-safe replacement), ``leaves`` (what is
written for each leaf), ``dtypes`` (the dtype table), ``single_file`` (``save``/``load``).
"""
from foldax.checkpoint.single_file import load, save

__all__ = ["load", "save"]
