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
            SumPool((2, 2), (1, 1)), AvgPool((1, 2), (1, 1)), Flatten(), Linear(6, 5, rng=rng), SoftMax(),
        ]
    )  # fmt: skip


def assert_close(gpu_value, ref, dtype: str) -> None:
    got = backend.to_numpy(gpu_value)
    assert got.dtype == ref.dtype
    scale = max(float(numpy.abs(ref).max()), 1e-300)
    assert float(numpy.abs(got - ref).max()) <= TOLERANCE[dtype] * scale


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_forward_backward_parity(cupy, dtype: str) -> None:
    X = numpy.random.default_rng(1).standard_normal((3, 8, 9, 2)).astype(dtype)
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


def test_float64_bitwise_repeatable(cupy) -> None:
    X = cupy.asarray(numpy.random.default_rng(1).standard_normal((3, 8, 9, 2)))
    gpu = small_cnn().to("cupy")
    first = backend.to_numpy(gpu.backward(gpu.forward(X)))
    for _ in range(5):
        assert numpy.array_equal(backend.to_numpy(gpu.backward(gpu.forward(X))), first)


def test_mixing_backends_is_a_type_error(cupy) -> None:
    gpu = small_cnn().to("cupy")
    with pytest.raises(TypeError, match="mixed NumPy and CuPy"):
        gpu.forward(numpy.zeros((1, 8, 9, 2)))
