"""Replayed batching rules (``batching_cache``) give exactly what the rules give: the same
program, equation by equation, attributed to the source lines of the function being traced, and
the same values as jax.vmap. The reference for the program is the first trace, which runs every
JAX rule directly."""

from __future__ import annotations

import doctest

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from corpus import CORPUS, CORPUS_IDS

import foldax
from foldax._compat import eqn_source_line
from foldax.transforms.batching import cache as batching_cache


def _trace(f, *args):
    """A fresh trace (make_jaxpr would reuse its trace of the same function object)."""
    return jax.make_jaxpr(lambda *a: f(*a))(*args)


def _three_traces(f, *args):
    """The program of the first trace (rules run), and of the last (rules replayed)."""
    batching_cache.clear()
    first = _trace(f, *args)
    for _ in range(batching_cache.CAPTURE_AT - 1):  # the last one traces the rules into jaxprs
        _trace(f, *args)
    return first, _trace(f, *args)


def _stack(make, size=3):
    x = make()
    return jnp.stack([x * (0.5 + 0.25 * i) for i in range(size)])


@pytest.mark.parametrize("name,fn,make", CORPUS, ids=CORPUS_IDS)
def test_replayed_program_is_the_program_of_the_rules(name, fn, make):
    xs = _stack(make)
    first, replayed = _three_traces(foldax.vmap(fn), xs)
    assert str(replayed) == str(first)
    # every batched equation of mixed_constants has a concrete (folded) input: nothing to remember
    assert (batching_cache.replay_count() > 0) == (name != "mixed_constants")
    chex.assert_trees_all_close(jax.jit(foldax.vmap(fn))(xs), jax.vmap(fn)(xs), rtol=1e-5, atol=1e-5)


def _layer(x, w, b):
    return jnp.tanh(x @ w + b)


def test_replays_within_one_trace_match_jax():
    """Twelve identical layers: from the third on, every rule is a replay."""
    ws = [jnp.eye(4) * (1 + 0.1 * i) for i in range(12)]

    def net(x):
        for w in ws:
            x = _layer(x, w, jnp.ones(4) * 0.1)
        return x

    xs = jnp.linspace(-1, 1, 20).reshape(5, 4)
    batching_cache.clear()
    chex.assert_trees_all_close(foldax.vmap(net)(xs), jax.vmap(net)(xs), rtol=1e-6)
    assert batching_cache.replay_count() == 0  # eager: concrete inputs are never remembered
    chex.assert_trees_all_close(jax.jit(foldax.vmap(net))(xs), jax.vmap(net)(xs), rtol=1e-6)
    assert batching_cache.replay_count() > 0


def first_site(x, b):
    return jnp.sin(x + b)


def second_site(x, b):
    return jnp.sin(x + b)  # the same program as first_site, on another line


def test_replayed_equations_name_the_source_line_of_the_traced_function():
    xs, b = jnp.ones((3, 2)), jnp.ones(2)
    _three_traces(foldax.vmap(first_site, in_axes=(0, None)), xs, b)  # warm for this program
    assert batching_cache.replay_count() > 0
    closed = _trace(foldax.vmap(second_site, in_axes=(0, None)), xs, b)
    lines = {eqn_source_line(e) for e in closed.jaxpr.eqns}
    assert lines and all("(second_site)" in line for line in lines), lines


def test_the_mapped_axis_is_part_of_what_is_remembered():
    """The same equation batched over another axis size or axis name is batched afresh."""
    f = lambda x, b: x + b  # noqa: E731
    for size in (2, 3, 2, 3, 2, 3):
        xs = jnp.arange(size * 2.0).reshape(size, 2)
        got = jax.jit(foldax.vmap(f, in_axes=(0, None)))(xs, jnp.ones(2))
        chex.assert_trees_all_close(got, xs + 1)
    g = lambda x: x - jax.lax.pmean(x, "i")  # noqa: E731
    for name in ("i", "i", "i"):
        xs = jnp.arange(6.0).reshape(3, 2)
        got = jax.jit(foldax.vmap(g, axis_name=name))(xs)
        chex.assert_trees_all_close(got, jax.vmap(g, axis_name="i")(xs))


def test_concrete_inputs_and_unhashable_params_are_not_remembered():
    eqn = jax.make_jaxpr(lambda x: x + 1.0)(1.0).jaxpr.eqns[0]
    data = foldax.transforms.batching.interpreter.BatchInterpreter(3).axis_key
    assert batching_cache.cache_key(eqn, [jnp.ones(3), 1.0], [0, None], data) is None
    with_array_param = eqn.replace(params={"table": np.ones(2)})

    def under_trace(x):
        assert batching_cache.cache_key(eqn, [x, x], [0, None], data) is not None
        assert batching_cache.cache_key(with_array_param, [x, x], [0, None], data) is None
        return x

    jax.make_jaxpr(under_trace)(jnp.ones(3))


def test_trace_config_is_part_of_the_key():
    eqn = jax.make_jaxpr(lambda x: x + x)(1.0).jaxpr.eqns[0]
    data = foldax.transforms.batching.interpreter.BatchInterpreter(3).axis_key
    keys = []

    def key_of(x):
        keys.append(batching_cache.cache_key(eqn, [x, x], [0, 0], data))
        return x

    jax.make_jaxpr(key_of)(jnp.ones(3))
    with jax.numpy_rank_promotion("raise"):
        jax.make_jaxpr(key_of)(jnp.ones(3))
    assert None not in keys and keys[0] != keys[1]


def test_docstring_example():
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(batching_cache, globs=dict(vars(batching_cache))):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_full_cache_evicts_least_recently_used_not_everything(monkeypatch):
    from foldax.transforms.batching import cache

    monkeypatch.setattr(cache, "MAX_ENTRIES", 3)
    cache.clear()
    rule = lambda values: (values, [0] * len(values))  # noqa: E731
    for key in ["a", "b", "c"]:
        cache.batched_by_cache(key, rule, [])
    cache.batched_by_cache("a", rule, [])  # a is used again: b is now the oldest
    cache.batched_by_cache("d", rule, [])  # full: evicts b only
    assert list(cache._entries) == ["c", "a", "d"]
    cache.clear()
