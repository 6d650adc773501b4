"""Checkifying a function that calls ``jax.jit(f)`` (or ``foldax.jit``, a ``cond``, ``scan``,
``while``, a nested ``jit``, a ``custom_jvp``) again, eagerly, compiles no more than JAX's
``checkify`` does: the checked body of the same source jaxpr, checked the same way (enabled
checks, payload slots, input types), is the same jaxpr object (``core.body_cache``), and the call
reusing it registers the error sites it holds again (``checks.sites``). Compilations are counted
(``compile_counting``) against JAX's count for the same calls, each library from empty caches;
the errors (``get()``, and the source line of the failing check) and the outputs are compared
with JAX's checkify's, on each call, for failing and passing inputs."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from compile_counting import (
    no_leak_checker,  # noqa: F401  (a fixture)
    per_call,
)
from jax.experimental import checkify

import foldax


def _core(u, i):
    """One site of each kind: a user check, NaN (``log``), division by zero and an index."""
    checkify.check(jnp.all(jnp.abs(u) < 100), "too large: {}", jnp.max(jnp.abs(u)))
    v = jnp.log(u) + 1 / u
    return v * u[i]


_jitted_core = jax.jit(_core)
_foldax_jitted_core = foldax.jit(_core)


def _doubled(u, i):
    return u * 2


def _branches(u, i):
    return jax.lax.cond(jnp.sum(jnp.real(u)) > 0, _core, _doubled, u, i)


def _scan_step(carry, k):
    u, i, total = carry
    return (u, i, total + _core(u * k, i)), None


def _scanned(u, i):
    steps = jnp.arange(1, 3).astype(u.dtype)
    return jax.lax.scan(_scan_step, (u, i, jnp.zeros_like(u)), steps)[0][2]


def _loop_going(carry):
    k, _, _, _ = carry
    checkify.check(k >= 0, "negative count: {}", k)  # a check in the condition
    return k < 2


def _loop_step(carry):
    k, u, i, total = carry
    return k + 1, u, i, total + _core(u, i)


def _looped(u, i):
    return jax.lax.while_loop(_loop_going, _loop_step, (0, u, i, jnp.zeros_like(u)))[3]


@jax.custom_jvp
def _custom(u):
    checkify.check(jnp.all(jnp.abs(u) < 100), "custom input too large: {}", jnp.max(jnp.abs(u)))
    return jnp.log(u) + 1 / u


_custom.defjvp(lambda p, t: (_custom(p[0]), t[0] / p[0]))


def _calls_custom(u, i):
    return _custom(u) * u[i]


BODIES = {
    "jit": _jitted_core,  # checkify(jit(f))
    "calls_jit": lambda u, i: _jitted_core(u, i) + 1,
    "calls_foldax_jit": lambda u, i: _foldax_jitted_core(u, i) + 1,
    "nested_jit": jax.jit(lambda u, i: _jitted_core(u, i) * 2),
    "cond": _branches,
    "jit_cond": jax.jit(_branches),
    "scan": _scanned,
    "jit_scan": jax.jit(_scanned),
    "while": _looped,
    "jit_while": jax.jit(_looped),
    "custom_jvp": _calls_custom,
    "jit_custom_jvp": jax.jit(_calls_custom),
}
KINDS = ["float", "nan", "div", "index", "user"]
# (foldax's error set, JAX's of the same name): each library checkifies with its own
ERRORS = {kind: (getattr(foldax, f"{kind}_checks"), getattr(checkify, f"{kind}_checks")) for kind in KINDS}
ERRORS["automatic_and_user"] = (foldax.automatic_checks | foldax.user_checks, checkify.all_checks)
FAILING = {  # the input that fails a check of each error set (the first failing, with several)
    "float": "nan",
    "nan": "nan",
    "div": "division_by_zero",
    "index": "out_of_bounds",
    "user": "too_large",
    "automatic_and_user": "too_large",
}
DTYPES = [jnp.float32, jnp.bfloat16, jnp.float16, jnp.complex64]
# arguments (u, i): every check passes, then each kind of check fails
INPUTS = {
    "passing": ([1.0, 2.0, 3.0, 4.0], 2),
    "nan": ([1.0, -2.0, 3.0, 4.0], 1),
    "division_by_zero": ([1.0, 0.0, 3.0, 4.0], 3),
    "out_of_bounds": ([1.0, 2.0, 3.0, 4.0], 7),
    "too_large": ([1.0, 200.0, 3.0, 4.0], 0),
}


def _arguments(dtype, name: str) -> tuple:
    u, i = INPUTS[name]
    return jnp.asarray(np.asarray(u).astype(dtype)), jnp.int32(i)


def _jax_source_line(exception) -> str | None:
    """``file:line`` of the innermost frame of this file in the traceback JAX's checkify keeps
    with a failure (the line of the failing check)."""
    here = os.path.abspath(__file__)
    for frame in exception.traceback_info.frames:
        if os.path.abspath(frame.file_name) == here:
            return f"{frame.file_name}:{frame.line_num}"
    return None


def _assert_same_error_and_outputs(ours, theirs) -> None:
    (err, out), (jax_err, jax_out) = ours, theirs
    assert err.get() == jax_err.get()
    assert bool(err._metadata) == bool(jax_err._metadata)  # its sites are registered on reuse too
    if jax_err.get() is not None:
        line = _jax_source_line(jax_err.get_exception())
        assert line is not None and f"is at {line} " in str(err.get_exception())
    out, jax_out = np.asarray(out), np.asarray(jax_out)
    assert out.dtype == jax_out.dtype and out.shape == jax_out.shape
    np.testing.assert_array_equal(out.view(np.uint8), jax_out.view(np.uint8))  # NaNs too


def _assert_compiles_no_more_than_jax(body, errors: str, dtype) -> None:
    """Three calls from empty caches with arguments of the same types (failing, passing, then
    failing again, when the checked bodies are reused): each compiles no more than JAX's
    checkify's, and each agrees with JAX's."""
    ours_errors, jax_errors = ERRORS[errors]
    ours, theirs = foldax.checkify(body, errors=ours_errors), checkify.checkify(body, errors=jax_errors)
    args = [_arguments(dtype, name) for name in (FAILING[errors], "passing", FAILING[errors])]
    results: dict = {"ours": [], "jax": []}

    def calls(checked, into):
        it = iter(args)
        return lambda: into.append(checked(*next(it)))

    ours_counts = per_call(calls(ours, results["ours"]), calls=len(args))
    jax_counts = per_call(calls(theirs, results["jax"]), calls=len(args))
    assert all(o <= j for o, j in zip(ours_counts, jax_counts)), (ours_counts, jax_counts)
    for mine, jax_result in zip(results["ours"], results["jax"]):
        _assert_same_error_and_outputs(mine, jax_result)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("name", list(BODIES))
@pytest.mark.usefixtures("no_leak_checker")
def test_float_checks_compile_no_more_than_jax_checkify(name, dtype):
    _assert_compiles_no_more_than_jax(BODIES[name], "float", dtype)


@pytest.mark.parametrize("errors", [e for e in ERRORS if e != "float"])
@pytest.mark.parametrize("name", list(BODIES))
@pytest.mark.usefixtures("no_leak_checker")
def test_each_error_set_compiles_no_more_than_jax_checkify(name, errors):
    _assert_compiles_no_more_than_jax(BODIES[name], errors, jnp.float32)


def _checked_body(errors, size: int = 4):
    """The body of the ``jit`` staged for ``foldax.checkify(BODIES['jit'], errors)`` of ``size``
    numbers."""
    jaxpr = jax.make_jaxpr(foldax.checkify(BODIES["jit"], errors=errors))(jnp.ones(size), 0).jaxpr
    [eqn] = [e for e in jaxpr.eqns if e.primitive.name == "jit"]
    return eqn.params["jaxpr"]


def test_the_checked_body_is_one_object_per_way_of_checking_as_in_jax():
    """The same body checked the same way twice is the same jaxpr; checked for other errors or
    other input types, another; ``jax.clear_caches()`` forgets it."""
    first = _checked_body(foldax.float_checks)
    assert _checked_body(foldax.float_checks) is first
    others = [_checked_body(foldax.index_checks), _checked_body(foldax.float_checks, size=5)]
    assert all(other is not first for other in others)
    jax.clear_caches()
    assert _checked_body(foldax.float_checks) is not first


def test_a_reused_body_reports_its_sites_among_the_callers_own():
    """Checks before and after a reused ``jit`` body, failing in turn: each message and source
    line as JAX's checkify's."""

    def caller(u, i):
        checkify.check(jnp.all(u != 7), "seven before: {}", u[0])
        v = _jitted_core(u, i)
        checkify.check(jnp.all(v != 5), "five after: {}", v[0])
        return v

    ours = foldax.checkify(caller, errors=foldax.all_checks)
    theirs = checkify.checkify(caller, errors=checkify.all_checks)
    for u, i in [([7.0, 1, 1, 1], 0), ([1.0, 2, 3, 4], 9), ([1.0, 1, 1, 1], 0), ([1.0, 200, 3, 4], 0)]:
        args = (jnp.asarray(u, jnp.float32), jnp.int32(i))
        _assert_same_error_and_outputs(ours(*args), theirs(*args))
