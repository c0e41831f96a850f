"""Sequential.clean on every layer, and to_uint8's rounding of float error before truncation."""

from __future__ import annotations

import numpy
import pytest

from lrp_toolbox.errors import NotForwardedError
from lrp_toolbox.modules import Linear, Rect, Sequential
from lrp_toolbox.render import to_uint8


def test_clean_drops_the_caches_and_gradients_of_every_layer() -> None:
    """After clean() no layer (the first included) keeps its forward cache or gradients."""
    net = Sequential([Linear(2, 3), Rect(), Linear(3, 1)])
    net.forward(numpy.ones((1, 2)))
    net.backward(numpy.ones((1, 1)))
    net.clean()
    for layer in net:
        with pytest.raises(NotForwardedError):
            _ = layer.cache
        assert layer.grads == {}
    assert "(None, 3)" not in str(net)  # output shapes are '?' again


def test_to_uint8_absorbs_float_error_before_truncating() -> None:
    """1 - 254/255 is 1/255 up to float error, but times 255 it gives 0.9999999999999964, which a
    bare truncation would turn into 0; likewise k * (1/255) * 255 falls just below k for some k."""
    assert to_uint8(numpy.array([1 - 254 / 255])).tolist() == [1]
    k = numpy.arange(256)
    assert numpy.array_equal(to_uint8(k * (1 / 255)), k)
