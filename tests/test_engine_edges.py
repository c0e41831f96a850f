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
