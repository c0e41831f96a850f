"""The pretrained MNIST models in models/MNIST load in both formats and reach their stated accuracy."""

from __future__ import annotations

from pathlib import Path

import numpy
import pytest

from lrp_toolbox import model_io
from lrp_toolbox.mnist import load_mnist
from lrp_toolbox.training import predict

MODELS = Path(__file__).resolve().parents[1] / "models" / "MNIST"

# file stem -> (input padding, stated test accuracy on all 10000 MNIST test images; README table)
STATED = {
    "mlp-400-relu": (None, 0.98),
    "lenet5-sumpool": (2, 0.99),
    "cnn-maxpool-padded": (0, 0.99),
}


def inputs(padding: int | None, count: int) -> tuple[numpy.ndarray, numpy.ndarray]:
    X, Y = load_mnist("test", preprocessing="original")
    X, Y = X[:count], Y[:count]
    if padding is None:
        return X.reshape(count, 784), Y
    return numpy.pad(X, ((0, 0), (padding,) * 2, (padding,) * 2, (0, 0)), constant_values=-1.0), Y


@pytest.mark.parametrize("stem", sorted(STATED))
def test_text_and_npz_hold_the_same_model(stem: str) -> None:
    text = model_io.read(MODELS / f"{stem}.txt")
    npz = model_io.read(MODELS / f"{stem}.npz")
    assert repr(text) == repr(npz)
    for a, b in zip(text.params.values(), npz.params.values(), strict=True):
        assert a.dtype == numpy.float64 and numpy.array_equal(a, b)


@pytest.mark.parametrize("stem", sorted(STATED))
def test_model_classifies_first_500_test_digits(stem: str) -> None:
    padding, stated = STATED[stem]
    X, Y = inputs(padding, 500)
    accuracy = float((predict(model_io.read(MODELS / f"{stem}.npz"), X).argmax(1) == Y.argmax(1)).mean())
    assert accuracy >= stated - 0.02


@pytest.mark.slow
@pytest.mark.parametrize("stem", sorted(STATED))
def test_model_reaches_stated_accuracy(stem: str) -> None:
    padding, stated = STATED[stem]
    X, Y = inputs(padding, 10000)
    accuracy = float((predict(model_io.read(MODELS / f"{stem}.txt"), X).argmax(1) == Y.argmax(1)).mean())
    assert accuracy >= stated
