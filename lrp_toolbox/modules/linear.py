"""Fully connected layer."""

from __future__ import annotations

import numpy

from .._typing import Array
from ..errors import ShapeError
from .base import check_param_dtype
from .linear_family import LinearFamily
from .windows import is_int


class Linear(LinearFamily):
    """Fully connected layer ``Y = X @ W + B``.

    Parameters
    ----------
    m : int
        Input features.
    n : int
        Output features.
    rng : numpy.random.Generator, optional
        Source of the initial weights ``W ~ N(0, 1/m)`` (the original's initialisation); the
        default is ``numpy.random.default_rng(0)``, so construction is deterministic.
    dtype : numpy dtype
        ``float64`` (default, the reference mode) or ``float32``.

    Attributes
    ----------
    W : ndarray of shape (m, n)
    B : ndarray of shape (n,)

    Notes
    -----
    Backward: ``dX = DY @ W.T``, ``dW = X.T @ DY``, ``dB = sum_n DY`` (the exact gradient; the
    original scaled ``dX`` by sqrt(m)/sqrt(n)).
    """

    param_names = ("W", "B")

    def __init__(
        self, m: int, n: int, rng: numpy.random.Generator | None = None, dtype: object = numpy.float64
    ) -> None:
        super().__init__()
        for name, value in (("m", m), ("n", n)):
            if not is_int(value) or value < 1:
                raise ValueError(f"Linear: {name} must be a positive int, got {value!r}")
        self.m, self.n = int(m), int(n)
        rng = numpy.random.default_rng(0) if rng is None else rng
        dtype = check_param_dtype(dtype, f"Linear({self.m}, {self.n})")
        self.W = (rng.standard_normal((self.m, self.n)) * self.m**-0.5).astype(dtype)
        self.B = numpy.zeros(self.n, dtype=dtype)

    def _describe(self) -> str:
        return f"{self.m}, {self.n}"

    def _config(self) -> dict[str, int]:
        return {"m": self.m, "n": self.n}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if tuple(input_shape) != (self.m,):
            got = ", ".join(map(str, input_shape))
            raise ShapeError(f"{self!r}: expected input of shape (N, {self.m}), got (N, {got})")
        return (self.n,)

    @property
    def lrp_weight(self) -> Array:
        return self.W

    @property
    def lrp_bias(self) -> Array:
        return self.B

    @property
    def fan_in(self) -> int:
        return self.m

    def affine(self, x: Array, w: Array, b: Array | None = None) -> Array:
        z = x @ w
        if b is not None:
            z += b
        return z

    def affine_t(self, s: Array, w: Array) -> Array:
        return s @ w.T

    def _forward(self, X: Array) -> Array:
        return self.affine(X, self.W, self.B)

    def _forward_and_z(self, X: Array) -> tuple[Array, Array | None]:
        Y = self._forward(X)
        own = type(self)._forward is Linear._forward  # then the output is affine(X, W, B)
        return Y, (Y if own else None)

    def _backward(self, DY: Array) -> Array:
        X = self.cache.x
        self.grads = {"W": X.T @ DY, "B": DY.sum(axis=0)}
        return self.affine_t(DY, self.W)
