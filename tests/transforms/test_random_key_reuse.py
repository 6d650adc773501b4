"""Key-reuse detection on a catalogue of functions with known reuse / no reuse, compared with
jax.experimental.key_reuse where the two agree; messages name the source lines of both uses."""

import inspect

import chex
import jax
import jax.numpy as jnp
import pytest
from jax import lax
from jax.experimental.key_reuse._core import check_key_reuse as jax_check_key_reuse
from jax.sharding import AxisType, PartitionSpec as P

import foldax
from foldax import random
from foldax.errors import KeyReuseError

KEY = random.key(0)
KEYS = random.split(random.key(1), 4)
CLOSED = random.key(2)


def twice(k):
    a = random.normal(k)
    b = random.normal(k)
    return a + b


def each_subkey_once(k):
    return sum(random.normal(s) for s in random.split(k, 3))


def unpack_then_use_all(k):
    k, *subkeys = random.split(k, 9)
    return sum(random.normal(s) for s in subkeys) + random.uniform(k)


def unpack_then_reuse_subkey(k):
    k, *subkeys = random.split(k, 4)
    return random.normal(subkeys[0]) + random.uniform(subkeys[0])


def split_then_use_parent(k):
    _, sub = random.split(k)
    return random.normal(sub) + random.normal(k)


def fold_in_distinct(k):
    return random.normal(random.fold_in(k, 1)) + random.normal(random.fold_in(k, 2))


def fold_in_same_data(k):
    return random.normal(random.fold_in(k, 1)) + random.uniform(random.fold_in(k, 1))


def cond_then_after(k, p):
    x = lax.cond(p, lambda k: random.normal(k), lambda k: 0.0, k)
    return x + random.uniform(k)


def cond_one_use_per_branch(k, p):
    return lax.cond(p, lambda k: random.normal(k), lambda k: random.uniform(k), k)


def scan_closed_over(k):
    return lax.scan(lambda c, _: (c + random.normal(k), None), 0.0, None, length=3)[0]


def scan_carry_split(k):
    def body(carry, _):
        total, k = carry
        k, sub = random.split(k)
        return (total + random.normal(sub), k), None

    return lax.scan(body, (0.0, k), None, length=3)[0]


def scan_carry_not_replaced(k):
    def body(carry, _):
        total, k = carry
        return (total + random.normal(k), k), None

    return lax.scan(body, (0.0, k), None, length=3)[0]


def scan_over_keys(k):
    return lax.scan(lambda c, sub: (c + random.normal(sub), None), 0.0, random.split(k, 4))[0]


def while_closed_over(k):
    return lax.while_loop(lambda c: c < 1.0, lambda c: c + jnp.abs(random.normal(k)), 0.0)


def fori_fold_in_index(k):
    return lax.fori_loop(0, 3, lambda i, c: c + random.normal(random.fold_in(k, i)), 0.0)


def fori_fold_in_constant(k):
    return lax.fori_loop(0, 3, lambda i, c: c + random.normal(random.fold_in(k, 0)), 0.0)


def vmap_over_keys(k):
    return jax.vmap(random.normal)(random.split(k, 3))


def vmap_then_element(k):
    keys = random.split(k, 3)
    return jax.vmap(random.normal)(keys).sum() + random.normal(keys[1])


def foldax_vmap_then_element(k):
    keys = random.split(k, 3)
    return foldax.vmap(random.normal)(keys).sum() + random.normal(keys[2])


def broadcast_to_batch(k):
    return jax.vmap(random.normal)(jnp.broadcast_to(k, (3,)))


def closed_over_twice(x):
    return x + random.normal(CLOSED) + random.uniform(CLOSED)


def inner_jit_then_outer(k):
    return jax.jit(random.normal)(k) + random.normal(k)


def static_elements(keys):
    return random.normal(keys[0]) + random.normal(keys[1])


def static_element_twice(keys):
    return random.normal(keys[0]) + random.uniform(keys[0])


def dynamic_elements(keys, i):
    return random.normal(keys[i]) + random.normal(keys[i + 1])


def clone_then_use(k):
    return random.normal(k) + random.normal(random.clone(k))


def keyed_draws(k):
    return random.keyed(lambda: random.normal(shape=()) + random.normal(shape=()))(k)


# (function, args, reuse expected, JAX's checker agrees)
MESH = jax.make_mesh((4, 2), ("d", "e"), axis_types=(AxisType.Auto,) * 2)
X8 = jnp.ones(8)


def _shard(f, in_specs, out_specs):
    return jax.shard_map(f, mesh=MESH, in_specs=in_specs, out_specs=out_specs)


def shard_map_twice(k, x):
    draw = lambda k, a: a + random.normal(k, a.shape) + random.normal(k, a.shape)  # noqa: E731
    return _shard(draw, (P(), P("d")), P("d"))(k, x)


def shard_map_once(k, x):  # a replicated key, used once by every shard
    return _shard(lambda k, a: a + random.normal(k, a.shape), (P(), P("d")), P("d"))(k, x)


def shard_map_own_key(ks, x):  # one key per shard
    return _shard(lambda ks, a: a + random.normal(ks[0], a.shape), (P("d"), P("d")), P("d"))(ks, x)


def shard_map_own_key_twice(ks, x):
    draw = lambda ks, a: random.normal(ks[0], a.shape) + random.uniform(ks[0], a.shape)  # noqa: E731
    return _shard(draw, (P("d"), P("d")), P("d"))(ks, x)


def shard_map_then_outside(k, x):
    passed, _ = _shard(lambda k, a: (k, a), (P(), P("d")), (P(), P("d")))(k, x)
    return random.normal(k) + random.normal(passed)


CATALOGUE = [
    (twice, (KEY,), True, True),
    (each_subkey_once, (KEY,), False, True),
    (unpack_then_use_all, (KEY,), False, True),
    (unpack_then_reuse_subkey, (KEY,), True, True),
    (split_then_use_parent, (KEY,), True, True),
    (fold_in_distinct, (KEY,), False, True),
    (fold_in_same_data, (KEY,), True, False),  # JAX does not track fold_in's data
    (cond_then_after, (KEY, jnp.bool_(True)), True, True),
    (cond_one_use_per_branch, (KEY, jnp.bool_(True)), False, True),
    (scan_closed_over, (KEY,), True, True),
    (scan_carry_split, (KEY,), False, True),
    (scan_carry_not_replaced, (KEY,), True, True),
    (scan_over_keys, (KEY,), False, True),
    (while_closed_over, (KEY,), True, True),
    (fori_fold_in_index, (KEY,), False, True),
    (fori_fold_in_constant, (KEY,), True, False),  # the same derived key every iteration
    (vmap_over_keys, (KEY,), False, True),
    (vmap_then_element, (KEY,), True, True),
    (foldax_vmap_then_element, (KEY,), True, True),
    (broadcast_to_batch, (KEY,), True, False),  # JAX does not see the duplicated key
    (closed_over_twice, (jnp.float32(1.0),), True, True),
    (inner_jit_then_outer, (KEY,), True, True),
    (static_elements, (KEYS,), False, True),
    (static_element_twice, (KEYS,), True, True),
    (dynamic_elements, (KEYS, jnp.int32(0)), True, True),  # indices unknown: conservative
    (clone_then_use, (KEY,), False, True),
    (keyed_draws, (KEY,), False, False),  # JAX does not know keyed's site keys
    (shard_map_twice, (KEY, X8), True, True),
    (shard_map_once, (KEY, X8), False, True),
    (shard_map_own_key, (KEYS, X8), False, True),
    (shard_map_own_key_twice, (KEYS, X8), True, True),
    (shard_map_then_outside, (KEY, X8), True, True),
]


def jax_says_reuse(f, args):
    try:
        jax_check_key_reuse(f, *args)
    except jax.errors.KeyReuseError:
        return True
    return False


@pytest.mark.parametrize("f,args,reuse,agrees", CATALOGUE, ids=[c[0].__name__ for c in CATALOGUE])
def test_catalogue(f, args, reuse, agrees):
    found = random.find_key_reuse(f, *args)
    assert (found is not None) == reuse, found
    if agrees:
        assert jax_says_reuse(f, args) == reuse


def test_catalogue_is_large_enough():
    assert len(CATALOGUE) >= 15 and sum(c[2] for c in CATALOGUE) >= 7


def _line(f, text):
    source, start = inspect.getsourcelines(f)
    return start + next(i for i, line in enumerate(source) if text in line)


def test_message_names_both_source_lines():
    with pytest.raises(KeyReuseError) as info:
        random.check_key_reuse(twice)(KEY)
    message = str(info.value)
    first, second = _line(twice, "a = random.normal"), _line(twice, "b = random.normal")
    assert f"test_random_key_reuse.py:{first} (twice)" in message
    assert f"test_random_key_reuse.py:{second} (twice)" in message
    assert message.index(f":{first} ") < message.index(f":{second} ")
    assert "random key is consumed twice" in message and "foldax.random.split" in message


def test_loop_message_says_which_iteration():
    message = str(random.find_key_reuse(scan_closed_over, KEY))
    line = _line(scan_closed_over, "lax.scan")
    assert (
        f":{line} " in message
        and "(scan body, iteration 1)" in message
        and "(scan body, iteration 2)" in message
    )


def test_check_key_reuse_returns_the_output():
    chex.assert_trees_all_close(random.check_key_reuse(each_subkey_once)(KEY), each_subkey_once(KEY))
    chex.assert_trees_all_close(jax.jit(random.check_key_reuse(scan_over_keys))(KEY), scan_over_keys(KEY))


def test_key_reuse_as_a_checkify_error_set():
    err, out = foldax.checkify(twice, errors=foldax.key_reuse_checks)(KEY)
    assert err.get() == str(random.find_key_reuse(twice, KEY))
    chex.assert_trees_all_close(out, twice(KEY))
    err, _ = jax.jit(foldax.checkify(each_subkey_once, errors=foldax.all_checks))(KEY)
    assert err.get() is None


# -- JAX's own key-reuse checking sees inside foldax.jit and foldax.vmap ---------------------
def _bits_twice(_):
    key = jax.random.key(0)
    return jax.random.bits(key) + jax.random.bits(key)


@pytest.mark.parametrize("transform", ["jit", "vmap"])
def test_jax_debug_key_reuse_sees_reuse_inside(transform):
    ours = {"jit": foldax.jit, "vmap": foldax.vmap}[transform]
    theirs = {"jit": jax.jit, "vmap": jax.vmap}[transform]
    x = jnp.arange(3)
    with jax.debug_key_reuse(True):
        with pytest.raises(jax.errors.KeyReuseError) as expected:
            theirs(_bits_twice)(x)
        with pytest.raises(jax.errors.KeyReuseError) as got:
            ours(_bits_twice)(x)
    assert str(got.value).split("\n")[0] == str(expected.value).split("\n")[0]


def test_closed_over_key_consumed_by_each_call_like_jax_jit():
    key = jax.random.key(0)
    f = foldax.jit(lambda: jax.random.uniform(key))
    with jax.debug_key_reuse(True):
        f()
        with pytest.raises(jax.errors.KeyReuseError):
            f()
