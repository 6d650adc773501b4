"""Batching: the vmap interpreter, its rules for control flow, custom derivatives and shard_map, and the public vmap."""
