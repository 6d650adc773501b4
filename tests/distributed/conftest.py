"""Shared set-up of the multi-process tests: the example's launcher, and running a worker
script of this folder on 2 local processes x 2 devices."""

import importlib
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "examples"))
distributed = importlib.import_module("distributed_training")


@pytest.fixture
def run_workers(tmp_path):
    """``run_workers(script, timeout)``: run ``script`` (a file of this folder) as processes 0
    and 1 of 2, on a free port and under ``timeout`` seconds; returns the text of each log."""

    def run(script: str, timeout: float) -> list[str]:
        coordinator = f"127.0.0.1:{distributed.free_port()}"
        path = pathlib.Path(__file__).with_name(script)
        logs = [tmp_path / f"process_{i}.log" for i in range(2)]
        distributed.run_processes(
            [[sys.executable, str(path), str(i), "2", coordinator] for i in range(2)],
            logs,
            2,
            timeout=timeout,
        )
        return [log.read_text() for log in logs]

    return run
