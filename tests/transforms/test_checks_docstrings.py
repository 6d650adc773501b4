"""The examples in the docstrings of the checks and random modules run and print what they say."""
import doctest
import importlib

import pytest

MODULES = ["foldax.transforms.check_primitive", "foldax.transforms.check_error",
           "foldax.transforms.check_rules", "foldax.transforms.checks",
           "foldax.transforms.check_control", "foldax.transforms.random",
           "foldax.transforms.keyed", "foldax.transforms.key_reuse", "foldax.random"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name),
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
