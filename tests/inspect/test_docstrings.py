"""The examples in foldax.inspect's docstrings run and print what they show."""

import doctest
import importlib

import pytest

MODULES = [
    "__init__",
    "declare",
    "drawing",
    "expressions",
    "figures",
    "flops",
    "function",
    "graph",
    "plots",
    "program",
    "show",
    "source",
    "whatif",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module("foldax.inspect" if name == "__init__" else f"foldax.inspect.{name}")
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(module, globs=dict(vars(module))):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
