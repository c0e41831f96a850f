"""SumPool, AvgPool, MaxPool: oracles (overlapping, trailing rows), gradients, tie split, errors."""

from __future__ import annotations

import layer_oracles as oracle
import numpy
import pytest

from lrp_toolbox.errors import NotForwardedError, ShapeError
from lrp_toolbox.modules import AvgPool, MaxPool, Module, SumPool

POOLS = {SumPool: oracle.sum_pool, AvgPool: oracle.avg_pool, MaxPool: oracle.max_pool}

# (input HWC, pool, stride)
CONFIGS = [
    ((4, 6, 2), (2, 2), (2, 2)),  # tiling
    ((5, 7, 2), (2, 2), (2, 2)),  # trailing row 4 and column 6 fill no window
    ((5, 6, 1), (3, 2), (1, 2)),  # overlapping along H (stride < pool)
    ((6, 7, 2), (3, 3), (2, 2)),  # overlapping in both axes, trailing column
    ((7, 5, 3), (2, 3), (3, 1)),  # stride > pool along H (row gaps), overlap along W
]
IDS = [f"x{c[0]}-p{c[1]}-s{c[2]}".replace(" ", "") for c in CONFIGS]
CLASSES = [SumPool, AvgPool, MaxPool]


def _distinct_input(rng, shape):
    """Inputs without ties and with gaps >> 1e-6 between any two values (for MaxPool grad checks)."""
    size = int(numpy.prod(shape))
    values = rng.permutation(size).astype(numpy.float64) * 0.1 - size * 0.05
    return values.reshape(shape)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize(("shape", "pool", "stride"), CONFIGS, ids=IDS)
def test_forward_matches_oracle(rng, cls, shape, pool, stride):
    layer = cls(pool=pool, stride=stride)
    X = rng.standard_normal((2, *shape))
    Y = layer.forward(X)
    assert Y.dtype == numpy.float64
    assert Y.shape[1:] == layer.output_shape(shape)
    oracle.assert_close_to_oracle(Y, POOLS[cls](X, pool, stride))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize(("shape", "pool", "stride"), CONFIGS, ids=IDS)
def test_input_gradient(rng, cls, shape, pool, stride):
    X = _distinct_input(rng, (2, *shape))
    oracle.check_input_gradient(cls(pool=pool, stride=stride), X, rng)


@pytest.mark.parametrize(("shape", "pool", "stride"), CONFIGS, ids=IDS)
def test_maxpool_backward_matches_oracle(rng, shape, pool, stride):
    # random integers in {0, 1, 2}: many ties, split evenly among the maxima
    X = rng.integers(0, 3, size=(2, *shape)).astype(numpy.float64)
    layer = MaxPool(pool=pool, stride=stride)
    Y = layer.forward(X)
    DY = rng.standard_normal(Y.shape)
    oracle.assert_close_to_oracle(layer.backward(DY), oracle.max_pool_backward(X, DY, pool, stride))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_trailing_rows_get_zero_gradient(rng, cls):
    layer = cls(pool=(2, 2), stride=(2, 2))
    X = _distinct_input(rng, (1, 5, 7, 2))
    Y = layer.forward(X)
    assert Y.shape == (1, 2, 3, 2)
    DX = layer.backward(numpy.ones_like(Y))
    assert numpy.all(DX[:, 4] == 0)
    assert numpy.all(DX[:, :, 6] == 0)


def test_sumpool_hand_case():
    X = numpy.arange(16.0).reshape(1, 4, 4, 1)
    # windows [0,1,4,5], [2,3,6,7], [8,9,12,13], [10,11,14,15]: sums 10, 18, 42, 50;
    # SumPool divides by sqrt(2*2) = 2
    layer = SumPool(pool=(2, 2), stride=(2, 2))
    numpy.testing.assert_array_equal(layer.forward(X)[0, :, :, 0], [[5.0, 9.0], [21.0, 25.0]])
    # each input is in exactly one window: DX = DY / 2
    DX = layer.backward(numpy.full((1, 2, 2, 1), 4.0))
    numpy.testing.assert_array_equal(DX, numpy.full((1, 4, 4, 1), 2.0))


def test_avgpool_hand_case():
    X = numpy.arange(16.0).reshape(1, 4, 4, 1)
    # window sums 10, 18, 42, 50 divided by 4
    layer = AvgPool(pool=(2, 2), stride=(2, 2))
    numpy.testing.assert_array_equal(layer.forward(X)[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_overlapping_sumpool_hand_case():
    # 1x3 input [1, 2, 4], pool (1, 2), stride 1: windows [1,2], [2,4] -> sums 3, 6 over sqrt(2)
    layer = SumPool(pool=(1, 2), stride=(1, 1))
    X = numpy.array([1.0, 2.0, 4.0]).reshape(1, 1, 3, 1)
    numpy.testing.assert_allclose(
        layer.forward(X).ravel(), numpy.array([3.0, 6.0]) / numpy.sqrt(2), rtol=1e-15
    )
    # DY = [1, 1]: the middle element is in both windows -> DX = [1, 2, 1] / sqrt(2)
    DX = layer.backward(numpy.ones((1, 1, 2, 1)))
    numpy.testing.assert_allclose(DX.ravel(), numpy.array([1.0, 2.0, 1.0]) / numpy.sqrt(2), rtol=1e-15)


def test_maxpool_tie_split_hand_case():
    # window [[1, 1], [.5, .2]]: max 1, reached twice -> DY = 1 split 0.5 / 0.5
    X = numpy.array([[1.0, 1.0], [0.5, 0.2]]).reshape(1, 2, 2, 1)
    layer = MaxPool(pool=(2, 2), stride=(2, 2))
    numpy.testing.assert_array_equal(layer.forward(X), [[[[1.0]]]])
    DX = layer.backward(numpy.ones((1, 1, 1, 1)))
    numpy.testing.assert_array_equal(DX[0, :, :, 0], [[0.5, 0.5], [0.0, 0.0]])


def test_maxpool_overlapping_winner_collects_from_both_windows():
    # [3, 5, 1], pool (1, 2), stride 1: windows [3,5] and [5,1] both pick the 5
    layer = MaxPool(pool=(1, 2), stride=(1, 1))
    X = numpy.array([3.0, 5.0, 1.0]).reshape(1, 1, 3, 1)
    numpy.testing.assert_array_equal(layer.forward(X).ravel(), [5.0, 5.0])
    DX = layer.backward(numpy.array([2.0, 7.0]).reshape(1, 1, 2, 1))
    numpy.testing.assert_array_equal(DX.ravel(), [0.0, 9.0, 0.0])


def test_maxpool_per_channel():
    X = numpy.zeros((1, 2, 2, 2))
    X[0, 0, 1, 0] = 3.0  # channel 0 max at (0, 1)
    X[0, 1, 0, 1] = -1.0
    X[0, :, :, 1] -= 2.0
    X[0, 1, 1, 1] = 4.0  # channel 1 max at (1, 1)
    layer = MaxPool()
    numpy.testing.assert_array_equal(layer.forward(X).ravel(), [3.0, 4.0])
    DX = layer.backward(numpy.array([1.0, 2.0]).reshape(1, 1, 1, 2))
    expected = numpy.zeros((1, 2, 2, 2))
    expected[0, 0, 1, 0] = 1.0
    expected[0, 1, 1, 1] = 2.0
    numpy.testing.assert_array_equal(DX, expected)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_float32(rng, cls):
    layer = cls(pool=(2, 2), stride=(1, 2))
    X = rng.standard_normal((2, 4, 4, 2)).astype(numpy.float32)
    Y = layer.forward(X)
    assert Y.dtype == numpy.float32
    assert layer.backward(numpy.ones_like(Y)).dtype == numpy.float32
    layer.to(dtype="float32")  # parameter-free: a no-op that must not fail
    assert layer.dtype is None


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_inputs_not_mutated_and_reproducible(rng, cls):
    X = rng.standard_normal((2, 5, 6, 2))
    X0 = X.copy()
    runs = []
    for _ in range(2):
        layer = cls(pool=(3, 2), stride=(1, 2))
        Y = layer.forward(X)
        DY = numpy.cos(Y)
        DY0 = DY.copy()
        runs.append((Y, layer.backward(DY)))
        numpy.testing.assert_array_equal(DY, DY0)
        lrp_aware = cls(pool=(3, 2), stride=(1, 2)).forward(X, lrp_aware=True)
        assert numpy.array_equal(lrp_aware, Y)
    numpy.testing.assert_array_equal(X, X0)
    for a, b in zip(*runs, strict=True):
        assert numpy.array_equal(a, b)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    ("pool", "shape"), [((3, 3), (2, 2, 1)), ((1, 5), (3, 4, 1)), ((2, 2), (4, 4)), ((2, 2), (4,))]
)
def test_bad_input_shape_raises(cls, pool, shape):
    layer = cls(pool=pool, stride=(1, 1))
    with pytest.raises(ShapeError):
        layer.forward(numpy.zeros((1, *shape)))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "kwargs",
    [{"pool": 0}, {"pool": (2, -1)}, {"stride": 0}, {"stride": (-1, 1)}, {"stride": (1, 2, 3)}],
)
def test_constructor_rejects_bad_hyperparameters(cls, kwargs):
    with pytest.raises(ValueError):
        cls(**kwargs)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_backward_errors(cls):
    layer = cls()
    with pytest.raises(NotForwardedError):
        layer.backward(numpy.zeros((1, 1, 1, 1)))
    layer.forward(numpy.zeros((1, 4, 4, 1)))
    with pytest.raises(ShapeError):
        layer.backward(numpy.zeros((1, 4, 4, 1)))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_record_round_trip(rng, cls):
    layer = cls(pool=(3, 2), stride=(1, 2))
    record = layer.to_record()
    assert record.kind == cls.__name__
    assert dict(record.config) == {"pool": (3, 2), "stride": (1, 2)}
    assert dict(record.arrays) == {}
    clone = Module.from_record(record)
    assert type(clone) is cls
    assert (clone.pool, clone.stride) == (layer.pool, layer.stride)
    X = rng.standard_normal((1, 5, 6, 2))
    assert numpy.array_equal(clone.forward(X), layer.forward(X))
