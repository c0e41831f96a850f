"""Rect (ReLU), Tanh, SoftMax: oracles, exact gradients, dtype, stability, hand cases, errors."""

from __future__ import annotations

import layer_oracles as oracle
import numpy
import pytest

from lrp_toolbox.errors import NotForwardedError, ShapeError
from lrp_toolbox.modules import Flatten, Module, Rect, ReLU, Sequential, SoftMax, Tanh

ORACLES = {Rect: oracle.rect, Tanh: oracle.tanh, SoftMax: oracle.softmax}
CLASSES = [Rect, Tanh, SoftMax]
SHAPES = [(3, 5), (2, 3, 4, 2)]


def _away_from_zero(rng, shape):
    """Standard normal values with |x| >= 0.05, so a 1e-6 step never crosses the ReLU kink."""
    X = rng.standard_normal(shape)
    return numpy.where(numpy.abs(X) < 0.05, 0.05 + numpy.abs(X), X)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_oracle(rng, cls, shape):
    X = 3 * rng.standard_normal(shape)
    Y = cls().forward(X)
    assert Y.dtype == numpy.float64
    oracle.assert_close_to_oracle(Y, ORACLES[cls](X))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("shape", SHAPES)
def test_input_gradient(rng, cls, shape):
    oracle.check_input_gradient(cls(), _away_from_zero(rng, shape), rng)


def test_relu_is_rect():
    assert ReLU is Rect


def test_rect_hand_case():
    layer = Rect()
    # max(0, x) for x = -1, 0, 2;  gradient [x > 0]: 0 at the kink x = 0
    numpy.testing.assert_array_equal(layer.forward(numpy.array([[-1.0, 0.0, 2.0]])), [[0.0, 0.0, 2.0]])
    numpy.testing.assert_array_equal(layer.backward(numpy.array([[5.0, 5.0, 5.0]])), [[0.0, 0.0, 5.0]])


def test_tanh_hand_case():
    layer = Tanh()
    # tanh(0) = 0 with slope 1 - 0^2 = 1; tanh(x) -> 1 for large x with slope ~0
    Y = layer.forward(numpy.array([[0.0, 40.0]]))
    numpy.testing.assert_array_equal(Y, [[0.0, 1.0]])
    numpy.testing.assert_array_equal(layer.backward(numpy.array([[3.0, 3.0]])), [[3.0, 0.0]])


def test_softmax_hand_case():
    layer = SoftMax()
    # [log 1, log 3] -> exp gives [1, 3] -> normalised [1/4, 3/4]
    Y = layer.forward(numpy.log(numpy.array([[1.0, 3.0]])))
    numpy.testing.assert_allclose(Y, [[0.25, 0.75]], rtol=1e-15)
    # DX = Y * (DY - <DY, Y>): DY = [1, 0] -> <DY, Y> = 1/4 -> [1/4 * 3/4, 3/4 * (-1/4)]
    numpy.testing.assert_allclose(layer.backward(numpy.array([[1.0, 0.0]])), [[3 / 16, -3 / 16]], rtol=1e-15)


@pytest.mark.parametrize(
    ("logits", "expected"),
    [
        ([1000.0, 0.0], [1.0, 0.0]),  # exp(1000) overflows without the max shift
        ([1000.0, 1000.0], [0.5, 0.5]),
        ([-1000.0, -1000.0], [0.5, 0.5]),  # exp(-1000) underflows to 0 without the max shift: 0/0
        ([-1000.0, -1000.0 - numpy.log(3.0)], [0.75, 0.25]),
        ([1e300, -1e300], [1.0, 0.0]),
    ],
)
def test_softmax_is_stable(logits, expected):
    # warnings are errors in this suite, so an overflow or 0/0 would fail here too
    Y = SoftMax().forward(numpy.array([logits]))
    assert not numpy.isnan(Y).any()
    numpy.testing.assert_allclose(Y, [expected], rtol=1e-12, atol=1e-300)
    numpy.testing.assert_allclose(Y.sum(axis=-1), 1.0, rtol=1e-15)


def test_softmax_float32_stable():
    # exp(100) overflows float32 (max ~3.4e38)
    Y = SoftMax().forward(numpy.array([[100.0, 0.0, -100.0]], dtype=numpy.float32))
    assert Y.dtype == numpy.float32
    assert numpy.isfinite(Y).all()
    numpy.testing.assert_allclose(Y, [[1.0, 0.0, 0.0]], atol=1e-30)


def test_softmax_never_nan_on_extreme_finite_inputs(rng):
    X = rng.choice([-1e4, -700.0, 0.0, 700.0, 1e4], size=(64, 6)) + rng.standard_normal((64, 6))
    layer = SoftMax()
    Y = layer.forward(X)
    assert numpy.isfinite(Y).all()
    numpy.testing.assert_allclose(Y.sum(axis=-1), 1.0, rtol=1e-14)
    assert numpy.isfinite(layer.backward(rng.standard_normal(Y.shape))).all()


def test_softmax_acts_on_last_axis(rng):
    X = rng.standard_normal((2, 3, 4))
    numpy.testing.assert_allclose(SoftMax().forward(X).sum(axis=-1), numpy.ones((2, 3)), rtol=1e-15)


def test_softmax_rejects_batch_of_scalars():
    with pytest.raises(ShapeError):
        SoftMax().forward(numpy.zeros(3))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_float32(rng, cls):
    X = rng.standard_normal((3, 4)).astype(numpy.float32)
    layer = cls()
    Y = layer.forward(X)
    assert Y.dtype == numpy.float32
    assert layer.backward(numpy.ones_like(Y)).dtype == numpy.float32


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_integer_input_raises(cls):
    with pytest.raises(TypeError):
        cls().forward(numpy.ones((2, 3), dtype=numpy.int32))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_inputs_not_mutated_and_reproducible(rng, cls):
    X = rng.standard_normal((3, 4))
    DY = rng.standard_normal((3, 4))
    X0, DY0 = X.copy(), DY.copy()
    runs = []
    for lrp_aware in (False, True):
        layer = cls()
        runs.append((layer.forward(X, lrp_aware=lrp_aware), layer.backward(DY)))
    numpy.testing.assert_array_equal(X, X0)
    numpy.testing.assert_array_equal(DY, DY0)
    for a, b in zip(*runs, strict=True):
        assert numpy.array_equal(a, b)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_backward_errors(cls):
    layer = cls()
    with pytest.raises(NotForwardedError):
        layer.backward(numpy.zeros((1, 3)))
    layer.forward(numpy.zeros((1, 3)))
    with pytest.raises(ShapeError):
        layer.backward(numpy.zeros((1, 4)))
    layer.clean()
    with pytest.raises(NotForwardedError):
        layer.backward(numpy.zeros((1, 3)))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_record_round_trip(cls):
    record = cls().to_record()
    assert record.kind == cls.__name__
    assert dict(record.config) == {}
    assert dict(record.arrays) == {}
    clone = Module.from_record(record)
    assert type(clone) is cls
    assert clone.params == {}
    assert clone.num_params() == 0


@pytest.mark.parametrize("bad", [numpy.inf, -numpy.inf, numpy.nan])
def test_softmax_rejects_non_finite_logits(bad):
    X = numpy.zeros((2, 3))
    X[1, 2] = bad
    with pytest.raises(ValueError, match="logits contain NaN or Inf"):
        SoftMax().forward(X)
    with pytest.raises(ValueError, match=r"^layer 1 \(SoftMax\(\)\): the logits contain NaN or Inf"):
        Sequential([Flatten(), SoftMax()]).forward(X)


def test_softmax_rejects_an_empty_class_axis():
    with pytest.raises(ShapeError, match=r"C >= 1, got \(N, 0\)"):
        SoftMax().forward(numpy.ones((2, 0)))
