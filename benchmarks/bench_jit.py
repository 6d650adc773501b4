"""foldax.jit vs jax.jit (and equinox.filter_jit, ΦML jit_compile): dispatch cost, trace +
compile time, and the steady state of a loss whose label side is folded at trace time."""

from __future__ import annotations

from typing import Any, Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from harness import Case

import foldax


@foldax.dataclass
class Leaves:
    xs: tuple


def _dispatch_case(n: int) -> Case:
    model = Leaves(tuple(jnp.full((4,), float(i)) for i in range(n)))
    f = lambda m: m.xs[0]  # noqa: E731 - dispatch cost dominates
    fx, jj, ej = foldax.jit(f), jax.jit(f), eqx.filter_jit(f)
    fns = {"jax": lambda: jj(model), "foldax": lambda: fx(model), "equinox": lambda: ej(model)}
    try:
        from phiml import math as pm

        pm.use("jax")
        pf = pm.jit_compile(f)
        fns["phiml"] = lambda: pf(model)
        pf(model)
    except Exception:  # noqa: BLE001 - ΦML optional; it may not accept this pytree
        fns.pop("phiml", None)
    return Case(f"dispatch, dataclass with {n} array leaves", "jax", fns, target="<= 1.5x")


def _mlp_params(width: int = 256, depth: int = 3):
    keys = jax.random.split(jax.random.key(0), depth)
    return [(jax.random.normal(k, (width, width)) / 16, jnp.zeros(width)) for k in keys]


def mlp_loss(params, x, y):
    for w, b in params:
        x = jnp.tanh(x @ w + b)
    return jnp.mean((x - y) ** 2)


def _compile_case() -> Case:
    params = _mlp_params()
    x, y = jnp.ones((128, 256)), jnp.zeros((128, 256))

    def fresh(make):
        return lambda: (lambda f: lambda: f(params, x, y))(make(lambda p, x, y: mlp_loss(p, x, y)))

    return Case(
        "trace + compile, MLP loss (3x256, batch 128)",
        "jax",
        {"jax": fresh(jax.jit), "foldax": fresh(foldax.jit)},
        target="<= 1.3x",
        fresh=True,
    )


def diffuse(u, steps: int = 50):
    """Explicit diffusion: u_{t+1} = u_t + 0.2 * laplacian(u_t), periodic, written with jnp."""
    for _ in range(steps):
        u = u + 0.2 * (jnp.roll(u, 1) + jnp.roll(u, -1) - 2 * u)
    return u


def sim_loss(pred, label):
    return jnp.sum((diffuse(pred) - diffuse(label)) ** 2)


def _label_loss_fns(sim: Callable) -> dict[str, Callable[[], Any]]:
    """|sim(pred) - sim(label)|^2 with the label NumPy (a constant to foldax, which folds
    sim(label)): ``jax.jit`` and ``foldax.jit`` of the loss, and the ideal, ``jax.jit`` of the loss
    with sim(label) computed beforehand by hand."""
    rng = np.random.default_rng(0)
    pred = jnp.asarray(rng.normal(size=4096).astype(np.float32))
    label = rng.normal(size=4096).astype(np.float32)  # NumPy: a constant for foldax
    loss = lambda p, lab: jnp.sum((sim(p) - sim(lab)) ** 2)  # noqa: E731
    fx, jj = foldax.jit(loss), jax.jit(loss)
    ideal = jax.jit(lambda p, d: jnp.sum((sim(p) - d) ** 2))
    d_label = jax.block_until_ready(jax.jit(sim)(jnp.asarray(label)))
    return {
        "jax": lambda: jj(pred, label),
        "foldax": lambda: fx(pred, label),
        "ideal": lambda: ideal(pred, d_label),
    }


def _folded_label_case() -> Case:
    fns = _label_loss_fns(diffuse)
    fns["sim(pred) alone"] = fns.pop("ideal")
    return Case(
        "steady state, |sim(pred) - sim(label)|^2, label NumPy (4096, 50 steps)",
        "jax",
        fns,
        target="-> sim(pred) alone",
    )


def _rewrap_case() -> Case:
    """``jit(f)(x)`` with a new wrapper at each call: compiled code is cached per function."""
    x = jnp.ones(16)

    def f(x):
        return jnp.sin(x) * 2

    return Case(
        "jit(f)(x), a new wrapper of the same f each call",
        "jax",
        {"jax": lambda: jax.jit(f)(x), "foldax": lambda: foldax.jit(f)(x)},
        target="<= 3x",
    )


def _identity_case() -> Case:
    """The call path alone: a one-leaf identity (foldax's overhead around its jitted program)."""
    x = jnp.ones(4)
    f = lambda x: x  # noqa: E731
    fx, jj = foldax.jit(f), jax.jit(f)
    return Case(
        "dispatch, one-leaf identity",
        "jax",
        {"jax": lambda: jj(x), "foldax": lambda: fx(x)},
        target="<= 1.3x",
    )


def sim_fori(u, steps: int = 50):
    """The diffusion of ``diffuse`` written with ``lax.fori_loop``."""
    return jax.lax.fori_loop(0, steps, lambda _, u: u + 0.2 * (jnp.roll(u, 1) + jnp.roll(u, -1) - 2 * u), u)


def _fori_label_case() -> Case:
    """The same loss with sim a fori_loop: foldax (label NumPy, folded) against the ideal."""
    return Case(
        "steady state, |sim(pred) - sim(label)|^2, sim a fori_loop, label NumPy",
        "ideal",
        _label_loss_fns(sim_fori),
        target="<= 1.05x",
    )


def _large_constant_case() -> Case:
    """A 50 MB NumPy argument each call: foldax keys it (a digest), jax.jit copies it to the
    device. The key must cost less than the copy."""
    c = np.random.default_rng(0).normal(size=50_000_000 // 8)
    f = lambda x, c: x + c[:4].sum()  # noqa: E731
    fx, jj = foldax.jit(f), jax.jit(f)
    x = jnp.ones(4)
    return Case(
        "call with a 50 MB NumPy argument (keyed / copied each call)",
        "jax",
        {"jax": lambda: jj(x, c), "foldax": lambda: fx(x, c), "device_put": lambda: jax.device_put(c)},
        target="< 1x",
    )


def cases(quick: bool) -> list[Case]:
    return [
        _identity_case(),
        _dispatch_case(10),
        _dispatch_case(100),
        _compile_case(),
        _folded_label_case(),
        _rewrap_case(),
        _fori_label_case(),
        _large_constant_case(),
    ]
