"""Program: a closed jaxpr plus the input/output tree structure and the folded constants.

The jaxpr's inputs are the *variable* leaves of the arguments, in order; constant and static
leaves were used at trace time and are kept here (``in_leaves``) so a call can check them.
Outputs that never reached the jaxpr (NumPy arrays, Python numbers, static objects) are stored
as they are (``out_leaves``).

Example:
    >>> import foldax, jax.numpy as jnp, numpy as np
    >>> prog = foldax.trace(lambda x, b: x + np.sin(b ** 2))(jnp.ones(2), np.arange(2.0))
    >>> prog.num_equations
    1
    >>> prog(jnp.zeros(2), np.arange(2.0))
    Array([0.       , 0.841471], dtype=float32)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import jax

from foldax._compat import ClosedJaxpr, eval_jaxpr
from foldax.errors import FoldaxValueError
from foldax.pytrees.leaves import ByValue
from foldax.pytrees.tree import PyTreeDef, flatten, unflatten
from foldax.transforms.core.passes import count_equations


class _Slot:
    """Marks a leaf position filled by the jaxpr (an input variable or a traced output)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


VARIABLE = _Slot("VARIABLE")
TRACED = _Slot("TRACED")


@dataclasses.dataclass(frozen=True, eq=False)
class Program:
    """A traced function: ``jaxpr`` maps the variable leaves of the inputs to the traced outputs.

    Attributes:
        jaxpr: the closed jaxpr (consts are the folded constants).
        in_tree: tree structure of ``(args, kwargs)``.
        in_leaves: per input leaf, ``VARIABLE`` or the constant/static value used at trace time.
        out_tree: tree structure of the output.
        out_leaves: per output leaf, ``TRACED`` or the constant value returned as is.
        name: the traced function's name.

    Made by ``foldax.trace(f)(*args)`` or ``jitted.trace(*args)``; ``evaluate`` runs it on the
    variable leaves and ``assemble`` rebuilds the output tree.

    Example:
        >>> import foldax, jax.numpy as jnp, numpy as np
        >>> prog = foldax.trace(lambda x, c: x * np.sin(c))(jnp.ones(2), np.ones(2))
        >>> prog.num_equations, prog.variable_mask
        (1, (True, False))
        >>> out = prog.assemble(prog.evaluate(prog.variables_of((2 * jnp.ones(2), np.ones(2)), {})))
        >>> [round(float(v), 3) for v in out]
        [1.683, 1.683]
    """

    jaxpr: ClosedJaxpr
    in_tree: PyTreeDef
    in_leaves: tuple
    out_tree: PyTreeDef
    out_leaves: tuple
    name: str = "fun"

    @property
    def num_equations(self) -> int:
        """Number of equations, counted into sub-jaxprs."""
        return count_equations(self.jaxpr)

    @property
    def variable_mask(self) -> tuple[bool, ...]:
        return tuple(x is VARIABLE for x in self.in_leaves)

    @property
    def in_avals(self) -> list:
        return list(self.jaxpr.in_avals)

    @property
    def out_avals(self) -> list:
        return list(self.jaxpr.out_avals)

    def variables_of(self, args: Sequence, kwargs: dict) -> list:
        """The variable leaves of a call's arguments, checking structure and constants."""
        leaves, tree = flatten((tuple(args), dict(kwargs)))
        if tree != self.in_tree:
            raise FoldaxValueError(
                f"{self.name}: the arguments' tree structure {tree} differs from the one this "
                f"Program was traced with, {self.in_tree}. Trace again for the new structure."
            )
        out = []
        for i, (x, slot) in enumerate(zip(leaves, self.in_leaves)):
            if slot is VARIABLE:
                out.append(x)
            elif ByValue(x) != ByValue(slot):
                raise FoldaxValueError(
                    f"{self.name}: input leaf {i} is the constant {slot!r} in this Program "
                    f"(folded at trace time) but the call passes {x!r}. Pass it as a jax.Array to "
                    f"make it a variable, or trace again with the new value."
                )
        return out

    def evaluate(self, variables: Sequence) -> list:
        """The traced outputs for these variable leaves, binding each primitive (so an outer
        trace records them)."""
        return eval_jaxpr(self.jaxpr.jaxpr, self.jaxpr.consts, *variables)

    def assemble(self, traced_outputs: Sequence) -> Any:
        """Rebuild the output pytree from the traced outputs and the stored constant outputs."""
        it = iter(traced_outputs)
        leaves = [next(it) if slot is TRACED else slot for slot in self.out_leaves]
        return unflatten(self.out_tree, leaves)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        compiled = self.__dict__.get("_compiled")
        if compiled is None:
            compiled = jax.jit(self.evaluate)
            object.__setattr__(self, "_compiled", compiled)
        return self.assemble(compiled(self.variables_of(args, kwargs)))

    def __str__(self) -> str:
        head = (
            f"Program {self.name}: {sum(self.variable_mask)} variable input(s), "
            f"{len(self.in_leaves) - sum(self.variable_mask)} constant input(s), "
            f"{self.num_equations} equation(s)"
        )
        return f"{head}\n{self.jaxpr}"

    def __repr__(self) -> str:
        return f"<Program {self.name}: {self.num_equations} equations>"
