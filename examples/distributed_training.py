"""Multi-process training with ``jax.distributed``: one program on N processes, the batch split
over a ``data`` mesh axis, parameters and optimiser state split over an ``fsdp`` axis.

This script is both the *launcher* and the *worker*:

* ``python examples/distributed_training.py --processes 2 --devices-per-process 4`` starts 2
  local worker processes (this machine simulates 4 CPU devices in each) on a free port, shows
  process 0's progress, and fails with the worker's error if one fails, or after ``--timeout``
  seconds if they hang. ``--processes 1`` runs the same program in one process, the reference
  a multi-process run is compared with.
* ``--checkpoint-every K`` saves the training state every K steps with
  ``foldax.CheckpointManager`` (``out/.../checkpoints``; each process writes its own shards);
  ``--resume`` continues from the latest saved step in ``--out``.
* ``--kill-at STEP`` tests restarting after a failure: once the last process has finished step
  STEP (it then waits), the launcher kills it with SIGKILL, notices the death, stops the other
  processes and starts all of them again; they resume from the latest checkpoint. As the data
  order and the dropout keys derive from the step number alone, the final parameters are those
  of an uninterrupted run, bit for bit (``load_final_model`` reads them back). Every process
  keeps what it compiles in JAX's persistent compilation cache (``--compilation-cache``, by
  default ``out/.../compilation_cache``), so the processes started again load their programs
  instead of compiling them a second time.
* Each worker calls ``jax.distributed.initialize(...)`` (gloo carries the CPU collectives; a
  process that does not join within ``--join-timeout`` seconds makes the others fail with an
  error saying so), builds the global mesh ``(data, fsdp)`` over all processes' devices and
  trains the ``train_mlp`` dataclass MLP with optax through
  ``foldax.jit(foldax.value_and_grad(...))``:

  - the parameters' layout is declared once, as one sharding per field of the dataclass
    (``fsdp_layout``); the optimiser state takes it over (``optax.tree_map_params``);
  - each process reads only its own rows of each batch from the data set on disk
    (``jax.make_array_from_process_local_data``);
  - the data order and the dropout keys derive from the step number alone, so any step can be
    recomputed (``Trainer.run(start, stop)``: the hook where a checkpoint restore and
    ``on_step`` saves go);
  - Python numbers and NumPy constants (sizes, rates, the seed) are compiled in the same way on
    every process; one that differs between processes makes ``foldax.jit`` raise
    ``ProcessMismatchError`` instead of computing something else on each process. The step
    number changes every step, so it goes in as a (replicated, global) array and is traced.

On a GPU or TPU cluster the worker runs unchanged: start one per host (``srun`` under SLURM,
every TPU VM on Cloud TPU) with ``--worker --coordinator auto``: ``jax.distributed.initialize()``
then finds the processes itself (README, "Running on a cluster").

Run: ``python examples/distributed_training.py [--quick] [--out DIR] [--processes N]
[--devices-per-process D]``.

Example:
    >>> cfg = RunConfig(processes=2, devices_per_process=2)
    >>> cfg.mesh_shape(cfg.devices)
    (2, 2)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Callable, Sequence

import numpy as np

EXAMPLES = pathlib.Path(__file__).resolve().parent


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """One distributed run: processes and devices, model and data sizes, limits."""

    processes: int = 2
    devices_per_process: int = 4
    fsdp: int = 2  # devices each parameter is split over; the rest of the mesh is ``data``
    steps: int = 300
    batch_size: int = 64
    hidden: tuple[int, ...] = (128, 128)
    n_examples: int = 8192
    dim: int = 4
    learning_rate: float = 3e-3
    dropout: float = 0.05
    seed: int = 0
    join_timeout: int = 60  # seconds for every process to join the coordinator
    timeout: float = 900.0  # seconds for the whole run (each attempt, after a restart)
    checkpoint_every: int = 0  # save the training state every this many steps (0: never)
    # JAX's persistent compilation cache, shared by every process and every start: a restart
    # after a failure loads the programs compiled before it (None: ``out/compilation_cache``;
    # "": no cache)
    compilation_cache: str | None = None

    @property
    def devices(self) -> int:
        return self.processes * self.devices_per_process

    def mesh_shape(self, devices: int) -> tuple[int, int]:
        """``(data, fsdp)`` sizes of the mesh over ``devices`` devices (all processes')."""
        if devices % self.fsdp or self.batch_size % (devices // self.fsdp):
            raise ValueError(
                f"fsdp={self.fsdp} must divide the {devices} devices, and the data "
                f"axis ({devices // self.fsdp}) the batch size {self.batch_size}."
            )
        return devices // self.fsdp, self.fsdp


JOINED = "joined the run"  # what a worker prints once jax.distributed.initialize returned
HOLDING = "holding for the launcher's SIGKILL"  # what the process to kill prints at --kill-at
QUICK = {"steps": 12, "batch_size": 32, "hidden": (32, 32), "n_examples": 1024}


# -- the launcher -------------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port nothing listens on now (the coordinator's)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_dataset(cfg: RunConfig, out: pathlib.Path) -> pathlib.Path:
    """The synthetic regression data set as ``x.npy``/``y.npy`` in ``out/data`` (the workers
    memory-map it and read only their rows)."""
    from common import target_function

    folder = out / "data"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    x = rng.uniform(-1.0, 1.0, (cfg.n_examples, cfg.dim)).astype(np.float32)
    y = np.asarray(target_function(x)) + 0.05 * rng.normal(size=(cfg.n_examples, 1))
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y.astype(np.float32))
    return folder


def launch(
    cfg: RunConfig,
    out: pathlib.Path,
    show_progress: bool = True,
    kill_at: int | None = None,
    restarts: int | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Run ``cfg.processes`` local workers to the end; returns process 0's results.

    Arguments:
        cfg: the run.
        out: directory for the data set, logs, checkpoints and results.
        show_progress: show process 0's progress.
        kill_at: once the last process has finished this step it waits, and the launcher kills
            it with SIGKILL (a failure on demand); needs ``cfg.checkpoint_every``.
        restarts: how many times a failed run is started again (every process, resuming from
            the latest checkpoint); 1 by default with ``kill_at``, else 0.
        resume: continue from the checkpoints in ``out`` (by default they are removed first).

    Returns:
        Process 0's results: ``losses`` of the steps from ``first_step`` on (the last start's),
        ``resumed_from`` (the checkpoint's step, or ``None``), ``restarts`` (why each start
        failed), step time, mesh.

    Raises:
        ValueError: ``kill_at`` is not a step of the run, or there are no checkpoints to
            resume from.
        ProcessFailedError: a worker failed and no restart is left (its log's tail is in the
            message; the others are stopped).
        TimeoutError: a start took longer than ``cfg.timeout`` seconds (all are stopped).
    """
    from common import progress

    restarts = (1 if kill_at is not None else 0) if restarts is None else restarts
    if kill_at is not None and not 0 <= kill_at < cfg.steps:
        raise ValueError(f"kill_at={kill_at} is not a step of the run (0 to {cfg.steps - 1}).")
    if restarts and not cfg.checkpoint_every:
        raise ValueError(
            "Restarting needs checkpoints to resume from: set checkpoint_every "
            "(--checkpoint-every) to a number of steps."
        )
    out.mkdir(parents=True, exist_ok=True)
    if cfg.compilation_cache is None:
        cfg = dataclasses.replace(cfg, compilation_cache=str(out / "compilation_cache"))
    write_dataset(cfg, out)
    (out / "results.json").unlink(missing_ok=True)
    if not resume:
        shutil.rmtree(out / "checkpoints", ignore_errors=True)
    bar = progress(range(cfg.steps), f"{cfg.processes} process(es)") if show_progress else None
    failures: list[str] = []
    try:
        for attempt in range(restarts + 1):
            victim = cfg.processes - 1 if kill_at is not None and attempt == 0 else None
            try:
                _attempt(cfg, out, attempt, victim, kill_at, bar)
                break
            except ProcessFailedError as e:
                if attempt == restarts:
                    raise
                failures.append(str(e).splitlines()[0])
                if bar is not None:
                    bar.write(f"{failures[-1]}; restarting every process from the latest checkpoint")
    finally:
        if bar is not None:
            bar.close()
    return {**json.loads((out / "results.json").read_text()), "restarts": failures}


def _attempt(
    cfg: RunConfig, out: pathlib.Path, attempt: int, victim: int | None, kill_at: int | None, bar: Any
) -> None:
    """One start of every worker (on a new coordinator port); ``victim`` holds after step
    ``kill_at`` and is killed."""
    coordinator = f"127.0.0.1:{free_port()}"
    commands = [
        [
            sys.executable,
            __file__,
            "--worker",
            "--config",
            json.dumps(dataclasses.asdict(cfg)),
            "--process-id",
            str(i),
            "--coordinator",
            coordinator,
            "--out",
            str(out),
            *(["--hold-at", str(kill_at)] if i == victim else []),
        ]
        for i in range(cfg.processes)
    ]
    suffix = "" if attempt == 0 else f".restart{attempt}"
    logs = [out / f"process_{i}{suffix}.log" for i in range(cfg.processes)]
    killed = []

    def on_poll(procs: list) -> None:
        if victim is not None and not killed and HOLDING in _text(logs[victim]):
            procs[victim].send_signal(signal.SIGKILL)
            killed.append(victim)
        if bar is not None and (done := _steps_done(logs[0])) != bar.n:
            bar.n = done
            bar.refresh()

    run_processes(commands, logs, cfg.devices_per_process, cfg.timeout, on_poll)
    if victim is not None:  # the victim held until killed: the run cannot have ended well
        raise RuntimeError(
            f"process {victim} was to be killed at step {kill_at}, but all processes ended normally"
        )


class ProcessFailedError(RuntimeError):
    """A worker exited with an error: ``process`` is its index, ``code`` its exit code (the
    negative signal number if a signal killed it)."""

    def __init__(self, message: str, process: int, code: int) -> None:
        super().__init__(message)
        self.process, self.code = process, code


def run_processes(
    commands: Sequence[Sequence[str]],
    logs: Sequence[pathlib.Path],
    devices_per_process: int,
    timeout: float,
    on_poll: Callable[[list], None] | None = None,
) -> None:
    """Run one local process per command (CPU, ``devices_per_process`` simulated devices each,
    output to its log) until all exit.

    Arguments:
        on_poll: called with the ``subprocess.Popen`` objects about ten times a second.

    Raises:
        ProcessFailedError: a process exited with an error (its log's tail is in the message;
            the others are stopped).
        TimeoutError: they ran longer than ``timeout`` seconds (all are stopped).
    """
    env = dict(
        os.environ,
        JAX_PLATFORMS="cpu",
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices_per_process}",
    )
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(EXAMPLES), env.get("PYTHONPATH")) if p)
    procs = []
    try:
        for command, log in zip(commands, logs):
            with open(log, "w") as f:
                procs.append(subprocess.Popen(list(command), stdout=f, stderr=subprocess.STDOUT, env=env))
        _wait(procs, logs, timeout, on_poll)
    finally:
        _stop(procs)


def _wait(
    procs: list, logs: Sequence[pathlib.Path], timeout: float, on_poll: Callable[[list], None] | None
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        codes = [p.poll() for p in procs]
        failed = [i for i, c in enumerate(codes) if c not in (None, 0)]
        if failed:
            i = failed[0]
            why = (
                ""
                if JOINED in _text(logs[i])
                else (
                    " before it joined the coordinator (jax.distributed.initialize): not all "
                    "processes joined within the join timeout, or the coordinator is unreachable"
                )
            )
            raise ProcessFailedError(
                f"process {i} exited with code {codes[i]}{why}; the others "
                f"were stopped. End of {logs[i]}:\n{_tail(logs[i])}",
                i,
                codes[i],
            )
        if on_poll is not None:
            on_poll(procs)
        if all(c == 0 for c in codes):
            return
        if time.monotonic() > deadline:
            running = [i for i, c in enumerate(codes) if c is None]
            raise TimeoutError(
                f"processes {running} still ran after {timeout} s and were "
                f"stopped. End of {logs[running[0]]}:\n{_tail(logs[running[0]])}"
            )
        time.sleep(0.1)


def _stop(procs: list) -> None:
    """Kill the workers still running. SIGKILL, as SIGTERM does not end them: once
    ``jax.distributed`` is initialised, JAX's preemption notifier catches SIGTERM (it marks a
    preemption for the processes to agree on, and the process goes on)."""
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        p.wait()


def _text(path: pathlib.Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _tail(path: pathlib.Path, lines: int = 25) -> str:
    return "\n".join(_text(path).splitlines()[-lines:])


def _steps_done(log: pathlib.Path) -> int:
    """Steps done by the run, from the last ``step N`` line of a worker's log."""
    numbers = re.findall(r"^step (\d+) ", _text(log), re.MULTILINE)
    return int(numbers[-1]) + 1 if numbers else 0


# -- the worker ---------------------------------------------------------------------------------
def join(coordinator: str, cfg: RunConfig, process_id: int) -> None:
    """Join the run: gloo for CPU collectives, then ``jax.distributed.initialize``
    (``coordinator="auto"``: no arguments, as under SLURM or on Cloud TPU)."""
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if coordinator == "auto":
        jax.distributed.initialize()
    elif cfg.processes > 1:
        # Not every process joining within the timeout aborts this one (JAX's coordination
        # service ends it with DEADLINE_EXCEEDED); the launcher names it from the missing line.
        jax.distributed.initialize(
            coordinator,
            num_processes=cfg.processes,
            process_id=process_id,
            initialization_timeout=cfg.join_timeout,
        )
    print(f"process {jax.process_index()} of {jax.process_count()} {JOINED}", flush=True)


def use_compilation_cache(directory: str | None) -> None:
    """Keep every program this process compiles in JAX's persistent compilation cache in
    ``directory`` (no cache if empty), and load the programs found there instead of compiling
    them: the processes started again after a failure skip compiling what the first start did.
    Every program is kept, the eager ones included: on a loaded machine even those take long."""
    import jax

    if directory:
        jax.config.update("jax_compilation_cache_dir", directory)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def init_model(cfg: RunConfig) -> Any:
    """The run's initial model (``train_mlp``'s dataclass MLP), the same on every process."""
    from foldax import random

    from train_mlp import init_mlp

    return init_mlp(random.key(cfg.seed), (cfg.dim, *cfg.hidden, 1), "gelu", cfg.dropout)


def fsdp_layout(model: Any, mesh: Any) -> Any:
    """The model's layout, declared once per field of the dataclass: every weight matrix split
    along its input axis over ``fsdp`` (each device holds 1/fsdp of it; XLA gathers it where
    it is used), biases replicated."""
    from jax.sharding import NamedSharding, PartitionSpec as P

    from train_mlp import Dense

    weight, bias = NamedSharding(mesh, P("fsdp", None)), NamedSharding(mesh, P())
    return dataclasses.replace(model, layers=tuple(Dense(w=weight, b=bias) for _ in model.layers))


class Trainer:
    """The training state on the global mesh and the compiled step.

    ``run(start, stop, on_step)`` trains steps ``start..stop-1`` from the current state: the
    batch and the dropout key of a step derive from its number only, so restoring
    ``(model, opt_state)`` saved after step ``k - 1`` and calling ``run(k, ...)`` continues
    exactly (where a checkpoint manager plugs in: ``on_step(step, trainer)`` after each step).
    """

    def __init__(self, cfg: RunConfig, data_dir: pathlib.Path) -> None:
        import jax
        import optax
        from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

        import foldax
        from foldax import random

        from train_mlp import make_train_step

        self.cfg = cfg
        self.mesh = jax.make_mesh(
            cfg.mesh_shape(jax.device_count()), ("data", "fsdp"), axis_types=(AxisType.Auto, AxisType.Auto)
        )
        self.batch_sharding = NamedSharding(self.mesh, P("data"))
        replicated = NamedSharding(self.mesh, P())
        self.x = np.load(data_dir / "x.npy", mmap_mode="r")
        self.y = np.load(data_dir / "y.npy", mmap_mode="r")
        self.rows = self._local_rows()
        self.step_seconds: list[float] = []  # wall time of each step run (the first compiles)

        self.optimiser = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(cfg.learning_rate))
        like = jax.eval_shape(lambda: init_model(cfg))
        self.model_sharding = fsdp_layout(like, self.mesh)
        self.opt_sharding = optax.tree_map_params(
            self.optimiser,
            lambda _, s: s,
            jax.eval_shape(self.optimiser.init, like),
            self.model_sharding,
            transform_non_params=lambda _: replicated,
        )

        def init() -> tuple:
            model = init_model(cfg)
            return model, self.optimiser.init(model)

        # every process computes its own shards of the same initial state
        self.model, self.opt_state = foldax.jit(
            init, out_shardings=(self.model_sharding, self.opt_sharding)
        )()
        train_step = make_train_step(self.optimiser)
        dropout_key = random.fold_in(random.key(cfg.seed), 1)

        def step(model: Any, opt_state: Any, x: Any, y: Any, number: int) -> tuple:
            return train_step(model, opt_state, x, y, random.fold_in(dropout_key, number))

        self.replicated = replicated
        self.step = foldax.jit(
            step,
            in_shardings=(
                self.model_sharding,
                self.opt_sharding,
                self.batch_sharding,
                self.batch_sharding,
                replicated,
            ),
            out_shardings=(self.model_sharding, self.opt_sharding, replicated),
        )

    def _local_rows(self) -> slice:
        """The rows of a global batch this process's devices hold (one contiguous block)."""
        shape = (self.cfg.batch_size, self.cfg.dim)
        blocks = self.batch_sharding.addressable_devices_indices_map(shape).values()
        start = min(b[0].start or 0 for b in blocks)
        stop = max(shape[0] if b[0].stop is None else b[0].stop for b in blocks)
        return slice(start, stop)

    def batch_indices(self, step: int) -> np.ndarray:
        """The examples of global batch ``step``: a permutation per epoch, seeded by it."""
        per_epoch = self.cfg.n_examples // self.cfg.batch_size
        epoch, i = divmod(step, per_epoch)
        order = np.random.default_rng([self.cfg.seed, epoch]).permutation(self.cfg.n_examples)
        return order[i * self.cfg.batch_size : (i + 1) * self.cfg.batch_size]

    def batch(self, step: int) -> tuple:
        """Global batch ``step`` as arrays sharded over ``data``; this process reads only its
        rows of it from disk."""
        import jax

        mine = self.batch_indices(step)[self.rows]
        local_x, local_y = self.x[mine], self.y[mine]  # reads these rows of the memory map
        n = self.cfg.batch_size
        return (
            jax.make_array_from_process_local_data(self.batch_sharding, local_x, (n, self.cfg.dim)),
            jax.make_array_from_process_local_data(self.batch_sharding, local_y, (n, 1)),
        )

    def run(
        self, start: int, stop: int, on_step: Callable[[int, Trainer], None] | None = None
    ) -> list[float]:
        """Train steps ``start..stop-1``; returns their losses."""
        import jax

        losses = []
        for number in range(start, stop):
            started = time.perf_counter()
            # the step number is traced (one compiled step), the same global value everywhere
            traced_number = jax.make_array_from_process_local_data(
                self.replicated, np.asarray(number, np.int32)
            )
            self.model, self.opt_state, loss = self.step(
                self.model, self.opt_state, *self.batch(number), traced_number
            )
            losses.append(float(loss))  # waits for the step
            self.step_seconds.append(time.perf_counter() - started)
            print(f"step {number} loss {losses[-1]:.6f}", flush=True)
            if on_step is not None:
                on_step(number, self)
        return losses


def worker(
    cfg: RunConfig, process_id: int, coordinator: str, out: pathlib.Path, hold_at: int | None = None
) -> None:
    """One process of the run: join; resume from the latest checkpoint in ``out/checkpoints``
    if there is one; train, saving every ``cfg.checkpoint_every`` steps; write the final model
    (``final_model.ckpt``) and, on process 0, ``results.json``. ``hold_at``: after that step,
    wait to be killed (``launch(kill_at=...)``)."""
    use_compilation_cache(cfg.compilation_cache)
    join(coordinator, cfg, process_id)
    import jax
    from jax.experimental import multihost_utils

    import foldax

    trainer = Trainer(cfg, out / "data")
    manager = (
        foldax.CheckpointManager(out / "checkpoints", max_to_keep=2, save_interval_steps=cfg.checkpoint_every)
        if cfg.checkpoint_every
        else None
    )
    resumed_from = None if manager is None else manager.latest_step()
    if manager is not None and resumed_from is not None:
        state = manager.restore({"model": trainer.model, "opt_state": trainer.opt_state}, step=resumed_from)
        trainer.model, trainer.opt_state = state["model"], state["opt_state"]
        print(f"resumed from the checkpoint of step {resumed_from}", flush=True)

    def on_step(number: int, trainer: Trainer) -> None:
        if manager is not None:  # in the background: the next step runs meanwhile
            manager.save(number, {"model": trainer.model, "opt_state": trainer.opt_state})
        if number == hold_at:
            print(f"step {number} done, {HOLDING}", flush=True)
            time.sleep(cfg.timeout)
            sys.exit(f"process {process_id} was not killed at step {number}")

    first = 0 if resumed_from is None else resumed_from + 1
    losses = trainer.run(first, cfg.steps, on_step)
    if manager is not None:
        manager.close()  # waits for the last save
    final = multihost_utils.process_allgather(trainer.model, tiled=True)  # every process's part
    layer = trainer.model.layers[0].w
    if jax.process_index() == 0:
        foldax.save(out / "final_model.ckpt", final)
        (out / "results.json").write_text(
            json.dumps(
                {
                    "losses": losses,
                    "first_step": first,
                    "resumed_from": resumed_from,
                    "step_seconds": float(np.median(trainer.step_seconds[1:] or [0.0])),
                    "processes": jax.process_count(),
                    "devices": jax.device_count(),
                    "mesh": dict(trainer.mesh.shape),
                    "first_weight_shards": len(layer.addressable_shards),
                    "first_weight_shard_shape": list(layer.addressable_shards[0].data.shape),
                }
            )
        )
    if cfg.processes > 1 and coordinator != "auto":
        jax.distributed.shutdown()


def load_final_model(cfg: RunConfig, out: pathlib.Path) -> Any:
    """The model at the end of the run ``cfg`` in ``out`` (from ``final_model.ckpt``)."""
    import jax

    import foldax

    return foldax.load(out / "final_model.ckpt", jax.eval_shape(lambda: init_model(cfg)))


# -- command line -------------------------------------------------------------------------------
def main(
    quick: bool = False,
    out_dir: str | pathlib.Path = "out",
    processes: int = 2,
    devices_per_process: int = 4,
    show_progress: bool = True,
    kill_at: int | None = None,
    resume: bool = False,
    **overrides: Any,
) -> dict:
    """Launch a run of ``processes`` x ``devices_per_process`` (killing a process after step
    ``kill_at`` and restarting, if given) and print its summary; returns process 0's results
    (losses, step time, mesh, restarts)."""
    if kill_at is not None:
        overrides.setdefault("checkpoint_every", 1)
    cfg = RunConfig(
        processes=processes,
        devices_per_process=devices_per_process,
        **{**(QUICK if quick else {}), **overrides},
    )
    out = pathlib.Path(out_dir) / f"distributed_{processes}x{devices_per_process}"
    results = launch(cfg, out, show_progress, kill_at=kill_at, resume=resume)
    for failure in results["restarts"]:
        print(f"{failure}; every process was restarted from the checkpoint of step {results['resumed_from']}")
    print(
        f"{processes} process(es) x {devices_per_process} devices, mesh {results['mesh']}: "
        f"loss {results['losses'][0]:.4f} -> {results['losses'][-1]:.4f} in steps "
        f"{results['first_step']}..{cfg.steps - 1} ({results['step_seconds'] * 1e3:.1f} "
        f"ms/step after compiling); logs and final_model.ckpt in {out}"
    )
    return results


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small, fast configuration")
    parser.add_argument("--out", default="out", help="directory for logs, data and results")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--devices-per-process", type=int, default=4)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=None, help="seconds for the whole run")
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        help="save the training state every this many steps (1 with --kill-at)",
    )
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    parser.add_argument(
        "--compilation-cache",
        default=None,
        metavar="DIR",
        help="JAX's persistent compilation cache of every process and restart "
        "(default: compilation_cache in the run's directory; '' for none)",
    )
    parser.add_argument(
        "--kill-at",
        type=int,
        default=None,
        metavar="STEP",
        help="kill the last process with SIGKILL after this step, then restart "
        "every process from the latest checkpoint",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--process-id", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--hold-at", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--coordinator", default="auto", help="host:port of process 0, or 'auto' (SLURM, Cloud TPU)"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = _parse(sys.argv[1:])
    if args.worker:
        config = json.loads(args.config) if args.config else {}
        config["hidden"] = tuple(config.get("hidden", RunConfig.hidden))
        worker(RunConfig(**config), args.process_id, args.coordinator, pathlib.Path(args.out), args.hold_at)
    else:
        from common import quick_from_env

        overrides = {
            k: v
            for k, v in (
                ("steps", args.steps),
                ("timeout", args.timeout),
                ("checkpoint_every", args.checkpoint_every),
                ("compilation_cache", args.compilation_cache),
            )
            if v is not None
        }
        main(
            args.quick or quick_from_env(),
            args.out,
            args.processes,
            args.devices_per_process,
            kill_at=args.kill_at,
            resume=args.resume,
            **overrides,
        )
