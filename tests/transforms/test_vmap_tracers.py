"""The tracers a function sees under foldax.vmap are BatchTracers to JAX: the messages JAX builds
from a tracer's class (a leaked tracer, an ahead-of-time compiled function called under vmap, an
escaped tracer) read as under jax.vmap. Each misuse raises the exception jax.vmap raises, with a
message matching the pattern made from JAX's own message (object ids may differ)."""

from __future__ import annotations

import functools
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


_REGEXES = {"module": r"[\w.]+"}


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
        with pytest.raises(type(jax_error), match=_pattern(head)) as e:
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


def _printed_arguments(vmap, x, y, in_axes):
    """What ``print`` shows of the function's two arguments under ``vmap(f, in_axes)``, and the
    verbose repr of the first (a tracer under both)."""
    shown = []

    def f(a, b):
        shown.append((str(a), str(b), a._pretty_print(verbose=True).format()))
        return a * b.sum()

    vmap(f, in_axes=in_axes)(x, y)
    return shown[0]


@pytest.mark.parametrize("in_axis", [0, 1])
def test_a_batched_argument_prints_as_under_jax_vmap(in_axis):
    x, y = jnp.arange(24.0).reshape(3, 4, 2), jnp.ones(4, jnp.int32)
    ours = _printed_arguments(foldax.vmap, x, y, (in_axis, None))
    theirs = _printed_arguments(jax.vmap, x, y, (in_axis, None))
    assert ours[0] == theirs[0] == f"VmapTracer(aval={jax.typeof(x.sum(in_axis))}, batched={jax.typeof(x)})"
    # the verbose repr: the same trace and batch_dim; JAX's also shows the batched value, which
    # foldax's trace of one element has not
    head = theirs[2].split(" with")[0]
    assert head == f"Traced<{jax.typeof(x.sum(in_axis))}>with<BatchTrace>"
    assert theirs[2].endswith(f"batch_dim = {in_axis}")
    assert ours[2] == f"{head} with batch_dim = {in_axis}"


def test_an_unmapped_argument_prints_its_type_where_jax_vmap_passes_the_array():
    """jax.vmap hands the function an unmapped argument itself; foldax traces it, and its tracer
    shows the argument's type as its batched type (it is not batched)."""
    x, y = jnp.arange(6.0).reshape(3, 2), jnp.arange(4, dtype=jnp.int32)
    ours = _printed_arguments(foldax.vmap, x, y, (0, None))
    theirs = _printed_arguments(jax.vmap, x, y, (0, None))
    assert theirs[1] == str(y)
    assert ours[1] == f"VmapTracer(aval={jax.typeof(y)}, batched={jax.typeof(y)})"


def test_an_intermediate_value_prints_its_element_type_as_under_jax_vmap():
    """The result of an operation shows the element's aval as JAX's does; whether it is batched is
    decided after tracing, so foldax's shows no batched type."""
    shown = {}

    def f(x, store):
        shown[store] = str(jnp.sin(x) * 2)
        return x

    x = jnp.ones((3, 2))
    jax.vmap(functools.partial(f, store="jax"))(x)
    foldax.vmap(functools.partial(f, store="foldax"))(x)
    assert shown["jax"].startswith(f"VmapTracer(aval={jax.typeof(x[0])}, batched=")
    assert shown["foldax"] == f"VmapTracer(aval={jax.typeof(x[0])})"


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
