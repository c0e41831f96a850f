"""Hypothesis properties: exact budget identities, conservation where the rule guarantees it,
linearity in R, finiteness on adversarial inputs."""

from __future__ import annotations

import numpy
from hypothesis import given, settings
from hypothesis import strategies as st

from lrp_toolbox.engine import lrp_with_ledger
from lrp_toolbox.ledger import TERMS, check_conservation
from lrp_toolbox.modules import AvgPool, Convolution, Linear, SumPool
from lrp_toolbox.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, Zero, ZPlus, stabilize

SETTINGS = settings(derandomize=True, deadline=None, max_examples=60)


@st.composite
def layers(draw):
    """A forwarded linear-family layer with a mixed-sign input containing exact zeros."""
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(["linear", "conv", "sumpool", "avgpool"]))
    rng = numpy.random.default_rng(seed)
    N = draw(st.integers(1, 3))
    if kind == "linear":
        m, n = draw(st.integers(1, 6)), draw(st.integers(1, 5))
        layer, shape = Linear(m, n, rng=rng), (N, m)
    elif kind == "conv":
        h, w = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        d, f = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
        dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
        pad = (
            (draw(st.integers(0, 2)), draw(st.integers(0, 2))),
            (draw(st.integers(0, 2)), draw(st.integers(0, 2))),
        )
        H = (h - 1) * dil[0] + 1 + draw(st.integers(0, 3))
        W = (w - 1) * dil[1] + 1 + draw(st.integers(0, 3))
        layer = Convolution((h, w, d, f), stride=stride, padding=pad, dilation=dil, rng=rng)
        shape = (N, H, W, d)
    else:
        pool = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        cls = SumPool if kind == "sumpool" else AvgPool
        layer = cls(pool, stride)
        shape = (
            N,
            pool[0] + draw(st.integers(0, 3)),
            pool[1] + draw(st.integers(0, 3)),
            draw(st.integers(1, 3)),
        )
    if layer.params:
        layer.B = rng.standard_normal(layer.B.shape) * draw(st.sampled_from([0.0, 1.0]))
    x = rng.standard_normal(shape) * draw(st.sampled_from([1e-3, 1.0, 1e3]))
    x[rng.random(shape) < draw(st.sampled_from([0.0, 0.3, 1.0]))] = 0.0
    if draw(st.booleans()):
        x = numpy.abs(x)  # post-ReLU input
    y = layer.forward(x)
    R = rng.standard_normal(y.shape)
    return layer, x, R


def total(a):
    return a.reshape(a.shape[0], -1).sum(axis=1)


@SETTINGS
@given(layers(), st.sampled_from([0.0, 1e-9, 0.01, 1.0]))
def test_epsilon_budget_identity(case, eps):
    # sum_i R_i = sum_j R_j (z_j - b_j) / stab(z_j), written in directly computed quantities
    layer, x, R = case
    z = layer.affine(x, layer.lrp_weight, layer.lrp_bias)
    zb = layer.affine(x, layer.lrp_weight)  # z - b without cancellation
    d = stabilize(z, eps)
    s = numpy.divide(R, d, out=numpy.zeros_like(R), where=d != 0)
    want = total(s * zb)
    got = total(layer.lrp(R, Epsilon(eps)))
    scale = total(numpy.abs(s * zb)) + total(numpy.abs(layer.lrp(numpy.abs(R), Epsilon(eps))))
    numpy.testing.assert_array_less(numpy.abs(got - want), 1e-11 * scale + 1e-300)


@SETTINGS
@given(layers(), st.sampled_from([Flat(), WSquare()]))
def test_flat_and_wsquare_conserve(case, rule):
    layer, x, R = case
    got = layer.lrp(R, rule)
    if isinstance(layer, Convolution):
        # outputs whose window lies entirely in the padding have no inputs: they pass nothing
        counts = layer.affine(numpy.ones((1, *x.shape[1:])), numpy.ones_like(layer.W))
        R = R * (counts != 0)
    numpy.testing.assert_allclose(total(got), total(R), rtol=1e-12, atol=1e-12 * total(numpy.abs(R)).max())


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.integers(2, 6), st.floats(1.0, 4.0))
def test_alphabeta_conserves_when_both_parts_are_nonempty(seed, n_out, n_in, alpha):
    rng = numpy.random.default_rng(seed)
    layer = Linear(n_in, n_out, rng=rng)
    layer.W[0] = numpy.abs(layer.W[0]) + 0.1  # every output has a positive ...
    layer.W[1] = -numpy.abs(layer.W[1]) - 0.1  # ... and a negative contribution (x > 0)
    x = rng.random((3, n_in)) + 0.1
    layer.forward(x)
    R = rng.standard_normal((3, n_out))
    got = layer.lrp(R, AlphaBeta(alpha, alpha - 1.0, stabilizer=0.0, bias="none"))
    numpy.testing.assert_allclose(total(got), total(R), rtol=1e-11, atol=1e-11 * alpha * numpy.abs(R).sum())


RULES = [
    Zero(),
    Epsilon(0.1),
    Epsilon(0.0),
    ZPlus(),
    ZPlus(bias="full", stabilizer=0.0),
    AlphaBeta(2.0, 1.0),
    AlphaBeta(0.0, -1.0, stabilizer=0.0),
    AlphaBeta(1.5, 0.5, bias="full"),
    Gamma(0.25),
    Gamma(0.25, variant="generalized"),
    ZBox(-1.0, 1.0),
    Flat(),
    WSquare(bias="squared"),
]


@SETTINGS
@given(layers(), st.sampled_from(RULES))
def test_ledger_decomposition_and_finiteness(case, rule):
    # passed = upper - bias - stabilizer + created, up to rounding; never NaN or Inf
    layer, _, R = case
    got, ledger = lrp_with_ledger(layer, R, rule)
    assert numpy.isfinite(got).all()
    b = ledger.layers[0]
    terms = numpy.abs(b.upper) + numpy.abs(b.bias) + numpy.abs(b.stabilizer) + numpy.abs(b.created)
    _, ledger_abs = lrp_with_ledger(layer, numpy.abs(R), rule)
    scale = terms + numpy.abs(ledger_abs.layers[0].passed) + numpy.abs(ledger_abs.layers[0].stabilizer)
    numpy.testing.assert_array_less(numpy.abs(b.residual), 1e-9 * scale + 1e-300)
    assert (
        check_conservation(ledger, rtol=1e-6, atol=1e-9 * scale.max(), allow=TERMS, raise_error=False) == []
    )


@SETTINGS
@given(layers(), st.sampled_from(RULES), st.floats(-3.0, 3.0), st.floats(-3.0, 3.0))
def test_linear_in_relevance(case, rule, a, c):
    layer, _, R = case
    R2 = numpy.random.default_rng(0).standard_normal(R.shape)
    lhs = layer.lrp(a * R + c * R2, rule)
    rhs = a * layer.lrp(R, rule) + c * layer.lrp(R2, rule)
    scale = numpy.abs(layer.lrp(numpy.abs(R), rule)).max() + numpy.abs(layer.lrp(numpy.abs(R2), rule)).max()
    numpy.testing.assert_allclose(lhs, rhs, rtol=0, atol=1e-10 * (abs(a) + abs(c) + 1) * (scale + 1e-300))
