"""Shared test set-up: the function corpus is importable as ``corpus`` from every test, and every
test runs with JAX's tracer-leak checker on (nothing foldax caches may hold a tracer)."""

import os
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import jax  # noqa: E402  (after XLA_FLAGS: the flag must be set before JAX starts its backends)

jax.config.update("jax_check_tracer_leaks", True)

import gc  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _old_objects_frozen():
    """The leak checker runs ``gc.collect()`` at the end of every trace; with everything earlier
    modules left alive (compiled programs, caches) each collection walked the whole heap and made
    tracing several times slower. Objects alive before a module starts are moved to the permanent
    generation, which ``gc`` neither collects nor scans; every tracer a test makes is newer, so the
    leak checker still sees it."""
    gc.collect()
    gc.freeze()
    yield
