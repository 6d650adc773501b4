"""Forward-mode differentiation: the JVP interpreter.

A value is a pair ``(primal, tangent)``; ``tangent`` is ``None`` where it is known to be zero
(and for integer or boolean values, whose tangents are ``float0``). Equations that no tangent
reaches are bound unchanged (activity analysis: they are not differentiated, and a
``custom_jvp``/``custom_vjp`` call keeps its rule for an outer transformation); the others apply
the primitive's JVP rule registered with JAX (``jax.interpreters.ad.primitive_jvps``). Custom
rules are honoured: ``custom_jvp`` calls run the user's JVP, ``custom_vjp`` calls run the user's
``fwd`` and leave a ``custom_lin`` equation that reverse mode transposes with the user's ``bwd``.
``jit``, ``cond``, ``while``, ``scan`` and ``remat`` go through the generic higher-order rules;
``shard_map`` is differentiated inside its body.

With ``basis=n`` every tangent carries a leading axis of size ``n`` (one tangent per basis
vector, as ``jacfwd`` needs); each JVP rule then runs under ``jax.vmap`` — on that one rule.

Example:
    >>> import jax, jax.numpy as jnp
    >>> closed = jax.make_jaxpr(lambda x: jnp.sin(x) * x)(1.0)
    >>> [(p, t)] = JVPInterpreter().run(closed, (1.0, 1.0))
    >>> round(float(t), 4)  # cos(1) * 1 + sin(1)
    1.3818
"""

from __future__ import annotations

import contextlib
import re
from typing import Any, Callable, Iterator, Sequence

import jax  # noqa: F401  (the conformance plugin checks foldax modules' `jax` is the real one)
import jax.numpy as jnp

from foldax._compat import (
    CustomVJPException,
    JaxprEqn,
    Zero,
    bind_params,
    bind_shard_map,
    custom_jvp_call_p,
    custom_lin_p,
    custom_vjp_call_p,
    direct_linearize,
    eqn_source_line,
    instantiate_zeros,
    primitive_jvps,
    primitive_linearizations,
    replace_internal_symbolic_zeros,
    replace_rule_output_symbolic_zeros,
    shard_map_p,
    spec_with_batch_dim,
    typeof,
)
from foldax.errors import MissingRuleError, NonDifferentiableError
from foldax.transforms.autodiff.basis import apply_linear_rule, nonzero
from foldax.transforms.core.interpreter import Interpreter, bind_eqn

# rule(tangents with symbolic Zeros) -> (primal outputs, tangent outputs)
JVPRule = Callable[[list], tuple[Sequence, Sequence]]


def tangent_aval(primal: Any) -> Any:
    """The abstract value of ``primal``'s tangent (``float0`` for integers and booleans)."""
    return typeof(primal).to_tangent_aval()


def is_differentiable(aval: Any) -> bool:
    """Whether values of this abstract value have non-trivial tangents (float or complex)."""
    return jnp.issubdtype(aval.dtype, jnp.inexact)


class JVPInterpreter(Interpreter):
    """Carries a tangent alongside every primal (see the module docstring).

    ``basis``: size of the leading tangent axis (``None``: plain tangents).
    ``linearize``: the interpretation is traced for reverse mode, so ``custom_vjp`` calls may
    leave a ``custom_lin`` equation (forward mode alone cannot evaluate one).
    """

    transformation = "jvp"

    def __init__(self, basis: int | None = None, linearize: bool = False) -> None:
        self.basis = basis
        self.linearize = linearize

    def lift(self, constant: Any) -> tuple:
        return constant, None

    def default_rule(self, eqn: JaxprEqn, invals: list) -> list:
        primals = [p for p, _ in invals]
        if all(t is None for _, t in invals):
            return [(x, None) for x in bind_eqn(eqn, primals)]
        params = bind_params(eqn)
        multiple = eqn.primitive.multiple_results
        jvp = primitive_jvps.get(eqn.primitive) or self._from_linearization(eqn.primitive)
        if jvp is None:
            raise MissingRuleError(missing_jvp_message(eqn))

        def rule(tangents: list) -> tuple:
            out_p, out_t = jvp(primals, tangents, **params)
            return (out_p, out_t) if multiple else ([out_p], [out_t])

        try:
            return self.apply(rule, invals)
        except NotImplementedError as e:
            if isinstance(e, MissingRuleError):
                raise
            raise MissingRuleError(
                f"differentiation: JAX's rule for the primitive '{eqn.primitive}' (used at "
                f"{eqn_source_line(eqn)}) does not cover this use: {e}"
            ) from e

    def _from_linearization(self, primitive: Any) -> Callable | None:
        """A JVP rule made of the primitive's ``ad.primitive_linearizations`` rule, which JAX
        uses for reverse mode when it linearizes directly (``jax_use_direct_linearize``)."""
        lin = primitive_linearizations.get(primitive)
        if lin is None or not (self.linearize and direct_linearize()):
            return None

        def jvp(primals: Sequence, tangents: Sequence, **params: Any) -> tuple:
            nonzeros = [type(t) is not Zero for t in tangents]
            out, _, residuals, linearized = lin(True, nonzeros, *primals, **params)
            return out, linearized(residuals, *tangents)

        return jvp

    def apply(self, rule: JVPRule, invals: Sequence) -> list:
        """Run a JVP rule on ``invals``' tangents (``None`` passed as JAX's symbolic ``Zero``);
        with a basis, under ``jax.vmap`` over the tangents' leading axis."""
        tangents = [t for _, t in invals]
        zeros = [Zero(tangent_aval(p)) if t is None else None for p, t in invals]
        out_p, out_t = apply_linear_rule(rule, tangents, zeros, self.basis)
        return list(zip(out_p, out_t))

    def zeros(self, primal: Any) -> Any:
        """A materialised zero tangent for ``primal`` (with the basis axis, if any)."""
        aval = tangent_aval(primal)
        shape = aval.shape if self.basis is None else (self.basis, *aval.shape)
        return jnp.zeros(shape, aval.dtype)

    # -- the boundary protocol: a value is one array, or two with a tangent -----------------
    def to_arrays(self, value: tuple) -> tuple[list, bool]:
        p, t = value
        return ([p], False) if t is None else ([p, t], True)

    def from_arrays(self, arrays: Sequence, spec: bool) -> tuple:
        return (arrays[0], arrays[1]) if spec else (arrays[0], None)

    def to_stacked_arrays(self, value: tuple) -> tuple[list, bool]:
        p, t = value
        if t is not None and self.basis is not None:  # the scanned axis must come first
            t = jnp.moveaxis(t, 0, 1)
        return self.to_arrays((p, t))

    def from_stacked_arrays(self, arrays: Sequence, spec: bool) -> tuple:
        p, t = self.from_arrays(arrays, spec)
        if t is not None and self.basis is not None:
            t = jnp.moveaxis(t, 1, 0)
        return p, t

    def join(self, a: bool, b: bool) -> bool:
        return a or b

    def coerce(self, value: tuple, spec: bool) -> tuple:
        p, t = value
        if spec and t is None and is_differentiable(typeof(p)):
            return p, self.zeros(p)
        return value

    def child(self) -> JVPInterpreter:
        return JVPInterpreter(self.basis, self.linearize)

    def body_cache_key(self) -> tuple:
        return (type(self), self.basis, self.linearize)


def missing_jvp_message(eqn: JaxprEqn) -> str:
    name = eqn.primitive.name
    return (
        f"Differentiation rule for '{name}' not implemented: the primitive '{name}' (used at "
        f"{eqn_source_line(eqn)}) has no differentiation rule. Register a JVP rule with JAX: "
        f"`from jax.interpreters import ad; ad.primitive_jvps[{name}_p] = rule` with "
        f"rule(primals, tangents, **params) -> (primal_out, tangent_out) (reverse mode also "
        f"needs `ad.primitive_transposes` for the linear primitives the rule uses), or a foldax "
        f"rule with `@foldax.transforms.autodiff.forward.JVPInterpreter.register({name}_p)`. If "
        f"the value does not need a derivative, wrap it in jax.lax.stop_gradient."
    )


@contextlib.contextmanager
def differentiation_rule_checked_first() -> Iterator[None]:
    """Trace a function to differentiate, reporting a primitive that has neither an abstract
    evaluation rule nor a differentiation rule as JAX's ``grad`` does: by the missing
    differentiation rule (JAX looks that up first; foldax, which traces first, meets the missing
    abstract evaluation first).

    Raises:
        MissingRuleError: such a primitive was bound (a ``NotImplementedError``).
    """
    try:
        yield
    except NotImplementedError as e:
        found = re.match(r"Abstract evaluation for '(.+)' not implemented", str(e))
        if isinstance(e, MissingRuleError) or found is None:
            raise
        name = found.group(1)
        if any(p.name == name for p in (*primitive_jvps, *primitive_linearizations)):
            raise  # it has a rule: the abstract evaluation is what is missing, as JAX says
        raise MissingRuleError(
            f"Differentiation rule for '{name}' not implemented: the primitive '{name}' has "
            f"neither a differentiation rule nor an abstract evaluation rule, and foldax traces "
            f"a function before differentiating it. Give it both: `{name}_p.def_abstract_eval("
            f"rule)` and `ad.primitive_jvps[{name}_p] = rule` (from jax.interpreters import ad), "
            f"or wrap the value in jax.lax.stop_gradient if it needs no derivative."
        ) from e


# -- custom derivatives ------------------------------------------------------------------------
@JVPInterpreter.register(custom_jvp_call_p)
def _custom_jvp_rule(interp: JVPInterpreter, eqn: JaxprEqn, invals: list) -> list:
    """Apply the user's JVP rule (the primal body is not differentiated)."""
    primals = [p for p, _ in invals]
    if all(t is None for _, t in invals):
        return [(x, None) for x in bind_eqn(eqn, primals)]
    _, jvp = bind_params(eqn)["subfuns"]
    symbolic = eqn.params["symbolic_zeros"]

    def rule(tangents: list) -> tuple:
        tangents = [
            replace_internal_symbolic_zeros(t) if symbolic else instantiate_zeros(t) for t in tangents
        ]
        outs = jvp.call_wrapped(*primals, *tangents)
        n = len(outs) // 2
        return outs[:n], [replace_rule_output_symbolic_zeros(t) for t in outs[n:]]

    return interp.apply(rule, invals)


@JVPInterpreter.register(custom_vjp_call_p)
def _custom_vjp_rule(interp: JVPInterpreter, eqn: JaxprEqn, invals: list) -> list:
    """Run the user's ``fwd``; the tangents go through a ``custom_lin`` equation, which reverse
    mode transposes with the user's ``bwd``."""
    primals = [p for p, _ in invals]
    tangents = [t for _, t in invals]
    if all(t is None for t in tangents):
        return [(x, None) for x in bind_eqn(eqn, primals)]
    name = getattr(eqn.params["call_jaxpr"].jaxpr.debug_info, "func_name", "?")
    if not interp.linearize:
        raise NonDifferentiableError(
            f"can't apply forward-mode autodiff (jvp) to a custom_vjp function. jvp: the "
            f"custom_vjp function '{name}' (used at {eqn_source_line(eqn)}) defines only a "
            f"reverse-mode rule, so forward-mode differentiation (jvp, jacfwd, hessian) cannot "
            f"evaluate it. Use reverse mode (grad, vjp, jacrev), or define it with jax.custom_jvp."
        )
    params = bind_params(eqn)
    _, fwd, bwd = params["subfuns"]
    try:
        res_and_out = fwd.call_wrapped(*[x for p, t in zip(primals, tangents) for x in (p, t is not None)])
    except CustomVJPException as e:
        raise NonDifferentiableError(
            f"{e} grad: the custom_vjp function '{name}' (used at {eqn_source_line(eqn)}) is "
            f"differentiated with respect to a value it closes over; its rule only covers its "
            f"explicit arguments. Pass that value as an argument and extend fwd/bwd."
        ) from None
    _, res_tree, input_fwds = params["out_trees"]()
    n_res_out = res_tree.num_leaves - sum(f is not None for f in input_fwds)
    res_out, primals_out = res_and_out[:n_res_out], res_and_out[n_res_out:]
    it = iter(res_out)
    res = [next(it) if f is None else primals[f] for f in input_fwds]
    tangents_out = custom_lin_p.bind(
        *res,
        *[t for t in tangents if t is not None],
        num_res=res_tree.num_leaves,
        bwd=bwd,
        out_avals=[tangent_aval(p) for p in primals_out],
        symbolic_zeros=params["symbolic_zeros"],
        in_zeros=[t is None for t in tangents],
    )
    return [(p, nonzero(t)) for p, t in zip(primals_out, tangents_out)]


# -- shard_map -----------------------------------------------------------------------------------
@JVPInterpreter.register(shard_map_p)
def _shard_map_rule(interp: JVPInterpreter, eqn: JaxprEqn, invals: list) -> list:
    """Differentiate inside the shard_map: each tangent is laid out like its primal (with the
    basis axis, if any, unsharded in front), as JAX's own shard_map JVP does."""
    primals = [p for p, _ in invals]
    if all(t is None for _, t in invals):
        return [(x, None) for x in bind_eqn(eqn, primals)]
    p = eqn.params

    def pair_specs(spec: Any, has_tangent: bool) -> list:
        if not has_tangent:
            return [spec]
        return [spec, spec if interp.basis is None else spec_with_batch_dim(spec, 0, None)]

    entering = [interp.to_arrays(v) for v in invals]  # (primal[, tangent]), has tangent
    has_tangent = [h for _, h in entering]
    arrays = [x for xs, _ in entering for x in xs]
    in_specs = [s for spec, h in zip(p["in_specs"], has_tangent) for s in pair_specs(spec, h)]
    out_has_tangent: list[bool] = []

    def body(*xs: Any) -> tuple[list, list]:
        it = iter(xs)
        values = [interp.from_arrays([next(it)] + ([next(it)] if h else []), h) for h in has_tangent]
        leaving = [interp.to_arrays(o) for o in interp.child().run_jaxpr(p["jaxpr"], [], values)]
        out_has_tangent[:] = [h for _, h in leaving]
        specs = [s for spec, h in zip(p["out_specs"], out_has_tangent) for s in pair_specs(spec, h)]
        return [x for xs_, _ in leaving for x in xs_], specs

    it = iter(bind_shard_map(arrays, body, p, in_specs, None))
    return [interp.from_arrays([next(it)] + ([next(it)] if h else []), h) for h in out_has_tangent]
