"""Transformations of jaxprs: one folder per transformation, all on the interpreter core in ``core/``.

Until the layout of one folder per transformation, these modules sat flat in ``foldax.transforms``;
their old names stay reachable as attributes (``foldax.transforms.forward`` is
``foldax.transforms.autodiff.forward``), for code and tools written against the flat layout.

Example:
    >>> import foldax.transforms
    >>> foldax.transforms.forward.__name__
    'foldax.transforms.autodiff.forward'
"""

import importlib
from types import ModuleType

_FLAT_NAMES = {
    "trace": "core.trace",
    "program": "core.program",
    "passes": "core.passes",
    "interpreter": "core.interpreter",
    "higher_order": "core.higher_order",
    "autodiff_api": "autodiff.api",
    "forward": "autodiff.forward",
    "linearize": "autodiff.linearize",
    "transpose": "autodiff.transpose",
    "transpose_control": "autodiff.transpose_control",
    "diff_inputs": "autodiff.inputs",
    "diff_outputs": "autodiff.outputs",
    "jacobian": "autodiff.jacobian",
    "batching_control_flow": "batching.control_flow",
    "batching_custom": "batching.custom",
    "batching_shard_map": "batching.shard_map",
    "batching_cache": "batching.cache",
    "vmap": "batching.vmap",
    "vmap_dims": "batching.dims",
    "check_primitive": "checks.check",
    "check_control": "checks.control",
    "check_rules": "checks.rules",
    "check_error": "checks.error",
    "keyed": "random.keyed",
    "key_reuse": "random.key_reuse",
    "jit_cache": "jit.cache",
    "jit_stages": "jit.stages",
    "jit_keys": "jit.keys",
    "jit_batches": "jit.batches",
    "constant_arrays": "jit.constant_arrays",
}


def __getattr__(name: str) -> ModuleType:
    """Return the module a flat-layout name now lives in (``forward`` -> ``autodiff.forward``)."""
    if name in _FLAT_NAMES:
        return importlib.import_module(f"{__name__}.{_FLAT_NAMES[name]}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
