"""Every public name of ``foldax`` has a docstring that says what it does and shows it working.

For each name in ``foldax.__all__`` and in the ``__all__`` of the public sub-packages
``foldax.random``, ``foldax.tensors`` and ``foldax.inspect``: the docstring has an example, and
the example runs as a doctest and prints what it shows. Functions also document their
**Arguments** (each parameter by name) and **Returns**, and those that raise on misuse their
**Raises**. (``foldax.errors`` holds exception classes; their modules' examples are run by
their own docstring tests.)
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


# -- the public sub-packages ------------------------------------------------------------------------
SUBPACKAGES = ("random", "tensors", "inspect")
SUB_NAMES = [
    f"{sub}.{n}"
    for sub in SUBPACKAGES
    for n in getattr(foldax, sub).__all__
    if inspect.isfunction(getattr(getattr(foldax, sub), n))
    or inspect.isclass(getattr(getattr(foldax, sub), n))
]
# functions that accept anything, so have nothing to raise
SUB_NOT_RAISING = {
    "random.is_typed_key",
    "tensors.is_tensor",
    "tensors.batch_reduce_sum",
    "inspect.equation_flops",
    "inspect.register_flops",
}


def _sub_object(qualname: str):
    sub, name = qualname.split(".")
    return getattr(getattr(foldax, sub), name)


def _example_runs(obj, name: str) -> bool:
    tests = [t for t in doctest.DocTestFinder(recurse=False).find(obj, name, globs={}) if t.examples]
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test, out=lambda _: None)
    return bool(tests) and runner.failures == 0


def _lacks(qualname: str) -> set[str]:
    """What the docstring of ``foldax.<qualname>`` lacks: ``example`` (none that runs) or the
    name of a section."""
    obj = _sub_object(qualname)
    doc = inspect.getdoc(obj) or ""
    lacks = set() if _example_runs(obj, qualname) else {"example"}
    if inspect.isfunction(obj):
        if "Arguments:" not in doc or "Returns:" not in doc:
            lacks |= {s for s in ("Arguments", "Returns") if f"{s}:" not in doc}
        else:
            documented = doc.split("Arguments:")[1].split("Returns:")[0]
            if any(p.name not in documented for p in inspect.signature(obj).parameters.values()):
                lacks.add("Arguments")
        if qualname not in SUB_NOT_RAISING and "Raises:" not in doc:
            lacks.add("Raises")
    return lacks


def test_the_subpackage_lists_are_not_empty():
    assert len(SUB_NAMES) > 90 and "random.normal" in SUB_NAMES and "inspect.Graph" in SUB_NAMES
    assert SUB_NOT_RAISING.issubset(SUB_NAMES)


@pytest.mark.parametrize("qualname", SUB_NAMES)
def test_subpackage_docstring(qualname):
    lacks = _lacks(qualname)
    assert not lacks, f"foldax.{qualname}: its docstring lacks {sorted(lacks)}"


def test_lacks_finds_what_is_missing(monkeypatch):
    # the check itself: a function with no sections and a failing example is reported
    def undocumented(x):
        """Nothing but an example that fails.

        Example:
            >>> 1 + 1
            3
        """

    monkeypatch.setattr(foldax.random, "undocumented", undocumented, raising=False)
    assert _lacks("random.undocumented") == {"example", "Arguments", "Returns", "Raises"}
