"""foldax.random against jax.random on the same keys, keys as pytree leaves through foldax's
transformations, draws from constant keys folded at trace time, and the errors."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import foldax
from foldax import random
from foldax.errors import FoldaxTypeError, FoldaxValueError

KEY = random.key(7)


def assert_same_keys(a, b):
    chex.assert_trees_all_equal(jax.random.key_data(a), jax.random.key_data(b))


def test_keys_split_fold_in_match_jax():
    assert_same_keys(random.key(7), jax.random.key(7))
    assert_same_keys(random.key(np.int32(7)), jax.random.key(7))
    assert_same_keys(random.split(KEY, 5), jax.random.split(KEY, 5))
    assert_same_keys(random.split(KEY, (2, 3)), jax.random.split(KEY, (2, 3)))
    assert_same_keys(random.fold_in(KEY, 3), jax.random.fold_in(KEY, 3))
    chex.assert_trees_all_equal(random.key_data(KEY), jax.random.key_data(KEY))


def test_split_unpacks_like_jax():
    key, *subkeys = random.split(KEY, 9)
    ref = jax.random.split(KEY, 9)
    assert len(subkeys) == 8
    assert_same_keys(key, ref[0])
    for i, sub in enumerate(subkeys, 1):
        assert_same_keys(sub, ref[i])


DISTRIBUTIONS = [
    ("normal", ((3, 2),), {}),
    ("uniform", ((4,),), {"minval": -1.0, "maxval": 2.0}),
    ("bernoulli", (0.3, (5,)), {}),
    ("categorical", (jnp.log(jnp.array([0.2, 0.3, 0.5])),), {}),
    ("randint", ((6,), 0, 10), {}),
    ("permutation", (8,), {}),
    ("choice", (5, (3,)), {"replace": False}),
    ("truncated_normal", (-1.0, 1.0, (4,)), {}),
    ("exponential", ((3,),), {}),
    ("gamma", (2.0, (3,)), {}),
    ("beta", (2.0, 3.0, (3,)), {}),
    ("gumbel", ((3,),), {}),
    ("laplace", ((3,),), {}),
    ("logistic", ((3,),), {}),
    ("poisson", (3.0, (4,)), {}),
    ("dirichlet", (jnp.ones(3),), {}),
    ("bits", ((2,),), {}),
    ("multivariate_normal", (jnp.zeros(2), jnp.eye(2)), {}),
]


@pytest.mark.parametrize("name,args,kwargs", DISTRIBUTIONS, ids=[d[0] for d in DISTRIBUTIONS])
def test_distributions_match_jax(name, args, kwargs):
    chex.assert_trees_all_close(
        getattr(random, name)(KEY, *args, **kwargs), getattr(jax.random, name)(KEY, *args, **kwargs)
    )


def test_dropout_keeps_the_mean_and_matches_a_bernoulli_mask():
    x = jnp.ones(20000)
    y = random.dropout(KEY, 0.25, x)
    keep = jax.random.bernoulli(KEY, 0.75, x.shape)
    chex.assert_trees_all_close(y, jnp.where(keep, x / 0.75, 0.0))
    assert abs(float(y.mean()) - 1.0) < 0.03
    assert random.dropout(KEY, 0.5, x, deterministic=True) is x
    assert random.dropout(KEY, 0.0, x) is x


# -- keys are leaves every transformation accepts ---------------------------------------------
@foldax.dataclass
class Noisy:
    key: jax.Array
    scale: jax.Array


def test_keys_in_a_model_through_jit_vmap_and_grad():
    def f(model, x):
        return x * model.scale + random.normal(model.key, x.shape)

    model = Noisy(KEY, jnp.float32(2.0))
    expected = f(model, jnp.ones(3))
    chex.assert_trees_all_close(foldax.jit(f)(model, jnp.ones(3)), expected)
    chex.assert_trees_all_close(jax.jit(f)(model, jnp.ones(3)), expected)
    many = Noisy(random.split(KEY, 4), jnp.full(4, 2.0))
    chex.assert_trees_all_close(
        foldax.vmap(f, in_axes=(0, None))(many, jnp.ones(3)),
        jax.vmap(f, in_axes=(0, None))(many, jnp.ones(3)),
    )
    grad_scale = jax.grad(lambda s: f(Noisy(KEY, s), jnp.ones(3)).sum())(jnp.float32(2.0))
    chex.assert_trees_all_close(grad_scale, jnp.float32(3.0))


# -- constant keys stay in the program, as in JAX -------------------------------------------------
def test_draws_from_a_constant_key_stay_in_the_program_like_jax():
    def f(x, seed):
        k1, k2 = random.split(random.key(seed))
        return x + random.normal(k1, x.shape) * random.uniform(k2, x.shape)

    prog = foldax.trace(f)(jnp.ones(3), 3)  # seed is a Python int: a constant

    # keys are made and consumed when the program runs, as in JAX's own jaxpr of f, so key-reuse
    # checks (JAX's and foldax's) see every use
    def random_prims(jaxpr):
        names = set()
        for e in jaxpr.eqns:
            names |= {e.primitive.name} if e.primitive.name.startswith("random_") else set()
            for sub in (
                jax.core.jaxprs_in_params(e.params)
                if hasattr(jax.core, "jaxprs_in_params")
                else [p.jaxpr for p in e.params.values() if hasattr(p, "jaxpr")]
            ):
                names |= random_prims(sub)
        return names

    jax_jaxpr = jax.make_jaxpr(lambda x: f(x, 3))(jnp.ones(3))
    assert (
        random_prims(prog.jaxpr.jaxpr)
        == random_prims(jax_jaxpr.jaxpr)
        >= {"random_seed", "random_split", "random_bits"}
    )
    chex.assert_trees_all_close(prog(jnp.ones(3), 3), f(jnp.ones(3), 3))
    reuse = lambda x: (
        x
        + random.normal(random.key(3), x.shape)
        * random.normal(  # noqa: E731
            random.key(3), x.shape
        )
    )
    assert random.find_key_reuse(reuse, jnp.ones(3)) is None  # two keys made alike are two
    assert random.find_key_reuse(lambda x: f(x, 3) + random.normal(random.key(3)), jnp.ones(3)) is None


def test_folded_constant_key_can_be_an_output():
    prog = foldax.trace(lambda x: (random.key(3), x))(jnp.ones(1))
    key, _ = prog(jnp.ones(1))
    assert_same_keys(key, jax.random.key(3))


# -- errors -------------------------------------------------------------------------------------------
def test_legacy_uint32_key_is_refused_with_the_conversion():
    legacy = jax.random.PRNGKey(0)
    for call in (
        lambda: random.normal(legacy),
        lambda: random.split(legacy),
        lambda: random.key_data(legacy),
    ):
        with pytest.raises(
            FoldaxTypeError,
            match=r"legacy uint32 key array of shape \(2,\) \(as "
            r"made by jax.random.PRNGKey\).*foldax.random."
            r"key\(seed\).*jax.random.wrap_key_data",
        ):
            call()
    assert_same_keys(
        random.split(jax.random.wrap_key_data(legacy)), jax.random.split(jax.random.wrap_key_data(legacy))
    )


def test_split_needs_a_single_key():
    with pytest.raises(
        FoldaxValueError,
        match=r"split\(key=...\): needs a single key, but was given "
        r"a key array of shape \(3,\).*keys\[i\].*vmap",
    ):
        random.split(random.split(KEY, 3))
    with pytest.raises(FoldaxValueError, match=r"normal\(key=...\): needs a single key.*\(2, 2\)"):
        random.normal(random.split(KEY, (2, 2)))


@pytest.mark.parametrize("num", [-1, 2.5, (2, -1), True])
def test_split_num_is_checked(num):
    with pytest.raises(FoldaxValueError, match=r"split\(num=.*\): num must be a non-negative int"):
        random.split(KEY, num)


@pytest.mark.parametrize("seed", [1.5, np.ones(2, np.int32), True, "3"])
def test_seed_must_be_a_scalar_integer(seed):
    with pytest.raises(FoldaxTypeError, match=r"key\(seed=.*\): the seed must be a scalar integer"):
        random.key(seed)


def test_a_shape_passed_as_the_key_is_explained():
    with pytest.raises(FoldaxTypeError, match=r"found tuple. This looks like a shape.*shape="):
        random.normal((3,))


def test_no_key_outside_keyed():
    with pytest.raises(
        FoldaxValueError,
        match=r"normal\(key=...\): no key given and not inside "
        r"foldax.random.keyed",
    ):
        random.normal(shape=(2,))


def test_dropout_rate_is_checked():
    with pytest.raises(FoldaxValueError, match=r"dropout\(rate=1.0\): the rate must be in \[0, 1\)"):
        random.dropout(KEY, 1.0, jnp.ones(2))
