"""Does a saved tree fit ``like``? The first leaf that differs in path, shape or dtype.

Example:
    >>> import numpy as np
    >>> from foldax.checkpoint.leaves import describe
    >>> saved = [describe("['w']", np.zeros(3))]
    >>> try:
    ...     check_structure(saved, [("['w']", np.ones((2,)))], "load(path='m.ckpt')")
    ... except ValueError as e:
    ...     print(str(e)[:80])
    load(path='m.ckpt'): leaf 0: the file holds ['w'] with shape (3,) and dtype floa
"""

from __future__ import annotations

from typing import Any

from foldax.checkpoint.format import damaged
from foldax.checkpoint.leaves import Record, expected


def check_structure(records: list[Record], like: list[tuple[str, Any]], source: str) -> None:
    """The first leaf where the file and ``like`` differ in path, shape or dtype, if any."""
    fix = "Build `like` with the same configuration as the saved tree."
    counts = (
        f" (the file holds {len(records)} leaves, `like` has {len(like)})"
        if len(records) != len(like)
        else ""
    )
    for i, (r, (path, x)) in enumerate(zip(records, like)):
        found = expected(x)
        if found is None or (r.path, r.shape, r.dtype) != (path, *found):
            has = (
                f"shape {found[0]} and dtype {found[1]}"
                if found
                else f"a {type(x).__name__}, which is not an array"
            )
            raise damaged(
                source,
                f"leaf {i}",
                f"the file holds {r.path} with shape {r.shape} "
                f"and dtype {r.dtype}, `like` has {path} with {has}{counts}",
                fix,
            )
    if counts:
        extra = (
            f"the file's {records[len(like)].path}"
            if len(records) > len(like)
            else f"`like`'s {like[len(records)][0]}"
        )
        raise damaged(
            source, f"leaf {min(len(records), len(like))}", f"{extra} has no counterpart{counts}", fix
        )
