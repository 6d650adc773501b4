"""A program as readable, runnable Python calling JAX (autoray's ``print_source``).

The main function takes the program's variable inputs and returns the tuple of its traced
outputs. Each equation becomes one line: a public ``jax.lax`` function where one takes exactly
the equation's params (``lax.dot_general``, ``lax.slice``, ``lax.mul``, ...), else the
primitive's own ``bind`` (``lax.reduce_sum_p.bind(a, axes=(0,), out_sharding=None)``).
Bodies of higher-order equations become functions defined once and called with ``jax.jit``,
``lax.scan``, ``lax.while_loop``, ``lax.switch`` or ``jax.checkpoint``; the bodies of
``custom_jvp``/``custom_vjp`` functions are called directly (values are reproduced, the
custom derivative rule is not), and a nested ``jit``'s shardings and donation are left out.
A higher-order primitive without a JAX form here is bound as it was traced (``eqn_k``). Large
constants and objects without a literal form live in ``Source.namespace``;
``Source.function()`` executes the text with it.

Example:
    >>> import foldax, jax.numpy as jnp
    >>> print_source(foldax.trace(lambda x: jnp.sin(x) * 2)(jnp.ones(3)))
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax import lax
    <BLANKLINE>
    <BLANKLINE>
    def lambda_(x):
        a = lax.sin(x)
        b = lax.mul(a, np.float32(2.0))
        return (b,)
"""

from __future__ import annotations

import dataclasses
import functools
import inspect as _pyinspect
import keyword
import re
import sys
from typing import Any, Callable, Sequence, TextIO

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from foldax._compat import ClosedJaxpr, DropVar, Jaxpr, JaxprEqn, Literal, ShapedArray
from foldax.inspect.expressions import Namespace
from foldax.inspect.graph import sub_jaxprs
from foldax.inspect.program import arg_names, as_program
from foldax.transforms.core.interpreter import bind_eqn

HEADER = "import jax\nimport jax.numpy as jnp\nimport numpy as np\nfrom jax import lax\n"
_RESERVED = frozenset(keyword.kwlist) | {"np", "jnp", "jax", "lax", "float", "int", "_"}

# Primitives whose public jax.lax function takes the operands positionally and the params as
# keywords, and does nothing but bind: printed as ``lax.<function>(...)``.
_READABLE = {
    name: name
    for name in [
        "abs",
        "acos",
        "acosh",
        "asin",
        "asinh",
        "atan",
        "atan2",
        "atanh",
        "cbrt",
        "ceil",
        "clz",
        "cos",
        "cosh",
        "digamma",
        "erf",
        "erfc",
        "erf_inv",
        "exp",
        "exp2",
        "expm1",
        "floor",
        "imag",
        "is_finite",
        "lgamma",
        "log",
        "log1p",
        "logistic",
        "neg",
        "nextafter",
        "population_count",
        "real",
        "round",
        "rsqrt",
        "sign",
        "sin",
        "sinh",
        "sqrt",
        "square",
        "tan",
        "tanh",
        "add",
        "sub",
        "mul",
        "div",
        "rem",
        "pow",
        "max",
        "min",
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
        "complex",
        "shift_left",
        "shift_right_arithmetic",
        "shift_right_logical",
        "squeeze",
        "slice",
        "dot_general",
        "reduce_sum",
        "reduce_max",
        "reduce_min",
        "reduce_prod",
        "reduce_and",
        "reduce_or",
        "transpose",
        "cumsum",
        "cumprod",
        "cummax",
        "cummin",
        "cumlogsumexp",
        "integer_pow",
        "select_n",
        "rev",
        "pad",
        "clamp",
        "broadcast_in_dim",
        "conv_general_dilated",
        "gather",
    ]
}
_READABLE.update(
    {
        "and": "bitwise_and",
        "or": "bitwise_or",
        "not": "bitwise_not",
        "xor": "bitwise_xor",
        "iota": "broadcasted_iota",
    }
)
# Params the public function spells differently (new name), or leaves out (None: printed only
# when not None/False, in which case the primitive is bound instead).
_RENAMED: dict[str, dict[str, str | None]] = {
    "broadcast_in_dim": {"sharding": "out_sharding"},
    "reshape": {"sharding": "out_sharding"},
    "iota": {"sharding": "out_sharding"},
    "convert_element_type": {"weak_type": None, "sharding": None},
}
_READABLE.update({"reshape": "reshape", "convert_element_type": "convert_element_type"})


@dataclasses.dataclass(frozen=True)
class Source:
    """Generated source: ``text``, the ``namespace`` it needs, and the main function's ``name``.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> prog = foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3))
        >>> from foldax.inspect import source
        >>> src = source(prog, name="f")
        >>> src.name, src.text.startswith("def f(") or "def f(" in src.text
        ('f', True)
    """

    text: str
    namespace: dict[str, Any]
    name: str

    def function(self) -> Callable[..., tuple]:
        """Execute the text (with jax, jnp, np, lax and the namespace) and return the main
        function: variable inputs in, tuple of traced outputs out."""
        scope = {"jax": jax, "jnp": jnp, "np": np, "lax": lax, **self.namespace}
        exec(compile(self.text, f"<foldax source of {self.name}>", "exec"), scope)  # noqa: S102
        return scope[self.name]

    def __str__(self) -> str:
        return self.text


def identifier(text: str, default: str = "fn") -> str:
    """A Python identifier made from ``text`` (``args[0]`` -> ``args_0``)."""
    name = re.sub(r"\W+", "_", text).strip("_") if text else ""
    name = name or default
    if name[0].isdigit():
        name = "_" + name
    return name + "_" if keyword.iskeyword(name) or name in _RESERVED else name


class _Scope:
    """Variable names inside one generated function: a, b, ..., z, ba, bb, ..."""

    def __init__(self, taken: set[str]):
        self.names: dict[Any, str] = {}
        self.taken = set(taken)
        self.counter = 0

    def fresh(self) -> str:
        while True:
            n, s = self.counter, ""
            self.counter += 1
            while True:
                s = chr(ord("a") + n % 26) + s
                n //= 26
                if n == 0:
                    break
            if s not in self.taken and s not in _RESERVED:
                return s

    def bind(self, var: Any, name: str | None = None) -> str:
        if isinstance(var, DropVar):
            return "_"
        name = name or self.fresh()
        self.taken.add(name)
        self.names[var] = name
        return name


class _Writer:
    """Emits module-level functions for a jaxpr and the bodies it calls (each body once)."""

    def __init__(self) -> None:
        self.ns = Namespace()
        self.defs: list[str] = []
        self.functions: dict[int, tuple[Any, str]] = {}
        self.globals: set[str] = set()
        self.counter = 0

    def global_name(self, stem: str) -> str:
        name, k = identifier(stem), 1
        while name in self.globals:
            name, k = f"{identifier(stem)}_{k}", k + 1
        self.globals.add(name)
        return name

    def body(self, jaxpr: ClosedJaxpr | Jaxpr, stem: str) -> str:
        """The name of the function for a sub-jaxpr (emitting it on first use)."""
        hit = self.functions.get(id(jaxpr))
        if hit is None:
            inner = jaxpr.jaxpr if isinstance(jaxpr, ClosedJaxpr) else jaxpr
            fname = getattr(inner.debug_info, "func_name", "") or ""
            if fname.isidentifier() and fname not in stem:
                stem = f"{stem}_{fname}"
            name = self.global_name(stem.strip("_") if "_" in stem.strip("_") else stem + "_fn")
            hit = (jaxpr, name)
            self.functions[id(jaxpr)] = hit
            consts = jaxpr.consts if isinstance(jaxpr, ClosedJaxpr) else ()
            self.emit(inner, consts, name, None)
        return hit[1]

    def emit(self, jaxpr: Jaxpr, consts: Sequence, name: str, params: list[str] | None) -> None:
        scope = _Scope(self.globals | set(params or []))
        names = (
            [scope.bind(v, p) for v, p in zip(jaxpr.invars, params)]
            if params
            else [scope.bind(v) for v in jaxpr.invars]
        )
        lines = [f"def {name}({', '.join(names)}):"]
        for v, c in zip(jaxpr.constvars, consts):
            lines.append(f"    {scope.bind(v)} = {self.ns.array(c)}")
        for eqn in jaxpr.eqns:
            lines.extend("    " + line for line in self.equation(eqn, scope))
        outs = [self.atom(a, scope) for a in jaxpr.outvars]
        lines.append(f"    return ({', '.join(outs)}{',' if len(outs) == 1 else ''})")
        self.defs.append("\n".join(lines))

    def atom(self, a: Any, scope: _Scope) -> str:
        if isinstance(a, Literal) and isinstance(a.aval, ShapedArray):  # a literal's always is
            return self.ns.array(np.asarray(a.val, dtype=a.aval.dtype))
        return scope.names[a]

    # -- one equation ------------------------------------------------------------------------
    def equation(self, eqn: JaxprEqn, scope: _Scope) -> list[str]:
        args = [self.atom(a, scope) for a in eqn.invars]
        outs = [scope.bind(v) for v in eqn.outvars]
        prim = eqn.primitive.name
        if not sub_jaxprs(eqn):
            expr, many = self.first_order(eqn, args)
            return [f"{_target(outs, many)} = {expr}"]
        if prim in _HIGHER_ORDER:
            return _HIGHER_ORDER[prim](self, eqn, args, outs)
        call = self.ns.inject(functools.partial(_bind_list, eqn), "eqn", prim)
        return [f"{_target(outs, True)} = {call}({', '.join(args)})  # {prim}: bound as traced"]

    def first_order(self, eqn: JaxprEqn, args: list[str]) -> tuple[str, bool]:
        prim = eqn.primitive
        readable = _readable_call(eqn, args, self.ns)
        if readable is not None:
            return readable, False
        kw = [f"{k}={self.ns.value(v)}" for k, v in eqn.params.items()]
        owner = _primitive_owner(prim) or self.ns.inject(prim, "primitive", prim.name)
        return f"{owner}.bind({', '.join(args + kw)})", prim.multiple_results


def _bind_list(eqn: JaxprEqn, *args: Any) -> list:
    return bind_eqn(eqn, args)


def _primitive_owner(prim: Any) -> str | None:
    name = prim.name
    for module, prefix in ((lax, "lax"), (lax.linalg, "lax.linalg")):
        if getattr(module, f"{name}_p", None) is prim:
            return f"{prefix}.{name}_p"
    return None


@functools.cache
def _signature(fname: str) -> _pyinspect.Signature | None:
    try:
        return _pyinspect.signature(getattr(lax, fname))
    except (TypeError, ValueError, AttributeError):
        return None


def _readable_call(eqn: JaxprEqn, args: list[str], ns: Namespace) -> str | None:
    name = eqn.primitive.name
    fname = _READABLE.get(name)
    if (
        fname is None
        or eqn.primitive.multiple_results
        or getattr(lax, fname, None) is None
        or getattr(lax, f"{name}_p", None) is not eqn.primitive
    ):
        return None
    sig = _signature(fname)
    if sig is None:
        return None
    renamed = _RENAMED.get(name, {})
    given: dict[str, Any] = {}
    for k, v in eqn.params.items():
        public_name = renamed.get(k, k)
        if public_name is None:
            if v is not None and v is not False:
                return None
        else:
            given[public_name] = v
    params = sig.parameters
    P = _pyinspect.Parameter
    if any(
        k not in params or params[k].kind in (P.POSITIONAL_ONLY, P.VAR_POSITIONAL, P.VAR_KEYWORD)
        for k in given
    ):
        return None
    positional = [
        p
        for p in params.values()
        if p.name not in given and p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)
    ]
    variadic = any(p.kind == P.VAR_POSITIONAL for p in params.values())
    if not (len(positional) == len(args) or (variadic and len(positional) <= len(args))):
        return None
    kw = [f"{k}={ns.value(v)}" for k, v in given.items() if not _is_default(params[k].default, v)]
    return f"lax.{fname}({', '.join(args + kw)})"


def _is_default(default: Any, value: Any) -> bool:
    if default is _pyinspect.Parameter.empty:
        return False
    try:
        return default is value or (type(default) is type(value) and bool(default == value))
    except Exception:  # noqa: BLE001 - arrays and other values without a bool ==
        return False


# -- higher-order primitives ---------------------------------------------------------------
def _tuple(items: Sequence[str]) -> str:
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _target(outs: list[str], many: bool) -> str:
    """Assignment target: ``a`` for one result, ``(a,)``/``a, b`` for a sequence of results."""
    return _tuple(outs) if many else outs[0]


def _call(writer: _Writer, eqn: JaxprEqn, args: list, outs: list) -> list[str]:
    _, body, _, _ = sub_jaxprs(eqn)[0]
    prim = eqn.primitive.name
    stem = {"remat2": "checkpoint", "jit": "jit"}.get(prim, prim)
    name = writer.body(body, identifier(f"{stem}_{eqn.params.get('name') or ''}"))
    call = f"{name}({', '.join(args)})"
    if prim == "jit":
        call = f"jax.jit({name})({', '.join(args)})"
    elif prim == "remat2":
        policy = eqn.params.get("policy")
        extra = "" if policy is None else f", policy={writer.ns.inject(policy, 'policy')}"
        call = f"jax.checkpoint({name}, prevent_cse={eqn.params['prevent_cse']!r}{extra})({', '.join(args)})"
    elif prim.startswith("custom_"):
        call += "  # the primal body: the custom derivative rule is not reproduced"
    return [f"{_target(outs, True)} = {call}"]


def _scan(writer: _Writer, eqn: JaxprEqn, args: list, outs: list) -> list[str]:
    p = eqn.params
    nc, ncarry = p["num_consts"], p["num_carry"]
    body = writer.body(p["jaxpr"], "scan_body")
    step = writer.global_name("scan_step")
    lead = "".join(f"{a}, " for a in args[:nc])
    return [
        f"def {step}(carry, xs):",
        f"    outs = {body}({lead}*carry, *xs)",
        f"    return outs[:{ncarry}], outs[{ncarry}:]",
        f"{_tuple(outs[:ncarry])}, {_tuple(outs[ncarry:])} = lax.scan("
        f"{step}, {_tuple(args[nc : nc + ncarry])}, {_tuple(args[nc + ncarry :])}, "
        f"length={p['length']}, reverse={p['reverse']}, unroll={p['unroll']!r})",
    ]


def _while(writer: _Writer, eqn: JaxprEqn, args: list, outs: list) -> list[str]:
    p = eqn.params
    cn, bn = p["cond_nconsts"], p["body_nconsts"]
    cond = writer.body(p["cond_jaxpr"], "while_cond")
    body = writer.body(p["body_jaxpr"], "while_body")
    c_lead = "".join(f"{a}, " for a in args[:cn])
    b_lead = "".join(f"{a}, " for a in args[cn : cn + bn])
    return [
        f"{_tuple(outs)} = lax.while_loop(lambda carry: {cond}({c_lead}*carry)[0], "
        f"lambda carry: {body}({b_lead}*carry), {_tuple(args[cn + bn :])})"
    ]


def _cond(writer: _Writer, eqn: JaxprEqn, args: list, outs: list) -> list[str]:
    names = [writer.body(b, f"branch_{i}") for i, b in enumerate(eqn.params["branches"])]
    return [f"{_tuple(outs)} = lax.switch({args[0]}, {_tuple(names)}, {', '.join(args[1:])})"]


_HIGHER_ORDER = {
    "jit": _call,
    "closed_call": _call,
    "core_call": _call,
    "remat2": _call,
    "custom_jvp_call": _call,
    "custom_vjp_call": _call,
    "scan": _scan,
    "while": _while,
    "cond": _cond,
}


def source(program: Any, name: str | None = None) -> Source:
    """The Source of a Program or ClosedJaxpr (see the module docstring).

    Arguments:
        program: a ``Program`` (``foldax.trace(f)(*args)``) or a ``ClosedJaxpr``.
        name: the generated function's name (default: the program's).

    Returns:
        A ``Source``: ``str()`` is runnable Python calling ``jax.lax``; ``.function`` runs it.

    Raises:
        FoldaxTypeError: ``program`` is neither a ``Program`` nor a ``ClosedJaxpr``.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> from foldax.inspect import source
        >>> src = source(foldax.trace(lambda x: jnp.sin(x) * x)(jnp.ones(3)), name="f")
        >>> "def f(" in str(src)
        True
    """
    program = as_program(program, "source")
    writer = _Writer()
    main = writer.global_name(name or program.name)
    params, used = [], set()
    for n in arg_names(program):
        p = identifier(n, "x")
        while p in used or p == main:
            p += "_"
        used.add(p)
        params.append(p)
    writer.globals |= used
    writer.emit(program.jaxpr.jaxpr, program.jaxpr.consts, main, params)
    text = HEADER
    if writer.ns.objects:
        text += (
            "\n# From Source.namespace: " + ", ".join(f"{k} ({v})" for k, v in writer.ns.notes.items()) + "\n"
        )
    text += "\n\n" + "\n\n\n".join(writer.defs) + "\n"
    return Source(text, dict(writer.ns.objects), main)


def print_source(program: Any, name: str | None = None, file: TextIO | None = None) -> None:
    """Print a program as runnable Python calling ``jax.lax`` (see ``foldax.inspect.source``).

    Arguments:
        program: a ``Program`` or ``ClosedJaxpr``.
        name: the generated function's name (default: the program's).
        file: where to print (default ``sys.stdout``).

    Returns:
        ``None``.

    Raises:
        FoldaxTypeError: ``program`` is neither a ``Program`` nor a ``ClosedJaxpr``.

    Example:
        >>> import foldax, jax.numpy as jnp
        >>> foldax.print_source(foldax.trace(lambda x: jnp.sin(x) * 2)(jnp.ones(2)), name="f")
        import jax
        import jax.numpy as jnp
        import numpy as np
        from jax import lax
        <BLANKLINE>
        <BLANKLINE>
        def f(x):
            a = lax.sin(x)
            b = lax.mul(a, np.float32(2.0))
            return (b,)
    """
    print(source(program, name).text.rstrip("\n"), file=file or sys.stdout)
