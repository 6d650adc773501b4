"""Fault injection: whatever fails or is killed during a save, the previous checkpoint loads
intact (compared bitwise with what was saved) and no temporary file is left behind."""

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from trees import assert_bitwise_equal, training_state

import foldax
from foldax.checkpoint import atomic

LARGE = 32 * 2**20  # float32 elements per leaf: 128 MiB each, two leaves


def previous_checkpoint(tmp_path):
    path = tmp_path / "train.ckpt"
    foldax.save(path, training_state(0))
    return path


def assert_intact(path):
    assert_bitwise_equal(foldax.load(path, training_state(1)), training_state(0))
    assert os.listdir(path.parent) == [path.name]


def test_failing_rename_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = previous_checkpoint(tmp_path)

    def failing_replace(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(OSError, match="cross-device"):
        foldax.save(path, training_state(2))
    monkeypatch.undo()
    assert_intact(path)


@pytest.mark.parametrize("step", ["write", "fsync"])
def test_failing_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch, step):
    """A full disk half-way through the data, or when flushing it to the device."""
    path = previous_checkpoint(tmp_path)
    real_open = os.fdopen

    class FullDisk:
        def __init__(self, f):
            self.f, self.written = f, 0

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.f.__exit__(*exc)

        def write(self, data):
            self.written += 1
            if step == "write" and self.written == 3:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.f.write(data)

    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fdopen", lambda fd, mode: FullDisk(real_open(fd, mode)))
    if step == "fsync":
        monkeypatch.setattr(atomic.os, "fsync", fsync)
    with pytest.raises(OSError, match="No space left"):
        foldax.save(path, training_state(2))
    monkeypatch.undo()
    assert_intact(path)


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError):  # what open(path, "wb") raises
        open(tmp_path / "missing" / "c.ckpt", "wb").close()  # noqa: SIM115
    with pytest.raises(
        foldax.errors.CheckpointNotFoundError,
        match=r"the directory .*missing' does not exist. Create it first",
    ):
        foldax.save(tmp_path / "missing" / "c.ckpt", {"x": 1})


def test_refused_leaf_keeps_the_previous_checkpoint(tmp_path):
    path = previous_checkpoint(tmp_path)
    with pytest.raises(foldax.errors.FoldaxTypeError):
        foldax.save(path, {**training_state(2), "note": "text"})
    assert_intact(path)


def test_new_file_gets_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    foldax.save(tmp_path / "a.ckpt", {"x": 1})
    reference = tmp_path / "b"
    reference.write_bytes(b"")  # what open(path, "wb") gives
    assert (tmp_path / "a.ckpt").stat().st_mode == reference.stat().st_mode
    os.chmod(tmp_path / "a.ckpt", 0o600)
    foldax.save(tmp_path / "a.ckpt", {"x": 2})
    assert (tmp_path / "a.ckpt").stat().st_mode & 0o777 == 0o600


SAVER = textwrap.dedent("""
    import sys, numpy as np, foldax
    tree = {"a": np.full(%d, 1.0, np.float32), "b": np.full(%d, 2.0, np.float32)}
    print("ready", flush=True)
    foldax.save(sys.argv[1], tree)
    print("saved", flush=True)
""") % (LARGE, LARGE)


def kill_during_save(path):
    """Start a process saving 256 MiB over ``path``; SIGKILL it once its temporary file has
    data. Returns whether it was killed mid-save (its temporary file was left behind)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SAVER, str(path)], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        assert proc.stdout.readline() == "ready\n"
        temporaries = []
        while proc.poll() is None and not temporaries:
            temporaries = [
                p for p in path.parent.iterdir() if p.name.endswith(".tmp") and p.stat().st_size > 0
            ]
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    return proc.returncode == -signal.SIGKILL and any(p.exists() for p in temporaries)


def test_killed_save_keeps_the_previous_checkpoint(tmp_path):
    path = previous_checkpoint(tmp_path)
    killed_mid_save = False
    for _ in range(5):
        killed_mid_save = kill_during_save(path)
        if killed_mid_save:
            break
        previous_checkpoint(tmp_path)  # the save finished first: start again from the old file
    assert killed_mid_save
    assert list(tmp_path.glob(".*.tmp"))  # the killed writer's temporary file
    assert_bitwise_equal(foldax.load(path, training_state(1)), training_state(0))
    foldax.save(path, training_state(0))  # removes the dead writer's temporary file
    assert_intact(path)


def test_save_removes_only_temporary_files_of_dead_writers(tmp_path):
    """Left: the target, a live writer's file (this process), one from another host, one of the
    earlier naming touched recently, another target's. Removed: a dead process's, and one of
    the earlier naming untouched for longer than OLD_NAMING_STALE_SECONDS."""
    path = previous_checkpoint(tmp_path)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead_pid = int(dead.stdout)
    name = path.name
    files = {
        "dead": atomic.temporary_name(name, dead_pid),
        "old naming, stale": f".{name}.{'a' * 12}.tmp",
        "live": atomic.temporary_name(name, os.getpid()),
        "other host": atomic.temporary_name(name, dead_pid, host="elsewhere"),
        "old naming, recent": f".{name}.{'b' * 12}.tmp",
        "other target": atomic.temporary_name("other.ckpt", dead_pid),
    }
    for file in files.values():
        (tmp_path / file).write_bytes(b"partial")
    stale = time.time() - atomic.OLD_NAMING_STALE_SECONDS - 60
    os.utime(tmp_path / files["old naming, stale"], (stale, stale))
    foldax.save(path, training_state(0))
    kept = {label for label, file in files.items() if (tmp_path / file).exists()}
    assert kept == {"live", "other host", "old naming, recent", "other target"}
    assert_bitwise_equal(foldax.load(path, training_state(1)), training_state(0))
