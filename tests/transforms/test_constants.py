"""Issue 13 §1-§2: jnp/lax/random on constants run while tracing (Python control flow works, the
Program holds no equation for them), and checkify still checks those computations.

References: jax.jit of the same function (values), JAX's own jaxpr of the part that depends on
the variables (equation counts), jax.experimental.checkify (errors), NumPy (data movement)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.experimental import checkify as jax_checkify

import foldax
from foldax.transforms.core.numpy_eval import NUMPY_RULES, compute_now
from foldax.transforms.core.passes import count_equations, iter_equations


# -- §1: computed while tracing ----------------------------------------------------------------
def phiml_if(x):
    y = np.float32(2)
    z = jnp.sin(y**2)  # jnp on a constant: a concrete value, so `if` works
    return z * x if z > 1 else z / x


def test_phiml_if_with_jnp_works_and_leaves_one_equation():
    x = jnp.ones(3)
    program = foldax.trace(phiml_if)(x)
    z = np.sin(np.float32(4))
    assert program.num_equations == count_equations(jax.make_jaxpr(lambda x: z / x)(x))
    chex.assert_trees_all_close(foldax.jit(phiml_if)(x), jax.jit(lambda x: z / x)(x))


def test_phiml_auxiliary_args_with_jnp():
    @foldax.jit(auxiliary_args="y")
    def fun(x, y):
        z = jnp.sin(y**2)
        return z * x if jnp.all(z > 1) else z / x

    x = jnp.ones(2)
    for y in (2.0, np.arange(3.0)[1:]):
        z = jnp.sin(jnp.asarray(y) ** 2)
        expected = z * x if bool(jnp.all(z > 1)) else z / x
        chex.assert_trees_all_close(fun(x, y), expected)


def sim(u):
    return lax.fori_loop(0, 10, lambda i, u: u + 0.2 * (jnp.roll(u, 1) + jnp.roll(u, -1) - 2 * u), u)


def test_sim_label_with_fori_loop_is_folded():
    pred = jnp.linspace(0, 1, 32)
    label = np.random.default_rng(0).normal(size=32).astype(np.float32)
    loss = lambda p, lab: jnp.sum((sim(p) - sim(lab)) ** 2)  # noqa: E731
    program = foldax.trace(loss)(pred, label)
    d_label = np.asarray(jax.jit(sim)(label))
    ideal = jax.make_jaxpr(lambda p: jnp.sum((sim(p) - d_label) ** 2))(pred)
    assert program.num_equations <= count_equations(ideal)  # nothing of sim(label) is left
    chex.assert_trees_all_close(program(pred, label), jax.jit(loss)(pred, label), rtol=1e-5)


def test_random_draw_from_a_constant_key_runs_in_the_program_like_jax():
    # Keys are made and consumed when the program runs, as in JAX's own jaxpr, so that JAX's
    # key-reuse checkers see every use; the draw's value is JAX's.
    def f(x):
        return x + jax.random.normal(jax.random.key(0), (3,))

    x = jnp.ones(3)
    program = foldax.trace(f)(x)
    assert any(e.primitive.name == "random_bits" for e in iter_equations(program.jaxpr.jaxpr))
    chex.assert_trees_all_close(foldax.jit(f)(x), jax.jit(f)(x))


def test_control_flow_on_variables_still_fails_with_foldax_error():
    with pytest.raises(
        foldax.errors.TracerControlFlowError, match=r"the variables of this call are: x: float32\[\]"
    ):
        foldax.trace(lambda x: x if jnp.sin(x) > 0 else -x)(jnp.float32(1))


def test_large_results_stay_in_the_program_or_are_passed_as_arguments():
    big = (4096, 64)

    def f(x):
        return x + jnp.zeros(big)  # a broadcast of a scalar: left to XLA (not folded)

    program = foldax.trace(f)(jnp.ones(64))
    assert all(np.size(c) < 4096 * 64 for c in program.jaxpr.consts)
    chex.assert_trees_all_close(foldax.jit(f)(jnp.ones(64)), jax.jit(f)(jnp.ones(64)))


def test_effects_on_constants_are_not_run_while_tracing(capsys):
    def f(x):
        jax.debug.print("c={c}", c=jnp.sin(np.float32(1)))
        return x * 2

    g = foldax.jit(f)
    capsys.readouterr()
    g(jnp.ones(2))
    g(jnp.ones(2))
    assert capsys.readouterr().out.count("c=") == 2  # once per call, as jax.jit


@pytest.mark.parametrize(
    "dtype",
    [
        "bool",
        "int8",
        "uint32",
        "int64",
        "float16",
        "bfloat16",
        "float32",
        "float64",
        "complex64",
        "float8_e4m3fn",
    ],
)
def test_numpy_rules_match_xla(dtype):
    """Every NumPy-evaluated primitive agrees bit for bit with JAX's eager evaluation."""
    rng = np.random.default_rng(1)
    dt = jnp.dtype(dtype)
    x = np.asarray(rng.normal(size=(2, 3)) * 50).astype(dt)
    which = np.asarray([[0, 1, 1], [1, 0, 0]], bool)
    calls = [
        (lax.broadcast_in_dim_p, [x], {"shape": (4, 2, 3), "broadcast_dimensions": (1, 2), "sharding": None}),
        (lax.reshape_p, [x], {"new_sizes": (3, 2), "dimensions": None, "sharding": None}),
        (lax.squeeze_p, [x[:1]], {"dimensions": (0,)}),
        (lax.transpose_p, [x], {"permutation": (1, 0)}),
        (lax.rev_p, [x], {"dimensions": (1,)}),
        (lax.slice_p, [x], {"start_indices": (0, 1), "limit_indices": (2, 3), "strides": (1, 2)}),
        (lax.concatenate_p, [x, x], {"dimension": 1}),
        (lax.select_n_p, [which, x, x[::-1]], {}),
        (lax.iota_p, [], {"dtype": dt, "shape": (2, 5), "dimension": 1, "sharding": None}),
    ] + [
        (lax.convert_element_type_p, [x], {"new_dtype": jnp.dtype(t), "weak_type": False, "sharding": None})
        for t in ("bool", "int8", "int32", "float32", "float64", "bfloat16", dtype)
    ]
    covered = set()
    for prim, args, params in calls:
        if prim is lax.iota_p and dt.kind not in "iuf":
            continue
        mine = compute_now(prim, args, params)
        with jax.ensure_compile_time_eval():
            ref = prim.bind(*args, **params)
        covered.add(prim)
        assert jax.typeof(mine) == jax.typeof(ref), prim
        np.testing.assert_array_equal(
            np.asarray(mine).view(np.uint8) if dt.itemsize == 1 else np.asarray(mine),
            np.asarray(ref).view(np.uint8) if dt.itemsize == 1 else np.asarray(ref),
        )
    assert covered | {lax.iota_p} == set(NUMPY_RULES)


def test_numpy_rules_keep_the_weak_type():
    weak = compute_now(
        lax.broadcast_in_dim_p,
        [jnp.asarray(2.0)],
        {"shape": (3,), "broadcast_dimensions": (), "sharding": None},
    )
    assert jax.typeof(weak) == jax.typeof(jnp.broadcast_to(jnp.asarray(2.0), (3,)))
    assert (weak + jnp.ones(3, jnp.bfloat16)).dtype == jnp.bfloat16


# -- §2: checks see what folding computes --------------------------------------------------------
WRAPS = {"plain": lambda f: f, "foldax.jit": foldax.jit, "jax.jit": jax.jit}


def assert_checkify_agrees_with_jax(f, foldax_errors, jax_errors, *args, wrap="plain"):
    """foldax.checkify of ``f`` (wrapped by ``wrap``) against JAX's checkify of jax.jit(f) (of f
    when ``wrap`` is "plain")."""
    err, out = foldax.checkify(WRAPS[wrap](f), errors=foldax_errors)(*args)
    theirs = f if wrap == "plain" else jax.jit(f)
    jax_err, jax_out = jax_checkify.checkify(theirs, errors=jax_errors)(*args)
    assert err.get() == jax_err.get()
    chex.assert_trees_all_close(out, jax_out)
    return err


ROWS = [  # (function, foldax errors, jax errors, argument as a constant)
    (lambda i: jnp.arange(3.0)[i], foldax.index_checks, jax_checkify.index_checks, 7),
    (lambda x: jnp.log(x), foldax.nan_checks, jax_checkify.nan_checks, np.array([-1.0], np.float32)),
    (lambda x: jnp.sin(x), foldax.float_checks, jax_checkify.float_checks, float("inf")),
]


@pytest.mark.parametrize("wrap", sorted(WRAPS))
@pytest.mark.parametrize("row", range(len(ROWS)))
@pytest.mark.parametrize("kind", ["constant", "python scalar", "traced"])
def test_issue_rows_match_jax_checkify(row, kind, wrap):
    f, errors, jax_errors, value = ROWS[row]
    if kind == "traced":
        value = jnp.asarray(value)
    elif kind == "python scalar":
        value = np.asarray(value).reshape(-1)[0].item()
    err = assert_checkify_agrees_with_jax(f, errors, jax_errors, value, wrap=wrap)
    assert err.get() is not None
    assert "test_constants.py" in str(err.get_exception())  # the user's line


@pytest.mark.parametrize("wrap", sorted(WRAPS))
@pytest.mark.parametrize("kind", ["constant", "traced"])
def test_nan_is_named_where_it_is_produced(kind, wrap):
    x = np.array([1.0, -1.0], np.float32)
    x = jnp.asarray(x) if kind == "traced" else x
    err = assert_checkify_agrees_with_jax(
        lambda w, x: jnp.sum(w * jnp.sqrt(x)),
        foldax.nan_checks,
        jax_checkify.nan_checks,
        jnp.ones(2),
        x,
        wrap=wrap,
    )
    assert "sqrt" in err.get()


def test_a_nested_jit_called_outside_checkify_first_is_still_checked_inside():
    """The nested foldax.jit keeps a program per trace context: the one traced outside checkify
    (folded, nothing observed) is not reused inside, nor the observed one outside."""
    g = foldax.jit(lambda x: jnp.log(x) + 1)
    x = np.array([-1.0], np.float32)
    chex.assert_trees_all_close(g(x), jax.jit(g.__wrapped__)(x))
    err = assert_checkify_agrees_with_jax(
        g.__wrapped__, foldax.nan_checks, jax_checkify.nan_checks, x, wrap="plain"
    )
    assert foldax.checkify(g, errors=foldax.nan_checks)(x)[0].get() == err.get()
    assert g.trace(x).jaxpr.eqns == []


def loop_on_constants(x):
    """A while loop whose condition makes a NaN on its first carry, and whose body divides by
    zero later: all on constants."""

    def cond(c):
        return jnp.sin(1.0 / c) * 0 + c < 3.0

    return lax.while_loop(cond, lambda c: c + 1.0 + jnp.log(c - 1.0), x)


@pytest.mark.parametrize("x", [0.0, 1.0, 2.0])
@pytest.mark.parametrize("wrap", ["foldax.jit", "jax.jit"])
def test_control_flow_on_constants_in_a_nested_jit_is_checked(wrap, x):
    assert_checkify_agrees_with_jax(
        loop_on_constants, foldax.float_checks, jax_checkify.float_checks, x, wrap=wrap
    )


ERROR_SETS = {
    "user": (foldax.user_checks, jax_checkify.user_checks),
    "nan": (foldax.nan_checks, jax_checkify.nan_checks),
    "div": (foldax.div_checks, jax_checkify.div_checks),
    "index": (foldax.index_checks, jax_checkify.index_checks),
    "float": (foldax.float_checks, jax_checkify.float_checks),
    "automatic": (foldax.automatic_checks, jax_checkify.automatic_checks),
    "all": (foldax.all_checks, jax_checkify.all_checks),
}


def failing(i, x):
    """One failure per error kind on constants: index, NaN, integer division by zero."""
    a = jnp.arange(3.0)[i]
    b = jnp.log(x - 2.0)
    c = jnp.int32(1) // (i - 7)
    return a + b + c


@pytest.mark.parametrize("name", sorted(ERROR_SETS))
@pytest.mark.parametrize("kind", ["constant", "python scalar", "traced"])
def test_every_error_set_on_constants(name, kind):
    i, x = np.int32(7), np.float32(1.0)
    if kind == "traced":
        i, x = jnp.asarray(i), jnp.asarray(x)
    elif kind == "python scalar":
        i, x = 7, 1.0
    errors, jax_errors = ERROR_SETS[name]
    assert_checkify_agrees_with_jax(failing, errors, jax_errors, i, x)


def test_failing_constant_check_is_returned_inside_checkify_and_raises_outside():
    def f(x):
        foldax.check(jnp.all(np.arange(3) > 0), "not positive")
        return x

    err, _ = foldax.checkify(f)(jnp.ones(2))
    assert err.get() == "not positive (`check` failed)"
    assert "test_constants.py" in str(err.get_exception())
    with pytest.raises(foldax.errors.CheckError, match="not positive"):
        foldax.jit(f)(jnp.ones(2))


def test_control_flow_on_constants_works_inside_checkify():
    err, out = foldax.checkify(phiml_if, errors=foldax.float_checks)(jnp.ones(2))
    assert err.get() is None
    chex.assert_trees_all_close(out, np.sin(np.float32(4)) / jnp.ones(2))
