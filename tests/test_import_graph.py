"""The import graph of ``foldax/`` has no circles, and the layers import only downwards.

The graph is built from the source with ``ast``: one node per module (a package is its
``__init__``), one edge per ``import``/``from ... import`` anywhere in the file, at module level
or inside a function (a function-level import is a circle postponed, not removed). ``from a.b
import c`` is an edge to ``a.b.c`` when that is a module, else to ``a.b``.

Not an edge: the implicit import of a module's parent packages. Each folder's ``__init__``
imports its rule modules so that the rules register, and those rule modules import the
interpreter beside them; Python runs the ``__init__`` first whichever module is imported, which
is the point. What must not happen is a file importing a module that imports it back.

Layers: ``transforms/core`` is the bottom of the transformations and imports nothing else of
foldax but ``foldax._compat`` (the only door to private JAX), ``foldax.errors`` and
``foldax.pytrees`` (which sits below ``core``: the leaf kinds and tree utilities every trace
uses). ``foldax.pytrees``, ``foldax.errors`` and ``foldax._compat`` import no transformation.

Private JAX (``jax._src``, ``jax.interpreters``) is imported only inside the ``foldax._compat``
package, whose ``__init__`` re-exports every name the rest of foldax uses.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import pathlib

import networkx as nx
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "foldax"
CORE = "foldax.transforms.core"
CORE_MAY_IMPORT = ("foldax._compat", "foldax.errors", "foldax.pytrees")
BELOW_TRANSFORMS = ("foldax._compat", "foldax.errors", "foldax.pytrees")
COMPAT = "foldax._compat"
PRIVATE_JAX = ("jax._src", "jax.interpreters")


def _module_name(path: pathlib.Path, root: pathlib.Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(root: pathlib.Path) -> dict[str, pathlib.Path]:
    return {_module_name(p, root): p for p in sorted((root / "foldax").rglob("*.py"))}


def _imported_names(module: str, path: pathlib.Path, modules: dict) -> list[str]:
    """Every dotted name ``module`` imports (relative imports resolved), anywhere in the file:
    for ``from a import b``, ``a.b`` if that is a module, else ``a``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names += [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names
            ]
    return names


def _resolve(name: str, modules: dict) -> str | None:
    """The longest prefix of ``name`` that is a foldax module."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(root: pathlib.Path = ROOT) -> nx.DiGraph:
    """Modules of ``root/foldax`` and an edge for every import between them."""
    modules = _modules(root)
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for module, path in modules.items():
        for name in _imported_names(module, path, modules):
            target = _resolve(name, modules)
            if target is not None and target != module:
                graph.add_edge(module, target)
    return graph


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_graph_sees_the_package():
    graph = import_graph()
    # the test is only as good as the graph: it must see the known edges, including
    # function-level ones and the __init__ registrations
    assert ("foldax", "foldax.transforms.jit") in graph.edges
    assert ("foldax.transforms.batching", "foldax.transforms.batching.control_flow") in graph.edges
    assert ("foldax.transforms.checks.checkify", "foldax.transforms.random.key_reuse") in graph.edges
    assert graph.number_of_nodes() == len(list(PACKAGE.rglob("*.py")))


def test_no_import_circles():
    cycles = sorted((" -> ".join(c + [c[0]]) for c in nx.simple_cycles(import_graph())), key=len)
    assert cycles == [], "import circles:\n" + "\n".join(cycles)


def test_a_circle_would_be_found(tmp_path):
    # the same graph code on a small package: a function-level import back, and a relative one
    (tmp_path / "foldax" / "sub").mkdir(parents=True)
    (tmp_path / "foldax" / "__init__.py").write_text("")
    (tmp_path / "foldax" / "a.py").write_text("from foldax.b import g\n")
    (tmp_path / "foldax" / "b.py").write_text("def g():\n    from foldax import a\n")
    (tmp_path / "foldax" / "sub" / "__init__.py").write_text("from . import c\n")
    (tmp_path / "foldax" / "sub" / "c.py").write_text("from ..sub import d\nfrom . import e\n")
    (tmp_path / "foldax" / "sub" / "e.py").write_text("")
    (tmp_path / "foldax" / "sub" / "d.py").write_text("import foldax.sub.c\n")
    cycles = sorted(map(sorted, nx.simple_cycles(import_graph(tmp_path))))
    assert cycles == [["foldax.a", "foldax.b"], ["foldax.sub.c", "foldax.sub.d"]]


@pytest.mark.parametrize(
    "layer, allowed",
    [
        (CORE, (CORE,) + CORE_MAY_IMPORT),
        ("foldax.pytrees", BELOW_TRANSFORMS),
        ("foldax.errors", BELOW_TRANSFORMS),
        ("foldax._compat", BELOW_TRANSFORMS),
    ],
)
def test_layer_imports_only_below(layer, allowed):
    graph = import_graph()
    outside = sorted(
        f"{m} imports {t}" for m, t in graph.edges if _within(m, (layer,)) and not _within(t, allowed)
    )
    assert outside == [], f"{layer} may import only {allowed}:\n" + "\n".join(outside)


def test_private_jax_only_in_compat():
    modules = _modules(ROOT)
    private = sorted(
        f"{module} imports {name}"
        for module, path in modules.items()
        if not _within(module, (COMPAT,))
        for name in _imported_names(module, path, modules)
        if _within(name, PRIVATE_JAX)
    )
    assert private == [], "private JAX outside foldax._compat:\n" + "\n".join(private)
    # ... and the rule sees the imports of the package itself
    assert any(
        _within(name, PRIVATE_JAX)
        for module, path in modules.items()
        if _within(module, (COMPAT,))
        for name in _imported_names(module, path, modules)
    )


def _compat_modules() -> list[str]:
    return sorted(m for m in _modules(ROOT) if _within(m, (COMPAT,)))


def _public_names(path: pathlib.Path) -> set[str]:
    """The public names a module defines at its top level (``import x as x`` re-exports count)."""
    names = set()
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom):
            names.update(a.name for a in node.names if a.asname == a.name)
    return {n for n in names if not n.startswith("_")}


def test_compat_reexports_every_public_name_and_is_imported_whole():
    modules = _modules(ROOT)
    compat = importlib.import_module(COMPAT)
    for module in _compat_modules():
        if module != COMPAT:
            missing = _public_names(modules[module]) - set(compat.__all__)
            assert not missing, f"{module} defines {sorted(missing)}, not re-exported by {COMPAT}"
    assert all(hasattr(compat, name) for name in compat.__all__)
    # the rest of foldax imports from foldax._compat, never from its modules
    inside = sorted(
        f"{module} imports {name}"
        for module, path in modules.items()
        if not _within(module, (COMPAT,))
        for name in _imported_names(module, path, modules)
        if name.startswith(COMPAT + ".")
    )
    assert inside == [], f"import these names from {COMPAT}:\n" + "\n".join(inside)


@pytest.mark.parametrize("module", _compat_modules())
def test_compat_module_examples_run(module):
    mod = importlib.import_module(module)
    tests = [t for t in doctest.DocTestFinder().find(mod, module, globs={}) if t.examples]
    assert tests, f"{module} has no example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
