"""CuPy backend parity with NumPy on a real GPU (marker ``gpu``; skipped without CuPy or a device).

float64: max|diff| <= 1e-12 max|ref|; float32: <= 1e-5 max|ref|; float64 bitwise repeatable.
Run with ``python -m pytest -m gpu tests/test_gpu.py`` (``benchmarks/run_gpu.sh`` runs it together
with the benchmarks).
"""

from __future__ import annotations

import numpy
import pytest

from lrp_toolbox import backend
from lrp_toolbox.modules import (
    AvgPool,
    Convolution,
    Flatten,
    Linear,
    MaxPool,
    Rect,
    Sequential,
    SoftMax,
    SumPool,
    Tanh,
)

pytestmark = pytest.mark.gpu

TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


@pytest.fixture(scope="module")
def cupy():
    cp = pytest.importorskip("cupy")
    try:
        backend.namespace("cupy")
    except Exception as exc:  # no device / driver
        pytest.skip(f"CuPy installed but no usable GPU: {exc}")
    return cp


def small_cnn() -> Sequential:
    rng = numpy.random.default_rng(0)
    return Sequential(
        [
            Convolution((3, 3, 2, 4), (1, 1), padding=1, rng=rng), Rect(), MaxPool((2, 2), (2, 2)),
            Convolution((3, 3, 4, 6), (2, 1), padding=((1, 0), (0, 1)), dilation=(1, 2), rng=rng), Tanh(),
            SumPool((2, 2), (1, 1)), AvgPool((1, 2), (1, 1)), Flatten(), Linear(24, 5, rng=rng), SoftMax(),
        ]
    )  # fmt: skip


def assert_close(gpu_value, ref, dtype: str) -> None:
    got = backend.to_numpy(gpu_value)
    assert got.dtype == ref.dtype
    scale = max(float(numpy.abs(ref).max()), 1e-300)
    assert float(numpy.abs(got - ref).max()) <= TOLERANCE[dtype] * scale


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_forward_backward_parity(cupy, dtype: str) -> None:
    X = numpy.random.default_rng(1).standard_normal((3, 12, 14, 2)).astype(dtype)
    cpu = small_cnn().to(dtype=dtype)
    gpu = small_cnn().to("cupy", dtype=dtype)
    Y = cpu.forward(X)
    Yg = gpu.forward(cupy.asarray(X))
    assert_close(Yg, Y, dtype)
    DY = numpy.random.default_rng(2).standard_normal(Y.shape).astype(dtype)
    assert_close(gpu.backward(cupy.asarray(DY)), cpu.backward(DY), dtype)
    for a, b in zip(gpu.modules, cpu.modules, strict=True):
        for name in b.grads:
            assert_close(a.grads[name], b.grads[name], dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_one_row_bands_match_numpy(cupy, monkeypatch, dtype: str) -> None:
    # a tiny GPU band bound forces one output row per band (many GEMMs and slice-adds per layer)
    from lrp_toolbox.modules import conv_columns
    from lrp_toolbox.rules import AlphaBeta

    monkeypatch.setattr(conv_columns, "GPU_CHUNK_BYTES", 1)
    X = numpy.random.default_rng(5).standard_normal((3, 12, 14, 2)).astype(dtype)
    cpu = small_cnn().to(dtype=dtype)
    gpu = small_cnn().to("cupy", dtype=dtype)
    Y = cpu.forward(X)
    assert_close(gpu.forward(cupy.asarray(X)), Y, dtype)
    DY = numpy.random.default_rng(6).standard_normal(Y.shape).astype(dtype)
    assert_close(gpu.backward(cupy.asarray(DY)), cpu.backward(DY), dtype)
    assert_close(gpu.modules[0].grads["W"], cpu.modules[0].grads["W"], dtype)
    rule = AlphaBeta(2.0, 1.0)
    assert_close(gpu.lrp(cupy.asarray(DY), rule), cpu.lrp(DY, rule), dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    ("window", "stride", "dilation", "band"),
    [((3, 3), (1, 1), (1, 1), (0, 7)), ((3, 2), (2, 1), (1, 2), (1, 3)), ((2, 3), (2, 3), (2, 1), (2, 3))],
)
def test_add_columns_kernel_equals_slice_adds_bitwise(cupy, dtype, window, stride, dilation, band) -> None:
    from lrp_toolbox.modules import conv_columns

    rng = numpy.random.default_rng(7)
    d, N, Hp, Wp = 3, 2, 15, 16
    Ho = (Hp - (window[0] - 1) * dilation[0] - 1) // stride[0] + 1
    Wo = (Wp - (window[1] - 1) * dilation[1] - 1) // stride[1] + 1
    assert band[1] <= Ho
    parts = cupy.asarray(rng.standard_normal((*window, d, band[1] - band[0], Wo, N)).astype(dtype))
    start = cupy.asarray(rng.standard_normal((d, Hp, Wp, N)).astype(dtype))  # accumulates onto values
    kernel, sliced = start.copy(), start.copy()
    conv_columns.add_columns(kernel, parts, stride, dilation, band)
    conv_columns.add_columns_sliced(sliced, parts, stride, dilation, band)
    assert numpy.array_equal(backend.to_numpy(kernel), backend.to_numpy(sliced))
    assert not numpy.array_equal(backend.to_numpy(kernel), backend.to_numpy(start))
    cpu = backend.to_numpy(start)
    conv_columns.add_columns(cpu, backend.to_numpy(parts), stride, dilation, band)
    assert numpy.array_equal(backend.to_numpy(kernel), cpu)  # additions are exact-order: same bits


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(3, 5, 7, 2), (40, 3, 2, 70), (16, 4, 4, 33)])
def test_swap_outer_kernel_equals_numpy_bitwise(cupy, dtype, shape) -> None:
    from lrp_toolbox.modules import conv_columns

    rng = numpy.random.default_rng(10)
    A, H, W, B = shape
    # windows of larger arrays (offsets and strides as in the convolution), with and without a factor
    big_src = rng.standard_normal((A + 1, H + 2, W + 3, B)).astype(dtype)
    big_dst = rng.standard_normal((B + 2, H + 1, W + 2, A)).astype(dtype)
    mul = rng.standard_normal((B, H, W, A)).astype(dtype)
    src_view = (slice(1, None), slice(1, H + 1), slice(2, W + 2), slice(None))
    dst_view = (slice(2, None), slice(0, H), slice(1, W + 1), slice(None))
    for factor in (None, mul):
        cpu = big_dst.copy()
        conv_columns.swap_outer(big_src[src_view], cpu[dst_view], factor)
        gpu = cupy.asarray(big_dst)
        g_factor = None if factor is None else cupy.asarray(factor)
        conv_columns.swap_outer(cupy.asarray(big_src)[src_view], gpu[dst_view], g_factor)
        assert numpy.array_equal(backend.to_numpy(gpu), cpu)  # the rest of dst untouched as well


def test_float64_bitwise_repeatable(cupy) -> None:
    X = cupy.asarray(numpy.random.default_rng(1).standard_normal((3, 12, 14, 2)))
    gpu = small_cnn().to("cupy")
    first = backend.to_numpy(gpu.backward(gpu.forward(X)))
    for _ in range(5):
        assert numpy.array_equal(backend.to_numpy(gpu.backward(gpu.forward(X))), first)


def test_mixing_backends_is_a_type_error(cupy) -> None:
    gpu = small_cnn().to("cupy")
    with pytest.raises(TypeError, match="mixed NumPy and CuPy"):
        gpu.forward(numpy.zeros((1, 12, 14, 2)))


def lrp_rules() -> list:
    from lrp_toolbox import composites, rules

    return [
        rules.Zero(), rules.Epsilon(0.01), rules.ZPlus(), rules.AlphaBeta(2.0, 1.0),
        rules.Gamma(0.25), rules.Gamma(0.25, variant="generalized"), rules.ZBox(-3.0, 3.0),
        rules.Flat(), rules.WSquare(), composites.epsilon_plus_flat(),
        composites.epsilon_alpha2_beta1(), composites.epsilon_gamma_box(-3.0, 3.0),
        composites.Composite(
            composites.Everywhere(rules.Epsilon(0.01)),
            composites.ByType(MaxPool, rules.WinnerTakeAll("first")),
        ),
    ]  # fmt: skip


def forwarded_pair(dtype: str, seed: int) -> tuple[Sequential, Sequential, numpy.ndarray, numpy.ndarray]:
    """``(cpu, gpu, X, R0)``: the CNN without its SoftMax on both backends, the NumPy model
    forwarded on ``X`` and ``R0`` its one-hot-scaled top logit (NumPy arrays; the GPU model is
    not forwarded yet)."""
    X = numpy.random.default_rng(seed).standard_normal((3, 12, 14, 2)).astype(dtype)
    cpu = small_cnn().to(dtype=dtype)
    cpu.drop_softmax_output_layer()
    gpu = small_cnn().to("cupy", dtype=dtype)
    gpu.drop_softmax_output_layer()
    Y = cpu.forward(X)
    return cpu, gpu, X, Y * (Y.max(axis=1, keepdims=True) == Y)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("index", range(13))
def test_lrp_rule_parity(cupy, dtype: str, index: int) -> None:
    rule = lrp_rules()[index]
    cpu, gpu, X, R0 = forwarded_pair(dtype, 3)
    gpu.forward(cupy.asarray(X))
    assert_close(gpu.lrp(cupy.asarray(R0), rule), cpu.lrp(R0, rule), dtype)


def test_lrp_float64_bitwise_repeatable_and_lrp_aware(cupy) -> None:
    from lrp_toolbox.composites import epsilon_plus_flat
    from lrp_toolbox.explain import explain

    X = cupy.asarray(numpy.random.default_rng(4).standard_normal((3, 12, 14, 2)))
    gpu = small_cnn().to("cupy")
    gpu.drop_softmax_output_layer()
    first = backend.to_numpy(explain(gpu, X, target="all", rule=epsilon_plus_flat()))
    for _ in range(3):
        again = backend.to_numpy(explain(gpu, X, target="all", rule=epsilon_plus_flat()))
        assert numpy.array_equal(again, first)
    plain = [backend.to_numpy(explain(gpu, X, target=k, rule=epsilon_plus_flat())) for k in range(5)]
    assert numpy.array_equal(numpy.stack(plain, axis=1), first)


def _fuse_on_any_backend(self, like) -> bool:
    """``Convolution.fuses_lrp_pass`` without its NumPy-only condition (what enabling it on CuPy means)."""
    x = self.cache.x
    return like.dtype == x.dtype and like.shape[0] == x.shape[0]


@pytest.mark.parametrize("budget", [None, 1], ids=["default-bands", "one-row-bands"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_banded_pass_forced_on_cupy_is_bitwise_the_unfused_path(
    cupy, monkeypatch, lrp_pass_calls, dtype, budget
) -> None:
    # The banded Convolution.lrp_pass runs on NumPy only; this forces it on CuPy, to check the
    # promise that lets it be switched on there: the same bits as the unfused CuPy path, after a
    # plain forward and from memoised bands after an lrp_aware one, and NumPy's values within the
    # usual tolerance.
    from lrp_toolbox import rules
    from lrp_toolbox.modules import conv_columns

    if budget is not None:
        monkeypatch.setattr(conv_columns, "GPU_CHUNK_BYTES", budget)
    cpu, gpu, X, R0 = forwarded_pair(dtype, 7)
    Xg, R0g = cupy.asarray(X), cupy.asarray(R0)
    for rule in (rules.ZPlus(), rules.AlphaBeta(2.0, 1.0), rules.Gamma(0.25), rules.ZBox(-3.0, 3.0)):
        gpu.forward(Xg, lrp_aware=True)  # CuPy as shipped: the unfused memo path
        unfused = backend.to_numpy(gpu.lrp(R0g, rule))
        with monkeypatch.context() as patch:
            patch.setattr(Convolution, "fuses_lrp_pass", _fuse_on_any_backend)
            lrp_pass_calls.clear()
            gpu.forward(Xg)
            banded = backend.to_numpy(gpu.lrp(R0g, rule))
            gpu.forward(Xg, lrp_aware=True)
            memoised = [backend.to_numpy(gpu.lrp(R0g, rule)) for _ in range(2)]  # fills, then reads
            assert len(lrp_pass_calls) == 6  # both convolutions, three calls
        for result in (banded, *memoised):
            assert result.tobytes() == unfused.tobytes()
        assert_close(banded, cpu.lrp(R0, rule), dtype)


def test_training_matches_numpy(cupy) -> None:
    # same seed, same data: the batch order is drawn on the host, so both runs see the same batches
    def mlp() -> Sequential:
        rng = numpy.random.default_rng(8)
        return Sequential([Linear(12, 16, rng=rng), Rect(), Linear(16, 3, rng=rng), SoftMax()])

    rng = numpy.random.default_rng(9)
    X = rng.standard_normal((200, 12))
    Y = numpy.eye(3)[rng.integers(0, 3, 200)]
    cpu, gpu = mlp(), mlp().to("cupy")
    cpu.train(X, Y, batchsize=20, iters=60, status=20, silent=True, seed=3)
    gpu.train(cupy.asarray(X), cupy.asarray(Y), batchsize=20, iters=60, status=20, silent=True, seed=3)
    for a, b in zip(gpu.modules, cpu.modules, strict=True):
        for name, value in b.params.items():
            assert_close(a.params[name], value, "float64")


def test_mnist_demo_runs_on_cupy(cupy, tmp_path) -> None:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    args = ["demos/mnist_demo.py", "--backend", "cupy", "--smoke", "--out", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, *args], cwd=root, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "test accuracy: " in done.stdout
    R = numpy.load(tmp_path / "mnist_relevances.npy")
    assert R.shape[:2] == (2, 4) and numpy.isfinite(R).all()
