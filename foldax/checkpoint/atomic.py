"""Atomic file replacement: the target holds the old contents or the new ones, whole.

The new contents go to a temporary file in the target's directory (same file system, so the
rename is atomic), are flushed and fsync'ed, and the temporary file is renamed over the target
with ``os.replace``; the directory is then fsync'ed so the rename itself survives a power cut.
If anything fails, the temporary file is removed and the target is untouched. If the process is
killed, the target is untouched too; only the hidden temporary file remains,
``.<name>.<host>.<pid>.<random>.tmp``. The next ``atomic_write`` of the same target removes such
leftovers whose writer is dead (``remove_stale_temporaries``).

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
import re
import secrets
import socket
import stat
import time
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
    remove_stale_temporaries(directory, name)
    temporary = os.path.join(directory, temporary_name(name, os.getpid()))
    fd = os.open(
        temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), _mode_of(target)
    )
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


# Temporary files of the naming before writers were named in it (``.<name>.<random>.tmp``) have
# no writer to check; they are removed once untouched for this long (a live writer keeps
# writing to its file).
OLD_NAMING_STALE_SECONDS = 3600.0
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:64] or "host"


def temporary_name(name: str, pid: int, host: str = _HOST) -> str:
    """The name of the temporary file process ``pid`` on ``host`` writes ``name``'s contents to."""
    return f".{name}.{host}.{pid}.{secrets.token_hex(6)}.tmp"


def remove_stale_temporaries(directory: str, name: str) -> list[str]:
    """Remove the temporary files that writes of ``name`` in ``directory`` left behind when their
    writer was killed; returns their paths. Removed are only those written by a process of this
    host that no longer exists, and those of the earlier naming untouched for
    ``OLD_NAMING_STALE_SECONDS``. Never the target, another file's temporary files, one whose
    writer is alive (or may be: a process of another host sharing the directory, a reused
    pid), or one that cannot be removed (best effort: errors are ignored).

    Example:
        >>> import os, tempfile
        >>> directory = tempfile.mkdtemp()
        >>> remove_stale_temporaries(directory, "model.ckpt")
        []
    """
    named = re.compile(
        rf"\.{re.escape(name)}\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)"
        rf"\.[0-9a-f]{{12}}\.tmp"
    )
    old = re.compile(rf"\.{re.escape(name)}\.[0-9a-f]{{12}}\.tmp")
    removed: list[str] = []
    try:
        entries = os.listdir(directory)
    except OSError:
        return removed
    for entry in entries:
        path = os.path.join(directory, entry)
        match = named.fullmatch(entry)
        try:
            stale = (match is not None and match["host"] == _HOST and not _alive(int(match["pid"]))) or (
                old.fullmatch(entry) is not None
                and time.time() - os.stat(path).st_mtime > OLD_NAMING_STALE_SECONDS
            )
            if stale:
                os.unlink(path)
                removed.append(path)
        except OSError:  # gone meanwhile (another writer cleaned it), or not ours to remove
            continue
    return removed


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` may exist on this host (one of another user's counts; on
    Windows, where ``os.kill`` would end it, every process counts as alive)."""
    if pid == os.getpid() or os.name == "nt":
        return True
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except (OverflowError, OSError):
        return True
    return True


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
