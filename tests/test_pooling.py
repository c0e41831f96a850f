"""SumPool, AvgPool, MaxPool: oracles (overlapping, trailing rows), gradients, tie split, errors."""

from __future__ import annotations

import layer_oracles as oracle
import numpy
import pytest

from lrp_toolbox.errors import NotForwardedError, ShapeError
from lrp_toolbox.modules import AvgPool, MaxPool, Module, SumPool, windows

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


# ------------------------------------------------------------- tiled pools (stride == pool)
# Fast paths: every covered input element lies in exactly one window. (input HWC, pool); the
# stride equals the pool. Trailing rows/columns that fill no window must get exactly 0.
TILED = [
    ((4, 6, 2), (2, 2)),  # exact tiling
    ((5, 7, 2), (2, 2)),  # trailing row 4 and column 6
    ((5, 5, 3), (2, 3)),  # pool (2, 3): trailing row 4, columns 3 and 4
    ((6, 9, 1), (3, 3)),  # C = 1, exact tiling
    ((7, 8, 1), (3, 3)),  # C = 1, trailing row 6, columns 6 and 7
    ((4, 6, 3), (1, 2)),
    ((7, 5, 2), (3, 1)),  # trailing row 6
]
TILED_IDS = [f"x{c[0]}-p{c[1]}".replace(" ", "") for c in TILED]
LINEAR_POOLS = [SumPool, AvgPool]


def _uncovered(A, pool):
    """The rows and columns of an NHWC array that lie in no window of a tiled pool (flattened)."""
    H, W = A.shape[1:3]
    rows, cols = H // pool[0] * pool[0], W // pool[1] * pool[1]
    return numpy.concatenate([A[:, rows:].ravel(), A[:, :, cols:].ravel()])


def _generic_split_among_winners(layer, X, DY):
    """MaxPool's tie-split backward through the generic window view and slice-add adjoint."""
    mask = layer.windows(X) == layer.forward(X)[..., None, None]
    share = DY / mask.sum(axis=(4, 5)).astype(DY.dtype)
    return layer._windows_t_generic(mask * share[..., None, None])


def _dirty_heap():
    """Allocate and free NaN-filled buffers so that uninitialised memory is likely NaN."""
    for size in (10**3, 10**4, 10**5):
        numpy.full(size, numpy.nan).sum()


def test_tiled_flag():
    assert SumPool(pool=(2, 3), stride=(2, 3)).tiled
    assert MaxPool(pool=3, stride=3).tiled
    assert not AvgPool(pool=(2, 2), stride=(1, 2)).tiled  # overlap
    assert not SumPool(pool=(2, 2), stride=(3, 3)).tiled  # gaps


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize(("shape", "pool"), TILED, ids=TILED_IDS)
def test_tiled_forward_backward_match_oracles(rng, cls, shape, pool, batch):
    layer = cls(pool=pool, stride=pool)
    X = _distinct_input(rng, (batch, *shape))
    Y = layer.forward(X)
    oracle.assert_close_to_oracle(Y, POOLS[cls](X, pool, pool))
    DY = rng.standard_normal(Y.shape)
    _dirty_heap()
    DX = layer.backward(DY)
    if cls is MaxPool:
        expected = oracle.max_pool_backward(X, DY, pool, pool)
        generic = _generic_split_among_winners(layer, X, DY)
    else:
        scale = layer._scale()
        expected = oracle.pool_transpose(DY * scale, shape, pool, pool)
        generic = layer._spread_generic(DY * DY.dtype.type(scale))
    oracle.assert_close_to_oracle(DX, expected)
    assert numpy.array_equal(DX, generic)  # the fast path moves values, no new arithmetic
    assert numpy.all(_uncovered(DX, pool) == 0)


@pytest.mark.parametrize(("shape", "pool"), TILED, ids=TILED_IDS)
def test_tiled_maxpool_ties_and_winner_mask(rng, shape, pool):
    # random integers in {0, 1, 2}: many ties, split evenly among the maxima
    X = rng.integers(0, 3, size=(3, *shape)).astype(numpy.float64)
    layer = MaxPool(pool=pool, stride=pool)
    Y = layer.forward(X)
    mask = layer.winner_mask()
    assert mask.shape == (*Y.shape, *pool)
    assert mask.dtype == numpy.bool_
    assert numpy.array_equal(mask, layer.windows(X) == Y[..., None, None])
    DY = rng.standard_normal(Y.shape)
    DX = layer.backward(DY)
    oracle.assert_close_to_oracle(DX, oracle.max_pool_backward(X, DY, pool, pool))
    assert numpy.array_equal(DX, _generic_split_among_winners(layer, X, DY))
    assert numpy.all(_uncovered(DX, pool) == 0)


@pytest.mark.parametrize("pool", [(16, 16), (15, 17)])
def test_tiled_maxpool_counts_large_windows(pool):
    # all elements tie: the count is hp*wp (256 overflows a uint8 accumulator, 255 does not)
    layer = MaxPool(pool=pool, stride=pool)
    X = numpy.zeros((1, pool[0] + 1, pool[1], 2))
    layer.forward(X)
    DX = layer.backward(numpy.ones((1, 1, 1, 2)))
    numpy.testing.assert_array_equal(DX[:, : pool[0]], numpy.full((1, *pool, 2), 1.0 / (pool[0] * pool[1])))
    assert numpy.all(DX[:, pool[0]] == 0)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("cls", LINEAR_POOLS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(("shape", "pool"), TILED, ids=TILED_IDS)
def test_tiled_input_times_affine_t(rng, cls, shape, pool, batch):
    layer = cls(pool=pool, stride=pool)
    x = rng.standard_normal((batch, *shape))
    Y = layer.forward(x)
    s = rng.standard_normal(Y.shape)
    for w in (layer.lrp_weight, numpy.asarray(-0.3)):
        _dirty_heap()
        R = layer.input_times_affine_t(x, s, w)
        oracle.assert_close_to_oracle(R, x * oracle.pool_transpose(s * w, shape, pool, pool))
        assert numpy.array_equal(R, x * layer.affine_t(s, w))
        assert numpy.array_equal(R, x * layer._spread_generic(s * w))
        assert numpy.all(_uncovered(R, pool) == 0)
        assert numpy.all(_uncovered(layer.affine_t(s, w), pool) == 0)


def test_tiled_uncovered_inputs_get_zero_even_when_not_finite(rng):
    # inputs in no window do not reach any output: their relevance is exactly 0 (not 0 * inf)
    layer = SumPool(pool=(2, 2), stride=(2, 2))
    x = rng.standard_normal((2, 5, 7, 3))
    x[:, 4] = numpy.inf
    x[:, :, 6] = numpy.nan
    s = rng.standard_normal(layer.forward(x).shape)
    R = layer.input_times_affine_t(x, s, layer.lrp_weight)
    assert numpy.all(_uncovered(R, (2, 2)) == 0)
    covered = x[:, :4, :6] * layer.affine_t(s, layer.lrp_weight)[:, :4, :6]
    numpy.testing.assert_array_equal(R[:, :4, :6], covered)


@pytest.mark.parametrize(("shape", "pool"), TILED, ids=TILED_IDS)
def test_tiled_windows_t_matches_generic(rng, shape, pool):
    layer = MaxPool(pool=pool, stride=pool)
    X = rng.standard_normal((2, *shape))
    Y = layer.forward(X)
    v = rng.standard_normal((*Y.shape, *pool))
    tile_layout = numpy.ascontiguousarray(v.transpose(0, 1, 4, 2, 5, 3)).transpose(0, 1, 3, 5, 2, 4)
    broadcast = numpy.broadcast_to(Y[..., None, None], v.shape)  # as the Flat rule passes it
    for values in (v, tile_layout, broadcast, v[..., :1, :].repeat(pool[0], axis=4)):
        _dirty_heap()
        got = layer.windows_t(values)
        assert numpy.array_equal(got, layer._windows_t_generic(values))
        assert numpy.all(_uncovered(got, pool) == 0)
    assert layer.windows_t(v, input_shape=(8, 9, shape[2])).shape == (2, 8, 9, shape[2])


@pytest.mark.parametrize("cls", LINEAR_POOLS, ids=lambda c: c.__name__)
def test_input_times_affine_t_input_layouts_and_broadcast(rng, cls):
    layer = cls(pool=(2, 2), stride=(2, 2))
    base = rng.standard_normal((3, 5, 7, 8))
    layer.forward(base[..., :4])
    s = rng.standard_normal((3, 2, 3, 4))
    w = layer.lrp_weight
    for x in (
        base[..., ::2],  # W and C axes do not merge: read from a contiguous copy
        numpy.asfortranarray(base[..., :4]),
        base[:, ::-1, :, :4],
        rng.standard_normal((1, 5, 7, 4)),  # batch of 1 broadcast against s
        base[..., :4].astype(numpy.float32),
    ):
        R = layer.input_times_affine_t(x, s, w)
        expected = x * layer.affine_t(s, w)
        assert R.shape == expected.shape and R.dtype == expected.dtype
        assert numpy.array_equal(R, expected)
    s32, x32 = s.astype(numpy.float32), base[..., :4].astype(numpy.float32)
    R32 = layer.input_times_affine_t(x32, s32, w.astype(numpy.float32))
    assert R32.dtype == numpy.float32


@pytest.mark.parametrize("cls", LINEAR_POOLS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(("shape", "pool", "stride"), CONFIGS[2:], ids=IDS[2:])
def test_input_times_affine_t_generic_pools(rng, cls, shape, pool, stride):
    layer = cls(pool=pool, stride=stride)
    assert not layer.tiled
    x = rng.standard_normal((2, *shape))
    s = rng.standard_normal(layer.forward(x).shape)
    R = layer.input_times_affine_t(x, s, layer.lrp_weight)
    assert numpy.array_equal(R, x * layer.affine_t(s, layer.lrp_weight))
    oracle.assert_close_to_oracle(R, x * oracle.pool_transpose(s * layer.lrp_weight, shape, pool, stride))


def test_linear_family_default_input_times_affine_t(rng):
    from lrp_toolbox.modules import Linear

    layer = Linear(5, 3, rng=rng)
    x = rng.standard_normal((4, 5))
    s = rng.standard_normal((4, 3))
    assert numpy.array_equal(layer.input_times_affine_t(x, s, layer.W), x * layer.affine_t(s, layer.W))


# ------------------------------------------------------------------ unit weights and window sums
def test_sumpool_unit_weight_of_another_dtype_is_still_multiplied():
    # the multiply by SumPool's unit weight is skipped only for a 1 of the array's own dtype: a
    # float64 0-d 1 times float32 window sums is float64 (NumPy 2: a 0-d array is not a weak
    # scalar), as a * w always was
    layer = SumPool((2, 2), (2, 2))
    x = numpy.arange(16, dtype=numpy.float32).reshape(1, 4, 4, 1)
    layer.forward(x)
    one64 = numpy.asarray(1.0)
    z = layer.affine(x, one64)
    assert z.dtype == numpy.float64
    assert z.tolist() == [[[[10.0], [18.0]], [[42.0], [50.0]]]]  # 0+1+4+5, 2+3+6+7, 8+9+12+13, 10+11+14+15
    s = numpy.ones((1, 2, 2, 1), dtype=numpy.float32)
    assert layer.affine_t(s, one64).dtype == numpy.float64
    assert layer.input_times_affine_t(x, s, one64).dtype == numpy.float64
    assert layer.affine(x, numpy.asarray(1.0, dtype=numpy.float32)).dtype == numpy.float32


def test_window_sum_adds_offsets_in_row_major_order():
    # one 2x2 window [[1e16, 1], [-1e16, 1]]; row-major: ((1e16 + 1) - 1e16) + 1 = (1e16 - 1e16) + 1 = 1
    # (1e16 + 1 rounds back to 1e16: the spacing there is 2, ties to even); column-major would
    # give ((1e16 - 1e16) + 1) + 1 = 2
    x = numpy.array([1e16, 1.0, -1e16, 1.0]).reshape(1, 2, 2, 1)
    assert windows.window_reduce(x, (2, 2), (2, 2), (1, 1), "sum").tolist() == [[[[1.0]]]]
    assert SumPool((2, 2), (2, 2)).forward(x).tolist() == [[[[0.5]]]]  # S / sqrt(4)


def _window_reduce_loop(x, window, stride, out_hw, op):
    """The documented order: offsets row-major, result = maximum(result, part) / result += part."""
    result = None
    for a in range(window[0]):
        for b in range(window[1]):
            rows, columns = windows.offset_slices((a, b), stride, (1, 1), out_hw)
            part = x[:, rows, columns, :]
            if result is None:
                result = part.copy()
            elif op == "sum":
                result += part
            else:
                numpy.maximum(result, part, out=result)
    return result


WINDOWS_AND_STRIDES = [
    ((1, 1), (1, 1)),
    ((1, 3), (1, 1)),
    ((3, 1), (2, 1)),
    ((2, 2), (2, 2)),
    ((3, 3), (1, 2)),
]


@pytest.mark.parametrize("layout", ["C", "F"])
@pytest.mark.parametrize("op", ["sum", "max"])
@pytest.mark.parametrize(("window", "stride"), WINDOWS_AND_STRIDES)
def test_window_reduce_is_bitwise_the_offset_loop(rng, op, window, stride, layout):
    # values that cancel (order of the sum), +0.0 and -0.0 next to each other (numpy.maximum
    # returns one of its arguments on a tie, so the argument order shows in the sign of a zero)
    # and NaNs (maximum propagates them, fmax would not): any change of the offsets' order, of the
    # argument order or of the ufunc shows in the bytes; the result is C-ordered for any input layout
    x = rng.standard_normal((2, 7, 8, 3)) * 1e16
    flat = x.reshape(-1)
    flat[::5], flat[1::5], flat[2::17] = -0.0, 0.0, numpy.nan
    x = numpy.asarray(x, order=layout)
    out_hw = ((7 - window[0]) // stride[0] + 1, (8 - window[1]) // stride[1] + 1)
    got = windows.window_reduce(x, window, stride, out_hw, op)
    want = _window_reduce_loop(x, window, stride, out_hw, op)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.flags.c_contiguous
    assert got.tobytes() == want.tobytes()
    assert not numpy.shares_memory(got, x)  # a new array, also for a 1x1 window
