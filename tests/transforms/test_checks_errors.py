"""foldax.check outside checkify, constant predicates decided at trace time, and every misuse
error (type and message)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.experimental import checkify as jc

import foldax
from foldax.errors import CheckError, CheckifyRequiredError, FoldaxTypeError, FoldaxValueError


def positive(x):
    foldax.check(x > 0, "x must be positive, got {}", x)
    return x * 2


# -- constant predicates: decided at trace time -------------------------------------------------
def test_passing_constant_check_leaves_nothing_in_the_program():
    def f(x, n):
        foldax.check(n > 0, "n must be positive, got {}", n)  # NumPy/Python: decided in Python
        foldax.check(jnp.all(np.arange(3) >= 0), "folded to a constant")  # decided by folding
        return x * n

    prog = foldax.trace(f)(jnp.ones(3), 2)
    reference = foldax.trace(lambda x, n: x * n)(jnp.ones(3), 2)
    assert prog.num_equations == reference.num_equations == 1
    chex.assert_trees_all_close(foldax.jit(f)(jnp.ones(3), np.int32(2)), jnp.full(3, 2.0))


def test_failing_constant_check_raises_at_trace_time():
    with pytest.raises(CheckError, match=r"n must be positive, got -1 \(`check` failed\)"):
        foldax.trace(lambda x, n: (foldax.check(n > 0, "n must be positive, got {}", n), x)[1])(
            jnp.ones(2), -1
        )
    with pytest.raises(
        CheckError,
        match=r"bad <traced float32\[2\]> \(`check` failed\); its "
        r"predicate is a constant, so it was decided at trace time",
    ):
        foldax.jit(lambda x: (foldax.check(jnp.all(np.ones(3) < 0), "bad {}", x), x)[1])(jnp.ones(2))


def test_failing_constant_check_inside_checkify_is_in_the_error_value():
    """As in JAX's checkify: returned in the error (with its source line), not raised."""
    from jax.experimental import checkify as jax_checkify

    err, _ = foldax.checkify(lambda x: (foldax.check(np.float32(1) < 0, "never"), x)[1])(jnp.ones(2))
    jax_err, _ = jax_checkify.checkify(
        lambda x: (jax_checkify.check(jnp.asarray(np.float32(1) < 0), "never"), x)[1]
    )(jnp.ones(2))
    assert err.get() == jax_err.get()
    assert "test_checks_errors.py" in str(err.get_exception())


# -- outside checkify ---------------------------------------------------------------------------
def test_eager_failure_raises_check_error():
    assert positive(jnp.float32(2.0)) == 4.0
    with pytest.raises(CheckError, match=r"^x must be positive, got -1.0 \(`check` failed\)$"):
        positive(jnp.float32(-1.0))


def test_eager_vmap_failure_names_the_element():
    with pytest.raises(CheckError, match=r"^at mapped index 1: x must be positive, got -1.0"):
        jax.vmap(positive)(jnp.array([1.0, -1.0, -2.0]))


def test_eager_grad_checks_the_primal():
    with pytest.raises(CheckError, match="got -1.0"):
        jax.grad(positive)(jnp.float32(-1.0))
    assert jax.grad(positive)(jnp.float32(1.0)) == 2.0


@pytest.mark.parametrize("jit", [jax.jit, foldax.jit], ids=["jax.jit", "foldax.jit"])
def test_compiled_without_checkify_says_how_to_fix(jit):
    with pytest.raises(
        CheckifyRequiredError,
        match=r"foldax.check\('x must be positive, got \{\}'\) at .*"
        r"test_checks_errors.py:\d+ \(positive\) was compiled.*without "
        r"foldax.checkify.*foldax.jit\(foldax.checkify\(f\)\)",
    ):
        jit(positive)(jnp.float32(1.0))


def test_compiled_loop_without_checkify_says_how_to_fix():
    f = lambda x: lax.fori_loop(0, 3, lambda i, c: positive(c), x)  # noqa: E731
    with pytest.raises(CheckifyRequiredError, match="without foldax.checkify"):
        jax.jit(f)(jnp.float32(1.0))


def test_user_checks_disabled_are_removed():
    err, out = jax.jit(foldax.checkify(positive, errors=foldax.nan_checks))(jnp.float32(-1.0))
    assert err.get() is None and out == -2.0


# -- misuse ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "msg,args,kwargs,problem",
    [
        ("{} and {}", (1,), {}, r"positional field\(s\) \[1\] but only 1 positional argument"),
        ("{x}", (), {}, r"field\(s\) \['x'\] have no keyword argument"),
        ("plain", (1,), {}, r"argument\(s\) \[0\] are not used by any field"),
        ("{name}", (), {"name": 1, "extra": 2}, r"argument\(s\) \['extra'\] are not used"),
        ("{} {0}", (1,), {}, r"it mixes automatic"),
    ],
)
def test_format_fields_must_match_arguments(msg, args, kwargs, problem):
    with pytest.raises(
        FoldaxValueError,
        match=r"check\(msg=.*format fields do not match its "
        r"arguments: .*" + problem,
    ):
        foldax.check(jnp.bool_(True), msg, *args, **kwargs)


def test_malformed_format_string():
    with pytest.raises(FoldaxValueError, match="not a valid format string.*double the braces"):
        foldax.check(jnp.bool_(True), "unbalanced } brace")


@pytest.mark.parametrize(
    "pred,found", [(jnp.ones(3) > 0, r"bool\[3\]"), (jnp.float32(1.0), r"float32\[\]"), (1, r"int64\[\]")]
)
def test_predicate_must_be_a_scalar_boolean(pred, found):
    with pytest.raises(
        FoldaxTypeError, match=r"pred must be a scalar boolean, found " + found + r".*jnp.all"
    ):
        foldax.check(pred, "message")


def test_message_must_be_a_string():
    with pytest.raises(FoldaxTypeError, match=r"check\(msg=...\): the message must be a str"):
        foldax.check(jnp.bool_(True), 3)


@pytest.mark.parametrize("errors", [{"typo"}, 3, ["nan", "oops"]])
def test_checkify_refuses_unknown_error_sets(errors):
    with pytest.raises(FoldaxTypeError, match=r"checkify\(errors=.*\): expected a set of error kinds"):
        foldax.checkify(positive, errors=errors)


def test_checkify_accepts_jax_error_sets():
    from jax.experimental import checkify as jc

    err, _ = foldax.checkify(lambda x: jnp.log(x), errors=jc.nan_checks)(jnp.float32(-1.0))
    assert err.get() == "nan generated by primitive: log."


def test_checkify_refuses_non_callables():
    with pytest.raises(FoldaxTypeError, match=r"checkify\(fun=...\): expected a callable"):
        foldax.checkify(3)


def test_reading_a_traced_error_is_explained():
    def f(x):
        err, out = foldax.checkify(positive)(x)
        err.throw()
        return out

    with pytest.raises(
        FoldaxTypeError,
        match=r"Error.get\(\)/throw\(\): the error holds traced "
        r"values.*return the error",
    ):
        jax.jit(f)(jnp.float32(1.0))


# -- JAX users' except clauses: each foldax error is an instance of the builtin JAX raises --------
def _jax_positive(x):
    jc.check(x > 0, "x must be positive, got {}", x)
    return x * 2


@pytest.mark.parametrize(
    "name,ours,theirs,match",
    [
        (
            "eager failure",
            lambda: positive(jnp.float32(-1.0)),
            lambda: _jax_positive(jnp.float32(-1.0)),
            "x must be positive, got -1.0",
        ),
        (
            "compiled without checkify",
            lambda: jax.jit(positive)(jnp.float32(1.0)),
            lambda: jax.jit(_jax_positive)(jnp.float32(1.0)),
            "without foldax.checkify",
        ),
        (
            "non-scalar predicate",
            lambda: foldax.check(jnp.ones(3) > 0, "m"),
            lambda: jc.check(jnp.ones(3) > 0, "m"),
            "check takes a scalar pred",
        ),
        (
            "thrown error",
            lambda: foldax.checkify(positive)(jnp.float32(-1.0))[0].throw(),
            lambda: jc.checkify(_jax_positive)(jnp.float32(-1.0))[0].throw(),
            "x must be positive, got -1.0",
        ),
    ],
)
def test_misuse_raises_an_instance_of_what_jax_raises(name, ours, theirs, match):
    with pytest.raises(Exception) as jax_error:
        theirs()
    with pytest.raises(foldax.errors.FoldaxError, match=match) as e:
        ours()
    assert isinstance(e.value, type(jax_error.value)), (type(e.value).__mro__, type(jax_error.value))
