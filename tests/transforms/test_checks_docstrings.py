"""The examples in the docstrings of the checks and random modules run and print what they say."""

import doctest
import importlib

import pytest

MODULES = [
    "foldax.transforms.checks.check",
    "foldax.transforms.checks.error",
    "foldax.transforms.checks.rules",
    "foldax.transforms.checks.checkify",
    "foldax.transforms.checks.control",
    "foldax.transforms.checks.custom",
    "foldax.transforms.checks.sites",
    "foldax.transforms.random.keys",
    "foldax.transforms.random.keyed",
    "foldax.transforms.random.key_reuse",
    "foldax.random",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(
        importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert result.failed == 0
