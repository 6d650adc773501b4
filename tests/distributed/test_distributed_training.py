"""Multi-process runs on this machine (local processes, gloo collectives): the example's loss
trajectory on 2 processes x 2 devices equals the 1-process x 4-device run; a run whose process is
killed mid-training and restarted from its checkpoints ends with the parameters of the
uninterrupted run, bit for bit; a process that never joins fails the others in bounded time; a
NumPy constant that differs between processes is an error, equal constants work. Every process
runs under a timeout on a free port."""

import importlib
import json
import pathlib
import sys

import jax
import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))
distributed = importlib.import_module("distributed_training")

STEPS = 5
SMALL = {"steps": STEPS, "batch_size": 16, "hidden": (16, 16), "n_examples": 256, "timeout": 240.0}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The small runs' settings, with one compilation cache for all of them: the run killed and
    restarted loads the programs the uninterrupted run compiled (the same programs, so the same
    results: the test still compares them bit for bit), as a restart in production loads its
    first start's."""
    return dict(SMALL, compilation_cache=str(tmp_path_factory.mktemp("compilation_cache")))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, small):
    """The 2 processes x 2 devices run, uninterrupted and without checkpoints: its results and
    final model."""
    cfg = distributed.RunConfig(processes=2, devices_per_process=2, **small)
    out = tmp_path_factory.mktemp("2x2")
    return distributed.launch(cfg, out, show_progress=False), distributed.load_final_model(cfg, out)


def test_two_processes_follow_the_one_process_trajectory(tmp_path, uninterrupted, small):
    two = uninterrupted[0]
    one = distributed.launch(
        distributed.RunConfig(processes=1, devices_per_process=4, **small),
        tmp_path / "1x4",
        show_progress=False,
    )
    assert (two["processes"], two["devices"], one["processes"], one["devices"]) == (2, 4, 1, 4)
    assert len(two["losses"]) == len(one["losses"]) == STEPS
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=0, atol=1e-6)
    # FSDP: each device holds 1/fsdp of the first weight matrix (dim x hidden)
    cfg = distributed.RunConfig()
    assert two["first_weight_shard_shape"] == [cfg.dim // cfg.fsdp, SMALL["hidden"][0]]


def test_killed_process_restarts_from_the_checkpoint_bit_for_bit(tmp_path, uninterrupted, small):
    """Process 1 is killed (SIGKILL) after step 2; every process restarts from the latest
    checkpoint (saved every step, in the background), and the run ends where the uninterrupted
    one does: the same parameters and losses, bit for bit."""
    expected_results, expected_model = uninterrupted
    cfg = distributed.RunConfig(processes=2, devices_per_process=2, checkpoint_every=1, **small)
    kill_at = 2
    results = distributed.launch(cfg, tmp_path, show_progress=False, kill_at=kill_at)
    assert distributed.HOLDING in (tmp_path / "process_1.log").read_text()
    assert [r.split(";")[0] for r in results["restarts"]] == ["process 1 exited with code -9"]
    resumed = results["resumed_from"]
    assert resumed is not None and resumed <= kill_at and results["first_step"] == resumed + 1
    assert results["losses"] == expected_results["losses"][resumed + 1 :]
    model = distributed.load_final_model(cfg, tmp_path)
    assert jax.tree.structure(model) == jax.tree.structure(expected_model)
    for got, want in zip(jax.tree.leaves(model), jax.tree.leaves(expected_model)):
        assert got.dtype == want.dtype and np.asarray(got).tobytes() == np.asarray(want).tobytes()


def test_a_process_that_never_joins_is_an_error_in_bounded_time(tmp_path):
    cfg = distributed.RunConfig(processes=2, devices_per_process=2, join_timeout=5, **SMALL)
    distributed.write_dataset(cfg, tmp_path)
    command = [
        sys.executable,
        str(EXAMPLES / "distributed_training.py"),
        "--worker",
        "--config",
        json.dumps(dict(vars(cfg), hidden=list(cfg.hidden))),
        "--process-id",
        "0",
        "--coordinator",
        f"127.0.0.1:{distributed.free_port()}",
        "--out",
        str(tmp_path),
    ]
    with pytest.raises(RuntimeError, match="before it joined the coordinator"):
        distributed.run_processes([command], [tmp_path / "process_0.log"], 2, timeout=120)


def test_constants_must_agree_across_processes(run_workers):
    for text in run_workers("constants_worker.py", timeout=180):
        same = next(line for line in text.splitlines() if line.startswith("same "))
        _, value, _, reference = same.split()
        assert float(value) == float(reference)
        assert "differing: ProcessMismatchError" in text
        assert "the constant args[1] differs between processes" in text
