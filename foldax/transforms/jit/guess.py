"""A function's guess: a call runs the entry the last calls ran, then checks its constants.

A call of ``foldax.jit`` with constants (NumPy arguments, ``value`` fields) must run the entry
compiled for their values, and it finds that entry by their keys: dtype, shape and, for large
arrays, a digest of the bytes (``foldax.pytrees.digest``). A loop that waits for each result
pays for that lookup on every step: the Python thread resumes cold after the program ran, and
what it does before the next dispatch costs several times what it costs in a tight loop (a
16 KB label's key: 1.2 µs in a loop, 7 to 12 µs more per blocked call).

So when two calls in a row ran the same entry, and the second found it by a plan with
constants (``plans.CallPlan``), the function *guesses* that entry for its next call. That call
takes the traced leaves where the plan's leaves were, dispatches the guessed entry at once
(JAX runs it asynchronously) and, while it runs, checks what the plan's lookup would: the leaf
types and the constants' keys. If they find the guessed entry, its result is the call's;
otherwise the result is dropped, the guess forgotten, and the call takes the usual path. A
changed constant costs one discarded run of the old program, and a guess is made again only
once two calls agree (a loop over changing constants never guesses).

A guess is made only when running it for nothing can't be seen:

- the entry's programs have no effect (no callback, print, ordered effect or runtime check);
- it donates no buffer (the discarded run would consume it);
- JAX runs in one process (a discarded run of collectives on one process alone would hang the
  others);
- the call is at the top level (under a transformation, the call would be staged into the outer
  program; there is no dispatch latency to hide there anyway);
- it runs compiled code only: if the entry's ``jax.jit`` meets new shapes, dtypes or trace
  context, its runner raises :class:`Mispredicted` before tracing anything, and the call takes
  the usual path, which traces (and counts) what it must.

Example:
    >>> import foldax, jax.numpy as jnp, numpy as np
    >>> f = foldax.jit(lambda x, c: x * c)
    >>> for c in (2.0, 2.0, 2.0, 3.0):
    ...     y = f(jnp.ones(2), np.float32(c))
    >>> y, f.trace_count
    (Array([3., 3.], dtype=float32), 2)
"""

from __future__ import annotations

import operator
import threading
from typing import TYPE_CHECKING, Any, Callable, Hashable, Sequence

from jax import process_count

from foldax._compat import EVAL_TRACE, TRACE_STATE

if TYPE_CHECKING:
    from foldax.transforms.jit.entries import EntryCache
    from foldax.transforms.jit.plans import CallPlan, RecentPlan

MISSED: Any = object()  # what guessed_call returns when the guess was wrong or could not run

_state = threading.local()


class Mispredicted(Exception):
    """Raised by an entry's runner asked to trace during a guessed call, which runs compiled
    code only (caught by :func:`guessed_call`; it never reaches the user)."""


def guessing() -> bool:
    """Whether this thread is running a guessed call."""
    return getattr(_state, "on", False)


class Guess:
    """The entry a function's next call runs before its constants are checked.

    Arguments:
        plan: the plan the last call found the entry by (it has constants).
        hit: ``(full key, entry)`` as the plan holds it.
        recent: the plan's tree structure and leaf types, or ``None`` when the call's positional
            arguments are its leaves (``plans.positional_key``).
        types: the leaf types of the plan.
    """

    __slots__ = ("plan", "hit", "entry", "recent", "types", "jitted", "prefix", "pick", "one")

    def __init__(
        self, plan: CallPlan, hit: tuple[Hashable, Any], recent: RecentPlan | None, types: tuple
    ) -> None:
        self.plan, self.hit, self.entry = plan, hit, hit[1]
        self.recent, self.types = recent, types
        # what runs the entry's jax.jit on a call's leaves, with as little Python as can be
        # before dispatch: jitted(*prefix, pick(leaves)) for one traced leaf (one), else
        # jitted(*prefix, *pick(leaves)); prefix holds the hoisted constants, if any
        traced = plan.traced or ()
        self.jitted, self.prefix = self.entry.jitted, ((self.entry.hoisted,) if self.entry.hoisted else ())
        self.one = len(traced) == 1
        self.pick: Callable[[Sequence], Any] = operator.itemgetter(*traced) if traced else (lambda leaves: ())


def remember(
    entries: EntryCache,
    plan: CallPlan,
    hit: tuple[Hashable, Any],
    recent: RecentPlan | None,
    leaves: Sequence,
) -> None:
    """After a call found ``hit`` by ``plan`` and ran it, and the call before ran the same
    entry: make it the function's guess, if running it for nothing can't be seen (no effect,
    no donation, one process) and the plan has constants (else there is no key to hide).

    ``recent`` is the plan's :class:`~foldax.transforms.jit.plans.RecentPlan` for a call whose
    leaves came from flattening its arguments (``None``: positional leaves); a tree call whose
    plan has none (a leaf of unknown type) is not guessed."""
    entry = hit[1]
    if not entry.guessable or not plan.constants or process_count() != 1:
        return
    if recent is None:
        entries.guess = Guess(plan, hit, None, tuple(map(type, leaves)))
    elif recent.plan is plan and recent.types is not None:
        entries.guess = Guess(plan, hit, recent, recent.types)


def guessed_call(guess: Guess, args: tuple, kwargs: dict, entries: EntryCache) -> Any:
    """Run ``guess`` on a call's arguments, then check that they are a call of its plan with
    its constants.

    Arguments:
        guess: the function's guess (``entries.guess``).
        args, kwargs: the call's arguments.
        entries: the function's entry cache (the entry is marked used on a hit; the guess is
            forgotten on a miss).

    Returns:
        The call's output, or :data:`MISSED` when the call is not the guess's (other tree
        structure, leaf types or constants), or the guessed run raised or would have traced.

    Example:
        >>> import foldax, jax.numpy as jnp, numpy as np
        >>> f = foldax.jit(lambda x, c: x + c)
        >>> _ = [f(jnp.ones(1), np.ones(1)) for _ in range(2)]
        >>> entries = f._fast[1]
        >>> guessed_call(entries.guess, (jnp.ones(1), np.ones(1)), {}, entries)
        Array([2.], dtype=float32)
        >>> guessed_call(entries.guess, (jnp.ones(1), np.zeros(1)), {}, entries) is MISSED, entries.guess
        (True, None)
    """
    recent = guess.recent
    leaves: Any = None
    if (kwargs and recent is None) or not isinstance(TRACE_STATE.trace, EVAL_TRACE):  # not at top level
        return MISSED
    if not guess.entry.guessable:  # it has since traced a program with effects
        entries.guess = None
        return MISSED
    _state.on = True
    try:
        leaves = args if recent is None else recent.treedef.flatten_up_to((args, kwargs))
        if guess.one:
            returned = guess.jitted(*guess.prefix, guess.pick(leaves))
        else:
            returned = guess.jitted(*guess.prefix, *guess.pick(leaves))
    except Exception:  # noqa: BLE001 - another structure, or a failed run: the usual path decides
        returned = MISSED
    finally:
        _state.on = False
    # what the plan's lookup checks, while the program runs: leaf types, then constants
    if (
        returned is MISSED
        or tuple(map(type, leaves)) != guess.types
        or guess.plan.find(leaves) is not guess.hit
    ):
        entries.guess = None
        return MISSED
    key, entry = guess.hit
    if key is not entries.last:
        entries.touch(key)
    return returned if entry.all_traced else entry.outputs(guess.plan.variables(leaves), returned)
