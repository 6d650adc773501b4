"""The node/edge view, against the jaxpr read directly."""

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest
from corpus import CORPUS, CORPUS_IDS
from programs import mgs, nbytes

import foldax
from foldax._compat import Literal
from foldax.errors import FoldaxTypeError
from foldax.inspect import Graph
from foldax.inspect.program import as_program


def _programs(fn, make):
    x = make()
    return [jax.make_jaxpr(fn)(x), foldax.trace(fn)(x)]


@pytest.mark.parametrize("name, fn, make", CORPUS, ids=CORPUS_IDS)
def test_nodes_and_edges_match_the_jaxpr(name, fn, make):
    for program in _programs(fn, make):
        closed = program if not hasattr(program, "in_tree") else program.jaxpr
        jaxpr = closed.jaxpr
        g = Graph.of(program)
        assert len(g.nodes) == len(jaxpr.invars) + len(jaxpr.constvars) + len(jaxpr.eqns)
        # independent edges: producer of every non-literal operand
        leaves = list(jaxpr.invars) + list(jaxpr.constvars)
        index = {v: i for i, v in enumerate(leaves)}
        edges = []
        for k, eqn in enumerate(jaxpr.eqns):
            node = len(leaves) + k
            for a in eqn.invars:
                if not isinstance(a, Literal) and (index[a], node) not in edges:
                    edges.append((index[a], node))
            for v in eqn.outvars:
                index[v] = node
        assert g.edges == edges
        assert nx.is_directed_acyclic_graph(g.to_networkx())
        # sizes per value: np.prod(shape) * itemsize
        for v, aval in enumerate(g.value_aval):
            assert g.value_nbytes[v] == nbytes(aval)


@pytest.mark.parametrize("name, fn, make", CORPUS, ids=CORPUS_IDS)
def test_subgraphs_are_the_bodies_in_params(name, fn, make):
    closed = jax.make_jaxpr(fn)(make())
    g = Graph.of(closed)
    for node in g.equations:
        bodies = list(foldax._compat.core.jaxprs_in_params(node.eqn.params))
        assert [s.graph.jaxpr for s in node.subgraphs] == bodies
        for sub in node.subgraphs:
            if node.primitive == "scan":
                assert sub.times == node.eqn.params["length"]
            if node.primitive == "while":
                assert sub.times is None


def test_shared_body_is_built_once():
    g = Graph.of(foldax.trace(mgs)(jnp.ones((5, 5))))
    norms = [n for n in g.equations if n.label == "jit:norm"]
    assert len(norms) == 5
    assert len({id(n.subgraphs[0].graph) for n in norms}) == 1


def test_names_depths_and_last_use():
    prog = jax.make_jaxpr(lambda x, y: (jnp.sin(x) * y, x))(jnp.ones(3), jnp.ones(3))
    g = Graph.of(prog)
    assert [n.label for n in g.nodes] == ["x", "y", "sin", "mul"]
    assert g.depths() == [0, 0, 1, 2]
    # x is read by sin and is an output; y last read by mul; mul's value is an output
    assert g.last_use() == [4, 3, 3, 4]


def test_as_program_wraps_a_closed_jaxpr_and_refuses_other_objects():
    closed = jax.make_jaxpr(lambda x, y: x * y)(1.0, 2.0)
    prog = as_program(closed)
    np.testing.assert_allclose(prog(jnp.float32(3), jnp.float32(4))[0], 12.0)
    with pytest.raises(
        FoldaxTypeError,
        match=r"figures: expected a foldax Program or a jax "
        r"ClosedJaxpr, found function\. Trace a function",
    ):
        foldax.inspect.figures(lambda x: x)
    jitted = foldax.jit(lambda x: x)
    with pytest.raises(FoldaxTypeError, match=r"found JitFunction\. Call its \.trace\(\*args\)"):
        foldax.inspect.show(jitted)
