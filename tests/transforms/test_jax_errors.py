"""foldax's errors for misuses of grad/jvp/vjp/jacfwd/vmap, compared with JAX's for the same
misuse: the foldax error is also an instance of the exception JAX raises, its message contains
JAX's (verbatim, or matching the pattern JAX's own tests use), and it names the argument and the
fix. The cases are those of JAX's api_test."""

from __future__ import annotations

import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend import core as jex_core
from jax.interpreters import ad

import foldax
from foldax._compat import primitive_linearizations
from foldax.errors import FoldaxError

X = jnp.arange(3.0)


def _raised(thunk):
    try:
        thunk()
    except Exception as e:  # noqa: BLE001 - the exception is what is compared
        return e
    raise AssertionError(f"{thunk} raised nothing")


def _f(x, y):
    return x + y


def _two(x):
    return x, x


def _h(a, b):
    return jnp.sum(a) + jnp.sum(b)


A10x4, B10x2 = jnp.ones((10, 4)), jnp.ones((10, 2))
VERBATIM = None  # the whole of JAX's message appears in foldax's

# (id, call with jax (transformation -> thunk), JAX's pattern or VERBATIM, foldax's phrases)
CASES = [
    (
        "grad-str-argument",
        lambda t: lambda: t.grad(lambda x: x)("foo"),
        r".* 'foo' of type <.*'str'> is not a valid JAX type",
        ["args[0]", "argnums"],
    ),
    (
        "has-aux-triple",
        lambda t: lambda: t.grad(lambda x: (1, 2, 3), has_aux=True)(1.0),
        VERBATIM,
        ["has_aux=True", "tuple of length 3", "loss, aux"],
    ),
    (
        "has-aux-single",
        lambda t: lambda: t.grad(lambda x: x, has_aux=True)(1.0),
        "two-element tuple",
        ["has_aux=True", "pair (output, aux)"],
    ),
    (
        "complex-output",
        lambda t: lambda: t.grad(lambda x: x**2 + 1j)(3.0),
        VERBATIM,
        ["grad(<lambda>, argnums=0)", "complex64", "holomorphic=True"],
    ),
    ("non-scalar-output", lambda t: lambda: t.grad(lambda x: x * 2)(X), VERBATIM, ["shape (3,)", ".sum()"]),
    (
        "holomorphic-real-input",
        lambda t: lambda: t.grad(lambda x: x**2, holomorphic=True)(3.0),
        VERBATIM,
        ["args[0]", "holomorphic=True", ".astype(complex)"],
    ),
    (
        "jacfwd-complex-input",
        lambda t: lambda: t.jacfwd(lambda x: x**2)(3.0 + 1j),
        VERBATIM,
        ["args[0]", "holomorphic=True", "jvp"],
    ),
    (
        "jacrev-complex-output",
        lambda t: lambda: t.jacrev(lambda x: x * 1j)(X),
        VERBATIM,
        ["jacrev(<lambda>, argnums=0)", "holomorphic=True", "vjp"],
    ),
    (
        "argnums-beyond-call",
        lambda t: lambda: t.grad(_f, argnums=0)(y=1.0),
        VERBATIM,
        ["argnums contains 0", "0 positional argument", "wrt="],
    ),
    (
        "jvp-primals-not-tuple",
        lambda t: lambda: t.jvp(_f, 0.0, (1.0,)),
        VERBATIM,
        ["primals", "found float", "(primal,)"],
    ),
    (
        "jvp-tangents-not-tuple",
        lambda t: lambda: t.jvp(_f, (0.0,), np.array([1.0, 2.0])),
        VERBATIM,
        ["tangents", "found ndarray", "(tangent,)"],
    ),
    (
        "vjp-two-cotangents",
        lambda t: lambda: t.vjp(_two, 1.0)[1](1.0, 1.0),
        VERBATIM,
        ["vjp(_two)", "2 arguments", "pullback((ct1, ct2))"],
    ),
    (
        "vjp-cotangent-tree",
        lambda t: lambda: t.vjp(lambda x, y: x * y, np.float32(3), np.float32(4))[1]((np.float32(7),) * 2),
        "unexpected tree structure",
        ["tree structure", "PyTreeDef((*, *))"],
    ),
    (
        "vjp-cotangent-dtype",
        lambda t: lambda: t.vjp(lambda x, y: x * y, np.float32(3), np.float32(4))[1](np.float16(42)),
        VERBATIM,
        ["cotangent leaf 0", "float16", "the output's shape and dtype"],
    ),
    (
        "vjp-cotangent-shape",
        lambda t: (
            lambda: t.vjp(jnp.matmul, np.ones((2, 5), np.float32), np.ones((5, 3), np.float32))[1](
                np.ones((2, 4), np.float32)
            )
        ),
        VERBATIM,
        ["cotangent leaf 0", "shape (2, 4)", "(2, 3)"],
    ),
    (
        "vmap-in-axes-dict",
        lambda t: lambda: t.vmap(lambda x: x["a"], in_axes={"a": 0}),
        VERBATIM,
        ["in_axes={'a': 0}", "one entry per positional argument"],
    ),
    (
        "vmap-in-axes-not-prefix",
        lambda t: lambda: t.vmap(lambda x: x, in_axes=([0],))(X),
        VERBATIM,
        ["in_axes=([0],)", "pytree prefix", "Fix:"],
    ),
    ("vmap-nothing-to-map", lambda t: lambda: t.vmap(lambda x: x)({}), VERBATIM, ["axis_size="]),
    ("vmap-all-none", lambda t: lambda: t.vmap(lambda x: x, in_axes=None)(X), VERBATIM, ["axis_size="]),
    (
        "vmap-sizes",
        lambda t: lambda: t.vmap(_h, in_axes=(0, 1))(A10x4, B10x2),
        VERBATIM,
        ["a has size 10 along axis 0", "size 2 along axis 1", "fix the shapes"],
    ),
    (
        "vmap-sizes-majority",
        lambda t: lambda: t.vmap(lambda x, y, z: None, in_axes=(0, 1, 0))(A10x4, B10x2, A10x4),
        VERBATIM,
        ["y has size 2 along axis 1", "fix the shapes"],
    ),
    (
        "vmap-sizes-keyword",
        lambda t: lambda: t.vmap(_f)(jnp.array([1]), y=jnp.array([1, 2])),
        VERBATIM,
        ["y has size 2 along axis 0", "fix the shapes"],
    ),
    (
        "vmap-sizes-starargs",
        lambda t: lambda: t.vmap(lambda x, *a: x - sum(a))(jnp.ones(4), jnp.ones(2), jnp.ones(2)),
        VERBATIM,
        ["a[0] has size 2 along axis 0", "fix the shapes"],
    ),
    (
        "vmap-named-axis-out-none",
        lambda t: lambda: t.vmap(lambda x: x, out_axes=None, axis_name="foo")(X),
        VERBATIM,
        ["out_axes gives None", "int out_axes"],
    ),
]


@pytest.mark.parametrize("call, pattern, phrases", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_is_jax_s_plus_foldax_s(call, pattern, phrases):
    theirs, ours = _raised(call(jax)), _raised(call(foldax))
    assert isinstance(ours, FoldaxError), repr(ours)
    assert isinstance(ours, type(theirs)), (type(ours).__mro__, type(theirs))
    if pattern is VERBATIM:
        assert str(theirs).strip() in str(ours), (str(theirs), str(ours))
    else:
        assert re.search(pattern, str(theirs)) and re.search(pattern, str(ours)), str(ours)
    for phrase in phrases:
        assert phrase in str(ours), (phrase, str(ours))


@pytest.mark.parametrize(
    "x",
    [jnp.ones(3, d) for d in (jnp.int8, jnp.uint8, jnp.int16, jnp.int32, jnp.bool_)] + [3, True],
    ids=["int8", "uint8", "int16", "int32", "bool", "python-int", "python-bool"],
)
def test_integer_inputs_are_refused_as_by_jax(x):
    for t, phrases in (
        (jax.grad, ["args[0]", "allow_int=True", "2.0, not 2"]),
        (jax.jacfwd, ["args[0]", "jvp"]),
    ):
        foldax_t = getattr(foldax, t.__name__)
        theirs = _raised(lambda: t(lambda v: jnp.sum(v * 1.0))(x))
        ours = _raised(lambda: foldax_t(lambda v: jnp.sum(v * 1.0))(x))
        assert isinstance(ours, FoldaxError) and isinstance(ours, type(theirs))
        assert str(theirs) in str(ours), (str(theirs), str(ours))
        for phrase in phrases:
            assert phrase in str(ours)
    # allow_int=True gives float0 zeros, as JAX's
    chex.assert_trees_all_equal(
        foldax.grad(lambda v: jnp.sum(v * 1.0), allow_int=True)(x),
        jax.grad(lambda v: jnp.sum(v * 1.0), allow_int=True)(x),
    )


def test_escaped_tracer_is_jax_s_unexpected_tracer_error():
    saved = []

    def keep(x):
        saved.append(x)
        return x

    for jit in (jax.jit, foldax.jit):
        with jax.check_tracer_leaks(False):  # the leak is the point
            jit(keep)(jnp.float32(0.0))
        theirs_or_ours = [
            _raised(lambda: jit(lambda x: x)(saved[-1])),
            _raised(lambda: jit(lambda x: x + saved[-1])(jnp.float32(1.0))),
        ]
        for e in theirs_or_ours:
            assert isinstance(e, jax.errors.UnexpectedTracerError), repr(e)
            assert "Encountered an unexpected tracer" in str(e)
    # returning the escaped tracer: JAX raises when it runs the program, foldax while tracing
    ours = _raised(lambda: foldax.jit(lambda x: saved[-1])(jnp.float32(0.0)))
    assert isinstance(ours, FoldaxError) and isinstance(ours, jax.errors.UnexpectedTracerError)
    assert "Encountered an unexpected tracer" in str(ours)
    assert "<lambda>" in str(ours) and "pass it in as an argument" in str(ours)


def _bare_primitive(name):
    prim = jex_core.Primitive(name)
    return prim, (lambda x: prim.bind(x))


def test_missing_rules_are_reported_as_by_jax():
    """A user primitive with only some rules: JAX's message starts the error (JAX's own test
    checks the start), foldax's explanation follows."""
    x = jnp.float32(1.0)
    prim, f = _bare_primitive("my_bare")
    for t in (jax.grad, foldax.grad):
        e = _raised(lambda: t(f)(x))
        assert isinstance(e, NotImplementedError)
        assert str(e).startswith("Differentiation rule for 'my_bare' not implemented"), str(e)
    assert "def_abstract_eval" in str(e) and "ad.primitive_jvps" in str(e)
    prim.def_abstract_eval(lambda x: x)
    prim.def_impl(lambda x: x)
    ad.defjvp(prim, lambda g, x: f(g))
    for t in (jax.grad, foldax.grad):
        e = _raised(lambda: t(f)(x))
        assert isinstance(e, NotImplementedError)
        assert str(e).startswith(
            "Transpose rule (for reverse-mode differentiation) for 'my_bare' not implemented"
        )
    assert "ad.primitive_transposes[my_bare_p]" in str(e)
    # forward mode needs only the JVP rule, in both
    chex.assert_trees_all_close(foldax.jvp(f, (x,), (x,)), jax.jvp(f, (x,), (x,)))


def test_a_linearization_rule_serves_reverse_mode_as_in_jax():
    sin_p = jex_core.Primitive("my_lin_sin")
    sin_p.def_impl(jax.lax.sin)
    sin_p.def_abstract_eval(lambda x: x)

    def linearization(is_vjp, nonzeros, x):
        return sin_p.bind(x), nonzeros[0], x, lambda r, t: t * jax.lax.cos(r)

    primitive_linearizations[sin_p] = linearization  # jax._src.interpreters.ad's
    chex.assert_trees_all_close(foldax.grad(sin_p.bind)(X[1]), jax.grad(sin_p.bind)(X[1]))
    chex.assert_trees_all_close(foldax.jacrev(sin_p.bind)(X), jax.jacrev(sin_p.bind)(X))


def test_jvp_of_python_numbers_returns_arrays_as_jax():
    ours, theirs = foldax.jvp(jnp.asarray, (1.0,), (2.0,)), jax.jvp(jnp.asarray, (1.0,), (2.0,))
    assert all(isinstance(v, jax.Array) for v in ours)
    chex.assert_trees_all_equal(ours, theirs)


def test_pullback_with_refs_as_jax():
    f = jax.jit(lambda x, y: x * y)
    want = [
        (jax.ad.DontWant(), jax.ad.DontWant()),
        (jax.ad.GradValue(), jax.ad.DontWant()),
        (jax.ad.DontWant(), jax.ad.GradValue()),
    ]
    for spec in want:
        results = []
        for t in (jax.vjp, foldax.vjp):
            _, pullback = t(f, X, X + 1)
            results.append(pullback.with_refs(*spec)(jnp.ones(3)))
        chex.assert_trees_all_equal(*results)
    refs = []
    for t in (jax.vjp, foldax.vjp):
        _, pullback = t(f, X, X + 1)
        ref = jax.new_ref(jnp.ones(3))
        out = pullback.with_refs(ref, jax.ad.DontWant())(jnp.ones(3))
        assert isinstance(out[0], jax.ad.GradRef) and isinstance(out[1], jax.ad.DidntWant)
        refs.append(ref[...])
    chex.assert_trees_all_equal(*refs)


@pytest.mark.parametrize(
    "spec",
    [(jax.ad.DontWant(), jax.ad.GradValue()), (jax.ad.GradValue(), jax.ad.DontWant())],
    ids=["x_unwanted", "y_unwanted"],
)
def test_unwanted_cotangents_are_not_computed_as_in_jax(spec):
    """JAX's ``test_vjp3_dont_want_bilinear``: the pullback of ``x * y`` traced under jax.jit
    with one cotangent unwanted has the one multiplication JAX's has."""
    f = lambda x, y: (x * y) ** 2  # noqa: E731
    ones = jnp.ones(3)
    jaxprs = []
    for t in (jax.vjp, foldax.vjp):
        _, pullback = t(f, X, X + 1)
        jaxprs.append(jax.make_jaxpr(lambda ct: pullback.with_refs(*spec)(ct))(ones))
    ours, theirs = jaxprs
    assert [e.primitive for e in ours.eqns] == [e.primitive for e in theirs.eqns]


@pytest.mark.parametrize("convert", [int, float, complex, bool], ids=lambda f: f.__name__)
def test_python_conversion_of_a_traced_value_is_jax_s_error(convert):
    x = jnp.int32(0)
    theirs, ours = _raised(lambda: jax.jit(convert)(x)), _raised(lambda: foldax.jit(convert)(x))
    assert isinstance(ours, FoldaxError) and isinstance(ours, type(theirs)), type(ours).__mro__
    assert str(theirs).strip() in str(ours) and "jnp.where" in str(ours)  # JAX's names, e.g. real
