"""Cross-layer gradient checks: every registered layer kind, all parameters at once, float32 vs float64.

The per-layer files hold the detailed configurations; this file makes sure no layer kind escapes the
random-direction check and that the check itself can fail.
"""

from __future__ import annotations

import layer_oracles as oracle
import numpy
import pytest

from lrp_toolbox.modules import (
    LAYER_TYPES,
    AvgPool,
    Convolution,
    Flatten,
    Linear,
    MaxPool,
    Rect,
    SoftMax,
    SumPool,
    Tanh,
)


def _with_bias(layer, rng):
    layer.B = rng.standard_normal(layer.B.shape)
    return layer


# kind -> (factory(rng), input shape without batch axis)
FACTORIES = {
    "Linear": (lambda rng: _with_bias(Linear(5, 4, rng=rng), rng), (5,)),
    "Convolution": (
        lambda rng: _with_bias(
            Convolution((3, 2, 2, 3), stride=(2, 1), padding=((1, 0), (2, 1)), dilation=(1, 2), rng=rng), rng
        ),
        (6, 5, 2),
    ),
    "SumPool": (lambda rng: SumPool((2, 3), (1, 2)), (5, 7, 2)),
    "AvgPool": (lambda rng: AvgPool((3, 2), (2, 1)), (7, 5, 2)),
    "MaxPool": (lambda rng: MaxPool((2, 2), (1, 1)), (4, 5, 2)),
    "Rect": (lambda rng: Rect(), (3, 4)),
    "Tanh": (lambda rng: Tanh(), (3, 4)),
    "SoftMax": (lambda rng: SoftMax(), (6,)),
    "Flatten": (lambda rng: Flatten(), (3, 2, 2)),
}


def _input(rng, shape):
    """Distinct values, all at least 0.05 apart and away from 0 (no MaxPool ties, no ReLU kinks)."""
    size = int(numpy.prod(shape))
    values = (rng.permutation(size) - size / 2 + 0.5) * (2.0 / size)
    return values.reshape(shape)


def test_every_layer_kind_is_covered():
    assert set(FACTORIES) == set(LAYER_TYPES)


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_input_gradient_every_kind(rng, kind):
    factory, shape = FACTORIES[kind]
    oracle.check_input_gradient(factory(rng), _input(rng, (3, *shape)), rng)


@pytest.mark.parametrize("kind", ["Linear", "Convolution"])
def test_parameter_gradients_every_kind(rng, kind):
    factory, shape = FACTORIES[kind]
    layer = factory(rng)
    assert set(layer.params) == {"W", "B"}
    for name in layer.params:
        oracle.check_parameter_gradient(layer, name, layer, _input(rng, (3, *shape)), rng)


def test_all_parameters_at_once(rng, small_cnn, small_cnn_input_shape):
    # one random direction over the concatenation of all six parameter arrays
    model = small_cnn(rng)
    X = rng.standard_normal((2, *small_cnn_input_shape))
    owners = [(m, name) for m in model for name in m.params]
    originals = [getattr(m, name) for m, name in owners]
    sizes = [p.size for p in originals]
    theta = numpy.concatenate([p.ravel() for p in originals])

    def assign(vector):
        for (m, name), p, piece in zip(
            owners, originals, numpy.split(vector, numpy.cumsum(sizes)[:-1]), strict=True
        ):
            setattr(m, name, piece.reshape(p.shape))

    def f(vector):
        assign(vector)
        try:
            return model.forward(X)
        finally:
            assign(theta)

    def vjp(u):
        model.forward(X)
        model.backward(u)
        return numpy.concatenate([m.grads[name].ravel() for m, name in owners])

    oracle.directional_check(f, vjp, theta, rng)


def test_check_detects_a_wrong_backward(rng):
    # the original toolbox scaled Linear's DX by sqrt(m)/sqrt(n); the check must reject that
    layer = Linear(9, 4, rng=rng)
    X = rng.standard_normal((2, 9))

    def scaled_vjp(u):
        layer.forward(X)
        return layer.backward(u) * (9**0.5 / 4**0.5)

    with pytest.raises(AssertionError):
        oracle.directional_check(layer.forward, scaled_vjp, X, rng)

    conv = Convolution((2, 3, 1, 1), stride=1, rng=rng)
    Xc = rng.standard_normal((1, 4, 5, 1))

    def flipped_vjp(u):
        conv.forward(Xc)
        return conv.backward(u)[:, ::-1, ::-1]  # a flipped-kernel bug

    with pytest.raises(AssertionError):
        oracle.directional_check(conv.forward, flipped_vjp, Xc, rng)


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_float32_gradients_track_float64(rng, kind):
    factory, shape = FACTORIES[kind]
    X = _input(rng, (3, *shape))
    layer64 = factory(numpy.random.default_rng(5))
    layer32 = factory(numpy.random.default_rng(5)).to(dtype=numpy.float32)
    Y64 = layer64.forward(X)
    Y32 = layer32.forward(X.astype(numpy.float32))
    DY = numpy.random.default_rng(6).standard_normal(Y64.shape)
    DX64 = layer64.backward(DY)
    DX32 = layer32.backward(DY.astype(numpy.float32))
    assert Y32.dtype == DX32.dtype == numpy.float32
    numpy.testing.assert_allclose(Y32, Y64, rtol=1e-4, atol=1e-5)
    numpy.testing.assert_allclose(DX32, DX64, rtol=1e-4, atol=1e-5)
    for name, g64 in layer64.grads.items():
        assert layer32.grads[name].dtype == numpy.float32
        numpy.testing.assert_allclose(layer32.grads[name], g64, rtol=1e-4, atol=1e-5)
