"""Where ``foldax.jit``'s traced leaves go: donation and shardings, per traced leaf.

``jax.jit`` takes ``donate_argnums``/``in_shardings`` per argument (a prefix of the argument
tree); ``foldax.jit`` compiles a function of the *traced* leaves only (constants are folded), so
the per-argument options become per-leaf options of the traced leaves here.

Example:
    >>> import jax.numpy as jnp, numpy as np
    >>> from foldax.transforms.jit.arguments import ArgumentSpec
    >>> from foldax.transforms.jit.keys import CallParts
    >>> spec = ArgumentSpec(lambda x, c: x, "f", static_argnums=(), static_argnames=(),
    ...                     donate_argnums=(0,), donate_argnames=(), auxiliary_args=(),
    ...                     variable_args=())
    >>> donated_variables(spec, CallParts((jnp.ones(2), np.ones(2)), {}, (), (), (True, False)))
    (1,)
"""

from __future__ import annotations

from typing import Any

import jax

from foldax.errors import FoldaxValueError
from foldax.pytrees.tree import flatten, unflatten
from foldax.transforms.core.program import TRACED, Program
from foldax.transforms.jit.arguments import ArgumentSpec
from foldax.transforms.jit.keys import CallParts


def broadcast_leaves(prefix: Any, full: Any, what: str, name: str) -> list:
    """``prefix`` (a tree prefix of ``full``, ``None`` a leaf) repeated per leaf of ``full``.

    Raises:
        FoldaxValueError: ``prefix`` is not a prefix of ``full``'s structure.
    """
    is_none = lambda x: x is None  # noqa: E731
    try:
        tree = jax.tree.broadcast(prefix, full, is_leaf=is_none)
    except ValueError as e:
        jax_words = (  # JAX's own message for out_shardings has no fixed opening
            "pjit in_shardings specification must be a tree prefix of the positional arguments tuple. "
            if what == "in_shardings"
            else ""
        )
        raise FoldaxValueError(
            f"{jax_words}jit({name}, {what}=...): its structure {jax.tree.structure(prefix, is_leaf=is_none)} "
            f"is not a prefix of the structure {jax.tree.structure(full)}. Give one sharding "
            f"per argument (or per leaf), or a single sharding for all."
        ) from e
    return jax.tree.leaves(tree, is_leaf=is_none)


def traced_output_shardings(out_shardings: Any, program: Program) -> list:
    """JAX's ``out_shardings`` (a prefix of the output tree) per traced output."""
    placeholder = unflatten(program.out_tree, list(range(len(program.out_leaves))))
    per_leaf = broadcast_leaves(out_shardings, placeholder, "out_shardings", program.name)
    return [sh for sh, slot in zip(per_leaf, program.out_leaves) if slot is TRACED]


def variable_shardings(in_shardings: Any, parts: CallParts, name: str) -> list:
    """JAX's ``in_shardings`` (a prefix of the positional arguments) per traced leaf; keyword
    arguments unsharded."""
    dyn_args, dyn_kwargs = tuple(parts.dyn_args), parts.dyn_kwargs
    prefix = in_shardings if isinstance(in_shardings, (tuple, list)) else (in_shardings,) * len(dyn_args)
    per_leaf = broadcast_leaves(tuple(prefix), dyn_args, "in_shardings", name)
    mask = parts.traced(len(flatten((dyn_args, dyn_kwargs))[0]))
    per_leaf += [None] * (len(mask) - len(per_leaf))
    return [sh for sh, m in zip(per_leaf, mask) if m]


def donated_arguments(spec: ArgumentSpec, parts: CallParts) -> tuple[list[bool], dict[str, bool]]:
    """Per dynamic positional argument and per keyword argument: is it donated?"""
    positions = spec.dynamic_positions(len(parts.dyn_args))
    total = positions[-1] + 1 if positions else 0
    donated = {i % total if total else i for i in spec.donate_argnums}
    return ([p in donated for p in positions], {k: k in spec.donate_argnames for k in parts.dyn_kwargs})


def donated_variables(spec: ArgumentSpec, parts: CallParts) -> tuple[int, ...]:
    """Indices (from 1: 0 is the hoisted constants) of the donated traced leaves."""
    if not spec.donate_argnums and not spec.donate_argnames:
        return ()
    by_arg, by_name = donated_arguments(spec, parts)
    tops = list(zip(parts.dyn_args, by_arg)) + [
        (parts.dyn_kwargs[k], by_name[k]) for k in sorted(parts.dyn_kwargs)
    ]
    mask = iter(parts.traced(len(flatten((tuple(parts.dyn_args), parts.dyn_kwargs))[0])))
    out, var_index = [], 0
    for value, donated in tops:
        for _ in flatten(value)[0]:
            if next(mask):
                if donated:
                    out.append(1 + var_index)
                var_index += 1
    return tuple(out)


def variables_in_place(parts: CallParts) -> tuple[tuple, dict]:
    """The dynamic arguments with ``None`` (an empty subtree for JAX) for every folded leaf."""
    leaves, treedef = flatten((tuple(parts.dyn_args), parts.dyn_kwargs))
    mask = parts.traced(len(leaves))
    return unflatten(treedef, [x if m else None for x, m in zip(leaves, mask)])
