"""Flatten: C-order reshape ``(N, H, W, C) -> (N, H*W*C)``."""

from __future__ import annotations

import math

from .._typing import Array
from .base import Module


class Flatten(Module):
    """Reshape every sample to a vector in C order, so features run in (h, w, c) order.

    Weights ported from NCHW frameworks must be permuted accordingly.
    """

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (math.prod(input_shape),)

    def _forward(self, X: Array) -> Array:
        return X.reshape(X.shape[0], math.prod(X.shape[1:]))

    def _backward(self, DY: Array) -> Array:
        return DY.reshape(self.cache.x.shape)
