"""Plots: the figure objects hold what the program holds (wedges, bars, points, nodes)."""

import matplotlib

matplotlib.use("Agg")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from programs import mgs, primitive_counts  # noqa: E402

import foldax  # noqa: E402
from foldax.errors import FoldaxValueError  # noqa: E402
from foldax.inspect import (  # noqa: E402
    Graph,
    figures,
    plot_counts,
    plot_footprint,
    plot_graph,
    plot_sizes,
)

PROG = foldax.trace(mgs)(jnp.ones((5, 5)))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _points(ax) -> int:
    return sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))


def test_counts_pie_and_bar():
    counts = primitive_counts(PROG.jaxpr)
    fig, ax = plot_counts(PROG)
    assert len(ax.patches) == len(counts)
    assert sorted(t.get_text() for t in ax.texts) == sorted(f"{k}: {v:,}" for k, v in counts.items())
    fig, ax = plot_counts(PROG, kind="bar", by="flops", top=3)
    flops = {k: v for k, v in figures(PROG).flops.items() if v > 0}
    assert len(ax.patches) == 4  # the three largest and "other"
    heights = [p.get_height() for p in ax.patches]
    assert heights[:3] == sorted(flops.values(), reverse=True)[:3]
    assert heights[3] == sum(sorted(flops.values(), reverse=True)[3:])


def test_footprint_and_sizes(tmp_path):
    fig, ax = plot_footprint(PROG, path=tmp_path / "footprint.png")
    assert (tmp_path / "footprint.png").stat().st_size > 0
    (peak_line,) = ax.get_lines()
    assert peak_line.get_ydata()[0] == figures(PROG).peak_memory
    fig, ax = plot_footprint(PROG, log=2)
    assert ax.get_lines()[0].get_ydata()[0] == pytest.approx(np.log2(figures(PROG).peak_memory))
    fig, ax = plot_sizes(PROG)
    assert _points(ax) == len(PROG.jaxpr.jaxpr.eqns)
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {
        e.primitive.name for e in PROG.jaxpr.jaxpr.eqns
    }


@pytest.mark.parametrize("layout", ["circuit", "layers", "spring"])
def test_graph_drawing_has_one_point_per_node(layout):
    fig, ax = plot_graph(PROG, layout=layout)
    assert _points(ax) == len(Graph.of(PROG).nodes)
    if layout == "circuit":
        (wires,) = [c for c in ax.collections if isinstance(c, LineCollection)]
        assert len(wires.get_segments()) >= len(Graph.of(PROG).edges)


@pytest.mark.parametrize("name", ["control_scan", "control_while", "linear_algebra"])
def test_plots_of_programs_with_bodies(name):
    from corpus import CORPUS

    _, fn, make = next(c for c in CORPUS if c[0] == name)
    prog = foldax.jit(fn).trace(make())  # the Program behind a jitted function
    assert _points(plot_graph(prog)[1]) == len(Graph.of(prog).nodes)
    executed = {k: v for k, v in figures(prog).executed.items() if v}
    assert len(plot_counts(prog, by="executed", top=50)[1].patches) == len(executed)
    assert len(plot_footprint(prog)[1].collections[0].get_paths()) == 1


def test_large_graph_is_summarised():
    prog = foldax.trace(mgs)(jnp.ones((20, 20)))
    n = len(Graph.of(prog).nodes)
    fig, ax = plot_graph(prog, max_nodes=100)
    block = -(-n // 100)
    assert _points(ax) == -(-n // block) <= 100
    assert ax.get_title() == f"{n} nodes, summarised: {-(-n // block)} blocks of {block} consecutive nodes"


def test_plots_draw_into_given_axes_and_check_arguments():
    fig, axes = plt.subplots(1, 2)
    assert plot_counts(PROG, ax=axes[0])[1] is axes[0]
    assert plot_graph(jax.make_jaxpr(jnp.sin)(1.0), ax=axes[1])[1] is axes[1]
    with pytest.raises(
        FoldaxValueError,
        match=r"plot_counts\(kind=...\): expected one of \['pie', "
        r"'bar'\], found 'line'",
    ):
        plot_counts(PROG, kind="line")
    with pytest.raises(FoldaxValueError, match=r"plot_graph\(layout=...\): expected one of"):
        plot_graph(PROG, layout="dot")
    with pytest.raises(FoldaxValueError, match=r"max_nodes: expected a positive int, found 0"):
        plot_graph(PROG, max_nodes=0)
