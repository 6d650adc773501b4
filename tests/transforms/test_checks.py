"""foldax.checkify against jax.experimental.checkify on the cases both support (same error, same
message, same outputs), and the same refusal where JAX refuses (checkify of a batched while)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from corpus import CORPUS, CORPUS_IDS
from jax import lax
from jax.experimental import checkify as jc

import foldax
from foldax.errors import FoldaxValueError

ERROR_SETS = {  # foldax set -> JAX set
    "user": (foldax.user_checks, jc.user_checks),
    "nan": (foldax.nan_checks, jc.nan_checks),
    "div": (foldax.div_checks, jc.div_checks),
    "index": (foldax.index_checks, jc.index_checks),
    "all": (foldax.all_checks, jc.all_checks),
}


def both(make, args, errors="user", jit=True):
    """Run ``make(check)`` checkified by foldax (with foldax.check) and by JAX (with jc.check)."""
    ours, theirs = ERROR_SETS[errors]
    wrap = jax.jit if jit else (lambda f: f)
    e1, o1 = wrap(foldax.checkify(make(foldax.check), errors=ours))(*args)
    e2, o2 = wrap(jc.checkify(make(jc.check), errors=theirs))(*args)
    chex.assert_trees_all_close(o1, o2)
    return e1.get(), e2.get()


def positive_log(check):
    def f(x):
        check(jnp.all(x > 0), "log of non-positive {x} (min {m})", x=x, m=jnp.min(x))
        return jnp.log(x)

    return f


def in_cond(check):
    def f(x):
        def big(x):
            check(x < 10, "too big: {}", x)
            return x * 2

        return lax.cond(x > 0, big, lambda x: -x, x)

    return f


def in_switch(check):
    def f(i, x):
        def branch(k):
            def g(x):
                check(x != k, "branch {} met its own index", np.asarray(k, np.int32))
                return x + k

            return g

        return lax.switch(i, [branch(0), branch(1), branch(2)], x)

    return f


def in_scan(check):
    def f(xs):
        def body(c, x):
            check(x >= 0, "negative {} after total {}", x, c)
            return c + x, c

        return lax.scan(body, 0.0, xs)

    return f


def in_while_body(check):
    def f(x):
        def body(c):
            check(c != 5, "hit five")
            return c + 1

        return lax.while_loop(lambda c: c < 10, body, x)

    return f


def in_while_cond(check):
    def f(x):
        def cond(c):
            check(c < 100, "condition saw {}", c)
            return c < 10

        return lax.while_loop(cond, lambda c: c * 3, x)

    return f


def in_nested_jit_and_remat(check):
    def f(x):
        @jax.jit
        def inner(y):
            check(y > 1, "inner got {}", y)
            return jax.checkpoint(lambda z: (check(z < 5, "remat got {}", z), jnp.sin(z))[1])(y)

        return inner(x) + inner(x * 3)

    return f


def in_fori(check):
    def f(x):
        def body(i, c):
            check(c < 20, "step {} carried {}", i, c)
            return c * 2

        return lax.fori_loop(0, 6, body, x)

    return f


def two_checks(check):
    def f(x):
        check(x > 0, "first")
        check(x > 1, "second")
        return x

    return f


USER_CASES = [
    ("positive_log", positive_log, [(jnp.array([1.0, 2.0]),), (jnp.array([1.0, -2.0]),)]),
    ("cond", in_cond, [(jnp.float32(3.0),), (jnp.float32(11.0),), (jnp.float32(-20.0),)]),
    ("switch", in_switch, [(jnp.int32(1), jnp.float32(5.0)), (jnp.int32(2), jnp.float32(2.0))]),
    ("scan", in_scan, [(jnp.array([1.0, 2.0, 3.0]),), (jnp.array([1.0, -2.0, -3.0]),)]),
    ("while_body", in_while_body, [(jnp.int32(6),), (jnp.int32(0),)]),
    ("while_cond", in_while_cond, [(jnp.int32(1),), (jnp.int32(200),), (jnp.int32(5),)]),
    (
        "nested_jit_remat",
        in_nested_jit_and_remat,
        [(jnp.float32(1.5),), (jnp.float32(0.5),), (jnp.float32(2.0),)],
    ),
    ("fori", in_fori, [(jnp.float32(1.0),), (jnp.float32(3.0),)]),
    ("two_checks", two_checks, [(jnp.float32(2.0),), (jnp.float32(0.5),), (jnp.float32(-1.0),)]),
]


@pytest.mark.parametrize("name,make,cases", USER_CASES, ids=[c[0] for c in USER_CASES])
def test_user_checks_match_jax(name, make, cases):
    for args in cases:
        ours, theirs = both(make, args)
        assert ours == theirs, (name, args)


@pytest.mark.parametrize("name,make,cases", USER_CASES[:3], ids=[c[0] for c in USER_CASES[:3]])
def test_user_checks_eager_match_jax(name, make, cases):
    for args in cases:
        ours, theirs = both(make, args, jit=False)
        assert ours == theirs


AUTOMATIC = [
    ("nan_log", "nan", lambda x: jnp.log(x) * 2, (jnp.array([1.0, -1.0]),)),
    ("nan_inf_minus_inf", "nan", lambda x: jnp.exp(x) - jnp.exp(x), (jnp.array([1.0, 1000.0]),)),
    ("nan_none", "nan", lambda x: jnp.sin(x) @ jnp.cos(x), (jnp.ones(3),)),
    (
        "nan_in_scan",
        "nan",
        lambda x: lax.scan(lambda c, y: (c + jnp.sqrt(y), None), 0.0, x)[0],
        (jnp.array([1.0, 4.0, -1.0]),),
    ),
    ("div_int", "div", lambda a, b: a // b + a % 3, (jnp.arange(4), jnp.array([1, 2, 0, 1]))),
    ("div_none", "div", lambda a, b: a // b, (jnp.arange(4), jnp.array([1, 2, 3, 1]))),
    ("index_take", "index", lambda x, i: x[i], (jnp.arange(3.0), jnp.int32(5))),
    ("index_negative", "index", lambda x, i: x[i], (jnp.arange(3.0), jnp.int32(-5))),
    ("index_fancy", "index", lambda x, i: x[i], (jnp.arange(4.0), jnp.array([0, 7, 1]))),
    (
        "index_dynamic_slice",
        "index",
        lambda x, i: lax.dynamic_slice(x, (i,), (2,)),
        (jnp.arange(4.0), jnp.int32(3)),
    ),
    (
        "index_dynamic_update",
        "index",
        lambda x, i: lax.dynamic_update_slice(x, jnp.ones(2), (i,)),
        (jnp.arange(4.0), jnp.int32(3)),
    ),
    (
        "index_scatter",
        "index",
        lambda x, i: x.at[i].add(1.0, mode="drop"),
        (jnp.arange(4.0), jnp.array([1, 9])),
    ),
    ("index_ok", "index", lambda x, i: x[i] + x.at[i].set(0.0)[0], (jnp.arange(4.0), jnp.int32(2))),
]


@pytest.mark.parametrize("name,errors,f,args", AUTOMATIC, ids=[c[0] for c in AUTOMATIC])
def test_automatic_checks_match_jax(name, errors, f, args):
    ours, theirs = both(lambda check: f, args, errors)
    assert ours == theirs


def test_all_checks_first_error_is_reported():
    def f(x, i):
        y = jnp.log(x)  # NaN first
        return y[i]  # then out of bounds

    ours, theirs = both(lambda check: f, (jnp.array([-1.0, 2.0]), jnp.int32(4)), "all")
    assert ours == theirs == "nan generated by primitive: log."


@pytest.mark.parametrize("name,f,make_args", CORPUS, ids=CORPUS_IDS)
def test_corpus_all_checks_agree_with_jax(name, f, make_args):
    x = make_args()
    e1, o1 = jax.jit(foldax.checkify(f, errors=foldax.all_checks))(x)
    e2, o2 = jax.jit(jc.checkify(f, errors=jc.all_checks))(x)
    chex.assert_trees_all_close(o1, o2, rtol=1e-5)
    assert e1.get() == e2.get()


@pytest.mark.parametrize(
    "name,f,make_args",
    [c for c in CORPUS if c[0] in ("custom_derivatives", "control_scan", "remat")],
    ids=["custom_derivatives", "control_scan", "remat"],
)
def test_gradient_through_checkify_keeps_custom_rules(name, f, make_args):
    x = make_args()
    checked = lambda y: jnp.sum(foldax.checkify(f, errors=foldax.all_checks)(y)[1])  # noqa: E731
    chex.assert_trees_all_close(jax.grad(checked)(x), jax.grad(lambda y: jnp.sum(f(y)))(x), rtol=1e-5)


# -- grad: the primal computation is checked ----------------------------------------------------
def checked_loss(check):
    def loss(w):
        check(jnp.all(w > 0), "weights must be positive, min {}", jnp.min(w))
        return jnp.sum(jnp.log(w) ** 2)

    return loss


@pytest.mark.parametrize("w", [jnp.array([1.0, 2.0]), jnp.array([1.0, -2.0])])
def test_checkify_of_grad_matches_jax(w):
    e1, g1 = jax.jit(foldax.checkify(jax.grad(checked_loss(foldax.check))))(w)
    e2, g2 = jax.jit(jc.checkify(jax.grad(checked_loss(jc.check))))(w)
    chex.assert_trees_all_close(g1, g2)
    assert e1.get() == e2.get()


def test_checkify_of_foldax_grad_checks_the_primal():
    w = jnp.array([1.0, -2.0])
    e1, g1 = foldax.checkify(foldax.grad(checked_loss(foldax.check)))(w)
    _, g2 = jc.checkify(jax.grad(checked_loss(jc.check)))(w)
    chex.assert_trees_all_close(g1, g2)
    assert e1.get() == "weights must be positive, min -2.0 (`check` failed)"


# -- vmap ---------------------------------------------------------------------------------------
def nonpositive(check):
    def f(x):
        check(x > 0, "nonpositive {}", x)
        return x * 2

    return f


XS = jnp.array([1.0, 2.0, -3.0, -4.0])


def test_vmap_of_checkify_matches_jax():
    e1, o1 = jax.vmap(foldax.checkify(nonpositive(foldax.check)))(XS)
    e2, o2 = jax.vmap(jc.checkify(nonpositive(jc.check)))(XS)
    chex.assert_trees_all_close(o1, o2)
    # both list every failing element, one per line, in the same words
    assert e1.get() == e2.get()
    assert e1.get().splitlines()[0] == "at mapped index 2: nonpositive -3.0 (`check` failed)"


@pytest.mark.parametrize("vmap", [jax.vmap, foldax.vmap], ids=["jax.vmap", "foldax.vmap"])
def test_checkify_of_vmap_reports_first_failing_index(vmap):
    err, out = jax.jit(foldax.checkify(vmap(nonpositive(foldax.check))))(XS)
    first = next(i for i, x in enumerate(np.asarray(XS)) if not x > 0)  # a plain Python loop
    assert err.get() == f"at mapped index {first}: nonpositive {float(XS[first])} (`check` failed)"
    chex.assert_trees_all_close(out, XS * 2)


def test_nested_vmap_reports_both_indices():
    xs = jnp.array([[1.0, 2.0], [3.0, -1.0]])
    err, _ = foldax.checkify(jax.vmap(jax.vmap(nonpositive(foldax.check))))(xs)
    assert err.get() == "at mapped index 1, 1: nonpositive -1.0 (`check` failed)"
    err2, _ = jax.vmap(foldax.checkify(jax.vmap(nonpositive(foldax.check))))(xs)
    assert err2.get() == err.get()


def test_vmap_of_checkify_through_foldax_vmap():
    err, _ = foldax.vmap(foldax.checkify(nonpositive(foldax.check)))(XS)
    expected, _ = jax.vmap(jc.checkify(nonpositive(jc.check)))(XS)
    assert err.get() == expected.get()


# -- batched while: refused as JAX's checkify refuses it; vmap-of-checkify instead ---------------
def counting(check):
    def f(x):
        def cond(c):
            check(c[0] < 50, "condition saw {}", c[0])
            return c[0] < 10

        def body(c):
            check(c[0] < 8, "reached {} at step {}", c[0], c[1])
            return c[0] + 1, c[1] + 1

        return lax.while_loop(cond, body, (x, 0))

    return f


def ratio_loop(check):
    """JAX's checkify-of-vmap-of-while test function: checks in the condition and the body."""

    def f(n, v):
        def cond(s):
            check(s[1] < 6, "value needs to be less than 6!")
            return s[0] > 0

        def body(s):
            check(s[1] >= 0, "value needs to be positive!")
            return s[0] / s[1], s[1] - 1.0

        return lax.while_loop(cond, body, (n, v))[1]

    return f


def halving(check):
    """No check in the loop: an integer division (``div_checks``) in its body, by zero once the
    carry reaches 2."""

    def f(x):
        return lax.while_loop(lambda c: c[0] > 0, lambda c: (c[0] - 1, c[1] + 100 // (c[0] - 2)), (x, 0))

    return f


BATCHED_LOOPS = {  # name -> (make(check), error set, arguments)
    "checks_in_condition_and_body": (counting, "user", (jnp.array([0, 3, 9, 12, 60]),)),
    "jax_example_all_checks": (ratio_loop, "all", (jnp.array([1.0, 2.0, 3.0]), jnp.array([6.0, 2.5, -4.0]))),
    "division_in_body_div_checks": (halving, "div", (jnp.array([0, 3, 7, 1]),)),
}
VMAPS = {"jax.vmap": jax.vmap, "foldax.vmap": foldax.vmap}


def jax_refusal(make, errors, args):
    """The ValueError JAX's checkify raises for ``make``'s loop vmapped."""
    with pytest.raises(ValueError, match="checkify-of-vmap-of-while") as caught:
        jc.checkify(jax.vmap(make(jc.check)), errors=ERROR_SETS[errors][1])(*args)
    return str(caught.value)


@pytest.mark.parametrize("vmap", VMAPS.values(), ids=VMAPS.keys())
@pytest.mark.parametrize("check", ["foldax.check", "jc.check"])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("case", BATCHED_LOOPS.keys())
def test_checkify_of_vmap_of_while_with_checks_is_refused_as_jax_refuses(case, jit, check, vmap):
    make, errors, args = BATCHED_LOOPS[case]
    expected = jax_refusal(make, errors, args)
    loop = make(foldax.check if check == "foldax.check" else jc.check)
    checked = foldax.checkify(vmap(loop), errors=ERROR_SETS[errors][0])
    with pytest.raises(FoldaxValueError, match="checkify-of-vmap-of-while") as caught:
        (jax.jit(checked) if jit else checked)(*args)
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    assert message.startswith(expected)
    # foldax's sentence: where the loop and its check are, and the fix
    assert f"the while_loop at {__file__}" in message
    assert "vmap(checkify(f))" in message


@pytest.mark.parametrize("vmap", VMAPS.values(), ids=VMAPS.keys())
def test_checkify_of_jit_of_vmap_of_while_is_refused_after_an_unchecked_call(vmap):
    """The jitted loop was traced (and cached) outside checkify first: checkify traces it again
    and refuses it."""
    make, errors, args = BATCHED_LOOPS["division_in_body_div_checks"]
    expected = jax_refusal(make, errors, args)
    batched = foldax.jit(vmap(make(None)))
    chex.assert_trees_all_equal(batched(*args), jax.jit(jax.vmap(make(None)))(*args))
    with pytest.raises(FoldaxValueError) as caught:
        foldax.checkify(batched, errors=foldax.div_checks)(*args)
    assert str(caught.value).startswith(expected)


def jax_checkify_per_element(make, errors, args):
    """What ``jax.vmap(jc.checkify(f))`` gives, made from JAX's checkify of each element (JAX
    0.10.2's own vmap of a checkified while fails batching its ``dce_sink``): the outputs
    stacked, and the message of JAX's BatchedError (a line per failing element)."""
    results = [jc.checkify(make(jc.check), errors=errors)(*element) for element in zip(*args)]
    outs = jax.tree.map(lambda *o: jnp.stack(o), *[o for _, o in results])
    lines = [f"at mapped index {i}: {e.get()}" for i, (e, _) in enumerate(results) if e.get() is not None]
    return "\n".join(lines) or None, outs


@pytest.mark.parametrize("outer", VMAPS.values(), ids=VMAPS.keys())
@pytest.mark.parametrize("case", BATCHED_LOOPS.keys())
def test_vmap_of_checkify_of_while_matches_jax(case, outer):
    """The fix the error names: every element gets its own error, as JAX's checkify gives it."""
    make, errors, args = BATCHED_LOOPS[case]
    ours, theirs = ERROR_SETS[errors]
    err, out = outer(foldax.checkify(make(foldax.check), errors=ours))(*args)
    expected, expected_out = jax_checkify_per_element(make, theirs, args)
    chex.assert_trees_all_close(out, expected_out)
    assert expected is not None
    assert err.get() == expected


def plain_loop(check):
    def f(x):
        return lax.while_loop(lambda c: c < 10, lambda c: c * 2 + 1, x)

    return f


@pytest.mark.parametrize("vmap", VMAPS.values(), ids=VMAPS.keys())
@pytest.mark.parametrize("errors", ["user", "div"])
def test_checkify_of_vmap_of_while_without_checks_runs_the_loop(errors, vmap):
    """Nothing in the loop can fail: checkify runs it as vmap alone does (JAX refuses it too)."""
    xs = jnp.array([0, 3, 9, 12])
    jax_refusal(plain_loop, errors, (xs,))
    err, out = foldax.checkify(vmap(plain_loop(foldax.check)), errors=ERROR_SETS[errors][0])(xs)
    assert err.get() is None
    chex.assert_trees_all_equal(out, vmap(plain_loop(foldax.check))(xs))


@pytest.mark.parametrize("vmap", VMAPS.values(), ids=VMAPS.keys())
def test_check_outside_an_unchecked_batched_while_is_reported(vmap):
    def f(x):
        foldax.check(x < 5, "big {}", x)
        return plain_loop(None)(x)

    xs = jnp.array([0, 3, 9, 12])
    err, out = foldax.checkify(vmap(f))(xs)
    first = next(i for i, x in enumerate(np.asarray(xs)) if not x < 5)  # a plain Python loop
    assert err.get() == f"at mapped index {first}: big {xs[first]} (`check` failed)"
    chex.assert_trees_all_equal(out, jax.vmap(plain_loop(None))(xs))


def test_eager_vmap_of_while_checks_only_the_elements_still_running():
    """Under disable_jit foldax.vmap's loop runs eagerly while any element goes: the check in its
    body must not fire for the elements that have finished (or never started), as a Python loop
    over the elements shows."""

    def f(x):
        def body(c):
            foldax.check(c < 10, "body ran past ten with {}", c)
            return c + 1

        return lax.while_loop(lambda c: c < 10, body, x)

    xs = jnp.array([0, 9, 10, 25])
    with jax.disable_jit():
        expected = jnp.stack([f(x) for x in xs])
        out = foldax.vmap(f)(xs)
    chex.assert_trees_all_equal(out, expected)


def test_batched_cond_checks_only_the_branch_each_element_takes():
    def f(x):
        def positive(v):
            foldax.check(v > 0, "positive branch got {}", v)
            return v

        def negative(v):
            foldax.check(v <= 0, "negative branch got {}", v)
            return -v

        return lax.cond(x > 0, positive, negative, x)

    xs = jnp.array([1.0, -1.0, 2.0])
    err, out = foldax.checkify(foldax.vmap(f))(xs)
    assert err.get() is None  # a Python loop over the elements raises nothing
    chex.assert_trees_all_close(out, jnp.abs(xs))
    err, _ = foldax.checkify(foldax.vmap(lambda x: f(x) + (foldax.check(x < 2, "big {}", x), 0)[1]))(xs)
    assert err.get() == "at mapped index 2: big 2.0 (`check` failed)"


# -- composition with foldax.jit, and the error value as a pytree ------------------------------
def test_foldax_jit_of_checkify_and_error_pytree():
    f = foldax.jit(foldax.checkify(positive_log(foldax.check), errors=foldax.all_checks))
    err, _ = f(jnp.array([1.0, -1.0]))
    assert err.get() == "log of non-positive [ 1. -1.] (min -1.0) (`check` failed)"
    assert f(jnp.array([1.0, 2.0]))[0].get() is None
    leaves, tree = jax.tree_util.tree_flatten(err)
    assert jax.tree_util.tree_unflatten(tree, leaves).get() == err.get()


def test_function_without_checks_leaves_no_trace():
    prog = foldax.trace(foldax.checkify(lambda x: x * 2))(jnp.ones(3))
    assert prog.num_equations == 1
    err, out = foldax.checkify(lambda x: x * 2)(jnp.ones(3))
    assert err.get() is None


def test_throw_raises_check_error_with_source_line():
    err, _ = foldax.checkify(nonpositive(foldax.check))(jnp.float32(-1.0))
    with pytest.raises(foldax.errors.CheckError, match=r"nonpositive -1.0 \(`check` failed\)") as info:
        err.throw()
    assert "test_checks.py" in str(info.value)
    assert isinstance(err.get_exception(), foldax.errors.CheckError)


# -- checks inside custom_jvp / custom_vjp functions -----------------------------------------------
def custom_functions(check):
    @jax.custom_jvp
    def clip_grad(x):
        check(jnp.all(x > -5), "custom_jvp input below -5: {}", jnp.min(x))
        return jnp.tanh(x)

    # not the true derivative; the rule calls the primal function, so its check runs under grad
    clip_grad.defjvp(lambda p, t: (clip_grad(p[0]), t[0] * 0.5))

    @jax.custom_vjp
    def scaled(x):
        check(jnp.all(x < 5), "custom_vjp input above 5: {}", jnp.max(x))
        return x

    scaled.defvjp(lambda x: (x, None), lambda _, ct: (3.0 * ct,))  # fwd skips the check
    return lambda x: jnp.sum(clip_grad(x) + scaled(x) * x)


@pytest.mark.parametrize("x", [[1.0, 2.0], [-6.0, 1.0], [1.0, 6.0]])
def test_checks_inside_custom_derivatives(x):
    x = jnp.array(x)
    ours, theirs = both(custom_functions, (x,))
    assert ours == theirs
    # differentiating the checkified function still uses the custom rules; a check that the
    # custom JVP rule itself runs is outside checkify, and fails eagerly as in JAX
    unchecked = custom_functions(lambda *a, **k: None)
    grad_of_checkify = jax.grad(lambda y: foldax.checkify(custom_functions(foldax.check))(y)[1])
    if float(x.min()) < -5:
        with pytest.raises(foldax.errors.CheckError, match="custom_jvp input below -5"):
            grad_of_checkify(x)
    else:
        chex.assert_trees_all_close(grad_of_checkify(x), jax.grad(unchecked)(x))
    # under grad the custom rules compute the primal: what they run is checked, as in JAX
    err, g2 = jax.jit(foldax.checkify(jax.grad(custom_functions(foldax.check))))(x)
    jerr, _ = jax.jit(jc.checkify(jax.grad(custom_functions(jc.check))))(x)
    chex.assert_trees_all_close(g2, jax.grad(unchecked)(x))
    assert err.get() == jerr.get()
    assert err.get() == (ours if float(x.min()) < -5 else None)


def test_nan_from_a_nan_input_is_not_produced_there():
    """A primitive whose input is known to hold a NaN (a constant, or the output of a checked
    primitive) does not produce it: JAX reports the constant's first user, foldax does not."""
    f = lambda x: jnp.sin(x + np.float32(np.nan))  # noqa: E731
    err, out = jax.jit(foldax.checkify(f, errors=foldax.nan_checks))(jnp.ones(2))
    jerr, _ = jax.jit(jc.checkify(f, errors=jc.nan_checks))(jnp.ones(2))
    assert err.get() is None and jerr.get() == "nan generated by primitive: add."
    assert bool(jnp.isnan(out).all())
    g = lambda x: jnp.sin(jnp.sqrt(x)) * 2  # noqa: E731  made by sqrt, flows through sin and mul
    err, _ = foldax.checkify(g, errors=foldax.nan_checks)(jnp.array([1.0, -1.0]))
    assert err.get() == "nan generated by primitive: sqrt."


# -- drawn data: the same first error as JAX ------------------------------------------------------
from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=10, deadline=None)
@given(
    st.lists(st.integers(-3, 3), min_size=4, max_size=4),
    st.lists(st.integers(-6, 6), min_size=2, max_size=2),
    st.floats(-2.0, 2.0, allow_nan=False),
)
def test_drawn_programs_report_the_same_first_error_as_jax(divisors, indices, offset):
    def f(x, d, i):
        q = jnp.arange(4) // d  # integer division by zero
        y = jnp.log(x + offset)  # NaN for x + offset < 0
        return q.sum() + y[i].sum()  # out-of-bounds gather

    args = (jnp.linspace(0.0, 1.0, 4), jnp.array(divisors), jnp.array(indices))
    ours, theirs = both(lambda check: f, args, "all")
    assert ours == theirs
