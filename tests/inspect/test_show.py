"""The tree view: autoray's layout, each node printed once, repeats referring to their line."""

import io
import re

import jax
import jax.numpy as jnp
import pytest
from corpus import CORPUS, CORPUS_IDS
from programs import mgs

import foldax
from foldax._compat import Literal
from foldax.errors import FoldaxValueError
from foldax.inspect import Graph, show, tree_lines

LINE = re.compile(r"^ *(\d+) ([│ ]*)(├─|╰─)?(.*)$")
REFERENCE = re.compile(r"^ \.\.\. \((.*) from line (\d+)\)$")


def _reachable(graph, seen):
    """Independent count of what the tree must print once: nodes reachable from the outputs
    through operands, and bodies (each distinct body once, with what it reaches)."""
    stack = [(graph, i) for i in graph.output_nodes]
    edges = 0
    while stack:
        g, i = stack.pop()
        if (id(g), i) in seen:
            continue
        seen.add((id(g), i))
        node = g.nodes[i]
        if node.eqn is not None:
            operands = [a for a in node.eqn.invars if not isinstance(a, Literal)]
            edges += len(operands) + len(node.subgraphs)
            for a in operands:
                stack.append((g, g.value_node[_value_of(g, node, a)]))
            for sub in node.subgraphs:
                if ("body", id(sub.graph)) not in seen:
                    seen.add(("body", id(sub.graph)))
                    edges += len(sub.graph.output_nodes)
                    stack.extend((sub.graph, j) for j in sub.graph.output_nodes)
    return edges


def _value_of(g, node, var):
    k = [a for a in node.eqn.invars if not isinstance(a, Literal)].index(var)
    return node.inputs[k]


@pytest.mark.parametrize("name, fn, make", CORPUS, ids=CORPUS_IDS)
def test_every_node_once_and_references_point_back(name, fn, make):
    closed = jax.make_jaxpr(fn)(make())
    g = Graph.of(closed)
    lines = tree_lines(g)
    seen: set = set()
    edges = _reachable(g, seen)
    full = [ln for ln in lines if " ... (" not in ln]
    assert len(full) == len(seen)  # every node and body printed in full exactly once
    roots = len(g.output_nodes)
    assert len(lines) == roots + edges  # one line per root and per parent-child edge
    printed = {}
    for k, text in enumerate(lines):
        number, bars, connector, item = LINE.match(text).groups()
        assert int(number) == k
        ref = REFERENCE.match(" " + item) if item.startswith("... (") else None
        if ref:
            target, where = ref.group(1), int(ref.group(2))
            assert printed[where] == target  # the line referred to shows the same node
        else:
            printed[k] = item


def test_mgs_looks_like_autoray():
    lines = tree_lines(foldax.trace(mgs)(jnp.ones((6, 6))), max_lines=12)
    assert len(lines) == 12
    assert lines[0] == "   0 stack[6, 6]"
    assert lines[1] == "   1 ├─div[6]"
    assert lines[2] == "   2 │ ├─squeeze[6]"
    assert lines[3] == "   3 │ │ ╰─slice[1, 6]"
    assert lines[4] == "   4 │ │   ╰─←[6, 6] X"
    assert lines[5] == "   5 │ ╰─jit:norm[]"
    assert lines[6] == "   6 │   ├─ ... (squeeze[6] from line 2)"
    assert lines[7] == "   7 │   ╰─⤷ jaxpr: norm"
    body_refs = [
        ln for ln in tree_lines(foldax.trace(mgs)(jnp.ones((6, 6)))) if "(⤷ jaxpr: norm from line 7)" in ln
    ]
    assert len(body_refs) == 5  # the other five norms refer to the body shown once


def test_options_and_printing():
    prog = jax.make_jaxpr(lambda x: jnp.sum(jnp.sin(x) * 2.0))(jnp.ones(3))
    assert tree_lines(prog, max_depth=0) == ["   0 reduce_sum[]"]
    assert tree_lines(prog, dtypes=True)[:2] == ["   0 reduce_sum f32[]", "   1 ╰─mul f32[3]"]
    with_params = tree_lines(prog, params=True)
    assert with_params[0] == "   0 reduce_sum(#, axes=(0,)) → []"
    assert with_params[1] == "   1 ╰─mul(#, 2.0) → [3]"
    scanned = jax.make_jaxpr(lambda x: jax.lax.scan(lambda c, r: (c + r, c), 0.0, x))(jnp.ones(3))
    assert [ln for ln in tree_lines(scanned, subgraphs=False) if "⤷" in ln] == []
    assert tree_lines(scanned)[2] == "   2 ╰─⤷ body: <lambda> ×3"
    buffer = io.StringIO()
    show(prog, file=buffer)
    assert buffer.getvalue().splitlines() == tree_lines(prog)
    assert tree_lines(jax.make_jaxpr(lambda x: x)(1.0)) == ["   0 ←[] x"]
    with pytest.raises(
        FoldaxValueError,
        match=r"show\(max_lines=...\): expected a non-negative "
        r"int or None, found -1\.",
    ):
        show(prog, max_lines=-1)
