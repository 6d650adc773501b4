"""Batching: the vmap interpreter, its rules for control flow, custom derivatives and shard_map, and the public vmap."""

# The rule modules register their rules with the interpreter on import; importing any module of
# this package runs this first, so the interpreter never runs without them.
from foldax.transforms.batching import calls, control_flow, custom, shard_map  # noqa: F401
