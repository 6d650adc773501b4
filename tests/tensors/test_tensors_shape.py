"""Shapes: construction, properties, filters and printing, each compared with ΦML's Shape."""

import pytest
from phiml import math as pm

from foldax.errors import FoldaxError
from foldax.tensors import EMPTY_SHAPE, Shape, batch, channel, dual, merge_shapes, non_batch, spatial

CASES = [
    (lambda m: m.batch('values'), 'batch'),
    (lambda m: m.batch(values=3), 'batch'),
    (lambda m: m.channel(vector='x,y'), 'channel'),
    (lambda m: m.channel(vector='x,y,z,w,u,v'), 'channel'),
    (lambda m: m.channel(rgb='red,green,blue,alpha'), 'channel'),
    (lambda m: m.spatial(x=64, y=32), 'spatial'),
    (lambda m: m.spatial('x,y'), 'spatial'),
    (lambda m: m.instance(points=5), 'instance'),
    (lambda m: m.dual(x=3), 'dual'),
    (lambda m: m.dual(x='a,b'), 'dual'),
    (lambda m: m.batch(b=2) & m.spatial(x=3) & m.channel(vector='x,y,z'), 'mixed'),
]


@pytest.mark.parametrize('build, kind', CASES)
def test_shape_matches_phiml(build, kind):
    import foldax.tensors as ft

    ours, theirs = build(ft), build(pm)
    assert repr(ours) == repr(theirs)
    assert ours.names == theirs.names
    assert ours.sizes == tuple(theirs.sizes)
    assert ours.rank == theirs.rank
    assert ours.volume == theirs.volume
    assert ours.item_names == tuple(theirs.item_names)
    for name in theirs.names:
        assert name in ours
        assert ours[name] == theirs.get_size(name)


def test_filters_match_phiml():
    import foldax.tensors as ft

    ours = ft.batch(b=2) & ft.dual(d=2) & ft.instance(i=4) & ft.spatial(x=3, y=5) & ft.channel(vector='x,y')
    theirs = pm.batch(b=2) & pm.dual(d=2) & pm.instance(i=4) & pm.spatial(x=3, y=5) & pm.channel(vector='x,y')
    for attr in [
        'batch',
        'dual',
        'instance',
        'spatial',
        'channel',
        'non_batch',
        'non_dual',
        'non_instance',
        'non_spatial',
        'non_channel',
    ]:
        assert repr(getattr(ours, attr)) == repr(getattr(theirs, attr)), attr
    assert repr(non_batch(ours)) == repr(pm.non_batch(theirs))
    assert repr(spatial(ours)) == repr(pm.spatial(theirs))
    assert repr(ours.without('x')) == repr(theirs.without('x'))
    assert repr(ours - 'x,y') == repr(theirs - 'x,y')
    assert repr(ours.only('y,x')) == repr(theirs.only('x,y'))


def test_immutable_hashable_and_ordered():
    a = spatial(x=3) & channel(c=2)
    assert a == spatial(x=3) & channel(c=2)
    assert hash(a) == hash(spatial(x=3) & channel(c=2))
    assert len({a, spatial(x=3) & channel(c=2)}) == 1
    assert a != channel(c=2) & spatial(x=3)  # the order is the axis order of the data
    with pytest.raises(AttributeError):
        a.names = ('y',)


def test_merge_keeps_first_order_and_fills_sizes():
    merged = spatial(x=3) & (batch(b=2) & spatial(x=3))
    assert merged.names == ('x', 'b')
    assert merge_shapes(batch('b'), batch(b=4)).sizes == (4,)
    assert merge_shapes(channel('v'), channel(v='a,b')).item_names == (('a', 'b'),)
    assert merge_shapes() == EMPTY_SHAPE


def test_single_dim_accessors_and_iteration():
    s = spatial(x=3) & channel(vector='a,b')
    assert [d.name for d in s] == ['x', 'vector']
    assert [d.size for d in s] == [3, 2]
    assert [d.type for d in s] == ['spatial', 'channel']
    assert s[-1] == 2
    assert s.get_item_names('vector') == ('a', 'b')
    assert s.index('vector') == 1
    assert 'x,vector' in s and ['x'] in s and spatial('x') in s and 'y' not in s
    assert dual(x=3).names == ('~x',) and dual('~x').names == ('~x',)


def test_filter_functions_on_shapes_and_tensors():
    from foldax.tensors import zeros

    t = zeros(batch(b=2) & spatial(x=3))
    assert batch(t) == batch(b=2)
    assert spatial(t.shape) == spatial(x=3)


ERRORS = [
    (
        lambda: spatial(x=3) & spatial(x=4),
        ValueError,
        "dim 'x' has size 3 in (xˢ=3) but 4 in (xˢ=4); shared dims must have equal sizes: slice one, e.g. t.x[:3]",
    ),
    (
        lambda: spatial(x=3) & channel(x=3),
        ValueError,
        "dim 'x' is spatial in (xˢ=3) but channel in (xᶜ=3); a name must have one type: rename one of the dims",
    ),
    (
        lambda: channel(v='a,b') & channel(v='a,c'),
        ValueError,
        "dim 'v' has item names ('a', 'b') in (vᶜ=a,b) but ('a', 'c') in (vᶜ=a,c); select matching items, e.g. t.v['a,b']",
    ),
    (
        lambda: spatial('x', x=3),
        ValueError,
        "dims ['x'] are given more than once in (xˢ, xˢ=3); give each dim once",
    ),
    (lambda: spatial(x=-1), ValueError, "spatial(x=-1): a size must not be negative; use a size >= 0"),
    (
        lambda: spatial(x=2.5),
        TypeError,
        "spatial(x=2.5): a size must be an int or item names, but got float; use e.g. spatial(x=3) or spatial(x='a,b')",
    ),
    (
        lambda: channel(v='a,a'),
        ValueError,
        "channel(v=('a', 'a')): item names must be distinct strings; use e.g. channel(v='x,y')",
    ),
    (
        lambda: spatial('1x'),
        ValueError,
        "spatial(): dim name '1x' is not a valid name; use letters, digits and underscores, starting with a letter "
        "(a '~' prefix only for dual dims)",
    ),
    (
        lambda: batch(3),
        TypeError,
        "batch() takes dim names or a Shape/Tensor to filter, but got int; use e.g. batch('x'), batch(x=3) or batch(tensor)",
    ),
    (lambda: spatial(x=3)['y'], ValueError, "dim 'y' is not in shape (xˢ=3); use one of ('x',)"),
    (
        lambda: spatial(x=3)[2],
        IndexError,
        "shape[2]: position 2 is out of range for (xˢ=3) of rank 1; use a position in [-1, 1)",
    ),
    (
        lambda: spatial(x=3)[1.0],
        TypeError,
        "shape[key] takes a dim name (str) or a position (int), but got float 1.0; use e.g. shape['x']",
    ),
    (
        lambda: spatial(x=3, y=2).size,
        ValueError,
        "Shape.size needs a shape with exactly one dim, but (xˢ=3, yˢ=2) has 2; select one dim first, e.g. shape.only('x')",
    ),
]


@pytest.mark.parametrize('make, builtin, message', ERRORS)
def test_shape_errors(make, builtin, message):
    with pytest.raises(FoldaxError) as raised:
        make()
    assert isinstance(raised.value, builtin), type(raised.value).__mro__
    assert str(raised.value) == message


def test_shape_constructor_is_plain(check_error):
    assert Shape(('x',), (3,), ('spatial',)) == spatial(x=3)
    message = (
        "Shape(names, sizes, types, item_names) got 1 names, 1 sizes, 1 types and 1 item names; give one of "
        "each per dim, each type one of ('batch', 'dual', 'instance', 'spatial', 'channel'), or build shapes "
        "with spatial(x=3) etc."
    )
    check_error(lambda: Shape(('x',), (3,), ('space',)), ValueError, message)
