"""Every public name of ``foldax`` has a docstring that says what it does and shows it working.

For each name in ``foldax.__all__`` (the sub-packages ``random``, ``tensors``, ``inspect`` and
``errors`` have their own docstring tests): the docstring has an example, and the example runs
as a doctest and prints what it shows. Functions also document their **Arguments** and
**Returns**, and those that raise on misuse their **Raises**.
"""

from __future__ import annotations

import doctest
import inspect
import pydoc

import pytest

import foldax

NAMES = [n for n in foldax.__all__ if not inspect.ismodule(getattr(foldax, n))]
FUNCTIONS = [n for n in NAMES if inspect.isfunction(getattr(foldax, n))]
# functions that raise on a user's mistake (the others accept anything)
RAISING = sorted(
    set(FUNCTIONS)
    - {
        "is_array",
        "is_constant",
        "is_variable",
        "leaf_kind",
        "value_attrs",
        "variable_attrs",
        "is_model",
        "combine",
        "partition",
        "map_values",
        "map_variables",
        "leaves_with_paths",
    }
)


def _doc(name: str) -> str:
    return inspect.getdoc(getattr(foldax, name)) or ""


def test_the_lists_are_not_empty():
    assert len(NAMES) > 40 and len(FUNCTIONS) > 25 and "jit" in RAISING


@pytest.mark.parametrize("name", NAMES)
def test_docstring_example_runs(name):
    obj = getattr(foldax, name)
    # the error sets are instances: their documentation is their class's
    target = type(obj) if isinstance(obj, frozenset) else obj
    tests = [t for t in doctest.DocTestFinder(recurse=False).find(target, name, globs={}) if t.examples]
    assert tests, f"foldax.{name} has no example in its docstring"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_documents_arguments_and_returns(name):
    doc = _doc(name)
    assert "Arguments:" in doc and "Returns:" in doc, f"foldax.{name}: sections missing"
    documented = doc.split("Arguments:")[1].split("Returns:")[0]
    for parameter in inspect.signature(getattr(foldax, name)).parameters.values():
        assert parameter.name in documented, f"foldax.{name}: argument {parameter.name!r}"


@pytest.mark.parametrize("name", RAISING)
def test_function_documents_what_it_raises(name):
    assert "Raises:" in _doc(name)


def test_help_of_an_error_set_explains_error_sets():
    text = pydoc.render_doc(foldax.nan_checks, renderer=pydoc.plaintext)
    assert "checkify(f, errors=...)" in text and "nan_checks" in text
    assert isinstance(foldax.nan_checks | foldax.div_checks, type(foldax.nan_checks))


def test_help_of_jit_is_its_own():
    assert "see the module docstring" not in _doc("jit")
    assert all(word in _doc("dataclass") for word in ("variable", "value", "static"))
