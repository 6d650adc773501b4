"""A call that runs the last calls' entry before checking its constants (``jit/guess.py``) returns
what ``jax.jit`` returns, traces what it would have traced without guessing, and is never seen
when wrong: a wrong guess costs one discarded run of an effect-free program, nothing else.

References: ``jax.jit`` of the same function (outputs), a fresh ``foldax.jit`` called once per
value (bitwise outputs, since it runs the same program), and brute-force counts of the distinct
(shape, constant) pairs a sequence of calls holds (traces)."""

import gc
import threading
import weakref

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import foldax
from foldax.transforms.jit import guess as guess_module


def loss(x, c):
    return jnp.sum((x - c) ** 2) * x


def jitted_loss(**options):
    """A new ``foldax.jit`` of ``loss`` with its own cache and trace count (foldax.jit shares one
    cache among the wrappers of one function object)."""
    return foldax.jit(lambda x, c: loss(x, c), **options)


def assert_same(out, ref):
    assert isinstance(out, jax.Array)
    assert (out.dtype, out.shape, out.weak_type) == (ref.dtype, ref.shape, ref.weak_type)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ref))


def fresh(f, *args):
    """The output of a new foldax.jit of ``f`` called once (no history, so no guess; a new
    function object, since foldax.jit shares one cache among the wrappers of one function)."""
    return foldax.jit(lambda *a: f(*a))(*args)


class RunCounter:
    """Counts the runs of every entry's compiled program (``f.entries``), including the guesses
    made of them afterwards (a guess takes the entry's ``jitted`` when it is made)."""

    def __init__(self, f):
        self.f, self.runs = f, {}

    def wrap_new_entries(self):
        for key, entry in self.f.entries.items():
            if not hasattr(entry.jitted, "counted"):
                inner = entry.jitted

                def counted(*a, _key=key, _inner=inner):
                    self.runs[_key] = self.runs.get(_key, 0) + 1
                    return _inner(*a)

                counted.counted = True
                entry.jitted = counted
                self.runs.setdefault(key, 0)

    def total(self):
        return sum(self.runs.values())


DTYPES = [np.float32, np.float16, ml_dtypes.bfloat16, np.complex64, np.int32]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_a_sequence_of_constants_returns_what_jax_jit_returns(dtype):
    x = jnp.arange(1, 5).astype(dtype)
    a, b, c = (np.full(4, v).astype(dtype) for v in (1, 2, 3))
    sequence = [a, a, a, a, b, b, b, a, a, c, a, b]
    f, jj = jitted_loss(), jax.jit(loss)
    for constant in sequence:
        out = f(x, constant)
        assert_same(out, fresh(loss, x, constant))
        ref = jj(x, constant)
        assert out.dtype == ref.dtype
        np.testing.assert_allclose(np.asarray(out, np.complex128), np.asarray(ref, np.complex128), rtol=1e-2)
    assert f.trace_count == 3  # a, b, c: each traced once, whatever was guessed


def test_the_guess_hides_the_constants_key_and_is_dropped_when_they_change():
    f = jitted_loss()
    x, label = jnp.ones(4096), np.random.default_rng(0).normal(size=4096).astype(np.float32)
    f(x, label)
    f(x, label)  # two calls in a row ran one entry: the third runs it before the key
    entries = f._fast[1]
    assert entries.guess is not None
    counter = RunCounter(f)
    counter.wrap_new_entries()
    guessed = entries.guess = type(entries.guess)(
        entries.guess.plan, entries.guess.hit, entries.guess.recent, entries.guess.types
    )  # made again, so it runs the counted jitted
    for _ in range(5):
        assert_same(f(x, label), fresh(loss, x, label))
    assert counter.total() == 5 and entries.guess is guessed
    other = label + 1
    assert_same(f(x, other), fresh(loss, x, other))
    # one discarded run of the guessed program, then the new entry's trace and run
    assert counter.total() == 6 and entries.guess is None


def test_changing_constants_never_guess():
    f = jitted_loss()
    x = jnp.ones(3)
    values = [np.full(3, v, np.float32) for v in (1.0, 2.0)]
    for constant in values:  # compile both
        f(x, constant)
    counter = RunCounter(f)
    counter.wrap_new_entries()
    for i in range(10):  # alternating: no two calls in a row run the same entry
        assert_same(f(x, values[i % 2]), fresh(loss, x, values[i % 2]))
    assert counter.total() == 10, "a run was discarded: a guess was made without two agreeing calls"


def test_a_numpy_argument_changed_in_place_is_seen():
    f = jitted_loss()
    x, label = jnp.ones(8), np.arange(8, dtype=np.float32)
    for _ in range(3):
        f(x, label)
    label[:] = -label  # the same object, other values
    assert_same(f(x, label), fresh(loss, x, label))
    np.testing.assert_allclose(np.asarray(f(x, label)), np.asarray(jax.jit(loss)(x, label)), rtol=1e-6)


def test_new_shapes_during_a_guess_trace_exactly_what_they_would_without_it():
    f = jitted_loss()
    calls = [
        (3, 1.0),
        (3, 1.0),
        (3, 1.0),
        (5, 1.0),
        (5, 1.0),
        (5, 1.0),
        (7, 2.0),
        (7, 2.0),
        (3, 2.0),
        (3, 1.0),
    ]
    seen = set()
    for n, v in calls:
        x, c = jnp.ones(n), np.float32(v)
        assert_same(f(x, c), fresh(loss, x, c))
        seen.add((n, v))
        # brute force: one trace per distinct (shape, constant) pair, never one for a guess
        assert f.trace_count == len(seen), (n, v)


def test_pytree_arguments_are_guessed_and_checked():
    @foldax.dataclass
    class Model:
        w: jax.Array
        scale: np.ndarray = foldax.field(kind="value")

    def apply(model, batch):
        return jnp.sum(model.w * batch["x"] * model.scale) + batch["y"]

    model = Model(jnp.ones(3), np.float32(2.0))
    batches = [{"x": jnp.arange(3.0), "y": np.float32(1)}] * 4 + [{"x": jnp.arange(3.0), "y": np.float32(5)}]
    f, jj = foldax.jit(apply), jax.jit(apply)
    for batch in batches:
        assert_same(f(model, batch), fresh(apply, model, batch))
        np.testing.assert_allclose(np.asarray(f(model, batch)), np.asarray(jj(model, batch)))
    # another structure after a guess: the usual path
    batch = {"x": jnp.arange(3.0), "y": np.float32(1), "z": 0}
    assert_same(f(model, batch), fresh(apply, model, batch))
    other = Model(jnp.ones(3), np.float32(3.0))
    assert_same(f(other, batches[0]), fresh(apply, other, batches[0]))


def test_programs_with_effects_are_never_guessed():
    seen = []

    def noisy(x, c):
        jax.debug.callback(lambda v: seen.append(float(v)), jnp.sum(c))
        return x * c

    def run(f):
        seen.clear()
        for v in (1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 1.0):
            jax.block_until_ready(f(jnp.ones(2), np.float32(v)))
        jax.effects_barrier()
        return list(seen)

    assert run(foldax.jit(noisy)) == run(jax.jit(noisy))  # no callback from a discarded run


def test_donating_functions_are_never_guessed():
    def step(x, c):
        return x + c

    f = foldax.jit(step, donate_argnums=0)
    j = jax.jit(step, donate_argnums=0)
    for v in (1.0, 1.0, 1.0, 2.0, 2.0):
        x1, x2 = jnp.ones(4), jnp.ones(4)
        assert_same(f(x1, np.float32(v)), j(x2, np.float32(v)))  # a discarded run would consume x1
        assert x1.is_deleted() == x2.is_deleted()
    assert f._fast[1].guess is None


def test_several_processes_are_never_guessed(monkeypatch):
    monkeypatch.setattr(guess_module, "process_count", lambda: 2)
    f = jitted_loss()
    for _ in range(4):
        f(jnp.ones(2), np.ones(2, np.float32))
    assert f._fast[1].guess is None


def test_under_a_transformation_nothing_is_staged_for_a_guess():
    f = jitted_loss()
    w = jnp.ones(3)
    for _ in range(3):
        f(w, np.ones(3, np.float32))  # a guess is made at the top level
    assert f._fast[1].guess is not None
    other = np.full(3, 2.0, np.float32)  # same leaf types, other constant: a wrong guess
    jaxpr = jax.make_jaxpr(lambda y: f(w, other) + y)(jnp.zeros(3))
    reference = jax.make_jaxpr(lambda y: foldax.jit(lambda *a: loss(*a))(w, other) + y)(jnp.zeros(3))
    assert [e.primitive for e in jaxpr.eqns] == [e.primitive for e in reference.eqns]


def test_grad_through_a_guessed_function_matches_jax():
    f = jitted_loss()
    label = np.linspace(0, 1, 5, dtype=np.float32)
    for _ in range(3):
        f(jnp.ones(5), label)
    g = jax.grad(lambda x: jnp.sum(f(x, label)))(jnp.ones(5))
    ref = jax.grad(lambda x: jnp.sum(jax.jit(loss)(x, label)))(jnp.ones(5))
    np.testing.assert_allclose(np.asarray(g), np.asarray(ref), rtol=1e-6)


def test_a_config_change_after_a_guess_traces_for_the_new_context():
    f = jitted_loss()
    x, c = jnp.linspace(0, 1, 3), np.float32(0.5)
    for _ in range(3):
        f(x, c)
    with jax.default_matmul_precision("float32"):  # part of JAX's trace context
        assert_same(f(x, c), jax.jit(loss)(x, c))
    assert_same(f(x, c), jax.jit(loss)(x, c))


def test_evicting_the_guessed_entry_drops_it():
    f = jitted_loss(max_entries=1)
    x = jnp.ones(2)
    for _ in range(3):
        f(x, np.float32(1))
    entry_ref = weakref.ref(next(iter(f.entries.values())))
    assert f._fast[1].guess is not None
    assert_same(f(x, np.float32(2)), fresh(loss, x, np.float32(2)))
    gc.collect()
    assert f._fast[1].guess is None or f._fast[1].guess.entry is not entry_ref()
    assert entry_ref() is None, "the evicted entry is still held (by a guess?)"


def test_jax_clear_caches_drops_the_guess():
    f = jitted_loss()
    for _ in range(3):
        f(jnp.ones(2), np.float32(1))
    jax.clear_caches()
    assert f._fast is None or f._fast[1].guess is None
    assert_same(f(jnp.ones(2), np.float32(1)), fresh(loss, jnp.ones(2), np.float32(1)))


def test_threads_with_different_constants_get_their_own_results():
    f = jitted_loss()
    x = jnp.arange(4.0)
    constants = [np.full(4, v, np.float32) for v in range(4)]
    refs = [fresh(loss, x, c) for c in constants]
    errors = []

    def worker(i):
        try:
            for _ in range(30):
                assert_same(f(x, constants[i]), refs[i])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_a_guessed_call_does_not_trace_even_when_jax_would():
    f = jitted_loss()
    for _ in range(3):
        f(jnp.ones(2), np.float32(1))
    guess = f._fast[1].guess
    count = f.trace_count
    # at another shape the guessed run would trace: it refuses, and the usual path traces once
    assert (
        guess_module.guessed_call(guess, (jnp.ones(6), np.float32(1)), {}, f._fast[1]) is guess_module.MISSED
    )
    assert f.trace_count == count
    assert_same(f(jnp.ones(6), np.float32(1)), fresh(loss, jnp.ones(6), np.float32(1)))
    assert f.trace_count == count + 1


def test_effects_that_appear_at_a_new_shape_are_never_run_for_nothing():
    seen = []

    def shaped(x, c):
        if x.shape[0] > 3:  # only the larger shape's program has an effect
            jax.debug.callback(lambda v: seen.append(float(v)), jnp.sum(x))
        return x * c

    def run(f):
        seen.clear()
        for n, v in (
            (2, 1.0),
            (2, 1.0),
            (2, 1.0),
            (5, 1.0),
            (5, 1.0),
            (5, 1.0),
            (5, 2.0),
            (5, 2.0),
            (2, 3.0),
        ):
            jax.block_until_ready(f(jnp.ones(n), np.float32(v)))
        jax.effects_barrier()
        return list(seen)

    assert run(foldax.jit(shaped)) == run(jax.jit(shaped))


@pytest.mark.parametrize("size", [4, 30_000], ids=["small", "digested-and-hoisted"])
def test_folded_outputs_and_hoisted_constants_come_back_from_a_guess(size):
    def f(x, c):
        folded = np.cumsum(c)  # computed at trace time; over 64 KiB it is passed to the program
        return x * folded, folded[:2] * 2

    g = foldax.jit(lambda x, c: f(x, c))
    x = jnp.ones(size)
    values = [np.full(size, v, np.float32) for v in (1, 1, 1, 1, 2, 2, 2)]
    for c in values:
        out, ref = g(x, c), fresh(f, x, c)
        for a, b in zip(out, ref):
            assert_same(a, b)
        jax_out = jax.jit(lambda x: f(x, c))(x)  # c closed over: NumPy at trace time in jax.jit too
        for a, b in zip(out, jax_out):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
    assert g.trace_count == 2
