"""ΦML's automatic-differentiation page (seeds/002) translated to foldax, compared with ΦML itself
(run in a subprocess: ΦML's JAX backend switches JAX to 64 bits for the whole process) and with
jax.grad on the same data."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import foldax
from foldax.errors import FoldaxTypeError, NonDifferentiableError
from foldax.tensors import batch, channel, is_tensor, l2_loss, wrap

PHIML_PAGE = textwrap.dedent("""
    import json, warnings
    warnings.simplefilter("ignore")
    from dataclasses import dataclass
    from phiml import math
    math.use('jax')
    out = {}
    def loss_function(x, y):
        return x ** 2 * y
    value, grad = math.gradient(loss_function, wrt='x')(x=1., y=1.)
    out['value_and_grad'] = [float(value), float(grad)]
    out['grad_only'] = float(math.gradient(loss_function, wrt='x', get_output=False)(x=1., y=1.))
    dx = math.gradient(loss_function, wrt='x', get_output=False)
    out['batched'] = dx(math.wrap([0., 1., 2.], math.batch('values')), y=1.).numpy().tolist()
    def loss_function(x, y):
        return math.l2_loss(x ** 2 * y)
    dx = math.gradient(loss_function, wrt='x', get_output=False)
    out['l2_batched'] = dx(math.wrap([0., 1., 2.], math.batch('values')), y=1.).numpy().tolist()
    out['wrt_x_y'] = [float(g) for g in math.gradient(loss_function, wrt='x,y', get_output=False)(1, 1)]
    @dataclass
    class Vec:
        x1: math.Tensor
        x2: math.Tensor
        def __mul__(self, other):
            return Vec(self.x1 * other, self.x2 * other)
        def __pow__(self, power, modulo=None):
            return Vec(self.x1 ** power, self.x2 ** power)
        def __value_attrs__(self):
            return 'x1', 'x2'
    g = dx(x=Vec(1, 2), y=1.)
    out['vec'] = [float(g.x1), float(g.x2)]
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def phiml():
    """The page's results computed by ΦML."""
    done = subprocess.run([sys.executable, "-c", PHIML_PAGE], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@dataclasses.dataclass
class Vec:  # a plain dataclass with ΦML's value attributes, as on the page
    x1: object
    x2: object

    def __mul__(self, other):
        return Vec(self.x1 * other, self.x2 * other)

    def __pow__(self, power, modulo=None):
        return Vec(self.x1**power, self.x2**power)

    def __value_attrs__(self):
        return "x1", "x2"


def value_l2_loss(value):
    """ΦML's l2_loss, which also sums over the value attributes of a dataclass."""
    if dataclasses.is_dataclass(value):
        return sum(value_l2_loss(getattr(value, n)) for n in foldax.value_attrs(value))
    return l2_loss(value)


def square_times(x, y):
    return x**2 * y


def l2_square_times(x, y):
    return value_l2_loss(x**2 * y)


def test_value_and_gradient_wrt_x(phiml):
    value, grad = foldax.gradient(square_times, wrt="x")(x=1.0, y=1.0)
    chex.assert_trees_all_close((value, grad), tuple(phiml["value_and_grad"]))
    chex.assert_trees_all_close((value, grad), jax.value_and_grad(square_times)(1.0, 1.0))
    only = foldax.gradient(square_times, wrt="x", get_output=False)(x=1.0, y=1.0)
    chex.assert_trees_all_close(only, phiml["grad_only"])


def test_loss_must_be_reduced_to_a_scalar():
    x = wrap([0.0, 1.0, 2.0], channel("values"))
    with pytest.raises(FoldaxTypeError, match="Loss must be reduced to a scalar") as info:
        foldax.gradient(square_times, wrt="x", get_output=False)(x, y=1.0)
    assert "valuesᶜ=3" in str(info.value) and "l2_loss" in str(info.value)


def test_batch_dimensions_are_summed(phiml):
    x = wrap([0.0, 1.0, 2.0], batch("values"))
    grad = foldax.gradient(square_times, wrt="x", get_output=False)(x, y=1.0)
    assert is_tensor(grad) and grad.shape == x.shape
    chex.assert_trees_all_close(grad.native(), np.asarray(phiml["batched"], np.float32))
    chex.assert_trees_all_close(grad.native(), jax.grad(lambda v: jnp.sum(v**2))(x.native()))


def test_integer_values_follow_jax_and_need_allow_int():
    with pytest.raises(NonDifferentiableError, match="allow_int=True"):
        foldax.gradient(square_times, wrt="x")(wrap([0, 1, 2], batch("values")), y=1.0)


def test_l2_loss_keeps_batch_dimensions(phiml):
    x = wrap([0.0, 1.0, 2.0], batch("values"))
    grad = foldax.gradient(l2_square_times, wrt="x", get_output=False)(x, y=1.0)
    chex.assert_trees_all_close(grad.native(), np.asarray(phiml["l2_batched"], np.float32))
    chex.assert_trees_all_close(grad.native(), jax.grad(lambda v: jnp.sum((v**2) ** 2) / 2)(x.native()))


def test_gradient_with_respect_to_several_names(phiml):
    grads = foldax.gradient(l2_square_times, wrt="x,y", get_output=False)(1, 1)
    chex.assert_trees_all_close(grads, tuple(phiml["wrt_x_y"]))
    chex.assert_trees_all_close(grads, jax.grad(lambda x, y: (x**2 * y) ** 2 / 2, (0, 1))(1.0, 1.0))


def test_dataclass_with_value_attributes(phiml):
    grad = foldax.gradient(l2_square_times, wrt="x", get_output=False)(x=Vec(1, 2), y=1.0)
    assert type(grad) is Vec
    chex.assert_trees_all_close((grad.x1, grad.x2), tuple(phiml["vec"]))
    chex.assert_trees_all_close(
        (grad.x1, grad.x2), jax.grad(lambda a, b: (a**4 + b**4) / 2, (0, 1))(1.0, 2.0)
    )


def test_output_with_auxiliary_values():
    def loss_and_prediction(x, y):
        prediction = x * 2
        return value_l2_loss(prediction - y), prediction

    (loss, prediction), grad = foldax.gradient(loss_and_prediction, wrt="x")(jnp.ones(2), 1.0)
    chex.assert_trees_all_close((loss, prediction), loss_and_prediction(jnp.ones(2), 1.0))
    chex.assert_trees_all_close(grad, jax.grad(lambda x: jnp.sum((2 * x - 1.0) ** 2) / 2)(jnp.ones(2)))
