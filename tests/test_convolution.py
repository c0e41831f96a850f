"""Convolution: stride/padding/dilation against the loop oracle, exact gradients, hand cases, errors."""

from __future__ import annotations

import layer_oracles as oracle
import numpy
import pytest

from lrp_toolbox.errors import NotForwardedError, ShapeError
from lrp_toolbox.modules import Convolution, Module, conv_columns

# (input HWC, filtersize, stride, padding, dilation): non-square inputs and kernels, every feature on
CONFIGS = [
    ((6, 5, 2), (3, 3, 2, 3), (1, 1), 0, (1, 1)),
    ((7, 6, 2), (3, 2, 2, 2), (2, 1), 0, (1, 1)),
    ((7, 5, 1), (2, 3, 1, 2), (2, 2), 1, (1, 1)),
    ((6, 7, 2), (3, 2, 2, 3), (2, 3), ((1, 2), (0, 1)), (2, 1)),
    ((8, 6, 3), (2, 2, 3, 2), (3, 2), (2, 1), (2, 3)),
    ((5, 9, 1), (3, 3, 1, 2), (1, 2), ((0, 1), (2, 0)), (1, 2)),
]
IDS = [f"x{c[0]}-f{c[1]}-s{c[2]}-p{c[3]}-d{c[4]}".replace(" ", "") for c in CONFIGS]


def _layer(rng, filtersize, stride, padding, dilation, dtype=numpy.float64):
    layer = Convolution(filtersize, stride=stride, padding=padding, dilation=dilation, rng=rng, dtype=dtype)
    layer.B = rng.standard_normal(filtersize[3]).astype(dtype)
    return layer


@pytest.mark.parametrize(("shape", "filtersize", "stride", "padding", "dilation"), CONFIGS, ids=IDS)
def test_forward_matches_oracle(rng, shape, filtersize, stride, padding, dilation):
    layer = _layer(rng, filtersize, stride, padding, dilation)
    X = rng.standard_normal((2, *shape))
    Y = layer.forward(X)
    expected = oracle.convolution(X, layer.W, layer.B, stride, padding, dilation)
    assert Y.dtype == numpy.float64
    assert Y.shape[1:] == layer.output_shape(shape)
    oracle.assert_close_to_oracle(Y, expected)


@pytest.mark.parametrize(("shape", "filtersize", "stride", "padding", "dilation"), CONFIGS, ids=IDS)
def test_input_gradient(rng, shape, filtersize, stride, padding, dilation):
    layer = _layer(rng, filtersize, stride, padding, dilation)
    oracle.check_input_gradient(layer, rng.standard_normal((2, *shape)), rng)


@pytest.mark.parametrize(("shape", "filtersize", "stride", "padding", "dilation"), CONFIGS, ids=IDS)
@pytest.mark.parametrize("name", ["W", "B"])
def test_parameter_gradients(rng, shape, filtersize, stride, padding, dilation, name):
    layer = _layer(rng, filtersize, stride, padding, dilation)
    oracle.check_parameter_gradient(layer, name, layer, rng.standard_normal((2, *shape)), rng)


def test_unused_trailing_rows_get_zero_gradient(rng):
    # H = 6, h = 2, stride 2 with padding (0, 0): windows start at rows 0, 2, 4 -> all rows used;
    # H = 7 leaves row 6 unused; W = 6, w = 3, stride 2: starts 0, 2 -> column 5 unused.
    layer = _layer(rng, (2, 3, 1, 2), (2, 2), 0, (1, 1))
    X = rng.standard_normal((1, 7, 6, 1))
    Y = layer.forward(X)
    assert Y.shape == (1, 3, 2, 2)
    DX = layer.backward(numpy.ones_like(Y))
    assert numpy.all(DX[:, 6] == 0)
    assert numpy.all(DX[:, :, 5] == 0)
    assert numpy.all(DX[:, :6, :5] != 0)


def test_hand_case_3x3_input_2x2_filter():
    X = numpy.arange(1.0, 10.0).reshape(1, 3, 3, 1)  # [[1,2,3],[4,5,6],[7,8,9]]
    layer = Convolution((2, 2, 1, 1), stride=(1, 1))
    layer.W = numpy.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1)
    layer.B = numpy.array([0.5])
    # Y[0,0] = 1*1 + 2*2 + 3*4 + 4*5 = 37;  Y[0,1] = 1*2 + 2*3 + 3*5 + 4*6 = 47
    # Y[1,0] = 1*4 + 2*5 + 3*7 + 4*8 = 67;  Y[1,1] = 1*5 + 2*6 + 3*8 + 4*9 = 77;  plus B = 0.5
    Y = layer.forward(X)
    numpy.testing.assert_array_equal(Y[0, :, :, 0], [[37.5, 47.5], [67.5, 77.5]])
    # DY = 1 everywhere: DX[i,j] = sum of the W entries that touch (i,j)
    # corners: one entry each (1, 2, 3, 4); edges: two (1+2, 1+3, 2+4, 3+4); centre: all four = 10
    DX = layer.backward(numpy.ones_like(Y))
    numpy.testing.assert_array_equal(DX[0, :, :, 0], [[1, 3, 2], [4, 10, 6], [3, 7, 4]])
    # dW[a,b] = sum_{p,q} X[p+a, q+b]: [[1+2+4+5, 2+3+5+6], [4+5+7+8, 5+6+8+9]]
    numpy.testing.assert_array_equal(layer.grads["W"][:, :, 0, 0], [[12, 16], [24, 28]])
    numpy.testing.assert_array_equal(layer.grads["B"], [4.0])


def test_hand_case_padding_and_stride():
    X = numpy.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    layer = Convolution((2, 2, 1, 1), stride=(2, 2), padding=1)
    layer.W = numpy.ones((2, 2, 1, 1))
    # padded 5x5 (zeros around [[1,2,3],[4,5,6],[7,8,9]]); windows start at rows/cols 0 and 2:
    # [[0,0],[0,1]] -> 1   [[0,0],[2,3]] -> 5   [[0,4],[0,7]] -> 11   [[5,6],[8,9]] -> 28
    # the last padded row and column (index 4) fill no window
    numpy.testing.assert_array_equal(layer.forward(X)[0, :, :, 0], [[1, 5], [11, 28]])


def test_hand_case_dilation():
    X = numpy.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    layer = Convolution((2, 2, 1, 1), stride=(1, 1), dilation=(2, 2))
    layer.W = numpy.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1)
    # one window, taps at (0,0), (0,2), (2,0), (2,2): 1*1 + 2*3 + 3*7 + 4*9 = 64
    numpy.testing.assert_array_equal(layer.forward(X), [[[[64.0]]]])


def test_multichannel_hand_case():
    # 1x1 convolution mixing 2 channels into 1: y = 2*x0 - x1
    layer = Convolution((1, 1, 2, 1), stride=(1, 1))
    layer.W = numpy.array([2.0, -1.0]).reshape(1, 1, 2, 1)
    X = numpy.array([[[[3.0, 1.0], [0.5, 4.0]]]])  # (1, 1, 2, 2)
    numpy.testing.assert_array_equal(layer.forward(X)[0, 0, :, 0], [2 * 3 - 1, 2 * 0.5 - 4])


def test_float32(rng):
    layer = _layer(rng, (2, 2, 2, 3), (1, 1), 1, (1, 1)).to(dtype="float32")
    X = rng.standard_normal((2, 4, 3, 2)).astype(numpy.float32)
    Y = layer.forward(X)
    assert Y.dtype == numpy.float32
    assert layer.backward(numpy.ones_like(Y)).dtype == numpy.float32
    assert {g.dtype for g in layer.grads.values()} == {numpy.dtype(numpy.float32)}
    c = Convolution((2, 2, 2, 3), stride=1, rng=rng, dtype=numpy.float32)
    assert c.W.dtype == c.B.dtype == numpy.float32
    with pytest.raises(TypeError):
        c.forward(X.astype(numpy.float64))


def test_inputs_not_mutated(rng):
    layer = _layer(rng, (3, 2, 2, 2), (2, 1), ((1, 0), (1, 2)), (1, 2))
    X = rng.standard_normal((2, 5, 6, 2))
    X0 = X.copy()
    Y = layer.forward(X)
    DY = rng.standard_normal(Y.shape)
    DY0, W0 = DY.copy(), layer.W.copy()
    layer.backward(DY)
    numpy.testing.assert_array_equal(X, X0)
    numpy.testing.assert_array_equal(DY, DY0)
    numpy.testing.assert_array_equal(layer.W, W0)


def test_bitwise_reproducible(rng):
    X = rng.standard_normal((2, 6, 7, 2))
    runs = []
    for _ in range(2):
        layer = Convolution((3, 2, 2, 3), stride=(2, 1), padding=1, dilation=(1, 2))
        Y = layer.forward(X)
        DX = layer.backward(numpy.cos(Y))
        runs.append((Y, DX, layer.grads["W"], layer.grads["B"]))
    for a, b in zip(*runs, strict=True):
        assert numpy.array_equal(a, b)
    numpy.testing.assert_array_equal(Convolution((3, 3, 2, 2)).W, Convolution((3, 3, 2, 2)).W)
    a = Convolution((3, 3, 2, 2), rng=numpy.random.default_rng(3))
    b = Convolution((3, 3, 2, 2), rng=numpy.random.default_rng(3))
    numpy.testing.assert_array_equal(a.W, b.W)
    assert not numpy.array_equal(a.W, Convolution((3, 3, 2, 2), rng=numpy.random.default_rng(4)).W)


@pytest.mark.parametrize(
    ("shape", "filtersize", "padding", "dilation"),
    [
        ((3, 3, 1), (5, 5, 1, 1), 0, 1),  # kernel larger than the input
        ((3, 3, 1), (5, 5, 1, 1), ((0, 0), (1, 1)), 1),  # padded 3x5: still too short
        ((4, 4, 1), (3, 3, 1, 1), 0, 2),  # dilated extent 5 > 4
        ((4, 4, 1), (3, 3, 2, 1), 0, 1),  # wrong depth
        ((4, 4), (2, 2, 1, 1), 0, 1),  # no channel axis
    ],
)
def test_bad_input_shape_raises(shape, filtersize, padding, dilation):
    layer = Convolution(filtersize, stride=1, padding=padding, dilation=dilation)
    with pytest.raises(ShapeError):
        layer.output_shape(shape)
    with pytest.raises(ShapeError):
        layer.forward(numpy.zeros((1, *shape)))


def test_kernel_fits_once_padded():
    # 5x5 kernel on a 3x3 input fits exactly once with padding 1 (padded 5x5)
    layer = Convolution((5, 5, 1, 1), stride=1, padding=1)
    assert layer.output_shape((3, 3, 1)) == (1, 1, 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"stride": 0},
        {"stride": -1},
        {"stride": (1, 0)},
        {"stride": (1, 2, 3)},
        {"stride": 1.5},
        {"dilation": 0},
        {"dilation": (1, -2)},
        {"padding": -1},
        {"padding": (1, -1)},
        {"padding": ((0, 1), (-1, 0))},
        {"padding": "same"},
        {"padding": (1, 2, 3)},
        {"padding": 1.5},
        {"padding": numpy.array(1.0)},
        {"padding": numpy.array([[0, 1], [2, -1]])},
        {"stride": numpy.array(2)},
        {"filtersize": (3, 3, 1)},
        {"filtersize": (0, 3, 1, 1)},
        {"filtersize": (3, 3, 1, -2)},
    ],
)
def test_constructor_rejects_bad_hyperparameters(kwargs):
    config = {"filtersize": (3, 3, 1, 1), "stride": 1, **kwargs}
    with pytest.raises(ValueError):
        Convolution(**config)


@pytest.mark.parametrize(
    ("padding", "normalised"),
    [
        (0, ((0, 0), (0, 0))),
        ("valid", ((0, 0), (0, 0))),
        (2, ((2, 2), (2, 2))),
        ((1, 3), ((1, 1), (3, 3))),
        (((0, 1), (2, 3)), ((0, 1), (2, 3))),
        (numpy.array([1, 3]), ((1, 1), (3, 3))),
        (numpy.array([[0, 1], [2, 3]]), ((0, 1), (2, 3))),
    ],
)
def test_padding_forms(padding, normalised):
    assert Convolution((1, 1, 1, 1), stride=1, padding=padding).padding == normalised


def test_backward_errors():
    layer = Convolution((2, 2, 1, 1), stride=1)
    with pytest.raises(NotForwardedError):
        layer.backward(numpy.zeros((1, 2, 2, 1)))
    layer.forward(numpy.zeros((1, 3, 3, 1)))
    with pytest.raises(ShapeError):
        layer.backward(numpy.zeros((1, 3, 3, 1)))


@pytest.mark.parametrize(("shape", "filtersize", "stride", "padding", "dilation"), CONFIGS[2:4], ids=IDS[2:4])
def test_record_round_trip(rng, shape, filtersize, stride, padding, dilation):
    layer = _layer(rng, filtersize, stride, padding, dilation)
    record = layer.to_record()
    assert record.kind == "Convolution"
    assert record.config["stride"] == tuple(stride)
    clone = Module.from_record(record)
    assert type(clone) is Convolution
    assert repr(clone) == repr(layer)
    assert dict(clone.to_record().config) == dict(record.config)
    for name in ("W", "B"):
        numpy.testing.assert_array_equal(getattr(clone, name), getattr(layer, name))
    X = rng.standard_normal((1, *shape))
    assert numpy.array_equal(clone.forward(X), layer.forward(X))


@pytest.mark.parametrize(
    "view",
    [
        pytest.param(lambda a: a[:, ::2, 1:, :], id="strided-rows"),
        pytest.param(lambda a: a[:, :, :, ::-1], id="reversed-channels"),
        pytest.param(lambda a: numpy.asfortranarray(a), id="fortran-order"),
        pytest.param(lambda a: a.transpose(0, 2, 1, 3), id="transposed-hw"),
    ],
)
@pytest.mark.parametrize("padding", [0, ((1, 0), (0, 2))])
def test_non_contiguous_input(rng, view, padding):
    layer = _layer(rng, (3, 2, 2, 3), (1, 2), padding, (1, 1))
    X = view(rng.standard_normal((2, 12, 7, 2)))
    Y = layer.forward(X)
    oracle.assert_close_to_oracle(Y, oracle.convolution(X, layer.W, layer.B, (1, 2), padding, (1, 1)))
    assert numpy.array_equal(Y, layer.forward(numpy.ascontiguousarray(X)))
    DY = rng.standard_normal(Y.shape)
    DX = layer.backward(DY)
    layer.forward(X)
    numpy.testing.assert_array_equal(layer.backward(numpy.asfortranarray(DY)), DX)


def test_empty_batch(rng):
    layer = _layer(rng, (2, 2, 1, 3), (1, 1), 1, (1, 1))
    Y = layer.forward(numpy.zeros((0, 4, 3, 1)))
    assert Y.shape == (0, 5, 4, 3)
    assert layer.backward(Y).shape == (0, 4, 3, 1)


# ------------------------------------------------------------------ band GEMMs and stacked passes
@pytest.mark.parametrize(("shape", "filtersize", "stride", "padding", "dilation"), CONFIGS, ids=IDS)
def test_one_row_bands_match_the_oracle(rng, monkeypatch, shape, filtersize, stride, padding, dilation):
    # a tiny band budget forces one output row per band: forward, adjoint and dW stay exact
    monkeypatch.setattr(conv_columns, "CPU_CHUNK_BYTES", 1)
    layer = _layer(rng, filtersize, stride, padding, dilation)
    X = rng.standard_normal((3, *shape))
    oracle.assert_close_to_oracle(
        layer.forward(X), oracle.convolution(X, layer.W, layer.B, stride, padding, dilation)
    )
    oracle.check_input_gradient(layer, X, rng)
    oracle.check_parameter_gradient(layer, "W", layer, X, rng)


@pytest.mark.parametrize(("shape", "filtersize", "stride", "padding", "dilation"), CONFIGS, ids=IDS)
def test_stacked_passes_equal_separate_passes(rng, shape, filtersize, stride, padding, dilation):
    layer = _layer(rng, filtersize, stride, padding, dilation)
    X = rng.standard_normal((2, *shape))
    S = rng.standard_normal(layer.forward(X).shape)
    w1, w2 = layer.W, rng.standard_normal(layer.W.shape)
    x1, x2 = numpy.maximum(X, 0), numpy.minimum(X, 0)
    expected = layer.affine(x1, w1) + layer.affine(x2, w2) + layer.B
    got = layer.affine_sum([x1, x2], [w1, w2], layer.B)
    numpy.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-13)
    t1, t2 = layer.affine_t_many([S], [w1, w2])
    numpy.testing.assert_allclose(t1, layer.affine_t(S, w1), rtol=1e-12, atol=1e-13)
    numpy.testing.assert_allclose(t2, layer.affine_t(S, w2), rtol=1e-12, atol=1e-13)


def test_swap_kernel_applies_only_to_one_float_dtype_and_cuda_grid_sizes():
    # decided from shapes and dtypes alone (checked here without a GPU); elsewhere CuPy's own copy runs
    from lrp_toolbox.modules import conv_columns_cuda

    f64, f32 = numpy.zeros((3, 2, 2, 5)), numpy.zeros((5, 2, 2, 3), dtype=numpy.float32)
    assert conv_columns_cuda.swap_kernel_applies(f64, numpy.zeros((5, 2, 2, 3)))
    assert conv_columns_cuda.swap_kernel_applies(f32.transpose(3, 1, 2, 0), f32, f32)
    assert not conv_columns_cuda.swap_kernel_applies(f64, f32)
    assert not conv_columns_cuda.swap_kernel_applies(
        f32.transpose(3, 1, 2, 0), f32, numpy.zeros((5, 2, 2, 3))
    )
    assert not conv_columns_cuda.swap_kernel_applies(
        numpy.zeros((3, 2, 2, 5), dtype=int), numpy.zeros((5, 2, 2, 3), dtype=int)
    )
    wide = numpy.broadcast_to(numpy.zeros(1), (32 * 65535 + 1, 1, 1, 1))
    assert not conv_columns_cuda.swap_kernel_applies(wide, numpy.zeros((1, 1, 1, 1)))


@pytest.mark.parametrize(("shape", "filtersize", "stride", "padding", "dilation"), CONFIGS, ids=IDS)
def test_windows_t_is_the_adjoint_of_windows(rng, shape, filtersize, stride, padding, dilation):
    """``windows`` against explicit indexing, and ``<windows(x), v> == <x, windows_t(v)>``."""
    layer = _layer(rng, filtersize, stride, padding, dilation)
    X = rng.standard_normal((2, *shape))
    layer.forward(X)
    view = layer.windows(X)
    Ho, Wo = layer.output_shape(shape)[:2]
    h, w, d, _ = filtersize
    assert view.shape == (2, Ho, Wo, d, h, w)
    (top, _), (left, _) = layer.padding
    for p, q, a, b in [(0, 0, 0, 0), (Ho - 1, Wo - 1, h - 1, w - 1), (Ho // 2, Wo - 1, 0, w - 1)]:
        i, j = p * stride[0] + a * dilation[0] - top, q * stride[1] + b * dilation[1] - left
        inside = 0 <= i < shape[0] and 0 <= j < shape[1]
        expected = X[:, i, j, :] if inside else numpy.zeros((2, d))
        assert numpy.array_equal(view[:, p, q, :, a, b], expected)
    v = rng.standard_normal(view.shape)
    back = layer.windows_t(v)
    assert back.shape == X.shape
    assert float((view * v).sum()) == pytest.approx(float((X * back).sum()), rel=1e-12)
    assert numpy.array_equal(layer.windows_t(v, input_shape=shape), back)


def test_windows_t_rejects_other_layouts():
    layer = Convolution((2, 3, 4, 1), stride=1)
    X = numpy.zeros((1, 5, 5, 4))
    layer.forward(X)
    with pytest.raises(ShapeError, match=r"windows_t expects values of shape \(N, 4, 3, 4, 2, 3\)"):
        layer.windows_t(numpy.zeros((1, 4, 3, 2, 3, 4)))
