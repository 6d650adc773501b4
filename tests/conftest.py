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
