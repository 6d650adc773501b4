"""Flattening and rebuilding models: ``@foldax.dataclass`` vs ``jax.tree_util.register_dataclass``
(JAX's C++ dataclass node) vs equinox Modules of the same structure.

The tree is the arguments of the MLP example's training step (examples/train_mlp.py): the model
(an ``MLP`` of three ``Dense`` layers, with two static fields), the optax Adam state holding two
more copies of it, a batch and a key: 12 dataclass nodes. Every ``jit`` (``jax.jit`` included)
flattens such arguments at each call, and rebuilds the outputs, so this is a cost every step pays.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
import sys
from typing import Any, Callable

import equinox as eqx
import jax
from harness import Case

from foldax import random

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
import train_mlp  # noqa: E402
from common import regression_data  # noqa: E402

_as_jax_dataclass = functools.partial(jax.tree_util.register_dataclass)


@functools.partial(_as_jax_dataclass, data_fields=["w", "b"], meta_fields=[])
@dataclasses.dataclass(frozen=True)
class JaxDense:
    w: jax.Array
    b: jax.Array


@functools.partial(_as_jax_dataclass, data_fields=["layers"], meta_fields=["activation", "dropout"])
@dataclasses.dataclass(frozen=True)
class JaxMLP:
    layers: tuple
    activation: str = "gelu"
    dropout: float = 0.0


class EqxDense(eqx.Module):
    w: jax.Array
    b: jax.Array


class EqxMLP(eqx.Module):
    layers: tuple
    activation: str = eqx.field(static=True, default="gelu")
    dropout: float = eqx.field(static=True, default=0.0)


MODEL_CLASSES = {  # implementation -> (dense layer class, MLP class)
    "jax": (JaxDense, JaxMLP),
    "foldax": (train_mlp.Dense, train_mlp.MLP),
    "equinox": (EqxDense, EqxMLP),
}


def step_arguments(dense: type, mlp: type) -> tuple:
    """``(model, opt_state, x, y, key)`` of the example's step, the model made of ``dense``/``mlp``."""
    cfg = train_mlp.FULL
    like = train_mlp.init_mlp(random.key(0), (4, *cfg.hidden, 1), cfg.activation, cfg.dropout)
    model = mlp(tuple(dense(layer.w, layer.b) for layer in like.layers), like.activation, like.dropout)
    x, y = regression_data(random.key(1), cfg.batch_size)
    return model, train_mlp.make_optimiser(cfg).init(model), x, y, random.key(2)


def _roundtrip(tree: Any) -> Callable[[], None]:
    def call() -> None:
        leaves, treedef = jax.tree_util.tree_flatten(tree)
        jax.tree_util.tree_unflatten(treedef, leaves)

    return call


def _flatten(tree: Any) -> Callable[[], None]:
    return lambda: None if jax.tree_util.tree_flatten(tree) else None


def _with_paths(tree: Any) -> Callable[[], None]:
    return lambda: None if jax.tree_util.tree_flatten_with_path(tree) else None


def _case(what: str, make: Callable[[Any], Callable[[], None]]) -> Case:
    fns = {impl: make(step_arguments(*classes)) for impl, classes in MODEL_CLASSES.items()}
    return Case(f"{what}, MLP train step arguments (12 dataclass nodes)", "jax", fns, target="-> 1.0")


def cases(quick: bool) -> list[Case]:
    return [
        _case("tree_flatten + tree_unflatten", _roundtrip),
        _case("tree_flatten", _flatten),
        _case("tree_flatten_with_path", _with_paths),
    ]
