"""Shared fixtures: a seeded ``rng`` and a factory for a small CNN.

Kept generic (no autouse side effects) because every test module in ``tests/`` shares it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy
import pytest

from lrp_toolbox.modules import (
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

SEED = 0x1E5_7001
"""Fixed seed of the ``rng`` fixture (hex id, so failures name a reproducible stream)."""

SMALL_CNN_INPUT_SHAPE = (9, 8, 2)
"""Input shape (without batch axis) of the model built by the ``small_cnn`` fixture."""


@pytest.fixture
def rng() -> numpy.random.Generator:
    """A fresh ``numpy.random.default_rng(SEED)`` per test."""
    return numpy.random.default_rng(SEED)


def build_small_cnn(rng: numpy.random.Generator, dtype: object = numpy.float64) -> Sequential:
    """Convolution→Rect→MaxPool→Convolution→Tanh→SumPool→Flatten→Linear→SoftMax on (N, 9, 8, 2).

    Shapes: (9, 8, 2) -conv 3x3 pad 1-> (9, 8, 4) -maxpool 2/2 (row 8 unused)-> (4, 4, 4)
    -conv 2x2-> (3, 3, 3) -sumpool 2/1 (overlapping)-> (2, 2, 3) -> 12 -> 5. Biases are non-zero.
    """
    layers = [
        Convolution((3, 3, 2, 4), stride=(1, 1), padding=1, rng=rng, dtype=dtype),
        Rect(),
        MaxPool(pool=(2, 2), stride=(2, 2)),
        Convolution((2, 2, 4, 3), stride=(1, 1), rng=rng, dtype=dtype),
        Tanh(),
        SumPool(pool=(2, 2), stride=(1, 1)),
        Flatten(),
        Linear(12, 5, rng=rng, dtype=dtype),
        SoftMax(),
    ]
    for layer in layers:
        if "B" in layer.params:
            layer.B = (0.1 * rng.standard_normal(layer.B.shape)).astype(dtype)
    return Sequential(layers)


@pytest.fixture
def small_cnn() -> Callable[..., Sequential]:
    """Factory ``small_cnn(rng, dtype=float64)`` for the model of :func:`build_small_cnn`."""
    return build_small_cnn


@pytest.fixture
def small_cnn_input_shape() -> tuple[int, int, int]:
    """Input shape (without batch axis) that the ``small_cnn`` models take."""
    return SMALL_CNN_INPUT_SHAPE


@pytest.fixture
def lrp_pass_calls(monkeypatch: pytest.MonkeyPatch) -> list:
    """The layers whose banded ``Convolution.lrp_pass`` ran during the test, in call order."""
    calls: list = []
    original = Convolution.lrp_pass

    def counting(self: Convolution, *args: object, **kwargs: object) -> object:
        calls.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Convolution, "lrp_pass", counting)
    return calls
