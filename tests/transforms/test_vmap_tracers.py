"""The tracers a function sees under foldax.vmap are BatchTracers to JAX: the messages JAX builds
from a tracer's class (a leaked tracer, an ahead-of-time compiled function called under vmap, an
escaped tracer) read as under jax.vmap. Each misuse raises the exception jax.vmap raises, with a
message matching the pattern made from JAX's own message (object ids may differ)."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import pytest

import foldax


def _pattern(message: str, **anything: str) -> str:
    """``message`` as a regular expression: object ids (numbers of 6 digits or more) may be any
    number, and each value of ``anything`` (text of the message) may be any text matching its
    name's regular expression (``module=r"[\\w.]+"``)."""
    pattern = re.escape(message)
    for regex, text in ((v, k) for k, v in anything.items()):
        pattern = pattern.replace(re.escape(regex), _REGEXES[text])
    return "^" + re.sub(r"[0-9]{6,}", "[0-9]+", pattern)


_REGEXES = {"module": r"[\w.]+", "nothing": ""}


def _jax_error(call):
    with pytest.raises(Exception) as jax_error:
        call(jax.vmap)
    return jax_error.value


def _compiled_function_under_vmap(vmap):
    f = jax.jit(lambda x: x + 4).lower(1.0).compile()
    return vmap(lambda x: f(x) + 2)(jnp.ones(3))


def test_compiled_function_under_vmap_raises_jax_type_error_naming_a_batch_tracer():
    jax_error = _jax_error(_compiled_function_under_vmap)
    message = str(jax_error)
    module = re.search(r"<class '([\w.]+)\.\w+'>", message).group(1)  # where JAX's class lives
    with pytest.raises(type(jax_error), match=_pattern(message, module=module)) as e:
        _compiled_function_under_vmap(foldax.vmap)
    assert type(e.value) is type(jax_error)


class _Holder:
    def __init__(self) -> None:
        self.dct: dict = {}


def _leaking_vmap(vmap, holder: _Holder):
    """JAX's ``test_leak_checker_reference_chain``: the function stores a closure over its
    argument, and the leak checker names what keeps the tracer alive."""

    def sketch(x):
        def foo():
            return x

        holder.dct["hi"] = [foo]
        return x

    with jax.checking_leaks():
        return vmap(sketch)(jnp.arange(3))


def _reference_chain_head(message: str) -> str:
    """The leak message up to the tracer's first referrer (what follows names the test's own
    objects, whose referrers differ from run to run)."""
    return message[: message.index("closed-over variable x") + len("closed-over variable x")]


def test_leaked_tracer_message_names_the_batch_trace_tracer_line_and_referrers_as_jax():
    holder = _Holder()
    try:
        jax_error = _jax_error(lambda vmap: _leaking_vmap(vmap, holder))
        holder.dct.clear()
        head = _reference_chain_head(str(jax_error))
        # foldax's tracer has the element's aval only: the batch does not exist while it is traced
        batched = re.search(r", batched=[^)]*", head).group(0)
        with pytest.raises(type(jax_error), match=_pattern(head, nothing=batched)) as e:
            _leaking_vmap(foldax.vmap, holder)
        assert type(e.value) is type(jax_error)
    finally:
        holder.dct.clear()


def test_escaped_tracer_message_names_a_batch_tracer_as_jax():
    errors = []
    for vmap in (jax.vmap, foldax.vmap):
        leaked = []
        with jax.check_tracer_leaks(False):  # the leak is the point; JAX's checker would stop it
            vmap(lambda x: leaked.append(x) or x)(jnp.ones(3))
        with pytest.raises(jax.errors.UnexpectedTracerError) as e:
            jnp.sin(leaked.pop())
        errors.append(e.value)
    jax_error, foldax_error = errors
    first_line = str(jax_error).splitlines()[0]  # foldax's adds the traced function and its line
    assert re.match(_pattern(first_line), str(foldax_error)), (first_line, str(foldax_error))
    assert type(foldax_error) is type(jax_error)


def _element(y):
    return jnp.sin(y) * 2.0 + jax.lax.fori_loop(0, 2, lambda i, c: c * y, jnp.ones_like(y))


_OUTER = {
    "none": lambda f: f,
    "jax.jit": jax.jit,
    "foldax.jit": foldax.jit,
    "jax.grad": jax.grad,
    "foldax.grad": foldax.grad,
    "jax.vmap": jax.vmap,
    "foldax.vmap": foldax.vmap,
    "foldax.checkify": lambda f: lambda x: foldax.checkify(f)(x)[1],
}


@pytest.mark.parametrize("outer", sorted(_OUTER))
def test_tracers_are_jax_tracers_and_arrays_and_results_are_jax_vmaps(outer):
    """Inside foldax.vmap, however it is nested, the argument is a JAX tracer and a jax.Array as
    inside jax.vmap, and the results are jax.vmap's."""
    x = jnp.arange(12.0).reshape(2, 3, 2) / 7
    if not outer.endswith("vmap"):
        x = x[0]
    results = {}
    for vmap in (jax.vmap, foldax.vmap):
        kinds = []

        def element(y):
            kinds.append((isinstance(y, jax.core.Tracer), isinstance(y, jax.Array)))
            return _element(y)

        def f(x, vmap=vmap, element=element):
            return vmap(element)(x).sum()

        results[vmap] = (_OUTER[outer](f)(x), set(kinds))
    (want, want_kinds), (got, got_kinds) = results[jax.vmap], results[foldax.vmap]
    assert got_kinds == want_kinds == {(True, True)}
    assert jnp.allclose(got, want, rtol=1e-6), (got, want)
