"""foldax.jit's bounded entry cache keeps a running total of the constant bytes its entries hold:
after any sequence of stores, evictions, deletions, clears and programs added to stored entries,
it equals the bytes counted again from scratch (brute force over every entry), and the limits
hold after every store. An entry outliving its function (or its jax.jit outliving the entry) runs
what it compiled and refuses to trace new shapes with a ReferenceError."""

from __future__ import annotations

import gc
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import foldax
from foldax import ByValue
from foldax.errors import FoldaxReferenceError
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


def _jitted_local_function() -> foldax.jit:
    """A foldax.jit of a function nothing else holds, called once on two floats."""

    def add_one(x):
        return x + 1

    f = foldax.jit(add_one)
    f(jnp.ones(2))
    return f


def test_an_entry_outliving_its_function_runs_what_it_compiled_and_refuses_new_shapes():
    """Entries hold the function weakly: after it is freed, an entry still runs the shapes it
    compiled (as jax.jit of the same function does), and for new shapes, which need the function
    traced, it raises a ReferenceError naming the function and the fix."""
    f = _jitted_local_function()
    (entry,) = f.entries.values()
    del f
    gc.collect()
    np.testing.assert_array_equal(entry.call([jnp.ones(2)]), jax.jit(lambda x: x + 1)(jnp.ones(2)))
    with pytest.raises(ReferenceError) as raised:
        entry.call([jnp.ones(3)])
    assert isinstance(raised.value, FoldaxReferenceError)
    message = str(raised.value)
    assert message.startswith("jit(add_one): a compiled entry of the function was called with new shapes")
    assert "the function was freed" in message and "Call the foldax.jit wrapper" in message


def test_a_compiled_entry_function_outliving_its_entry_refuses_new_shapes():
    """The jax.jit of an entry holds the entry weakly: called for new shapes after the entry was
    freed (with its foldax.jit wrapper), it raises a ReferenceError naming the fix."""
    f = _jitted_local_function()
    (entry,) = f.entries.values()
    jitted = entry.jitted
    del f, entry
    gc.collect()
    with pytest.raises(ReferenceError) as raised:
        jitted(jnp.ones(3))
    assert isinstance(raised.value, FoldaxReferenceError)
    message = str(raised.value)
    assert message.startswith("jit(add_one): the jax.jit of a compiled entry was called with new shapes")
    assert "the entry was freed" in message and "Call the foldax.jit wrapper" in message


def test_an_entry_of_a_function_closing_over_an_outer_tracer_runs_inline_as_jax_jit_computes():
    """A program that closed over an outer tracer is not compiled: its entry runs it inline in
    the outer trace; the result equals jax.jit's nested in jax.grad."""

    def outer(jit, y):
        return jit(lambda x: jnp.sin(x * y))(jnp.ones(3)).sum()

    np.testing.assert_allclose(
        jax.grad(lambda y: outer(foldax.jit, y))(2.0), jax.grad(lambda y: outer(jax.jit, y))(2.0)
    )
