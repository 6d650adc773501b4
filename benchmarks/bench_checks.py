"""Runtime of a jitted MLP training step checkified with every error set: foldax.checkify against
jax.experimental.checkify (target: at most 1.1x JAX's time), with the unchecked step for scale.

Run: ``python benchmarks/run.py --quick checks``
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from harness import Case
from jax.experimental import checkify as jc

import foldax


def _mlp(sizes: list[int], batch: int) -> tuple:
    rng = np.random.default_rng(0)
    params = [
        (jnp.asarray(rng.normal(size=(m, n)).astype(np.float32) / np.sqrt(m)), jnp.zeros(n, jnp.float32))
        for m, n in zip(sizes[:-1], sizes[1:])
    ]
    x = jnp.asarray(rng.normal(size=(batch, sizes[0])).astype(np.float32))
    labels = jax.nn.one_hot(rng.integers(0, sizes[-1], size=batch), sizes[-1])
    return params, x, labels


def _loss(params: list, x: jax.Array, labels: jax.Array) -> jax.Array:
    for w, b in params[:-1]:
        x = jax.nn.relu(x @ w + b)
    w, b = params[-1]
    logits = x @ w + b
    logp = jax.nn.log_softmax(logits)
    # one-hot labels: JAX's checkify crashes on the scatter that take_along_axis's gradient makes
    return -jnp.mean(jnp.sum(logp * labels, axis=1))


def train_step(params: list, x: jax.Array, labels: jax.Array) -> tuple:
    loss, grads = jax.value_and_grad(_loss)(params, x, labels)
    return jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, params, grads), loss


def cases(quick: bool) -> list[Case]:
    sizes, batch = ([64, 128, 128, 10], 64) if quick else ([784, 512, 512, 10], 256)
    params, x, labels = _mlp(sizes, batch)
    ours = jax.jit(foldax.checkify(train_step, errors=foldax.all_checks))
    theirs = jax.jit(jc.checkify(train_step, errors=jc.all_checks))
    ours_foldax_jit = foldax.jit(foldax.checkify(train_step, errors=foldax.all_checks))
    plain = jax.jit(train_step)
    for f in (ours, theirs, ours_foldax_jit):  # both must pass the same step
        assert f(params, x, labels)[0].get() is None
    return [
        Case(
            f"checkify(all_checks) MLP {sizes} batch {batch} train step",
            reference="jax",
            fns={
                "jax": lambda: theirs(params, x, labels),
                "foldax": lambda: ours(params, x, labels),
                "foldax.jit": lambda: ours_foldax_jit(params, x, labels),
                "unchecked": lambda: plain(params, x, labels),
            },
            target="<= 1.1x",
        )
    ]
