"""foldax.jit's bounded entry cache keeps a running total of the constant bytes its entries hold:
after any sequence of stores, evictions, deletions, clears and programs added to stored entries,
it equals the bytes counted again from scratch (brute force over every entry), and the limits
hold after every store."""

from __future__ import annotations

import types

import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings, strategies as st

import foldax
from foldax import ByValue
from foldax.transforms.jit.entries import EntryCache


def brute_force_bytes(cache: EntryCache) -> int:
    """The bytes each entry holds, counted from scratch: the distinct arrays of its key and
    of its programs' constants."""
    total = 0
    for key, entry in cache.items():
        arrays = [c for program in entry.programs.values() for c in program.jaxpr.consts]
        arrays += [part.value for part in flat_parts(key) if isinstance(part, ByValue)]
        total += sum({id(a): int(getattr(a, "nbytes", 0)) for a in arrays}.values())
    return total


def flat_parts(key):
    """The parts of a (nested tuple) key."""
    return [p for part in key for p in flat_parts(part)] if isinstance(key, tuple) else [key]


def program(nbytes: int) -> types.SimpleNamespace:
    """A stand-in Program whose jaxpr closes over one array of ``nbytes`` bytes."""
    return types.SimpleNamespace(jaxpr=types.SimpleNamespace(consts=[np.zeros(nbytes, np.uint8)]))


def entry(nbytes: int) -> types.SimpleNamespace:
    return types.SimpleNamespace(programs={0: program(nbytes)})


OPERATIONS = st.one_of(
    st.tuples(st.just("store"), st.integers(0, 12), st.integers(0, 300), st.integers(0, 300)),
    st.tuples(st.just("grow"), st.integers(0, 12), st.integers(0, 300)),
    st.tuples(st.just("use"), st.integers(0, 12)),
    st.tuples(st.just("delete"), st.integers(0, 12)),
    st.tuples(st.just("clear")),
)


@settings(max_examples=200, deadline=None)
@given(
    max_entries=st.integers(1, 6),
    max_bytes=st.integers(1, 1500),
    operations=st.lists(OPERATIONS, max_size=40),
)
def test_running_total_equals_brute_force(max_entries, max_bytes, operations):
    cache = EntryCache(max_entries, max_bytes)
    for name, *args in operations:
        key = None if name == "clear" else ("tree", args[0])
        if name == "store":  # a key holding a constant of its own, and a program
            key = (*key, ByValue(np.full(args[2], args[0], np.uint8)))
            cache[key] = entry(args[1])
            assert len(cache) == 1 or (len(cache) <= max_entries and brute_force_bytes(cache) <= max_bytes)
            assert key in cache  # the entry just stored is always kept
        elif name == "grow":  # an entry compiled for new shapes gains a program
            stored = next((k for k in cache if k[:2] == key), None)
            if stored is not None:
                cache[stored].programs[len(cache[stored].programs)] = program(args[1])
        elif name == "use":
            cache.get(next((k for k in cache if k[:2] == key), None))
        elif name == "delete":
            stored = next((k for k in cache if k[:2] == key), None)
            if stored is not None:
                del cache[stored]
        else:
            cache.clear()
        assert cache.held_bytes() == brute_force_bytes(cache)


def test_running_total_of_a_jitted_function_counts_programs_of_new_shapes():
    """One entry (one constant) compiled for three shapes: three programs, each with its own
    folded constant (a slice of sin(c) as long as x)."""
    c = np.arange(1000, dtype=np.float32)
    f = foldax.jit(lambda x, c: x + jnp.sin(c)[: x.shape[0]])
    for n in (1, 200, 300):
        f(jnp.ones(n), c)
    (entry,) = f.entries.values()
    assert len(entry.programs) == 3
    assert f.entries.held_bytes() == brute_force_bytes(f.entries)
