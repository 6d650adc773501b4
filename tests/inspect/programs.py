"""Programs the inspect tests share, and independent (brute-force) references computed from
the jaxpr alone, without foldax.inspect."""

from __future__ import annotations

from collections import Counter

import jax.numpy as jnp
import numpy as np

from foldax._compat import ClosedJaxpr, DropVar, Literal, core


def mgs(X):
    """Modified Gram-Schmidt written with jax.numpy (the autoray page's example)."""
    Q = []
    for j in range(X.shape[0]):
        q = X[j, :]
        for i in range(j):
            rij = jnp.tensordot(jnp.conj(Q[i]), q, 1)
            q = q - rij * Q[i]
        rjj = jnp.linalg.norm(q, 2)
        Q.append(q / rjj)
    return jnp.stack(tuple(Q), axis=0)


def nbytes(aval) -> int:
    return int(np.prod(aval.shape, dtype=np.int64)) * np.dtype(aval.dtype).itemsize


def jaxpr_of(program):
    return program.jaxpr if hasattr(program, "in_tree") else program


def primitive_counts(jaxpr) -> Counter:
    """Equations per primitive, into every sub-jaxpr (each once per equation carrying it)."""
    jaxpr = jaxpr.jaxpr if isinstance(jaxpr, ClosedJaxpr) else jaxpr
    out = Counter()
    for eqn in jaxpr.eqns:
        out[eqn.primitive.name] += 1
        for sub in core.jaxprs_in_params(eqn.params):
            out += primitive_counts(sub)
    return out


def largest_output(jaxpr) -> int:
    jaxpr = jaxpr.jaxpr if isinstance(jaxpr, ClosedJaxpr) else jaxpr
    best = 0
    for eqn in jaxpr.eqns:
        best = max([best] + [nbytes(v.aval) for v in eqn.outvars])
        for sub in core.jaxprs_in_params(eqn.params):
            best = max(best, largest_output(sub))
    return best


def brute_force_peak(jaxpr, include_inputs: bool = True) -> int:
    """Peak bytes by simulating liveness step by step: at step k (0: before any equation, k:
    while equation k runs) a value is live if it was made at or before k and is read at or
    after k (outputs: to the end); a higher-order equation adds its bodies' own peak."""
    jaxpr_ = jaxpr.jaxpr if isinstance(jaxpr, ClosedJaxpr) else jaxpr
    made, reads = {}, {}
    sizes = {}
    for v in jaxpr_.constvars:
        made[v], sizes[v] = 0, nbytes(v.aval)
    for v in jaxpr_.invars:
        made[v], sizes[v] = 0, nbytes(v.aval) if include_inputs else 0
    extra = {}
    for k, eqn in enumerate(jaxpr_.eqns, start=1):
        for a in eqn.invars:
            if not isinstance(a, Literal):
                reads.setdefault(a, []).append(k)
        for v in eqn.outvars:
            key = v if not isinstance(v, DropVar) else ("drop", k, id(v))
            made[key], sizes[key] = k, nbytes(v.aval)
        bodies = [brute_force_peak(s, include_inputs=False) for s in core.jaxprs_in_params(eqn.params)]
        extra[k] = max(bodies, default=0)
    n = len(jaxpr_.eqns)
    outputs = {a for a in jaxpr_.outvars if not isinstance(a, Literal)}
    peak = 0
    for step in range(n + 1):
        live = 0
        for v, start in made.items():
            end = n if v in outputs else max([start] + reads.get(v, []))
            if start <= step <= end:
                live += sizes[v]
        peak = max(peak, live + extra.get(step, 0))
    return peak
