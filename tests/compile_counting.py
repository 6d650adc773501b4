"""Counting what JAX compiles, for tests comparing foldax's compilations with JAX's.

A compilation is counted by JAX's public ``jax.monitoring`` event for lowering a jaxpr (the event
JAX's own test counter ``count_jit_and_pmap_lowerings`` follows). The tracer-leak checker, on in
this suite, makes JAX skip some of its caches; counting tests turn it off (``no_leak_checker``), as
JAX's own compilation-count tests run."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import jax
import pytest

LOWERING_EVENT = "/jax/core/compile/jaxpr_to_mlir_module_duration"


@contextlib.contextmanager
def lowerings() -> Iterator[Callable[[], int]]:
    """Counts the jaxprs JAX lowers (each a compilation) inside the block."""
    count = [0]

    def listener(event: str, duration: float, **kwargs) -> None:
        if event == LOWERING_EVENT:
            count[0] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield lambda: count[0]
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def per_call(call: Callable[[], object], calls: int = 2) -> list[int]:
    """The compilations of each of ``calls`` calls of ``call``, from empty caches (JAX's and
    foldax's: ``jax.clear_caches()``), so neither library reuses what the other compiled."""
    jax.clear_caches()
    counts = []
    for _ in range(calls):
        with lowerings() as count:
            call()
        counts.append(count())
    return counts


@pytest.fixture
def no_leak_checker():
    with jax.check_tracer_leaks(False):
        yield
