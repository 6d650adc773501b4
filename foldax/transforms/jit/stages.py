"""Ahead-of-time stages of a ``foldax.jit`` function: ``.trace``, ``.lower``, ``.compile``.

They mirror ``jax.jit``'s ``Traced``, ``Lowered`` and ``Compiled``: every attribute JAX's objects
have (``as_text``, ``compiler_ir``, ``cost_analysis``, ``in_tree``, ``args_info`` ...) is JAX's own,
and calling a ``Compiled`` takes the function's arguments and returns the function's own output
structure. What foldax adds: ``Traced.program``, the :class:`~foldax.Program` (folded constants
included) behind the call.

The lowered computation takes the *variable* leaves of the arguments in their tree (constant and
static leaves are replaced by ``None``, which JAX treats as an empty subtree) and returns the traced
outputs in the output tree (constant outputs ``None``). So for a function whose leaves are all
jax arrays, ``in_tree``/``out_tree``/``args_info`` are exactly ``jax.jit``'s.

Example:
    >>> import foldax, jax.numpy as jnp, numpy as np
    >>> f = foldax.jit(lambda x, c: {"y": x * np.sum(c), "c": c})
    >>> compiled = f.lower(jnp.ones(2), np.arange(3.0)).compile()
    >>> compiled(jnp.ones(2), np.arange(3.0))["y"]
    Array([3., 3.], dtype=float32)
    >>> f.trace(jnp.ones(2), np.arange(3.0)).program.num_equations
    1
"""

from __future__ import annotations

from typing import Any, Callable

import jax

from foldax._compat import shaped_abstractify
from foldax.pytrees.leaves import STATIC, leaf_kind
from foldax.pytrees.tree import unflatten
from foldax.transforms.core.program import TRACED, Program


def traced_outputs_only(program: Program, traced: list) -> Any:
    """The output tree with the traced outputs in place and ``None`` for constant outputs."""
    it = iter(traced)
    return unflatten(program.out_tree, [next(it) if slot is TRACED else None for slot in program.out_leaves])


def _shape_of(leaf: Any) -> Any:
    """A constant output leaf's ``ShapeDtypeStruct`` (static leaves stay as they are)."""
    return leaf if leaf_kind(leaf) == STATIC else _struct(shaped_abstractify(leaf))


def _struct(aval: Any) -> Any:
    if not hasattr(aval, "shape"):  # a token
        return aval
    return jax.ShapeDtypeStruct(aval.shape, aval.dtype, weak_type=aval.weak_type)


def output_values(program: Program) -> tuple:
    """Per output leaf: ``TRACED``, or the folded constant as ``jax.jit`` would return it (a jax
    Array with JAX's dtype: NumPy float64 becomes float32 unless x64, Python numbers weakly
    typed); static outputs (strings, functions) as they are. Made outside any trace, so no
    tracer is kept."""
    with jax.ensure_compile_time_eval():
        return tuple(
            s if s is TRACED or leaf_kind(s) == STATIC else jax.device_put(s) for s in program.out_leaves
        )


class Traced:
    """A traced call of a ``foldax.jit`` function (``jax.stages.Traced``'s surface).

    Attributes:
        program: the foldax Program the call runs (constants folded).
        jaxpr: its closed jaxpr (the variable leaves are its inputs).
        fun_name: the traced function's name.
    """

    def __init__(self, program: Program, lower: Callable[[], Lowered]) -> None:
        self.program = program
        self._lower = lower

    @property
    def jaxpr(self) -> Any:
        return self.program.jaxpr

    @property
    def fun_name(self) -> str:
        return self.program.name

    @property
    def out_info(self) -> Any:
        """The output tree with a ``jax.ShapeDtypeStruct`` per array or number leaf."""
        return self.out_info_with(map(_struct, self.program.out_avals))

    def out_info_with(self, traced_structs: Any) -> Any:
        """``out_info`` with the traced outputs described by ``traced_structs`` (in order),
        e.g. the lowered computation's, which know their shardings."""
        structs = iter(traced_structs)
        leaves = [next(structs) if slot is TRACED else _shape_of(slot) for slot in self.program.out_leaves]
        return unflatten(self.program.out_tree, leaves)

    def lower(self) -> Lowered:
        """Lower the traced call (``jit(f).lower(*args)``)."""
        return self._lower()

    def __getattr__(self, name: str) -> Any:  # the Program's own surface (num_equations, ...)
        if name.startswith("__") or name in ("program", "_lower"):
            raise AttributeError(name)
        return getattr(self.program, name)

    def __repr__(self) -> str:
        return f"<foldax Traced {self.program.name}: {self.program.num_equations} equations>"


class Lowered:
    """JAX's ``Lowered`` for a ``foldax.jit`` call, compiling to a :class:`Compiled`."""

    def __init__(
        self, lowered: Any, prepare: Callable[[tuple, dict], tuple[tuple, dict]], program: Program
    ) -> None:
        self._lowered = lowered
        self._prepare = prepare
        self._program = program

    def compile(self, *args: Any, **kwargs: Any) -> Compiled:
        """Compile (``jax.stages.Lowered.compile``'s arguments)."""
        return Compiled(self._lowered.compile(*args, **kwargs), self._prepare, self._program)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_lowered", "_prepare", "_program"):
            raise AttributeError(name)
        return getattr(self._lowered, name)


class Compiled:
    """JAX's ``Compiled`` for a ``foldax.jit`` call; call it like the function."""

    def __init__(
        self, compiled: Any, prepare: Callable[[tuple, dict], tuple[tuple, dict]], program: Program
    ) -> None:
        self._compiled = compiled
        self._prepare = prepare
        self._program = program

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        dyn_args, dyn_kwargs = self._prepare(args, kwargs)
        traced = iter(jax.tree.leaves(self._compiled(*dyn_args, **dyn_kwargs)))
        return unflatten(
            self._program.out_tree, [next(traced) if v is TRACED else v for v in output_values(self._program)]
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_compiled", "_prepare", "_program"):
            raise AttributeError(name)
        return getattr(self._compiled, name)
