"""Element-wise activations: Rect (alias ReLU), Tanh and the numerically stable SoftMax."""

from __future__ import annotations

from .. import backend
from .._typing import Array
from ..errors import ShapeError
from .base import Module


class Rect(Module):
    """Rectified linear unit ``Y = max(0, X)``; backward ``DX = DY * [X > 0]``."""

    def _forward(self, X: Array) -> Array:
        xp = backend.get_namespace(X)
        return xp.maximum(X, 0)

    def _backward(self, DY: Array) -> Array:
        return DY * (self.cache.x > 0)


ReLU = Rect


class Tanh(Module):
    """Hyperbolic tangent ``Y = tanh(X)``; backward ``DX = DY * (1 - Y**2)``."""

    def _forward(self, X: Array) -> Array:
        xp = backend.get_namespace(X)
        return xp.tanh(X)

    def _backward(self, DY: Array) -> Array:
        Y = self.cache.y
        return DY * (1 - Y * Y)


class SoftMax(Module):
    """Softmax over the last axis, ``Y = exp(X - max X) / sum exp(X - max X)``.

    Subtracting the row maximum makes it overflow-free (the original gave NaN for a logit of 1000).
    ``backward`` is the exact Jacobian-vector product ``DX = Y * (DY - sum(DY * Y))``; training with
    cross-entropy uses the fused logit gradient ``Y - T`` instead (``lrp_toolbox.training``).
    """

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) < 1 or input_shape[-1] < 1:
            got = ", ".join(map(str, ("N", *input_shape)))
            raise ShapeError(f"{self!r}: expected input of shape (N, ..., C) with C >= 1, got ({got})")
        return tuple(input_shape)

    def _forward(self, X: Array) -> Array:
        xp = backend.get_namespace(X)
        if not bool(xp.isfinite(X).all()):
            raise ValueError(f"{self!r}: the logits contain NaN or Inf (the probabilities would be NaN)")
        E = xp.exp(X - X.max(axis=-1, keepdims=True))
        return E / E.sum(axis=-1, keepdims=True)

    def _backward(self, DY: Array) -> Array:
        Y = self.cache.y
        return Y * (DY - (DY * Y).sum(axis=-1, keepdims=True))
