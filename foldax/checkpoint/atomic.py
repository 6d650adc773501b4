"""Atomic file replacement: the target holds the old contents or the new ones, whole.

The new contents go to a temporary file in the target's directory (same file system, so the
rename is atomic), are flushed and fsync'ed, and the temporary file is renamed over the target
with ``os.replace``; the directory is then fsync'ed so the rename itself survives a power cut.
If anything fails, the temporary file is removed and the target is untouched. If the process is
killed, the target is untouched too; only a hidden ``.<name>.<random>.tmp`` file may remain.

Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "out.bin")
    >>> with atomic_write(path) as f:
    ...     _ = f.write(b"new")
    >>> open(path, "rb").read()
    b'new'
"""
from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from typing import IO


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """A binary file to write; on a clean exit it atomically replaces ``path``.

    Arguments:
        path: the file to create or replace. Its directory must exist.

    Raises:
        OSError: the directory is missing or not writable, the disk is full, the rename failed.
            ``path`` is then unchanged and no temporary file is left.
    """
    target = os.path.abspath(os.fspath(path))
    directory, name = os.path.split(target)
    temporary = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                 _mode_of(target))
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    fsync_directory(directory)


def fsync_directory(directory: str) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mode_of(target: str) -> int:
    """The permissions of the file being replaced; a new file gets 0o666 less the umask."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        return 0o666
