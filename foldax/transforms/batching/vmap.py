"""``foldax.vmap``: map a function over an axis of its arguments, with JAX's semantics.

The function is traced once *per element* into a Program (mapped leaves become variables, also
NumPy ones; unmapped NumPy leaves stay constants and are folded), and the batching interpreter
evaluates that Program on the whole batch by binding batched primitives, so an outer ``jit``,
``grad`` or ``vmap`` records them.

Example:
    >>> import foldax, jax.numpy as jnp, numpy as np
    >>> f = foldax.vmap(lambda x, w: x @ w, in_axes=(0, None))
    >>> f(jnp.ones((5, 3)), np.ones((3, 2))).shape
    (5, 2)
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Hashable

import jax
import jax.numpy as jnp
import numpy as np

from foldax._compat import (
    BatchTrace,
    mapped_aval,
    mapped_axis_spec,
    shaped_abstractify,
    sharded_mesh_axes,
    vmap_axis_size_message,
    vmap_in_axes_prefix_message,
)
from foldax.errors import AxisOutOfRangeError, FoldaxTypeError, FoldaxValueError
from foldax.pytrees.leaves import CONSTANT, STATIC, VARIABLE, leaf_kind
from foldax.pytrees.tree import PyTreeDef, flatten, leaves_with_paths, unflatten
from foldax.transforms.batching.dims import vmap_dims
from foldax.transforms.batching.interpreter import Batched, BatchInterpreter, UnmappableOutput, match_axis
from foldax.transforms.batching.vmappable import (
    ReturnsVmappable,
    is_axis_spec,
    refusing_vmappable_outputs,
    uses_vmappables,
    vmap_with_jax,
)
from foldax.transforms.core.argument_names import call_argument_names
from foldax.transforms.core.mesh import on_argument_devices
from foldax.transforms.core.passes import eliminate_dead_code
from foldax.transforms.core.program import TRACED
from foldax.transforms.core.trace import function_name, trace_program, variable_paths


# -- axis specifications ------------------------------------------------------------------------
def _check_spec_leaves(spec: Any, what: str, name: str) -> None:
    leaves = jax.tree_util.tree_leaves(spec)
    bad = [x for x in leaves if not is_axis_spec(x)]
    if bad:
        raise FoldaxTypeError(
            f"vmap({name}, {what}={spec!r}): every leaf of {what} must be an int (the axis to map) "
            f"or None (not mapped), found {bad[0]!r} of type {type(bad[0]).__name__}. "
            f"(JAX: vmap {what} must be an int, None, or (nested) container with those types as "
            f"leaves.)"
        )


def broadcast_prefix(spec: Any, treedef: PyTreeDef, what: str, name: str) -> list:
    """One axis per leaf of the tree ``treedef`` describes, from ``spec``, a pytree prefix of it
    (None is a leaf)."""
    try:
        return list(_cached_axes_per_leaf(spec, treedef, what, name))
    except TypeError:  # an unhashable spec (a dict prefix) or tree node data
        return list(_axes_per_leaf(spec, treedef, what, name))


def _axes_per_leaf(spec: Any, treedef: PyTreeDef, what: str, name: str) -> tuple:
    tree = unflatten(treedef, list(range(treedef.num_leaves)))
    try:
        per_subtree = jax.tree_util.tree_map(
            lambda s, sub: _Repeated(s, len(flatten(sub)[0])), spec, tree, is_leaf=lambda x: x is None
        )
    except (ValueError, TypeError):
        structure = str(treedef).replace("PyTreeDef", "", 1)
        things = "positional arguments" if what == "in_axes" else "outputs"
        jax_says = (
            vmap_in_axes_prefix_message(spec, jax.tree_util.tree_structure((tree, {})))
            if what == "in_axes"
            else None
        )
        raise FoldaxValueError(
            f"vmap({name}): {what}={spec!r} does not fit the {things}, whose structure is "
            f"{structure} (* marks an array): {what} must be a pytree prefix of it. Fix: give one "
            f"entry per {things[:-1]} (or a single int/None for all). (JAX: "
            f"{jax_says or f'vmap {what} specification must be a tree prefix of the corresponding value'})"
        ) from None
    repeated = jax.tree_util.tree_leaves(per_subtree, is_leaf=lambda x: isinstance(x, _Repeated))
    return tuple(r.axis for r in repeated for _ in range(r.count))


_cached_axes_per_leaf = functools.lru_cache(maxsize=64)(_axes_per_leaf)


class _Repeated:
    """An axis spec leaf standing for ``count`` leaves of the tree (not a pytree)."""

    def __init__(self, axis: int | None, count: int) -> None:
        self.axis, self.count = axis, count


def _describe_leaves(fun: Callable, in_tree: PyTreeDef, leaves: list) -> list[str]:
    """JAX's names (``params['w']``, ``rest[0]``) of every input leaf of a call."""
    args, kwargs = unflatten(in_tree, leaves)
    name = call_argument_names(fun, args, kwargs)
    return [name(path) for path in variable_paths(in_tree, [True] * in_tree.num_leaves)]


# JAX's words, should its own check (which supplies the full message) find nothing
_NOTHING_MAPPED = "vmap must have at least one non-None value in in_axes or axis_size must be specified"
_INCONSISTENT_SIZES = "vmap got inconsistent sizes for array axes to be mapped"


# -- the mapped function ------------------------------------------------------------------------
class _Call:
    """What one call of a vmapped function maps: leaves, their axes, and the batch size."""

    def __init__(self, vf: VmapFunction, args: tuple, kwargs: dict) -> None:
        name = vf.name
        in_axes = vf.in_axes
        if isinstance(in_axes, tuple) and len(in_axes) != len(args):
            raise FoldaxValueError(
                f"vmap({name}): in_axes={in_axes!r} has {len(in_axes)} entries but the call passes "
                f"{len(args)} positional argument(s). Give one entry per positional argument "
                f"(keyword arguments are always mapped along axis 0). (JAX: vmap in_axes must be "
                f"an int, None, or a tuple of entries corresponding to the positional arguments "
                f"passed to the function, but got len(in_axes)={len(in_axes)}, len(args)={len(args)})"
            )
        self.leaves, self.in_tree = flatten((tuple(args), dict(kwargs)))
        axes = broadcast_prefix(in_axes, self.in_tree.children()[0], "in_axes", name)
        axes += [0] * (len(self.leaves) - len(axes))  # keyword arguments: mapped along axis 0
        self._fun = vf.fun
        self.axes = [self._normalise(i, a, name) for i, a in enumerate(axes)]
        self.size = self._size(vf.axis_size, name)

    @functools.cached_property
    def names(self) -> list[str]:
        """Readable names of the input leaves (for error messages only)."""
        return _describe_leaves(self._fun, self.in_tree, self.leaves)

    def _normalise(self, i: int, axis: int | None, name: str) -> int | None:
        if axis is None:
            return None
        x = self.leaves[i]
        if leaf_kind(x) == STATIC:
            raise FoldaxTypeError(
                f"vmap({name}): in_axes maps input {self.names[i]} along axis {axis}, but it is a "
                f"{type(x).__name__}, not an array. Give it in_axes None (or pass an array)."
            )
        rank = np.ndim(x)
        if not -rank <= axis < rank:
            raise AxisOutOfRangeError(
                f"vmap({name}): in_axes maps input {self.names[i]} along axis {axis}, but it has "
                f"rank {rank} (shape {np.shape(x)}); the axis must be in [{-rank}, {rank}). "
                f"(JAX: vmap was requested to map its argument along axis {axis}, which implies "
                f"that its rank should be at least {axis + 1 if axis >= 0 else -axis}, but is only "
                f"{rank} (its shape is {np.shape(x)}))"
            )
        return axis % rank

    def _size(self, axis_size: int | None, name: str) -> int:
        sizes = [(i, a, np.shape(self.leaves[i])[a]) for i, a in enumerate(self.axes) if a is not None]
        distinct = {s for _, _, s in sizes} | ({axis_size} if axis_size is not None else set())
        if len(distinct) == 1:
            return distinct.pop()
        jax_says = vmap_axis_size_message(self._fun, self.in_tree, self.leaves, self.axes, axis_size)
        if not distinct:
            raise FoldaxValueError(
                f"vmap({name}): nothing is mapped (in_axes maps no argument and there are no "
                f"keyword arguments), so the batch size is unknown. Pass axis_size=<batch size>. "
                f"(JAX: {jax_says or _NOTHING_MAPPED})"
            )
        listed = "; ".join(f"{self.names[i]} has size {s} along axis {a}" for i, a, s in sizes)
        if axis_size is not None:
            listed += f"; axis_size={axis_size}"
        raise FoldaxValueError(
            f"vmap({name}): the mapped axes have different sizes: {listed}. Every mapped axis "
            f"must have the batch size; fix the shapes or in_axes. (JAX: "
            f"{jax_says or _INCONSISTENT_SIZES})"
        )

    def per_element(self) -> tuple[list, list[bool]]:
        """The abstract value of one element of each mapped leaf (None for the unmapped), and
        which leaves are mapped."""
        avals = [
            None if a is None else mapped_aval(self.size, a, shaped_abstractify(x))
            for x, a in zip(self.leaves, self.axes)
        ]
        return avals, [a is not None for a in self.axes]

    def traced_inputs(self, avals: list) -> list[tuple[Any, Any, int | None]]:
        """Per leaf traced as a variable (mapped, or a jax Array), ``(element aval, batched
        value's aval, batch dim)``: what its tracer shows, as a jax.vmap BatchTracer does."""
        return [
            (shaped_abstractify(x) if a is None else element, shaped_abstractify(x), a)
            for x, a, element in zip(self.leaves, self.axes, avals)
            if a is not None or leaf_kind(x) == VARIABLE
        ]

    def mesh_axis(self, spmd_axis_name: tuple | None, name: str) -> tuple | None:
        """The Explicit mesh axis the mapped inputs are sharded over along their mapped axis
        (JAX's rule: all the same; unmapped inputs not sharded over it)."""
        specs = {
            i: mapped_axis_spec(shaped_abstractify(self.leaves[i]), a)
            for i, a in enumerate(self.axes)
            if a is not None
        }
        distinct = set(specs.values())
        if len(distinct) > 1:
            listed = "; ".join(f"{self.names[i]} along {s!r}" for i, s in specs.items())
            raise FoldaxValueError(
                f"vmap({name}): the mapped inputs are sharded differently along their mapped "
                f"axis: {listed}. Reshard them (jax.sharding.reshard) so the mapped axes are "
                f"sharded the same. (JAX: Mapped away dimension of inputs passed to vmap should "
                f"be sharded the same)"
            )
        spec = distinct.pop() if distinct else None
        if spec is None:
            return None
        mesh_axis = spec if isinstance(spec, tuple) else (spec,)
        if spmd_axis_name is not None and tuple(spmd_axis_name) != mesh_axis:
            raise FoldaxValueError(
                f"vmap({name}, spmd_axis_name={spmd_axis_name!r}): the mapped inputs are already "
                f"sharded over the Explicit mesh axis {mesh_axis!r} along their mapped axis; give "
                f"spmd_axis_name={mesh_axis!r} or none. (JAX: Only one of spmd_axis_name or "
                f"arrays sharded on `Explicit` mesh axis type is allowed)"
            )
        for i, a in enumerate(self.axes):
            if a is None and sharded_mesh_axes(shaped_abstractify(self.leaves[i])) & set(mesh_axis):
                raise FoldaxValueError(
                    f"vmap({name}): the unmapped input {self.names[i]} is sharded over the mesh "
                    f"axis {mesh_axis!r} that the mapped axis is sharded over. Map it too, or "
                    f"reshard it. (JAX: Unmapped values passed to vmap cannot be sharded along "
                    f"the mesh axis you are vmapping over)"
                )
        return mesh_axis


def _spmd_names(spmd_axis_name: Any, name: str) -> tuple | None:
    """``spmd_axis_name`` as a tuple of mesh axis names (None: not sharded)."""
    if spmd_axis_name is None:
        return None
    names = spmd_axis_name if isinstance(spmd_axis_name, tuple) else (spmd_axis_name,)
    if not names or not all(isinstance(n, str) for n in names):
        raise FoldaxTypeError(
            f"vmap({name}, spmd_axis_name={spmd_axis_name!r}): spmd_axis_name must be a mesh axis "
            f"name (a str) or a non-empty tuple of them, the mesh axes the batch dimension is "
            f"sharded over."
        )
    return names


class VmapFunction:
    """The checked configuration of ``foldax.vmap(fun, ...)``; calling it maps ``fun``."""

    def __init__(
        self,
        fun: Callable,
        in_axes: Any,
        out_axes: Any,
        axis_name: Hashable | None,
        axis_size: int | None,
        spmd_axis_name: Hashable | tuple | None = None,
    ) -> None:
        self.fun = fun
        self.name = function_name(fun)
        self.spmd_axis_name = _spmd_names(spmd_axis_name, self.name)
        if isinstance(in_axes, list):
            in_axes = tuple(in_axes)
        if not (isinstance(in_axes, tuple) or is_axis_spec(in_axes)):
            raise FoldaxTypeError(
                f"vmap({self.name}, in_axes={in_axes!r}): in_axes must be an int, None, or a tuple "
                f"with one entry per positional argument, found a {type(in_axes).__name__}. "
                f"(JAX: vmap in_axes must be an int, None, or a tuple of entries corresponding to "
                f"the positional arguments passed to the function, but got {in_axes}.)"
            )
        _check_spec_leaves(in_axes, "in_axes", self.name)
        _check_spec_leaves(out_axes, "out_axes", self.name)
        if axis_size is not None and (not isinstance(axis_size, int) or axis_size < 0):
            raise FoldaxValueError(
                f"vmap({self.name}, axis_size={axis_size!r}): axis_size must be a non-negative int."
            )
        self.in_axes, self.out_axes = in_axes, out_axes
        self.axis_name, self.axis_size = axis_name, axis_size

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if uses_vmappables(self.in_axes, self.out_axes, args, kwargs):
            return self._with_jax(args, kwargs)
        try:
            return self._batched(args, kwargs)
        except ReturnsVmappable:
            return self._with_jax(args, kwargs)

    def _with_jax(self, args: tuple, kwargs: dict) -> Any:
        return vmap_with_jax(
            self.fun,
            self.in_axes,
            self.out_axes,
            self.axis_name,
            self.axis_size,
            self.spmd_axis_name,
            args,
            kwargs,
        )

    def _batched(self, args: tuple, kwargs: dict) -> Any:
        call = _Call(self, args, kwargs)
        avals, mapped = call.per_element()
        mesh_axis = call.mesh_axis(self.spmd_axis_name, self.name)
        spmd = None if mesh_axis is not None else self.spmd_axis_name
        interp = BatchInterpreter(call.size, self.axis_name, spmd_axis_name=spmd, mesh_axis=mesh_axis)
        with interp.axis_env():
            try:
                program = trace_program(
                    refusing_vmappable_outputs(self.fun),
                    args,
                    kwargs,
                    make_variable=mapped,
                    name=self.name,
                    simplify_program=False,
                    leaf_avals=avals,
                    traced_for="vmap",
                    trace_type=functools.partial(BatchTrace, inputs=call.traced_inputs(avals)),
                )
            except jax.errors.TracerArrayConversionError as e:
                raise self._numpy_on_mapped(call) from e
            inputs = [
                Batched(_as_array(x, a), a)
                for x, a, is_var in zip(call.leaves, call.axes, program.variable_mask)
                if is_var
            ]
            outs = interp.run(eliminate_dead_code(program.jaxpr), *inputs)
        return self._outputs(program, outs, call.size, mesh_axis)

    def _numpy_on_mapped(self, call: _Call) -> Exception:
        mapped = [
            n
            for n, x, a in zip(call.names, call.leaves, call.axes)
            if a is not None and leaf_kind(x) == CONSTANT
        ]
        return FoldaxTypeError(
            f"vmap({self.name}): NumPy was applied to a traced variable. Mapped inputs are traced "
            f"variables even when they are NumPy arrays ({', '.join(mapped) or 'none here'} "
            f"{'is' if len(mapped) == 1 else 'are'} mapped), so NumPy functions cannot run on them. "
            f"Fix: use jax.numpy for computations on mapped inputs, or give NumPy inputs in_axes "
            f"None to keep them constants."
        )

    def _outputs(self, program: Any, outs: list, size: int, mesh_axis: tuple | None) -> Any:
        axes = broadcast_prefix(self.out_axes, program.out_tree, "out_axes", self.name)

        def dummy():
            return unflatten(program.out_tree, list(range(len(program.out_leaves))))

        def name_of(i: int) -> Callable[[], str]:  # the i-th output's path, worked out if needed
            return lambda: _output_name(dummy(), i)

        it = iter(outs)
        leaves = []
        for i, (slot, axis) in enumerate(zip(program.out_leaves, axes)):
            if slot is TRACED:
                leaves.append(self._traced_output(next(it), axis, size, mesh_axis, name_of(i)))
            elif leaf_kind(slot) == STATIC:
                raise FoldaxTypeError(
                    f"vmap({self.name}): {_output_name(dummy(), i)} is {slot!r} of type "
                    f"{type(slot).__name__}, which cannot be batched: every output of a vmapped "
                    f"function must be an array or a number. Fix: return it from outside the "
                    f"vmap, or as an array. (JAX: Output from batched function {slot!r} with type "
                    f"{type(slot)} is not a valid JAX type)"
                )
            else:
                if axis is not None and leaf_kind(slot) == CONSTANT:
                    axis = self._output_axis(axis, np.ndim(slot) + 1, name_of(i))
                leaves.append(_constant_output(slot, axis, size))
        return unflatten(program.out_tree, leaves)

    def _output_axis(self, axis: int, rank: int, path: Callable[[], str]) -> int:
        """``axis`` of out_axes for a batched output of rank ``rank``, made non-negative."""
        if not -rank <= axis < rank:
            raise AxisOutOfRangeError(
                f"vmap({self.name}): out_axes asks for {path()} to be batched "
                f"along axis {axis}, but the batched output has rank {rank}; the axis must be "
                f"in [{-rank}, {rank}). (JAX: axis {axis} is out of bounds for array of "
                f"dimension {rank})"
            )
        return axis % rank

    def _traced_output(
        self, v: Batched, axis: int | None, size: int, mesh_axis: tuple | None, path: Callable[[], str]
    ) -> Any:
        if axis is not None:
            axis = self._output_axis(axis, np.ndim(v.value) + (1 if v.axis is None else 0), path)
        try:
            return match_axis(v, axis, size, mesh_axis=mesh_axis)
        except UnmappableOutput as e:
            jax_says = (
                f"vmap has mapped output (axis_name={self.axis_name}) but out_axes is None"
                if self.axis_name is not None
                else f"at vmap out_axes{_jax_path(path())}, got axis spec None but output was "
                f"batched on axis {e.src}"
            )
            raise FoldaxValueError(
                f"vmap({self.name}): out_axes gives None for {path()}, but that "
                f"output is batched (it depends on a mapped input), so it cannot be returned "
                f"unmapped. Use an int out_axes there, or compute it from unmapped inputs only. "
                f"(JAX: {jax_says})"
            ) from None


def _output_name(outputs: Any, i: int) -> str:
    """``output['a'][0]`` (or ``the output``) for leaf ``i`` of the outputs."""
    path = leaves_with_paths(outputs)[i][0]
    return f"output{path}" if path else "the output"


def _jax_path(name: str) -> str:
    return name.removeprefix("the output").removeprefix("output")


def _as_array(x: Any, axis: int | None) -> Any:
    """A mapped NumPy leaf is a variable: hand it to the interpreter as a JAX array."""
    return jnp.asarray(x) if axis is not None and leaf_kind(x) == CONSTANT else x


def _constant_output(x: Any, axis: int | None, size: int) -> Any:
    """An output the function computed from constants only: the same for every element, so it
    stays a NumPy constant, repeated along ``axis``."""
    if axis is None or leaf_kind(x) == STATIC:
        return x
    x = np.asarray(x, dtype=jax.dtypes.canonicalize_dtype(np.result_type(x)))
    axis %= x.ndim + 1
    return np.broadcast_to(np.expand_dims(x, axis), x.shape[:axis] + (size,) + x.shape[axis:])


def vmap(
    fun: Callable,
    in_axes: Any = 0,
    out_axes: Any = 0,
    axis_name: Hashable | None = None,
    axis_size: int | None = None,
    spmd_axis_name: Hashable | tuple | None = None,
    *,
    dims: Any = None,
) -> Callable:
    """Vectorise ``fun`` over an axis of its arguments (``jax.vmap``).

    ``fun`` is traced once for one element and the batching interpreter runs the program on the
    whole batch. A mapped NumPy leaf becomes a variable; unmapped NumPy leaves stay constants
    (computed once, folded).

    Arguments:
        fun: the function to map.
        in_axes: a pytree prefix of the positional arguments with, at each leaf, the mapped axis
            (an int; negative counts from the end) or ``None`` (not mapped). Keyword arguments are
            mapped along axis 0.
        out_axes: a pytree prefix of the output with the axis each output leaf gets (or ``None``
            for an output that is the same for every element).
        axis_name: a name for the mapped axis, for collectives inside ``fun``
            (``jax.lax.psum(x, axis_name)``, ``all_gather``, ``axis_index``, ...).
        axis_size: the batch size, needed when nothing is mapped.
        spmd_axis_name: mesh axis name(s) over which the batch dimension is sharded wherever a
            sharding is named inside ``fun`` (``with_sharding_constraint``, a ``jit``'s shardings),
            as ``jax.vmap`` does; inputs sharded over an Explicit mesh axis along the mapped axis
            keep it.
        dims: ΦML style, instead of ``in_axes``/``out_axes``: the named dimension(s) of foldax
            Tensor arguments to map (``'b'``, ``'b,seed'`` or a type such as
            ``foldax.tensors.batch``); returned Tensors get them back, first.

    Returns:
        A function with ``fun``'s signature that maps it over the batch.

    Raises:
        FoldaxTypeError: ``fun`` is not callable, or an ``in_axes``/``out_axes`` entry is not an
            int or ``None``.
        FoldaxValueError: ``in_axes``/``out_axes`` do not match the arguments'/outputs' structure,
            mapped axes differ in size, nothing is mapped and ``axis_size`` is missing, or ``dims``
            is given with ``in_axes``/``out_axes``/``axis_size``/``spmd_axis_name``.
        FoldaxIndexError: a mapped axis is out of range for its argument.

    Example:
        >>> import foldax, jax, jax.numpy as jnp
        >>> foldax.vmap(jnp.dot, in_axes=(0, None))(jnp.ones((3, 2)), jnp.arange(2.0))
        Array([1., 1., 1.], dtype=float32)
        >>> normalise = foldax.vmap(lambda x: x / jax.lax.psum(x, "i"), axis_name="i")
        >>> normalise(jnp.array([1.0, 3.0]))
        Array([0.25, 0.75], dtype=float32)
    """
    if not callable(fun):
        raise FoldaxTypeError(f"vmap(fun=...): expected a callable, found {type(fun).__name__}.")
    if dims is not None:
        if in_axes != 0 or out_axes != 0 or axis_size is not None or spmd_axis_name is not None:
            raise FoldaxValueError(
                f"vmap({function_name(fun)}, dims={dims!r}): dims selects what is mapped by name, "
                f"so in_axes, out_axes, axis_size and spmd_axis_name cannot be given with it. Use "
                f"either dims (for foldax Tensors) or in_axes/out_axes (for arrays)."
            )
        return vmap_dims(fun, dims, axis_name, VmapFunction)
    mapped = VmapFunction(fun, in_axes, out_axes, axis_name, axis_size, spmd_axis_name)

    @functools.wraps(fun, updated=())  # not fun.__dict__: a wrapper's state is its own
    @on_argument_devices
    def vmapped(*args: Any, **kwargs: Any) -> Any:
        return mapped(*args, **kwargs)

    return vmapped
