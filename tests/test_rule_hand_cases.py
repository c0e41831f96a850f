"""Hand-worked cases at the rules' edges, arithmetic in comments: exact zero denominators, parts
without contributions, α < 1, stabilisers on pools, AvgPool's mean, lrp_aware memo keys."""

from __future__ import annotations

import numpy
import pytest

from lrp_toolbox.engine import lrp_with_ledger
from lrp_toolbox.ledger import TERMS, check_conservation
from lrp_toolbox.modules import AvgPool, Linear, MaxPool
from lrp_toolbox.rules import AlphaBeta, Epsilon, Flat, Gamma, Zero


def test_zero_denominator_passes_nothing_elementwise():
    """An output whose denominator is exactly 0 must pass no relevance (0/0 policy), elementwise - not
    just in total (its contributions sum to 0, so totals cannot see a leak)."""
    layer = Linear(2, 1)
    layer.W = numpy.array([[1.0], [-1.0]])
    layer.B = numpy.zeros(1)
    layer.forward(numpy.array([[1.0, 1.0]]))  # z = 1 - 1 + 0 = 0 exactly
    got = layer.lrp(numpy.array([[1.0]]), Zero(stabilizer=0.0))
    numpy.testing.assert_array_equal(got, [[0.0, 0.0]])


def test_full_bias_zero_denominator_is_masked():
    """α-β with ``bias='full'``, stabiliser 0 and ``z+_j + b_j == 0`` while ``z+_j != 0``: the zero
    denominator is still masked (no division by zero)."""
    layer = Linear(2, 1)
    layer.W = numpy.array([[1.0], [-0.5]])
    layer.B = numpy.array([-1.0])
    layer.forward(numpy.array([[1.0, 1.0]]))  # z+ = 1, z+ + b = 0; z- = -0.5, z- + b = -1.5
    with numpy.errstate(all="raise"):
        got = layer.lrp(numpy.array([[1.0]]), AlphaBeta(2.0, 1.0, bias="full", stabilizer=0.0))
    # positive part dropped; negative part: -beta * c- / (z- + b) = -1 * [0, -0.5] / -1.5
    numpy.testing.assert_allclose(got, [[0.0, -1.0 / 3.0]], rtol=1e-15)


def test_full_bias_part_without_contributions_books_bias_not_created():
    """With ``bias='full'`` a part with no contributions but a non-zero bias share is not empty: its share
    is absorbed by the bias (ledger 'bias'), not booked as 'created'."""
    layer = Linear(2, 1)
    layer.W = numpy.array([[-1.0], [-1.0]])
    layer.B = numpy.array([0.5])
    layer.forward(numpy.array([[1.0, 1.0]]))  # z+ = 0 (no positive contribution), b = 0.5
    rule = AlphaBeta(2.0, 1.0, bias="full", stabilizer=0.0)
    R_in, ledger = lrp_with_ledger(layer, numpy.array([[1.0]]), rule)
    numpy.testing.assert_allclose(R_in, [[-2.0 / 3.0, -2.0 / 3.0]], rtol=1e-15)
    (b,) = ledger.layers
    numpy.testing.assert_allclose(b.bias, [2.0 + 1.0 / 3.0], rtol=1e-15)  # alpha*R*b/b - beta*R*b/(-1.5)
    numpy.testing.assert_array_equal(b.created, [0.0])
    check_conservation(ledger, allow=TERMS)


@pytest.mark.parametrize("spec", [(AlphaBeta(0.5, -0.5, stabilizer=0.0),), ("alphabeta", 0.5)])
def test_alpha_below_one_is_applied(spec):
    """AlphaBeta with 0 < alpha < 1 (the original's 'alphabeta', a with a < 1)."""
    layer = Linear(2, 1)
    layer.W = numpy.array([[1.0], [-1.0]])
    layer.B = numpy.zeros(1)
    layer.forward(numpy.array([[1.0, 1.0]]))  # z+ = 1, z- = -1
    got = layer.lrp(numpy.array([[1.0]]), *spec)
    # 0.5 * [1, 0] / 1 - (-0.5) * [0, -1] / (-1) = [0.5, 0.5]
    numpy.testing.assert_allclose(got, [[0.5, 0.5]], rtol=1e-12)


PAIRS = [
    (AlphaBeta(2.0, 1.0, bias="split"), AlphaBeta(2.0, 1.0, bias="none")),  # #23
    (Gamma(0.25), Gamma(0.5)),  # #29
    (Gamma(0.25, variant="generalized"), Gamma(1.0, variant="generalized")),
]


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=repr)
def test_lrp_aware_memo_does_not_leak_between_rules(first, second):
    """After one lrp_aware forward, later lrp calls with *different* rules must give what a plain
    forward gives (memo keys must include every parameter the memoised value uses)."""
    rng = numpy.random.default_rng(0)
    layer = Linear(5, 4, rng=rng)
    layer.B = rng.standard_normal(4)
    x = rng.standard_normal((3, 5))
    R = rng.standard_normal((3, 4))
    layer.forward(x)
    plain = layer.lrp(R, second)
    layer.forward(x, lrp_aware=True)
    layer.lrp(R, first)
    numpy.testing.assert_array_equal(layer.lrp(R, second), plain)


def test_generalized_gamma_zero_output_is_booked_as_created():
    """Generalized gamma at z_j == 0 passes nothing and books -R_j as 'created'."""
    layer = Linear(2, 1)
    layer.W = numpy.array([[1.0], [-1.0]])
    layer.B = numpy.zeros(1)
    layer.forward(numpy.array([[1.0, 1.0]]))  # z = 0 exactly
    R_in, ledger = lrp_with_ledger(layer, numpy.array([[1.0]]), Gamma(0.25, variant="generalized"))
    numpy.testing.assert_array_equal(R_in, [[0.0, 0.0]])
    numpy.testing.assert_array_equal(ledger.layers[0].created, [-1.0])
    check_conservation(ledger, allow=TERMS)


def test_flat_stabilizer_on_maxpool():
    """Flat's stabiliser applies on MaxPool too (R_j / stab(hp*wp))."""
    layer = MaxPool(pool=(2, 2), stride=(2, 2))
    layer.forward(numpy.array([[[[1.0], [2.0]], [[3.0], [4.0]]]]))
    R_in, ledger = lrp_with_ledger(layer, numpy.ones((1, 1, 1, 1)), Flat(stabilizer=1.0))
    numpy.testing.assert_allclose(R_in, numpy.full((1, 2, 2, 1), 0.2), rtol=1e-15)  # 1 / (4 + 1)
    numpy.testing.assert_allclose(ledger.layers[0].stabilizer, [0.2], rtol=1e-15)


def test_avgpool_epsilon_is_added_to_the_mean():
    """On AvgPool the rules see the mean (lrp_weight 1/(hp*wp)), so an epsilon is added to the window
    *mean*, z_j = y_j (the matrix oracle uses lrp_weight itself and cannot see it)."""
    layer = AvgPool(pool=(2, 2), stride=(2, 2))
    x = numpy.array([[[[1.0], [2.0]], [[3.0], [6.0]]]])
    y = layer.forward(x)
    assert y.item() == 3.0
    got = layer.lrp(numpy.ones((1, 1, 1, 1)), Epsilon(1.0))
    numpy.testing.assert_allclose(got, x * 0.25 / (3.0 + 1.0), rtol=1e-15)  # x_i w R / (z + eps)


# ------------------------------------------------------------------ ZBox without cancellation
@pytest.mark.parametrize("kind", ["linear", "conv1x1"])
def test_zbox_denominator_near_the_bounds_does_not_cancel(kind):
    # Two inputs a hair inside the box [-1e8, 1e8]: x1 = l + 0.125, x2 = h - 0.375 (both exact in
    # float64), weights 0.3 and -0.7 (not exact). The contributions are
    #   c1 = (x1 - l) * 0.3 = 0.125 * 0.3,   c2 = (x2 - h) * (-0.7) = 0.375 * 0.7,
    # both >= 0, d = c1 + c2 (+ the stabiliser 1e-9). Summed as x.w - l.w+ - h.w- instead, the
    # terms are ~3e7 and each rounding costs ~4e-9 absolute, 4e-8 relative on d ~ 0.3 (measured): the
    # rule sums the non-negative contributions and gets d to a few ulps.
    from fractions import Fraction

    from lrp_toolbox.modules import Convolution
    from lrp_toolbox.rules import ZBox

    w = numpy.array([0.3, -0.7])
    x = numpy.array([-1e8 + 0.125, 1e8 - 0.375])
    if kind == "linear":
        layer, x_in = Linear(2, 1), x.reshape(1, 2)
        layer.W, layer.B = w.reshape(2, 1), numpy.zeros(1)
    else:  # a 1x1 convolution over 2 channels: the banded pass
        layer, x_in = Convolution((1, 1, 2, 1), (1, 1)), x.reshape(1, 1, 1, 2)
        layer.W, layer.B = w.reshape(1, 1, 2, 1), numpy.zeros(1)
    y = layer.forward(x_in)
    got = layer.lrp(numpy.ones_like(y), ZBox(-1e8, 1e8)).reshape(2)
    c = [Fraction(0.125) * Fraction(0.3), Fraction(0.375) * Fraction(0.7)]
    d = c[0] + c[1] + Fraction(1e-9)
    want = [float(ci / d) for ci in c]  # exact rationals, rounded once
    numpy.testing.assert_allclose(got, want, rtol=4e-16, atol=0)
