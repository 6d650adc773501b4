"""Pytrees: dataclass models with variable/value/static fields, leaf kinds, tree utilities."""

from foldax.pytrees.dataclass import dataclass, register, replace, value_attrs, variable_attrs
from foldax.pytrees.fields import FieldKind, field
from foldax.pytrees.leaves import ByValue, is_array, is_constant, is_variable, leaf_kind
from foldax.pytrees.tree import (
    combine,
    flatten,
    is_model,
    leaves_with_paths,
    map_values,
    map_variables,
    partition,
    unflatten,
)

__all__ = [
    "dataclass",
    "register",
    "replace",
    "value_attrs",
    "variable_attrs",
    "FieldKind",
    "field",
    "ByValue",
    "is_array",
    "is_constant",
    "is_variable",
    "leaf_kind",
    "combine",
    "flatten",
    "is_model",
    "leaves_with_paths",
    "map_values",
    "map_variables",
    "partition",
    "unflatten",
]
