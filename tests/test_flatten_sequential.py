"""Flatten and Sequential: oracles, whole-model gradients, dtype, errors, summary, update, records."""

from __future__ import annotations

import layer_oracles as oracle
import numpy
import pytest

from lrp_toolbox.errors import NotForwardedError, ShapeError
from lrp_toolbox.modules import (
    LAYER_TYPES,
    AvgPool,
    Convolution,
    Flatten,
    LayerRecord,
    Linear,
    MaxPool,
    Module,
    Rect,
    Sequential,
    SoftMax,
    SumPool,
    Tanh,
)


# ---------------------------------------------------------------------------------------- Flatten
def test_flatten_matches_c_order_oracle(rng):
    X = rng.standard_normal((2, 3, 4, 2))
    Y = Flatten().forward(X)
    expected = numpy.empty((2, 24))
    for n in range(2):
        for i in range(3):
            for j in range(4):
                for c in range(2):
                    expected[n, (i * 4 + j) * 2 + c] = X[n, i, j, c]
    numpy.testing.assert_array_equal(Y, expected)
    assert Flatten().output_shape((3, 4, 2)) == (24,)


def test_flatten_gradient_and_backward_shape(rng):
    layer = Flatten()
    oracle.check_input_gradient(layer, rng.standard_normal((2, 3, 2, 2)), rng)
    layer.forward(numpy.zeros((2, 3, 2, 2)))
    DY = numpy.arange(24.0).reshape(2, 12)
    DX = layer.backward(DY)
    assert DX.shape == (2, 3, 2, 2)
    numpy.testing.assert_array_equal(DX.reshape(2, -1), DY)


def test_flatten_dtype_and_no_mutation(rng):
    X = rng.standard_normal((2, 2, 2, 2)).astype(numpy.float32)
    X0 = X.copy()
    layer = Flatten()
    Y = layer.forward(X)
    assert Y.dtype == numpy.float32
    layer.backward(numpy.ones_like(Y))
    numpy.testing.assert_array_equal(X, X0)
    with pytest.raises(NotForwardedError):
        Flatten().backward(Y)
    with pytest.raises(ShapeError):
        layer.backward(numpy.ones((2, 7), dtype=numpy.float32))


# ------------------------------------------------------------------------------------- Sequential
def _chain_oracle(model, X):
    """The small CNN evaluated layer by layer with the slow oracles."""
    c1, _, mp, c2, _, sp, _, lin, _ = model.modules
    h = oracle.convolution(X, c1.W, c1.B, c1.stride, c1.padding, c1.dilation)
    h = oracle.max_pool(oracle.rect(h), mp.pool, mp.stride)
    h = oracle.convolution(h, c2.W, c2.B, c2.stride, c2.padding, c2.dilation)
    h = oracle.sum_pool(oracle.tanh(h), sp.pool, sp.stride)
    h = h.reshape(h.shape[0], -1)
    return oracle.softmax(oracle.linear(h, lin.W, lin.B))


def test_sequential_forward_matches_chained_oracles(rng, small_cnn, small_cnn_input_shape):
    model = small_cnn(rng)
    X = rng.standard_normal((2, *small_cnn_input_shape))
    Y = model.forward(X)
    assert Y.shape == (2, 5)
    assert Y.dtype == numpy.float64
    assert model.output_shape(small_cnn_input_shape) == (5,)
    oracle.assert_close_to_oracle(Y, _chain_oracle(model, X), rtol=1e-11)


def test_sequential_input_gradient(rng, small_cnn, small_cnn_input_shape):
    model = small_cnn(rng)
    oracle.check_input_gradient(model, rng.standard_normal((2, *small_cnn_input_shape)), rng)


@pytest.mark.parametrize(("index", "name"), [(0, "W"), (0, "B"), (3, "W"), (3, "B"), (7, "W"), (7, "B")])
def test_sequential_parameter_gradients(rng, small_cnn, small_cnn_input_shape, index, name):
    model = small_cnn(rng)
    X = rng.standard_normal((2, *small_cnn_input_shape))
    oracle.check_parameter_gradient(model[index], name, model, X, rng)


def test_sequential_float32(rng, small_cnn, small_cnn_input_shape):
    model = small_cnn(rng).to(dtype="float32")
    assert model.dtype == numpy.float32
    assert all(p.dtype == numpy.float32 for p in model.params.values())
    X = rng.standard_normal((2, *small_cnn_input_shape)).astype(numpy.float32)
    Y = model.forward(X)
    assert Y.dtype == numpy.float32
    assert model.backward(numpy.ones_like(Y)).dtype == numpy.float32
    grads = [g for m in model for g in m.grads.values()]
    assert len(grads) == 6
    assert all(g.dtype == numpy.float32 for g in grads)
    built32 = small_cnn(numpy.random.default_rng(1), dtype=numpy.float32)
    assert built32.forward(X).dtype == numpy.float32


def test_sequential_float64_input_to_float32_model_raises(rng, small_cnn, small_cnn_input_shape):
    model = small_cnn(rng).to(dtype=numpy.float32)
    with pytest.raises(TypeError) as info:
        model.forward(rng.standard_normal((1, *small_cnn_input_shape)))
    assert str(info.value).startswith("layer 0")


def test_sequential_no_mutation_and_bitwise_reproducible(small_cnn, small_cnn_input_shape):
    X = numpy.random.default_rng(7).standard_normal((3, *small_cnn_input_shape))
    DY = numpy.random.default_rng(8).standard_normal((3, 5))
    X0, DY0 = X.copy(), DY.copy()
    runs = []
    for lrp_aware in (False, True):
        model = small_cnn(numpy.random.default_rng(42))
        Y = model.forward(X, lrp_aware=lrp_aware)
        DX = model.backward(DY)
        runs.append([Y, DX, *(g for m in model for g in m.grads.values())])
    numpy.testing.assert_array_equal(X, X0)
    numpy.testing.assert_array_equal(DY, DY0)
    assert len(runs[0]) == len(runs[1]) == 8
    for a, b in zip(*runs, strict=True):
        assert numpy.array_equal(a, b)


def test_error_message_names_layer_index():
    model = Sequential([Flatten(), Rect(), Linear(784, 10)])
    with pytest.raises(ShapeError) as info:
        model.forward(numpy.zeros((2, 10, 10, 1)))
    message = str(info.value)
    assert message.startswith("layer 2")
    assert "784" in message
    assert "100" in message
    with pytest.raises(ShapeError, match=r"^layer 2"):
        model.output_shape((10, 10, 1))


def test_error_message_format_from_design():
    # docs/design.md: the layer is named once, after its index
    with pytest.raises(ShapeError) as info:
        Sequential([Rect(), Linear(784, 10)]).forward(numpy.zeros((1, 100)))
    assert str(info.value) == "layer 1 (Linear(784, 10)): expected input of shape (N, 784), got (N, 100)"


def test_sequential_backward_errors(small_cnn, small_cnn_input_shape):
    model = small_cnn(numpy.random.default_rng(0))
    with pytest.raises(NotForwardedError):
        model.backward(numpy.zeros((1, 5)))
    model.forward(numpy.zeros((1, *small_cnn_input_shape)))
    with pytest.raises(ShapeError, match=r"^layer 8"):
        model.backward(numpy.zeros((1, 4)))
    model.clean()
    with pytest.raises(NotForwardedError):
        model.backward(numpy.zeros((1, 5)))


@pytest.mark.parametrize(
    "layer",
    [Linear(3, 2), Convolution((2, 2, 3, 2), stride=1), SumPool(2, 2), AvgPool(2, 2), MaxPool(2, 2), Rect()],
    ids=lambda m: type(m).__name__,
)
@pytest.mark.parametrize("dy_dtype", [numpy.int64, numpy.float32, numpy.bool_])
def test_backward_rejects_another_dtype(layer, dy_dtype):
    """An integer DY once gave silent zero gradients in AvgPool (the scale truncated to 0)."""
    X = numpy.ones((1, 4, 4, 3)) if not isinstance(layer, Linear) else numpy.ones((1, 3))
    Y = layer.forward(X)
    with pytest.raises(
        TypeError, match=rf"DY has dtype {numpy.dtype(dy_dtype)} but the layer output float64"
    ):
        layer.backward(numpy.ones(Y.shape, dtype=dy_dtype))
    assert layer.backward(numpy.ones(Y.shape)).dtype == numpy.float64


def test_sequential_wraps_error_subclasses_with_their_cause():
    """A TypeError subclass whose constructor takes other arguments (NumPy's casting errors) is
    re-raised as a TypeError naming the layer, with the original as its cause."""

    class Picky(TypeError):
        def __init__(self, what: str, where: int) -> None:
            super().__init__(f"{what} at {where}")

    class Failing(Rect):
        def _forward(self, X):
            raise Picky("bad thing", 3)

    with pytest.raises(TypeError, match=r"^layer 1 \(Failing\(\)\): bad thing at 3$") as info:
        Sequential([Rect(), Failing()]).forward(numpy.ones((1, 2)))
    assert type(info.value) is TypeError
    assert isinstance(info.value.__cause__, Picky)
    with pytest.raises(ShapeError) as plain:
        Sequential([Rect(), Linear(784, 10)]).forward(numpy.zeros((1, 100)))
    assert plain.value.__cause__ is None and plain.value.__suppress_context__


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="layer 1"):
        Sequential([Rect(), "Tanh"])


def _summary_model():
    return Sequential(
        [
            Convolution((5, 5, 1, 4), stride=(1, 1)),
            Rect(),
            MaxPool(),
            Convolution((3, 3, 4, 6), stride=(1, 1)),
            Tanh(),
            SumPool(),
            Flatten(),
            Linear(216, 10),
            SoftMax(),
        ]
    )


def test_summary():
    model = _summary_model()
    text = model.summary((32, 32, 1))
    for layer in model:
        assert repr(layer) in text
    # 32 -conv5-> 28 -pool-> 14 -conv3-> 12 -pool-> 6; 6*6*6 = 216 -> 10
    for shape in [(28, 28, 4), (14, 14, 4), (12, 12, 6), (6, 6, 6), (216,), (10,)]:
        assert str((None, *shape)) in text
    # 5*5*1*4 + 4 = 104;  3*3*4*6 + 6 = 222;  216*10 + 10 = 2170;  total 2496
    assert model.num_params() == 2496
    assert "2,496" in text.splitlines()[-1]
    assert "2,170" in text
    unknown = model.summary()
    assert "?" in unknown
    with pytest.raises(ShapeError, match=r"^layer 0"):
        model.summary((32, 32, 3))


def test_update_applies_sgd_step(rng, small_cnn, small_cnn_input_shape):
    model = small_cnn(rng)
    model.forward(rng.standard_normal((2, *small_cnn_input_shape)))
    model.backward(rng.standard_normal((2, 5)))
    before = {k: v.copy() for k, v in model.params.items()}
    grads = {f"{i}.{k}": g.copy() for i, m in enumerate(model) for k, g in m.grads.items()}
    assert set(grads) == set(before)
    model.update(0.1)
    for key, value in model.params.items():
        numpy.testing.assert_array_equal(value, before[key] - 0.1 * grads[key])
        assert not numpy.array_equal(value, before[key])


def test_params_are_indexed(small_cnn):
    model = small_cnn(numpy.random.default_rng(0))
    assert list(model.params) == ["0.W", "0.B", "3.W", "3.B", "7.W", "7.B"]
    assert model.params["7.W"] is model[7].W
    assert len(model) == 9


# ---------------------------------------------------------------------------------------- records
def _one_of_each(rng):
    conv = Convolution((3, 2, 2, 3), stride=(2, 1), padding=((1, 0), (0, 2)), dilation=(1, 2), rng=rng)
    conv.B = rng.standard_normal(3)
    lin = Linear(4, 3, rng=rng)
    lin.B = rng.standard_normal(3)
    return [
        lin,
        conv,
        SumPool((2, 3), (1, 2)),
        AvgPool((3, 1), (2, 1)),
        MaxPool((1, 2), (2, 2)),
        Rect(),
        Tanh(),
        SoftMax(),
        Flatten(),
    ]


def test_every_layer_type_round_trips(rng):
    layers = _one_of_each(rng)
    assert {type(layer).__name__ for layer in layers} == set(LAYER_TYPES)
    for layer in layers:
        record = layer.to_record()
        clone = Module.from_record(record)
        assert type(clone) is type(layer)
        assert repr(clone) == repr(layer)
        assert dict(clone.to_record().config) == dict(record.config)
        assert set(clone.params) == set(layer.params)
        for name, value in layer.params.items():
            assert getattr(clone, name).dtype == value.dtype
            assert numpy.array_equal(getattr(clone, name), value)
            assert getattr(clone, name) is not value


def test_float32_record_round_trip(rng):
    layer = Linear(3, 2, rng=rng, dtype=numpy.float32)
    clone = Module.from_record(layer.to_record())
    assert clone.W.dtype == clone.B.dtype == numpy.float32
    numpy.testing.assert_array_equal(clone.W, layer.W)


def test_sequential_records_round_trip(rng, small_cnn, small_cnn_input_shape):
    model = small_cnn(rng)
    clone = Sequential.from_records(model.to_records())
    X = rng.standard_normal((2, *small_cnn_input_shape))
    assert numpy.array_equal(clone.forward(X), model.forward(X))
    assert repr(clone) == repr(model)


def _bad(record, **changes):
    fields = {"kind": record.kind, "config": dict(record.config), "arrays": dict(record.arrays), **changes}
    return LayerRecord(**fields)


def _with_nan(a):
    a = a.copy()
    a.flat[1] = numpy.nan
    return a


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda r: _bad(r, kind="Dense"), id="unknown-kind"),
        pytest.param(lambda r: _bad(r, kind="linear"), id="kind-wrong-case"),
        pytest.param(lambda r: _bad(r, arrays={**r.arrays, "W": numpy.zeros((3, 4))}), id="W-transposed"),
        pytest.param(lambda r: _bad(r, arrays={**r.arrays, "B": numpy.zeros(4)}), id="B-wrong-length"),
        pytest.param(lambda r: _bad(r, arrays={**r.arrays, "W": _with_nan(r.arrays["W"])}), id="W-nan"),
        pytest.param(
            lambda r: _bad(r, arrays={**r.arrays, "B": numpy.array([1.0, numpy.inf, 0.0])}), id="B-inf"
        ),
        pytest.param(lambda r: _bad(r, arrays={"W": r.arrays["W"]}), id="B-missing"),
        pytest.param(lambda r: _bad(r, arrays={**r.arrays, "C": numpy.zeros(3)}), id="extra-array"),
        pytest.param(
            lambda r: _bad(r, arrays={**r.arrays, "W": numpy.zeros((4, 3), dtype=numpy.int64)}), id="W-int"
        ),
        pytest.param(lambda r: _bad(r, config={"m": 0, "n": 3}), id="m-zero"),
    ],
)
def test_from_record_rejects_bad_linear_records(rng, mutate):
    record = Linear(4, 3, rng=rng).to_record()
    with pytest.raises(ValueError):
        Module.from_record(mutate(record))


@pytest.mark.parametrize(
    "config",
    [
        {"filtersize": (3, 3, 1, 2), "stride": (0, 1), "padding": ((0, 0), (0, 0)), "dilation": (1, 1)},
        {"filtersize": (3, 3, 1, 2), "stride": (1, 1), "padding": ((-1, 0), (0, 0)), "dilation": (1, 1)},
        {"filtersize": (3, 3, 1, 2), "stride": (1, 1), "padding": ((0, 0), (0, 0)), "dilation": (0, 1)},
    ],
)
def test_from_record_rejects_bad_convolution_config(config):
    record = LayerRecord("Convolution", config, {"W": numpy.zeros((3, 3, 1, 2)), "B": numpy.zeros(2)})
    with pytest.raises(ValueError):
        Module.from_record(record)


def test_from_record_rejects_bad_pool_config():
    with pytest.raises(ValueError):
        Module.from_record(LayerRecord("MaxPool", {"pool": (2, 2), "stride": (2, -2)}, {}))
    with pytest.raises(ValueError):
        Module.from_record(LayerRecord("Rect", {}, {"W": numpy.zeros(2)}))


def test_from_records_names_the_layer(rng):
    records = [Rect().to_record(), _bad(Linear(4, 3, rng=rng).to_record(), kind="Dense")]
    with pytest.raises(ValueError, match=r"^layer 1"):
        Sequential.from_records(records)


def test_empty_batch(small_cnn, small_cnn_input_shape):
    assert Flatten().forward(numpy.zeros((0, 3, 2, 2))).shape == (0, 12)
    model = small_cnn(numpy.random.default_rng(0))
    Y = model.forward(numpy.zeros((0, *small_cnn_input_shape)))
    assert Y.shape == (0, 5)
    assert model.backward(Y).shape == (0, *small_cnn_input_shape)
    assert all(m.grads[k].shape == p.shape for m in model for k, p in m.params.items())


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({"m": 4, "n": 3, "bias": True}, id="unknown-key"),
        pytest.param({"m": 4}, id="missing-key"),
        pytest.param({"m": 4, "n": 3, "dtype": "int64"}, id="constructor-only-key"),
    ],
)
def test_from_record_rejects_bad_config_keys(config):
    # documented: bad hyper-parameters raise ValueError (not a TypeError from the constructor call)
    record = LayerRecord("Linear", config, {"W": numpy.zeros((4, 3)), "B": numpy.zeros(3)})
    with pytest.raises(ValueError):
        Module.from_record(record)


def test_print_shows_the_summary_table_with_last_forward_shapes() -> None:
    import numpy as np

    from lrp_toolbox.modules import Convolution, Flatten, Rect, Sequential

    model = Sequential([Convolution((3, 3, 1, 2), (1, 1)), Rect(), Flatten()])
    before = str(model)
    assert "Convolution" in before and "?" in before and "total parameters: 20" in before
    model.forward(np.zeros((1, 5, 5, 1)))
    after = str(model)
    assert "(None, 3, 3, 2)" in after and "(None, 18)" in after


@pytest.mark.parametrize("dtype", ["float16", "int32", "complex128", "float128"])
def test_parameter_dtypes_are_float64_or_float32(dtype):
    if not hasattr(numpy, dtype):
        pytest.skip(f"numpy has no {dtype} here")
    with pytest.raises(TypeError, match="dtype must be float64 or float32"):
        Linear(2, 3, dtype=dtype)
    with pytest.raises(TypeError, match="dtype must be float64 or float32"):
        Convolution((2, 2, 1, 1), stride=1, dtype=dtype)
    with pytest.raises(TypeError, match=r"^Sequential.*dtype must be float64 or float32|dtype must be"):
        Sequential([Linear(2, 3)]).to(dtype=dtype)


def test_record_parameters_must_share_one_dtype(rng):
    record = Linear(3, 2, rng=rng).to_record()
    mixed = LayerRecord(
        record.kind, record.config, {"W": record.arrays["W"].astype("float32"), "B": record.arrays["B"]}
    )
    with pytest.raises(ValueError, match="parameters must share one dtype, got float32, float64"):
        Module.from_record(mixed)


def test_numpy_integers_are_accepted_as_hyperparameters():
    n = numpy.int64
    layer = Convolution((n(2), n(2), n(1), n(1)), stride=(n(1), n(2)), padding=n(1), dilation=n(1))
    assert layer.stride == (1, 2) and layer.padding == ((1, 1), (1, 1))
    assert type(layer.stride[0]) is int
    assert MaxPool(n(2), (n(2), n(2))).pool == (2, 2)
    with pytest.raises(ValueError):
        Convolution((2, 2, True, 1))
    with pytest.raises(ValueError):
        MaxPool(numpy.bool_(True))
