"""The examples in the docstrings of foldax.tensors run and print what they show."""

import doctest
import importlib

import numpy as np
import pytest

import foldax.tensors as ft

MODULES = [
    'shape',
    'natives',
    'broadcast',
    'indexing',
    'printing',
    'tensor',
    'creation',
    'combine',
    'reductions',
    'math',
    '__init__',
]


@pytest.mark.parametrize('name', MODULES)
def test_docstring_examples(name):
    module = importlib.import_module('foldax.tensors' if name == '__init__' else f'foldax.tensors.{name}')
    names = {n: getattr(ft, n) for n in ft.__all__ if n not in vars(module)}
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(module, globs={**vars(module), 'np': np, **names}):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
