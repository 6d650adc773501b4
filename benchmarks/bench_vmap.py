"""foldax.vmap vs jax.vmap: trace time of vmap alone, trace + compile of the composed
jit(vmap(grad(mlp_loss))) for per-example gradients, and its steady state (MLP of 3 layers of
width 256, batch 128). Repeated traces replay remembered batching rules, as jax.vmap reuses its
batched jnp functions; the "rules cold" case forgets them before every trace."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from harness import Case

import foldax
from foldax.transforms.batching import cache as batching_cache

BATCH, WIDTH, DEPTH = 128, 256, 3
GRAD = getattr(foldax, "grad", None)


@foldax.dataclass
class MLP:
    layers: list

    def __call__(self, x):
        for w, b in self.layers:
            x = jnp.tanh(x @ w + b)
        return x


def mlp_loss(model: MLP, x, y):
    return jnp.mean((model(x) - y) ** 2)


def _data():
    rng = np.random.default_rng(0)
    model = MLP(
        [
            (jnp.asarray(rng.normal(size=(WIDTH, WIDTH)) / 16, jnp.float32), jnp.zeros(WIDTH, jnp.float32))
            for _ in range(DEPTH)
        ]
    )
    xs = jnp.asarray(rng.normal(size=(BATCH, WIDTH)), jnp.float32)
    ys = jnp.zeros((BATCH, WIDTH), jnp.float32)
    return model, xs, ys


def _trace_cases(model, xs, ys) -> list[Case]:
    axes = (None, 0, 0)

    def trace(vmap, f):
        return lambda: jax.make_jaxpr(vmap(f, in_axes=axes))(model, xs, ys)

    def cold(run):  # nothing remembered from earlier traces (foldax's batching_cache)
        def traced():
            batching_cache.clear()
            return run()

        return traced

    cases = [
        Case(
            "vmap trace: vmap(mlp_loss)",
            "jax",
            {"jax": trace(jax.vmap, mlp_loss), "foldax": trace(foldax.vmap, mlp_loss)},
            target="<= 1.2x",
        ),
        Case(
            "vmap trace, foldax rules cold: vmap(mlp_loss)",
            "jax",
            {"jax": trace(jax.vmap, mlp_loss), "foldax": cold(trace(foldax.vmap, mlp_loss))},
        ),
        Case(
            "vmap trace: vmap(jax.grad(mlp_loss))",
            "jax",
            {"jax": trace(jax.vmap, jax.grad(mlp_loss)), "foldax": trace(foldax.vmap, jax.grad(mlp_loss))},
            target="<= 1.2x",
        ),
    ]
    return cases


def _composed_cases(model, xs, ys) -> list[Case]:
    axes = (None, 0, 0)

    def fresh(jit, vmap, grad):
        def make():
            f = jit(vmap(grad(mlp_loss), in_axes=axes))
            return lambda: f(model, xs, ys)

        return make

    fns = {
        "jax": fresh(jax.jit, jax.vmap, jax.grad),
        "foldax": fresh(foldax.jit, foldax.vmap, GRAD or jax.grad),
    }
    if GRAD is not None:
        fns["foldax+jax.grad"] = fresh(foldax.jit, foldax.vmap, jax.grad)
    compile_case = Case(
        "trace + compile: jit(vmap(grad(mlp_loss)))", "jax", fns, target="<= 1.3x", fresh=True
    )
    steady = {name: make() for name, make in fns.items()}
    steady_case = Case("steady state: jit(vmap(grad(mlp_loss)))", "jax", steady, target="1.00 +- 0.05")
    return [compile_case, steady_case]


def cases(quick: bool) -> list[Case]:
    model, xs, ys = _data()
    return _trace_cases(model, xs, ys) + _composed_cases(model, xs, ys)
