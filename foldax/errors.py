"""foldax's exceptions: one base class, each also a subclass of the matching builtin.

Every message names the argument, what was found, and the fix.

Example:
    >>> try:
    ...     raise FoldaxTypeError("static field 'act' holds a list, which is unhashable; use a tuple")
    ... except TypeError as e:
    ...     print(type(e).__name__)
    FoldaxTypeError
"""

from __future__ import annotations

from typing import Any

from jax.errors import (
    ConcretizationTypeError,
    TracerArrayConversionError,
    TracerBoolConversionError,
    TracerIntegerConversionError,
    UnexpectedTracerError,
)
from jax.experimental.checkify import JaxRuntimeError


class FoldaxError(Exception):
    """Base class of every error foldax raises for a user's mistake.

    Each concrete foldax error also derives from the builtin exception JAX raises for the same
    misuse (``TypeError``, ``ValueError``, ``IndexError``, ``NotImplementedError``,
    ``RuntimeError``), so ``except TypeError`` keeps working; its message names the argument,
    what was found and the fix.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> try:
        ...     foldax.jit(3)
        ... except foldax.FoldaxError as e:
        ...     print(type(e).__name__, isinstance(e, TypeError))
        FoldaxTypeError True
    """


class FoldaxTypeError(FoldaxError, TypeError):
    """A value of the wrong kind (unhashable static, non-pytree output, wrong leaf type)."""


class FoldaxValueError(FoldaxError, ValueError):
    """A value of the right kind but wrong content (shape, size, unknown name)."""


class FoldaxOverflowError(FoldaxError, OverflowError):
    """A number too large for any dtype that can hold it (a Python int beyond 64 bits)."""


class CheckpointError(FoldaxValueError):
    """A checkpoint cannot be loaded: the file is damaged, not foldax's, or holds another tree.
    The message names the file, the leaf path and the cause."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file or step asked for, or the directory to save into, does not exist."""


class UnhashableStaticError(FoldaxTypeError, ValueError):
    """A static argument is unhashable (``jax.jit`` raises ``ValueError`` for it)."""


class InvalidArgumentError(FoldaxTypeError):
    """An argument leaf of a jitted function that is neither an array nor a number (a string,
    a function, a type, an object): ``jax.jit`` raises ``TypeError`` for it too."""


class InvalidOutputError(FoldaxTypeError):
    """A jitted function returned a leaf that is neither an array nor a number: ``jax.jit``
    raises ``TypeError`` for it too."""


class FoldaxIndexError(FoldaxError, IndexError):
    """An index or axis out of range (argnums, in_axes)."""


class ArgnumOutOfRangeError(FoldaxIndexError, TypeError):
    """``argnums`` selects a position the call does not pass; a ``TypeError`` as in JAX."""


class AxisOutOfRangeError(FoldaxIndexError, ValueError):
    """A mapped axis (vmap's in_axes/out_axes) out of range for its value's rank; a ``ValueError``
    as in JAX."""


class TracerControlFlowError(FoldaxTypeError, ConcretizationTypeError):
    """A traced variable was used where Python needs a concrete value (if, while, bool, int);
    also JAX's ``ConcretizationTypeError``, which JAX raises for it."""

    def __init__(self, message: str) -> None:  # JAX's class is built from a tracer instead
        TypeError.__init__(self, message)


class TracerBoolControlFlowError(TracerControlFlowError, TracerBoolConversionError):
    """``bool()`` (an ``if``, ``while``, ``and``/``or``) of a traced variable; also JAX's
    ``TracerBoolConversionError``."""


class ConstantWriteError(FoldaxTypeError, FoldaxValueError):
    """A traced function writes into a NumPy argument, read-only inside ``foldax.jit``: a
    ``TypeError`` as JAX raises for item assignment into its immutable arrays, and a
    ``ValueError`` as NumPy raises for a write into a read-only array."""


class TracerToNumpyError(FoldaxTypeError, TracerArrayConversionError):
    """A traced value was handed to NumPy (``np.sin(x)``, ``np.asarray(x)``); also JAX's
    ``TracerArrayConversionError``, which JAX raises for it."""

    def __init__(self, message: str) -> None:  # JAX's class is built from a tracer instead
        TypeError.__init__(self, message)


class TracerToIntegerError(FoldaxTypeError, TracerIntegerConversionError):
    """``__index__`` of a traced value (``operator.index``, ``hex``, a NumPy array indexed
    with it); also JAX's ``TracerIntegerConversionError``, which JAX raises for it."""

    def __init__(self, message: str) -> None:  # JAX's class is built from a tracer instead
        TypeError.__init__(self, message)


class EscapedTracerError(FoldaxError, UnexpectedTracerError):
    """A tracer of a transformation that has ended was used: it escaped through a side effect
    (a global, a list, an attribute); JAX's ``UnexpectedTracerError`` (a ``TypeError``)."""


class FoldaxReferenceError(FoldaxError, ReferenceError):
    """Something foldax holds weakly was freed while still needed: a compiled entry of a
    ``foldax.jit`` function (``f.entries``) was called with new shapes or dtypes after the function,
    or the entry itself, was let go of (entries are shared by every wrapper of a function and must
    not keep it alive)."""


class MissingRuleError(FoldaxError, NotImplementedError):
    """An interpreter met a primitive for which it has no rule."""


class NonDifferentiableError(FoldaxTypeError):
    """Differentiation was asked for something that has no derivative."""


class NonDifferentiableLoopError(NonDifferentiableError, ValueError):
    """Reverse-mode differentiation (grad, vjp, jacrev) of a ``while_loop`` (or a ``fori_loop``
    with traced bounds); also a ``ValueError``, which JAX raises for it ("Reverse-mode
    differentiation does not work for lax.while_loop ...")."""


class CheckError(FoldaxError, RuntimeError, JaxRuntimeError):
    """A runtime check (``foldax.check``, JAX's ``checkify.check`` or an automatic error set)
    failed; also a ``jax.experimental.checkify.JaxRuntimeError`` (a ``ValueError``), which JAX's
    ``Error.throw`` raises."""

    # where the failing check was staged: JAX's check primitive reads it from the exception
    # ``Error.get_exception`` returns, as from its own ``JaxException``
    traceback_info: Any


class CheckifyRequiredError(FoldaxError, RuntimeError, ValueError):
    """A ``foldax.check`` (or a keyless draw) was compiled without the transformation that
    removes it (``foldax.checkify``, ``foldax.random.keyed``); a ``ValueError`` like JAX's
    "Cannot abstractly evaluate a checkify.check which was not functionalized"."""


class KeyReuseError(FoldaxError, RuntimeError):
    """A random key was consumed more than once."""


class NonLinearError(FoldaxValueError):
    """A function traced as linear contains a non-linear primitive."""


class ProcessMismatchError(FoldaxValueError, AssertionError):
    """A value that must be the same on every process of a multi-process run differs
    (``AssertionError`` as ``jax.experimental.multihost_utils.assert_equal``)."""


class RetraceWarning(UserWarning):
    """A jitted function was traced again and again; the message names the changing argument."""
