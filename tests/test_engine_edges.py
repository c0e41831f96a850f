"""Engine, ledger, explain and module caches at their edges: ledger offsets and tolerances, large
logits, tied targets, what a forward keeps."""

from __future__ import annotations

import numpy
import pytest

from lrp_toolbox import explain
from lrp_toolbox.engine import propagate
from lrp_toolbox.errors import NotForwardedError
from lrp_toolbox.ledger import ConservationError, LayerBudget, Ledger, check_conservation
from lrp_toolbox.modules import Linear, Rect, Sequential, SoftMax
from lrp_toolbox.rules import AlphaBeta, Epsilon, Pass, Zero


def test_propagate_offset_shifts_ledger_indices():
    """``engine.propagate``'s ``offset`` shifts the layer indices in the ledger."""
    layers = [Linear(3, 2), Rect()]
    x = numpy.ones((1, 3))
    for m in layers:
        x = m.forward(x)
    ledger = Ledger()
    propagate(layers, [Epsilon(), Pass()], numpy.ones_like(x), ledger=ledger, offset=3)
    assert [b.index for b in ledger.layers] == [3, 4]


def _ledger(upper, passed, bias=0.0, stabilizer=0.0, created=0.0):
    """A one-layer, one-sample ledger with the given budget."""
    terms = [numpy.array([v], dtype=numpy.float64) for v in (upper, passed, bias, stabilizer, created)]
    return Ledger([LayerBudget(0, "L", "r", *terms)])


def test_tolerance_scales_with_the_larger_of_upper_and_passed():
    """``check_conservation``'s tolerance is ``rtol * max(|upper|, |passed|)``."""
    # err = 1 <= 0.6 * max(1, 2) = 1.2, but > 0.6 * |upper|
    assert check_conservation(_ledger(upper=1.0, passed=2.0), rtol=0.6) == []


def test_allow_created_gates_created_only():
    """Each allowed term excuses exactly its own ledger term."""
    led = _ledger(upper=1.0, passed=0.5, created=-0.5)
    assert check_conservation(led, allow=("created",)) == []
    with pytest.raises(ConservationError):
        check_conservation(led, allow=("bias",))


def test_probability_init_is_overflow_free():
    """``init='probability'`` without a trailing SoftMax must not overflow for large logits (it must equal
    the model with a SoftMax appended)."""
    lin = Linear(2, 3)
    lin.W = numpy.array([[500.0, 400.0, -300.0], [500.0, 450.0, 100.0]])
    lin.B = numpy.zeros(3)
    X = numpy.array([[1.0, 1.0], [0.5, 1.5]])  # logits up to 1000
    plain = explain(Sequential([lin]), X, rule=Epsilon(), init="probability")
    with_softmax = explain(Sequential([lin, SoftMax()]), X, rule=Epsilon(), init="probability")
    assert numpy.isfinite(plain).all()
    numpy.testing.assert_allclose(plain, with_softmax, rtol=1e-15)


def test_default_target_is_first_maximum_on_ties():
    """``target=None`` takes the *first* maximal logit on ties."""
    lin = Linear(2, 3)
    lin.W = numpy.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    lin.B = numpy.zeros(3)
    model = Sequential([lin])
    X = numpy.array([[1.0, 1.0]])  # logits [2, 2, 0]: classes 0 and 1 tie
    got = explain(model, X, rule=Zero(stabilizer=0.0), init="one")
    numpy.testing.assert_allclose(got, explain(model, X, target=0, rule=Zero(stabilizer=0.0), init="one"))
    numpy.testing.assert_allclose(got, [[1.0, 0.0]], rtol=1e-12)


def test_to_drops_the_forward_cache():
    """``Module.to()`` drops the forward cache (parameters changed under it)."""
    layer = Linear(3, 2)
    layer.forward(numpy.ones((1, 3)))
    layer.to(dtype=numpy.float32)
    with pytest.raises(NotForwardedError):
        layer.cache  # noqa: B018
    with pytest.raises(NotForwardedError):
        layer.lrp(numpy.ones((1, 2), dtype=numpy.float32), AlphaBeta())


def test_plain_forward_memoises_nothing():
    """A plain forward keeps no LRP memo, before or after an ``lrp`` call (memory)."""
    layer = Linear(3, 2)
    layer.forward(numpy.array([[1.0, -1.0, 2.0]]))
    assert layer.cache.memo is None
    layer.lrp(numpy.ones((1, 2)), AlphaBeta())
    assert layer.cache.nbytes() == 0


def test_memo_bytes_count_every_buffer_once():
    """``ForwardCache.nbytes``: arrays inside tuples and lists, views by the buffer they view, each
    buffer once, and never the layer's own input or output."""
    from lrp_toolbox.modules.base import ForwardCache
    from lrp_toolbox.rules.stabilizer import Dropped

    x, y = numpy.zeros(10), numpy.zeros(4)  # 80 and 32 bytes: not counted
    a = numpy.zeros((2, 8))  # 128 bytes, held whole and through two views
    b = numpy.zeros(3)  # 24 bytes
    mask, safe = numpy.zeros(5, dtype=bool), numpy.ones(5)  # 5 + 40 bytes, inside a NamedTuple
    memo = {
        "parts": (a[0], a[1]),
        "whole": a,
        "bands": [[(b, None), (b[1:], Dropped(mask, safe))]],
        "den": y,  # a denominator that is the stored output itself (a zero stabiliser)
        "x+": x[:5],
    }
    cache = ForwardCache(x, y, memo=memo)
    assert cache.nbytes() == 128 + 24 + 5 + 40
    assert ForwardCache(x, y).nbytes() == 0


def test_lrp_aware_memo_of_a_banded_rule_is_counted():
    from lrp_toolbox.modules import Convolution
    from lrp_toolbox.rules import ZPlus

    layer = Convolution((2, 2, 1, 3), (1, 1))
    x = numpy.abs(numpy.random.default_rng(0).standard_normal((2, 4, 4, 1)))
    layer.forward(x, lrp_aware=True)
    layer.lrp(numpy.ones((2, 3, 3, 3)), ZPlus())
    # the memo holds the stabilised denominators (2*3*3*3 float64 in one band: 432 bytes), w+
    # (2*2*1*3: 96 bytes), b+ and b- (3 each: 24 + 24 bytes; ZPlus's 'positive' bias is the split
    # of AlphaBeta(1, 0)) and the 'x >= 0' flag (not an array)
    assert layer.cache.nbytes() == 432 + 96 + 24 + 24


class _DuckArray:
    """A CuPy-like array: ``nbytes``, ``shape`` and ``base`` (the owner for a view), no NumPy type."""

    def __init__(self, nbytes, base=None):
        self.nbytes, self.shape, self.base = nbytes, (nbytes,), base


def test_memo_bytes_exclude_buffers_viewed_by_the_input_and_output():
    """x and y are excluded by the buffer they view, not by identity: another view of the buffer
    behind x (or y) is kept alive by the cache anyway."""
    from lrp_toolbox.modules.base import ForwardCache

    batch = numpy.zeros((4, 10))  # 320 bytes: a user's batch; the cache's x is a slice of it
    x = batch[1:3]
    out = numpy.zeros(8)  # 64 bytes; the cache's y is a reshaped view of it
    y = out.reshape(2, 4)
    other = numpy.zeros(6)  # 48 bytes: the only buffer the memo adds
    memo = {"x row": batch[0], "y whole": out, "other": (other, None)}
    # identity-based exclusion ({id(x), id(y)}) would add batch (320) and out (64): 432
    assert ForwardCache(x, y, memo=memo).nbytes() == 48


def test_memo_bytes_count_non_numpy_arrays_by_their_buffer():
    from lrp_toolbox.modules.base import ForwardCache

    x, y = _DuckArray(1000), _DuckArray(2000)  # never counted
    owner = _DuckArray(100)
    view = _DuckArray(10, base=owner)  # a view: counted as its owner, once
    other = _DuckArray(7)
    memo = {"parts": (view, owner), "bands": [[(other, None)]], "x part": _DuckArray(5, base=x)}
    # owner 100 + other 7 = 107; a NumPy-only walk gives 0, a NumPy-only base check 122 (10+100+7+5)
    assert ForwardCache(x, y, memo=memo).nbytes() == 107


def test_memo_bytes_of_an_array_over_a_bytes_object():
    from lrp_toolbox.modules.base import ForwardCache

    a = numpy.frombuffer(bytes(16))  # base: a bytes object without nbytes, so a is the buffer: 16
    assert ForwardCache(numpy.zeros(1), numpy.zeros(1), memo={"k": a}).nbytes() == 16


def test_memo_bytes_of_a_self_containing_list_terminate():
    from lrp_toolbox.modules.base import ForwardCache

    loop: list = [numpy.zeros(3)]  # 24 bytes
    loop.append(loop)
    assert ForwardCache(numpy.zeros(1), numpy.zeros(1), memo={"k": loop, "again": (loop,)}).nbytes() == 24


def test_forward_cache_z_is_the_pre_activation_the_forward_computed():
    """``cache.z`` is ``affine(x, lrp_weight, lrp_bias)`` bit for bit: the output itself for Linear,
    Convolution and AvgPool, SumPool's raw window sums (``y = S / sqrt(k)``); ``None`` for layers
    that are not affine and for subclasses with a forward of their own."""
    from lrp_toolbox.modules import AvgPool, Convolution, MaxPool, SumPool

    rng = numpy.random.default_rng(5)
    x4 = rng.standard_normal((2, 6, 6, 3))
    for layer, x in (
        (Linear(4, 3, rng=rng), rng.standard_normal((2, 4))),
        (Convolution((3, 3, 3, 2), stride=1, padding=1, rng=rng), x4),
        (AvgPool(2, 2), x4),
        (AvgPool(3, 1), x4),
    ):
        y = layer.forward(x)
        assert layer.cache.z is y
        b = layer.lrp_bias
        assert numpy.array_equal(layer.affine(x, layer.lrp_weight, b), y)
    for pool in (SumPool(2, 2), SumPool((2, 3), (1, 2)), SumPool(3, 3)):
        y = pool.forward(x4)
        S = pool.cache.z
        assert S is not y and S.shape == y.shape
        assert numpy.array_equal(S, pool.affine(x4, pool.lrp_weight))  # the raw window sums
        assert numpy.array_equal(y, S * float(pool.window_size) ** -0.5)  # the forward scale
    for layer in (MaxPool(2, 2), Rect(), SoftMax()):
        layer.forward(x4)
        assert layer.cache.z is None

    class Shifted(Linear):  # a forward that is not affine(x, W, B): no z, the rules recompute it
        def _forward(self, X):
            return super()._forward(X) + 1.0

    class ScaledPool(SumPool):
        def _forward(self, X):
            return 2.0 * super()._forward(X)

    shifted = Shifted(4, 3)
    shifted.forward(numpy.ones((1, 4)))
    scaled = ScaledPool(2, 2)
    scaled.forward(x4)
    assert shifted.cache.z is None and scaled.cache.z is None
    R = numpy.ones_like(scaled.cache.y)
    # Zero on the subclass still divides by the raw window sums (recomputed from x)
    S = SumPool(2, 2).affine(x4, numpy.asarray(1.0))
    want = x4 * numpy.repeat(numpy.repeat(R / (S + 1e-9 * numpy.where(S >= 0, 1, -1)), 2, 1), 2, 2)
    numpy.testing.assert_allclose(scaled.lrp(R, Zero()), want, rtol=1e-13)


def test_memo_bytes_exclude_the_forward_pre_activation():
    from lrp_toolbox.modules.base import ForwardCache

    x, y, z = numpy.zeros(3), numpy.zeros(3), numpy.zeros(4)  # z: 32 bytes the forward keeps
    other = numpy.zeros(2)  # 16 bytes
    assert ForwardCache(x, y, memo={"z": z, "den": other}, z=z).nbytes() == 16
    assert ForwardCache(x, y, memo={"z": z, "den": other}).nbytes() == 48
