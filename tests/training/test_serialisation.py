"""foldax.save / foldax.load round trips, compared leaf by leaf with the saved tree."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import foldax
from foldax.errors import FoldaxValueError


@foldax.dataclass
class Model:
    w: jax.Array
    b: jax.Array
    act: str = foldax.field(kind="static", default="tanh")


def test_model_and_optimiser_state_roundtrip(tmp_path):
    model = Model(jax.random.normal(jax.random.key(0), (3, 2)), jnp.arange(2.0))
    opt = optax.adam(1e-3)
    state = opt.init(model)
    state = opt.update(jax.tree.map(jnp.ones_like, model), state, model)[1]
    foldax.save(tmp_path / "ckpt.eqx", (model, state))
    like = (Model(jnp.zeros((3, 2)), jnp.zeros(2)), opt.init(Model(jnp.zeros((3, 2)), jnp.zeros(2))))
    loaded = foldax.load(tmp_path / "ckpt.eqx", like)
    chex.assert_trees_all_equal(loaded, (model, state))
    assert jax.tree.structure(loaded) == jax.tree.structure((model, state))


def test_structure_mismatch_is_a_clear_error(tmp_path):
    foldax.save(tmp_path / "m.eqx", Model(jnp.zeros((3, 2)), jnp.zeros(2)))
    with pytest.raises(FoldaxValueError, match=r"leaf 0 differs: the file holds .w with shape \(3, 2\).*shape \(4, 2\)"):
        foldax.load(tmp_path / "m.eqx", Model(jnp.zeros((4, 2)), jnp.zeros(2)))
    foldax.save(tmp_path / "pair.eqx", [jnp.zeros(3), jnp.zeros(2)])
    with pytest.raises(FoldaxValueError, match=r"holds 2 leaves, `like` has 1"):
        foldax.load(tmp_path / "pair.eqx", [jnp.zeros(3)])


def test_foreign_file_is_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(3.0))
    with pytest.raises(FoldaxValueError, match=r"not written by foldax.save"):
        foldax.load(tmp_path / "x.npy", np.zeros(3))
