"""foldax.random.keyed: reproducible, independent across call sites, loop iterations and batch
elements, equal in distribution to explicit splitting (Kolmogorov-Smirnov tests with fixed seeds),
composing with jit/grad/vmap, without splitting up front; and its errors."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from scipy import stats

import foldax
from foldax import random
from foldax.errors import CheckifyRequiredError, FoldaxTypeError, FoldaxValueError

KEY = random.key(0)
N = 2000
P_MIN = 1e-3  # fixed seeds: each p-value below is deterministic


@random.keyed
def two_sites(x):
    return x + random.normal(shape=x.shape), random.uniform(shape=x.shape)


def test_reproducible_and_key_dependent():
    a, b = two_sites(KEY, jnp.zeros(N)), two_sites(KEY, jnp.zeros(N))
    chex.assert_trees_all_equal(a, b)
    c = two_sites(random.key(1), jnp.zeros(N))
    assert not np.allclose(a[0], c[0])


def test_call_sites_are_independent():
    @random.keyed
    def f():
        return random.normal(shape=(N,)), random.normal(shape=(N,))

    a, b = f(KEY)
    assert abs(np.corrcoef(a, b)[0, 1]) < 4 / np.sqrt(N)
    assert stats.ks_2samp(np.asarray(a), np.asarray(b)).pvalue > P_MIN


def test_repeated_site_in_a_python_loop_is_fresh_and_normal():
    draws = random.keyed(lambda: jnp.stack([random.normal(shape=()) for _ in range(500)]))(KEY)
    assert len(np.unique(np.asarray(draws))) == 500
    assert stats.kstest(np.asarray(draws), "norm").pvalue > P_MIN


def test_loop_iterations_draw_fresh_numbers():
    @random.keyed
    def f():
        return lax.scan(lambda c, _: (c, random.normal(shape=())), 0.0, None, length=N)[1]

    draws = np.asarray(f(KEY))
    assert stats.kstest(draws, "norm").pvalue > P_MIN
    bits = random.keyed(lambda: lax.scan(lambda c, _: (c, random.bits(shape=())), 0, None, length=N)[1])(KEY)
    assert len(np.unique(np.asarray(bits))) == N
    fori = random.keyed(
        lambda: lax.fori_loop(0, 3, lambda i, c: c.at[i].set(random.uniform(shape=())), jnp.zeros(3))
    )(KEY)
    assert len(np.unique(np.asarray(fori))) == 3


def test_jitted_function_called_twice_draws_twice():
    g = jax.jit(lambda x: x + random.normal(shape=()))
    a, b = random.keyed(lambda: (g(0.0), g(0.0)))(KEY)
    assert a != b


def _explicit(key, n):
    return jax.vmap(lambda k: jax.random.normal(k))(jax.random.split(key, n))


def _per_element(x):
    return x + random.normal(shape=()), random.bits(shape=())


@pytest.mark.parametrize("vmap", [jax.vmap, foldax.vmap], ids=["jax.vmap", "foldax.vmap"])
@pytest.mark.parametrize("where", ["vmap inside", "vmap outside, one key", "vmap outside, keys"])
def test_batch_elements_independent_and_equal_in_distribution_to_splitting(where, vmap):
    if where == "vmap inside":
        draws, bits = random.keyed(lambda xs: vmap(_per_element)(xs))(KEY, jnp.zeros(N))
    elif where == "vmap outside, one key":
        draws, bits = vmap(random.keyed(_per_element), in_axes=(None, 0))(KEY, jnp.zeros(N))
    else:
        draws, bits = vmap(random.keyed(_per_element))(random.split(KEY, N), jnp.zeros(N))
    draws = np.asarray(draws)
    assert len(np.unique(np.asarray(bits))) == N  # 32 random bits: no element shares a key
    explicit = np.asarray(_explicit(jax.random.key(123), N))
    assert stats.ks_2samp(draws, explicit).pvalue > P_MIN
    assert stats.kstest(draws, "norm").pvalue > P_MIN
    assert abs(np.corrcoef(draws[:-1], draws[1:])[0, 1]) < 4 / np.sqrt(N)


def test_nested_vmaps_give_every_element_its_own_draw():
    f = random.keyed(lambda x: jax.vmap(jax.vmap(lambda y: y + random.uniform(shape=())))(x))
    draws = np.asarray(f(KEY, jnp.zeros((40, 50))))
    bits = random.keyed(lambda x: jax.vmap(jax.vmap(lambda y: random.bits(shape=())))(x))(
        KEY, jnp.zeros((40, 50))
    )
    assert len(np.unique(np.asarray(bits))) == bits.size
    assert stats.kstest(draws.ravel(), "uniform").pvalue > P_MIN


def test_composes_with_jit_and_grad():
    eager = two_sites(KEY, jnp.zeros(3))
    chex.assert_trees_all_close(foldax.jit(two_sites)(KEY, jnp.zeros(3)), eager)
    chex.assert_trees_all_close(jax.jit(two_sites)(KEY, jnp.zeros(3)), eager)

    @random.keyed
    def loss(w):
        noise = random.normal(shape=(3,))
        return jnp.sum(w * noise), noise

    grad, noise = jax.grad(lambda w: loss(KEY, w), has_aux=True)(jnp.ones(3))
    chex.assert_trees_all_close(grad, noise)
    chex.assert_trees_all_close(
        jax.jit(jax.grad(lambda w: loss(KEY, w), has_aux=True))(jnp.ones(3))[0], noise
    )


def test_no_up_front_split_one_fold_in_per_site():
    sites = 20

    @random.keyed
    def many(x):
        for _ in range(sites):
            x = x + random.normal(shape=())
        return x

    def explicit(key, x):
        for k in random.split(key, sites):
            x = x + random.normal(k)
        return x

    prog = foldax.trace(many)(KEY, jnp.float32(0.0))
    names = [e.primitive.name for e in prog.jaxpr.jaxpr.eqns]
    assert names.count("site_key") == sites and "random_split" not in names
    assert prog.num_equations <= foldax.trace(explicit)(KEY, jnp.float32(0.0)).num_equations
    assert random.find_key_reuse(many, KEY, jnp.float32(0.0)) is None


def test_explicit_keys_inside_keyed_are_untouched():
    out = random.keyed(lambda k: random.normal(k, (2,)))(KEY, random.key(5))
    chex.assert_trees_all_equal(out, jax.random.normal(random.key(5), (2,)))


def test_dropout_without_key_inside_keyed():
    y = random.keyed(lambda x: random.dropout(None, 0.5, x))(KEY, jnp.ones(N))
    assert set(np.unique(np.asarray(y)).tolist()) == {0.0, 2.0}
    assert abs(float(y.mean()) - 1.0) < 0.1


# -- errors ------------------------------------------------------------------------------------
def test_keyed_needs_a_typed_single_key():
    with pytest.raises(FoldaxTypeError, match=r"keyed\(two_sites\)\(key=...\): got a legacy uint32 key"):
        two_sites(jax.random.PRNGKey(0), jnp.zeros(2))
    with pytest.raises(FoldaxValueError, match=r"keyed\(two_sites\)\(key=...\): needs a single key"):
        two_sites(random.split(KEY, 2), jnp.zeros(2))
    with pytest.raises(FoldaxValueError, match=r"keyed\(two_sites\): call it with a key first"):
        two_sites(None, jnp.zeros(2))
    with pytest.raises(FoldaxTypeError, match=r"keyed\(fun=...\): expected a callable"):
        random.keyed(3)


def test_keyless_draw_traced_inside_keyed_and_reused_outside():
    g = jax.jit(lambda x: x + random.normal(shape=()))
    random.keyed(g)(KEY, 0.0)  # traced (and cached by jax.jit) inside keyed
    with pytest.raises(
        CheckifyRequiredError, match="without a key was evaluated or compiled outside foldax.random.keyed"
    ):
        g(0.0)
