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


class FoldaxError(Exception):
    """Base class of every error foldax raises for a user's mistake."""


class FoldaxTypeError(FoldaxError, TypeError):
    """A value of the wrong kind (unhashable static, non-pytree output, wrong leaf type)."""


class FoldaxValueError(FoldaxError, ValueError):
    """A value of the right kind but wrong content (shape, size, unknown name)."""


class UnhashableStaticError(FoldaxTypeError, ValueError):
    """A static argument is unhashable (``jax.jit`` raises ``ValueError`` for it)."""


class FoldaxIndexError(FoldaxError, IndexError):
    """An index or axis out of range (argnums, in_axes)."""


class TracerControlFlowError(FoldaxTypeError):
    """A traced variable was used where Python needs a concrete value (if, while, bool, int)."""


class MissingRuleError(FoldaxError, NotImplementedError):
    """An interpreter met a primitive for which it has no rule."""


class NonDifferentiableError(FoldaxTypeError):
    """Differentiation was asked for something that has no derivative."""


class CheckError(FoldaxError, RuntimeError):
    """A runtime check (``foldax.check`` or an automatic error set) failed."""


class CheckifyRequiredError(FoldaxError, RuntimeError):
    """A ``foldax.check`` (or a keyless draw) was compiled without the transformation that
    removes it (``foldax.checkify``, ``foldax.random.keyed``)."""


class KeyReuseError(FoldaxError, RuntimeError):
    """A random key was consumed more than once."""


class NonLinearError(FoldaxValueError):
    """A function traced as linear contains a non-linear primitive."""


class RetraceWarning(UserWarning):
    """A jitted function was traced again and again; the message names the changing argument."""
