"""Concrete devices for equations evaluated now on an Explicit mesh.

With ``jax.make_mesh``'s default Explicit axes, an abstract value carries the *abstract* mesh
of its sharding (axis names, sizes and types, no devices). ``jax.jit`` stages every equation
and finds the devices when it lowers, from its arguments. foldax also evaluates equations now:
the constant folding of traced programs, the known (primal) part of a linearization and eager
interpretation. An equation whose output is sharded over an Explicit mesh but whose inputs are
all constants (the ``1`` in ``1 - tanh(x) ** 2`` resharded to the mesh by a JVP rule) cannot
run without knowing the devices, and JAX raises "Length of device assignment 1 is not equal to
the size of the mesh".

So each transformation's eager entry runs inside ``devices_of(args)``, which makes the
concrete mesh of its first argument sharded over an Explicit mesh the concrete mesh in
context, and constant folding leaves such an equation staged (``needs_devices``) when no
concrete mesh is known (under ``jax.jit`` its lowering supplies the devices).

Example:
    >>> import jax, jax.numpy as jnp
    >>> with devices_of((jnp.ones(2),)):  # no Explicit mesh: nothing changes
    ...     float(jnp.sum(jnp.ones(2)))
    2.0
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterator

import jax
from jax.sharding import Mesh, NamedSharding

from foldax._compat import JaxprEqn, concrete_mesh, is_tracer, use_concrete_mesh


def _explicit(mesh: Any) -> bool:
    return not mesh.empty and any(t == jax.sharding.AxisType.Explicit for t in mesh.axis_types)


def mesh_of(tree: Any) -> Mesh | None:
    """The concrete mesh of the first concrete ``jax.Array`` leaf of ``tree`` sharded over a
    mesh with Explicit axes, or ``None``.

    Arguments:
        tree: any pytree (arguments of a call).

    Returns:
        A ``jax.sharding.Mesh`` or ``None``.
    """
    for leaf in jax.tree_util.tree_leaves(tree):
        if isinstance(leaf, jax.Array) and not is_tracer(leaf):
            sharding = leaf.sharding
            if (
                isinstance(sharding, NamedSharding)
                and isinstance(sharding.mesh, Mesh)
                and _explicit(sharding.mesh)
            ):
                return sharding.mesh
    return None


@contextlib.contextmanager
def devices_of(tree: Any) -> Iterator[None]:
    """Within the block, equations evaluated now on an Explicit mesh run on the devices of the
    mesh ``tree``'s arrays are sharded over (unless a concrete mesh is already in context).

    Arguments:
        tree: the arguments of a transformed function's call.
    """
    mesh = None if concrete_mesh() is not None else mesh_of(tree)
    if mesh is None:
        yield
    else:
        with use_concrete_mesh(mesh):
            yield


def process_local(value: Any) -> bool:
    """Whether this process holds all of ``value``. An array laid over the devices of several
    processes (``jax.distributed``) is only known whole to a compiled program, as under
    ``jax.jit``: it is never folded, and NumPy cannot read it.

    Arguments:
        value: a constant (NumPy array, Python scalar, ``jax.Array``).

    Returns:
        ``False`` for a ``jax.Array`` with shards on other processes' devices.
    """
    return getattr(value, "is_fully_addressable", True)


def needs_devices(eqn: JaxprEqn) -> bool:
    """Whether evaluating ``eqn`` now needs a concrete mesh that is not in context, or makes an
    array spread over other processes' devices: one of its outputs is sharded over a mesh with
    Explicit axes.

    Arguments:
        eqn: an equation whose inputs are all known.

    Returns:
        ``True`` if it must stay staged.
    """
    return avals_need_devices([v.aval for v in eqn.outvars])


def avals_need_devices(avals: Any) -> bool:
    """Whether values of ``avals`` (one aval or a list) can only be made now with a concrete mesh
    that is not in context, or would be global arrays of several processes: one of them is
    sharded over a mesh with Explicit axes, and no concrete mesh of this process's devices alone
    is in context.

    Arguments:
        avals: the abstract values of the outputs of a computation on constants.

    Returns:
        ``True`` if that computation must stay staged.
    """
    mesh = concrete_mesh()
    if mesh is not None and not mesh.is_multi_process:
        return False
    for aval in avals if isinstance(avals, (list, tuple)) else [avals]:
        sharding = getattr(aval, "sharding", None)
        if sharding is not None and _explicit(sharding.mesh):
            return True
    return False


def on_argument_devices(fun: Callable) -> Callable:
    """``fun`` run inside ``devices_of`` its arguments (for a transformation's eager entry).

    Arguments:
        fun: the function a transformation returns.

    Returns:
        A function with the same signature.
    """

    @functools.wraps(fun)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with devices_of((args, kwargs)):
            return fun(*args, **kwargs)

    return wrapper
