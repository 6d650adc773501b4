"""The generic interpreter core: one place that walks a jaxpr.

An ``Interpreter`` evaluates a closed jaxpr equation by equation: it reads inputs from an
environment (lifting literals and consts with ``lift``), looks up the rule registered for the
equation's primitive, runs it inside the equation's source-info context, and writes the outputs
(skipping dropped ones). A transformation is a subclass that

* chooses what a *value* is (a plain array, a primal/tangent pair, an array and its batch axis,
  ...) and registers per-primitive rules with ``@MyInterpreter.register(prim)``;
* describes how a value crosses the boundary of a higher-order primitive (``to_arrays`` /
  ``from_arrays``, ``join`` / ``coerce`` for branches and loop carries) and, optionally, state
  threaded through every sub-jaxpr (``get_state`` / ``set_state``, e.g. checkify's error).

With that, ``foldax.transforms.core.higher_order`` handles ``jit``, ``closed_call``, ``remat``,
``cond``, ``while``, ``scan``, ``custom_jvp_call`` and ``custom_vjp_call`` for every
interpreter, by re-tracing their bodies with a child interpreter and re-binding the primitive.
Interpreters compose because every rule evaluates by *binding* primitives, which the next outer
trace (``jit``, another interpreter's tracing, or eager evaluation) records.

Example:
    >>> import jax, jax.numpy as jnp
    >>> class CountingInterpreter(EvalInterpreter):
    ...     def default_rule(self, eqn, invals):
    ...         self.count = getattr(self, "count", 0) + 1
    ...         return super().default_rule(eqn, invals)
    >>> closed = jax.make_jaxpr(lambda x: jnp.sin(x) * 2)(1.0)
    >>> interp = CountingInterpreter()
    >>> [round(float(y), 4) for y in interp.run(closed, 1.0)], interp.count
    ([1.6829], 2)
"""

from __future__ import annotations

import copy
from typing import Any, Callable, ClassVar, Hashable, Sequence, TypeVar

from foldax._compat import (
    UNSPECIFIED,
    ClosedJaxpr,
    DropVar,
    Jaxpr,
    JaxprEqn,
    Literal,
    Primitive,
    bind_params,
    eqn_context,
)
from foldax.errors import MissingRuleError
from foldax.transforms.core.body_cache import cached_body

# A rule gets the interpreter (a subclass of Interpreter), the equation and its input values.
Rule = Callable[[Any, JaxprEqn, list], Sequence[Any]]
R = TypeVar("R", bound=Rule)
T = TypeVar("T")


class Interpreter:
    """Base class of every foldax interpreter: walks a closed jaxpr equation by equation.

    A subclass chooses what a value is, registers per-primitive rules with
    ``@MyInterpreter.register(primitive)`` (a rule gets ``(interp, eqn, invals)`` and returns the
    output values) and may override ``default_rule`` for primitives without one. Higher-order
    primitives (``jit``, ``cond``, ``while``, ``scan``, custom derivatives, ``remat``) are handled
    for every interpreter by the core (see the module docstring of
    ``foldax.transforms.core.interpreter``).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jax import lax
        >>> from foldax import EvalInterpreter
        >>> class SinToCos(EvalInterpreter):
        ...     pass
        >>> @SinToCos.register(lax.sin_p)
        ... def _cos(interp, eqn, invals):
        ...     return [lax.cos(*invals)]
        >>> closed = jax.make_jaxpr(jnp.sin)(0.0)
        >>> SinToCos().run(closed, 0.0)
        [Array(1., dtype=float32, weak_type=True)]
    """

    rules: ClassVar[dict[Primitive, Rule]] = {}
    _rule_tables: ClassVar[list[dict[Primitive, Rule]]]  # set per class on first lookup
    transformation: ClassVar[str] = "interpreter"
    # Whether higher-order primitives without a registered rule get the generic treatment
    # (re-trace the body with a child interpreter); False binds them unchanged.
    generic_higher_order: ClassVar[bool] = True
    # Whether each equation runs inside its source-info context (so what its rule binds is
    # attributed to the user's line). Analyses that bind nothing (foldax.inspect) set False.
    source_context: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.rules = {}

    # -- rule registry ---------------------------------------------------------------------
    @classmethod
    def register(cls, *primitives: Primitive) -> Callable[[R], R]:
        """Decorator registering ``rule(interp, eqn, invals) -> outvals`` for ``primitives``.

        A user can register a rule for a new primitive the same way.

        Example:
            >>> from jax import lax
            >>> @EvalInterpreter.register(lax.sin_p)
            ... def _sin(interp, eqn, invals):  # returns the list of outputs
            ...     return [lax.sin_p.bind(*invals, **eqn.params)]
            >>> del EvalInterpreter.rules[lax.sin_p]
        """

        def decorate(rule: R) -> R:
            for p in primitives:
                cls.rules[p] = rule
            return rule

        return decorate

    @classmethod
    def rule_for(cls, primitive: Primitive) -> Rule | None:
        tables = cls.__dict__.get("_rule_tables")
        if tables is None:  # the rules dicts along the MRO (the dicts themselves, so later
            tables = [k.__dict__["rules"] for k in cls.__mro__ if "rules" in k.__dict__]
            cls._rule_tables = tables  # registrations are seen)
        for table in tables:
            rule = table.get(primitive)
            if rule is not None:
                return rule
        return None

    # -- values ------------------------------------------------------------------------------
    def lift(self, constant: Any) -> Any:
        """The interpreter value of a literal or const (default: the constant itself)."""
        return constant

    # -- traversal ---------------------------------------------------------------------------
    def run(self, closed: ClosedJaxpr, *args: Any) -> list:
        """Interpret a closed jaxpr on interpreter values ``args``; returns output values."""
        return self.run_jaxpr(closed.jaxpr, [self.lift(c) for c in closed.consts], args)

    def run_jaxpr(self, jaxpr: Jaxpr, consts: Sequence, args: Sequence) -> list:
        env: dict = {}
        for v, x in zip(jaxpr.constvars, consts):
            env[v] = x
        for v, x in zip(jaxpr.invars, args):
            env[v] = x

        def read(a: Any) -> Any:
            return self.lift(a.val) if isinstance(a, Literal) else env[a]

        for eqn in jaxpr.eqns:
            invals = [read(a) for a in eqn.invars]
            if self.source_context:
                with eqn_context(eqn):
                    outvals = self.process_eqn(eqn, invals)
            else:
                outvals = self.process_eqn(eqn, invals)
            for v, x in zip(eqn.outvars, outvals):
                if not isinstance(v, DropVar):
                    env[v] = x
        return [read(a) for a in jaxpr.outvars]

    def process_eqn(self, eqn: JaxprEqn, invals: list) -> list:
        """Apply the rule for ``eqn.primitive``; returns a list of output values."""
        rule = self.rule_for(eqn.primitive)
        if rule is not None:
            return list(rule(self, eqn, invals))
        if self.generic_higher_order:
            from foldax.transforms.core.higher_order import HIGHER_ORDER_RULES

            generic = HIGHER_ORDER_RULES.get(eqn.primitive)
            if generic is not None:
                return generic(self, eqn, invals)
        return list(self.default_rule(eqn, invals))

    def default_rule(self, eqn: JaxprEqn, invals: list) -> list:
        """What happens to a first-order primitive without a registered rule (a list of outputs)."""
        raise MissingRuleError(
            f"{self.transformation}: no rule for the primitive '{eqn.primitive}' (used at "
            f"{_source(eqn)}). Register one with "
            f"@{type(self).__module__}.{type(self).__name__}.register(<primitive>) as a function "
            f"(interpreter, eqn, invals) -> list of outputs."
        )

    # -- the boundary protocol for higher-order primitives -----------------------------------
    def to_arrays(self, value: Any) -> tuple[list, Hashable]:
        """The raw arrays that carry ``value`` through a sub-jaxpr, and a spec to rebuild it."""
        return [value], None

    def from_arrays(self, arrays: Sequence, spec: Any) -> Any:
        return arrays[0]

    def to_stacked_arrays(self, value: Any) -> tuple[list, Hashable]:
        """Like ``to_arrays`` for a value stacked along a leading scanned axis (``scan``'s xs and
        ys): every array must keep that axis first. Default: ``to_arrays``."""
        return self.to_arrays(value)

    def from_stacked_arrays(self, arrays: Sequence, spec: Any) -> Any:
        """Inverse of ``to_stacked_arrays``. Default: ``from_arrays``."""
        return self.from_arrays(arrays, spec)

    def join(self, a: Any, b: Any) -> Any:
        """The least spec both ``a`` and ``b`` coerce to (branch outputs, loop carries)."""
        return a

    def coerce(self, value: Any, spec: Any) -> Any:
        """``value`` re-expressed with spec ``spec`` (which is ``join``-above its own)."""
        return value

    def boundary_sharding(self, sharding: Any, old: Any, new: Any, mesh: Any) -> Any:
        """The ``jit`` in/out sharding of an array whose abstract value this interpreter changed
        from ``old`` to ``new`` (default: unspecified, the compiler chooses)."""
        return UNSPECIFIED

    def get_state(self) -> list:
        """Arrays threaded through every sub-jaxpr (e.g. an error value); default none."""
        return []

    def set_state(self, arrays: Sequence) -> None:
        del arrays

    def child(self) -> Interpreter:
        """An interpreter for a sub-jaxpr: same configuration, its own state."""
        return copy.copy(self)

    def body_cache_key(self) -> Hashable | None:
        """This interpreter's configuration as a hashable key, if the bodies it re-traces depend
        only on it, the source body and the inputs' avals and specs: each transformed body is
        then cached per source jaxpr (``core.body_cache``), so the same ``jit`` transformed twice
        is one jaxpr and compiles once. ``None`` (the default): bodies are traced anew each time
        (an interpreter whose rules read anything else, such as values it holds)."""
        return None

    def reuse_body(self, source: Any, key: Hashable | None, build: Callable[[], T]) -> T:
        """``build()``, the body re-traced from ``source``, or the one built before for the same
        ``source`` and ``key`` (``core.body_cache``). An interpreter whose bodies record
        something besides the jaxpr (checkify's error sites) overrides it to restore that on
        reuse."""
        return cached_body(source, key, build)


def _source(eqn: JaxprEqn) -> str:
    from foldax._compat import eqn_source_line

    return eqn_source_line(eqn)


class EvalInterpreter(Interpreter):
    """The plainest interpreter: evaluates a jaxpr by binding each primitive with its params.

    Under an outer trace the bound primitives are recorded by it; eagerly they run. A base for
    interpreters that change a few primitives and evaluate the rest.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from foldax import EvalInterpreter
        >>> closed = jax.make_jaxpr(lambda x: jnp.sin(x) * 2)(1.0)
        >>> [round(float(y), 4) for y in EvalInterpreter().run(closed, 1.0)]
        [1.6829]
    """

    transformation = "eval"
    generic_higher_order = False

    def default_rule(self, eqn: JaxprEqn, invals: list) -> list:
        return bind_eqn(eqn, invals)


def bind_eqn(eqn: JaxprEqn, invals: Sequence, **param_updates: Any) -> list:
    """Bind ``eqn``'s primitive on ``invals`` with its params (optionally updated); a list."""
    params = (
        bind_params(eqn.replace(params={**eqn.params, **param_updates}))
        if param_updates
        else bind_params(eqn)
    )
    out = eqn.primitive.bind(*invals, **params)
    return list(out) if eqn.primitive.multiple_results else [out]
