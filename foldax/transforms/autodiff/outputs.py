"""What a derivative is taken of: splitting ``(output, aux)`` and checking scalar losses.

``grad`` needs a scalar loss. A named-dimension tensor whose only dimensions are batch
dimensions is summed over them first (ΦML's convention: a scalar per batch element); anything
else raises an error that names the shape found and how to reduce it.

Example:
    >>> import jax.numpy as jnp
    >>> scalar_loss(jnp.float32(2.0), "grad(f)")
    Array(2., dtype=float32)
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np

from foldax.errors import FoldaxTypeError, NonDifferentiableError
from foldax.pytrees.leaves import STATIC, leaf_kind
from foldax.pytrees.tree import flatten
from foldax.transforms.autodiff.inputs import dtype_of

try:  # named-dimension tensors are optional for autodiff
    from foldax.tensors import batch_reduce_sum, is_tensor
except ImportError:  # pragma: no cover - the tensors package is absent

    def is_tensor(value: Any) -> bool:
        return False

    def batch_reduce_sum(value: Any) -> Any:
        return value


REDUCE_HINT = (
    "Reduce it first, e.g. with .sum(), .mean() or foldax.tensors.l2_loss(...) "
    "(batch dimensions of a foldax Tensor are summed automatically); for derivatives "
    "of every output use jacrev/jacfwd, or vjp for a vector-Jacobian product."
)


def split_aux(out: Any, has_aux: bool, where: str) -> tuple[Any, Any]:
    """``(output, aux)`` of a function's result (``aux`` is ``None`` without ``has_aux``)."""
    if not has_aux:
        return out, None
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise FoldaxTypeError(
            f"expected function with aux output to return a two-element tuple, but got type "
            f"{type(out)} with value {out!r}. {where}: has_aux=True requires the function to "
            f"return a pair (output, aux), but it returned {_describe(out)}. Return `loss, aux`, "
            f"or drop has_aux=True."
        )
    return out[0], out[1]


def scalar_loss(value: Any, where: str, holomorphic: bool = False) -> Any:
    """``value`` as a scalar to differentiate, or a FoldaxError saying why it is not one."""
    if is_tensor(value):
        non_batch = value.shape.non_batch
        if non_batch.rank:
            raise FoldaxTypeError(
                f"{where}: Loss must be reduced to a scalar, but the function returned a Tensor "
                f"with non-batch dimensions {non_batch} (shape {value.shape}). {REDUCE_HINT}"
            )
        value = batch_reduce_sum(value).native()
    if leaf_kind(value) == STATIC:
        hint = (
            " If it returns (loss, aux), pass has_aux=True."
            if isinstance(value, (tuple, list)) and len(value) == 2
            else ""
        )
        raise FoldaxTypeError(
            f"Gradient only defined for scalar-output functions. Output was {value}. {where}: "
            f"Loss must be reduced to a scalar, but the function returned {_describe(value)}."
            f"{hint} {REDUCE_HINT}"
        )
    shape, dtype = np.shape(value), dtype_of(value)
    if shape != ():
        raise FoldaxTypeError(
            f"Gradient only defined for scalar-output functions. Output had shape: {shape}. "
            f"{where}: Loss must be reduced to a scalar, but the function returned an array of "
            f"shape {shape} ({dtype}). {REDUCE_HINT}"
        )
    name = np.dtype(dtype).name
    if holomorphic and not jax.dtypes.issubdtype(dtype, np.complexfloating):
        raise NonDifferentiableError(
            f"grad with holomorphic=True requires outputs with complex dtype, but got {name}. "
            f"{where}: holomorphic=True requires a complex output, but the function returned "
            f"{dtype}. Drop holomorphic=True for a real-valued function."
        )
    if not holomorphic and not jax.dtypes.issubdtype(dtype, np.floating):
        complex_out = jax.dtypes.issubdtype(dtype, np.complexfloating)
        extra = (
            "For holomorphic differentiation pass holomorphic=True; for a non-holomorphic "
            "complex function use vjp."
            if complex_out
            else "Integer and boolean outputs have no gradient; use vjp for float0 cotangents, "
            "or compute the loss in floating point."
        )
        jax_extra = (
            "For holomorphic differentiation, pass holomorphic=True. For differentiation "
            "of non-holomorphic functions involving complex outputs, use jax.vjp "
            "directly."
            if complex_out
            else "For differentiation of functions with integer outputs, use jax.vjp directly."
        )
        raise NonDifferentiableError(
            f"grad requires real-valued outputs (output dtype that is a sub-dtype of "
            f"np.floating), but got {name}. {jax_extra} {where}: the function returned a {dtype} "
            f"scalar, but grad differentiates real (floating-point) losses. {extra}"
        )
    return value


def _describe(x: Any) -> str:
    if isinstance(x, (tuple, list)):
        return f"a {type(x).__name__} of length {len(x)}"
    if x is None:
        return "None"
    if leaf_kind(x) != STATIC:
        return f"an array of shape {np.shape(x)} ({dtype_of(x)})"
    return f"a {type(x).__name__}"


class OutputRecorder:
    """Wraps a function returning ``output`` (or ``(output, aux)``) so it returns
    ``(output, aux)`` and records how many leaves ``output`` has (the differentiated part)."""

    def __init__(self, fun: Callable, has_aux: bool, where: str) -> None:
        self.fun, self.has_aux, self.where = fun, has_aux, where
        self.__wrapped__ = fun  # JAX's messages name fun's source line
        self.num_leaves = 0
        self.tree: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        out, aux = split_aux(self.fun(*args, **kwargs), self.has_aux, self.where)
        leaves, self.tree = flatten(out)
        self.num_leaves = len(leaves)
        return out, aux
