"""Linear: forward oracle, exact backward, dtype, no mutation, determinism, hand case, errors."""

from __future__ import annotations

import layer_oracles as oracle
import numpy
import pytest

from lrp_toolbox.errors import NotForwardedError, ShapeError
from lrp_toolbox.modules import Linear, Module


def _layer(rng, m=7, n=5, dtype=numpy.float64):
    layer = Linear(m, n, rng=rng, dtype=dtype)
    layer.B = rng.standard_normal(n).astype(dtype)
    return layer


def test_forward_matches_oracle(rng):
    layer = _layer(rng)
    X = rng.standard_normal((4, 7))
    Y = layer.forward(X)
    assert Y.dtype == numpy.float64
    oracle.assert_close_to_oracle(Y, oracle.linear(X, layer.W, layer.B))


def test_input_gradient(rng):
    layer = _layer(rng)
    oracle.check_input_gradient(layer, rng.standard_normal((3, 7)), rng)


@pytest.mark.parametrize("name", ["W", "B"])
def test_parameter_gradients(rng, name):
    layer = _layer(rng)
    oracle.check_parameter_gradient(layer, name, layer, rng.standard_normal((3, 7)), rng)


def test_hand_case_2_to_1():
    layer = Linear(2, 1)
    layer.W = numpy.array([[2.0], [-3.0]])
    layer.B = numpy.array([1.0])
    # Y = 4*2 + 5*(-3) + 1 = 8 - 15 + 1 = -6
    Y = layer.forward(numpy.array([[4.0, 5.0]]))
    numpy.testing.assert_array_equal(Y, [[-6.0]])
    # DY = 2: DX = DY W^T = [2*2, 2*(-3)] = [4, -6]; dW = X^T DY = [[4*2], [5*2]]; dB = 2
    DX = layer.backward(numpy.array([[2.0]]))
    numpy.testing.assert_array_equal(DX, [[4.0, -6.0]])
    numpy.testing.assert_array_equal(layer.grads["W"], [[8.0], [10.0]])
    numpy.testing.assert_array_equal(layer.grads["B"], [2.0])


def test_batch_gradient_sums_over_samples():
    layer = Linear(1, 1)
    layer.W = numpy.array([[3.0]])
    # two samples x = 1, 2 with DY = 1, 1: dW = 1*1 + 2*1 = 3, dB = 1 + 1 = 2, DX = [3, 3]
    layer.forward(numpy.array([[1.0], [2.0]]))
    DX = layer.backward(numpy.ones((2, 1)))
    numpy.testing.assert_array_equal(DX, [[3.0], [3.0]])
    numpy.testing.assert_array_equal(layer.grads["W"], [[3.0]])
    numpy.testing.assert_array_equal(layer.grads["B"], [2.0])


def test_float32_model_keeps_float32(rng):
    layer = _layer(rng).to(dtype="float32")
    assert layer.W.dtype == layer.B.dtype == numpy.float32
    X = rng.standard_normal((3, 7)).astype(numpy.float32)
    Y = layer.forward(X)
    assert Y.dtype == numpy.float32
    DX = layer.backward(numpy.ones_like(Y))
    assert DX.dtype == numpy.float32
    assert all(g.dtype == numpy.float32 for g in layer.grads.values())


def test_float32_constructor(rng):
    layer = Linear(3, 2, rng=rng, dtype=numpy.float32)
    assert layer.W.dtype == layer.B.dtype == numpy.float32
    assert layer.forward(numpy.ones((1, 3), dtype=numpy.float32)).dtype == numpy.float32


def test_float64_input_to_float32_layer_raises(rng):
    layer = Linear(3, 2, rng=rng, dtype=numpy.float32)
    with pytest.raises(TypeError, match="float64"):
        layer.forward(numpy.ones((1, 3)))


def test_integer_input_raises():
    with pytest.raises(TypeError):
        Linear(3, 2).forward(numpy.ones((1, 3), dtype=numpy.int64))


def test_inputs_and_parameters_not_mutated(rng):
    layer = _layer(rng)
    X = rng.standard_normal((3, 7))
    DY = rng.standard_normal((3, 5))
    X0, DY0, W0, B0 = X.copy(), DY.copy(), layer.W.copy(), layer.B.copy()
    layer.forward(X)
    layer.backward(DY)
    for now, before in ((X, X0), (DY, DY0), (layer.W, W0), (layer.B, B0)):
        numpy.testing.assert_array_equal(now, before)


def test_bitwise_reproducible(rng):
    X = rng.standard_normal((3, 7))
    DY = rng.standard_normal((3, 5))
    runs = []
    for _ in range(2):
        layer = Linear(7, 5, rng=numpy.random.default_rng(11))
        runs.append((layer.forward(X), layer.backward(DY), layer.grads["W"], layer.grads["B"]))
    for a, b in zip(*runs, strict=True):
        assert numpy.array_equal(a, b)


def test_construction_deterministic():
    numpy.testing.assert_array_equal(Linear(4, 3).W, Linear(4, 3).W)
    a = Linear(4, 3, rng=numpy.random.default_rng(5))
    b = Linear(4, 3, rng=numpy.random.default_rng(5))
    c = Linear(4, 3, rng=numpy.random.default_rng(6))
    numpy.testing.assert_array_equal(a.W, b.W)
    assert not numpy.array_equal(a.W, c.W)
    numpy.testing.assert_array_equal(a.B, numpy.zeros(3))


def test_initialisation_scale():
    # W ~ N(0, 1/m): the sample variance of 400*50 draws is close to 1/400
    W = Linear(400, 50, rng=numpy.random.default_rng(0)).W
    assert abs(W.var() * 400 - 1.0) < 0.05


def test_wrong_input_width_raises_shape_error():
    layer = Linear(784, 10)
    with pytest.raises(ShapeError) as info:
        layer.forward(numpy.zeros((2, 100)))
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert "784" in message
    assert "100" in message
    assert layer.output_shape((784,)) == (10,)


@pytest.mark.parametrize("shape", [(2, 784, 1), (784,)])
def test_wrong_rank_raises_shape_error(shape):
    with pytest.raises(ShapeError):
        Linear(784, 10).forward(numpy.zeros(shape))


@pytest.mark.parametrize(("m", "n"), [(0, 3), (3, 0), (-1, 2), (2.5, 3), (True, 3), ("4", 2)])
def test_constructor_rejects_bad_sizes(m, n):
    with pytest.raises(ValueError):
        Linear(m, n)


def test_backward_before_forward():
    layer = Linear(3, 2)
    with pytest.raises(NotForwardedError):
        layer.backward(numpy.zeros((1, 2)))
    layer.forward(numpy.zeros((1, 3)))
    layer.clean()
    with pytest.raises(NotForwardedError):
        layer.backward(numpy.zeros((1, 2)))
    assert layer.grads == {}


@pytest.mark.parametrize("shape", [(1, 3), (2, 2), (1,)])
def test_backward_wrong_dy_shape(shape):
    layer = Linear(3, 2)
    layer.forward(numpy.zeros((1, 3)))
    with pytest.raises(ShapeError):
        layer.backward(numpy.zeros(shape))


def test_update_is_plain_sgd(rng):
    layer = _layer(rng)
    layer.forward(rng.standard_normal((3, 7)))
    layer.backward(rng.standard_normal((3, 5)))
    W0, B0 = layer.W.copy(), layer.B.copy()
    grads = {k: v.copy() for k, v in layer.grads.items()}
    layer.update(0.25)
    numpy.testing.assert_array_equal(layer.W, W0 - 0.25 * grads["W"])
    numpy.testing.assert_array_equal(layer.B, B0 - 0.25 * grads["B"])


def test_record_round_trip(rng):
    layer = _layer(rng, 4, 3)
    record = layer.to_record()
    assert record.kind == "Linear"
    assert dict(record.config) == {"m": 4, "n": 3}
    clone = Module.from_record(record)
    assert type(clone) is Linear
    assert repr(clone) == repr(layer)
    for name in ("W", "B"):
        assert getattr(clone, name).dtype == getattr(layer, name).dtype
        numpy.testing.assert_array_equal(getattr(clone, name), getattr(layer, name))
    X = rng.standard_normal((2, 4))
    assert numpy.array_equal(clone.forward(X), layer.forward(X))
    # the record holds copies: later training does not change it
    layer.W[...] = 0
    assert not numpy.array_equal(record.arrays["W"], layer.W)


def test_affine_sum_and_affine_t_many_equal_separate_passes(rng):
    layer = Linear(5, 3, rng=rng)
    layer.B = rng.standard_normal(3)
    X = rng.standard_normal((4, 5))
    layer.forward(X)
    x1, x2 = numpy.maximum(X, 0), numpy.minimum(X, 0)
    w1, w2 = layer.W, rng.standard_normal((5, 3))
    expected = x1 @ w1 + x2 @ w2 + layer.B
    numpy.testing.assert_allclose(layer.affine_sum([x1, x2], [w1, w2], layer.B), expected, rtol=1e-13)
    S = rng.standard_normal((4, 3))
    t1, t2 = layer.affine_t_many([S], [w1, w2])
    numpy.testing.assert_allclose(t1, S @ w1.T, rtol=1e-13)
    numpy.testing.assert_allclose(t2, S @ w2.T, rtol=1e-13)
