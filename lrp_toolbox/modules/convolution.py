"""2-D convolution (cross-correlation) on NHWC inputs, vectorised as im2col + GEMM (docs/design.md)."""

from __future__ import annotations

from typing import Any

import numpy

from .. import backend
from .._typing import Array
from . import windows
from .linear_family import LinearFamily


class Convolution(LinearFamily):
    """Cross-correlation ``Y[n,p,q,f] = sum_{a,b,c} Xpad[n, p*s0 + a*d0, q*s1 + b*d1, c] W[a,b,c,f] + B[f]``.

    Parameters
    ----------
    filtersize : (h, w, d, n)
        Filter height and width, input depth and number of filters.
    stride : (s0, s1) or int
    padding : 'valid', int, (ph, pw) or ((top, bottom), (left, right))
        Zero padding of the input (default none, as in the original toolbox).
    dilation : (d0, d1) or int
    rng : numpy.random.Generator, optional
        Source of the initial weights ``W ~ N(0, 1/(h*w*d))``; default ``default_rng(0)``.
    dtype : numpy dtype
        ``float64`` (default) or ``float32``.

    Attributes
    ----------
    W : ndarray of shape (h, w, d, n)
    B : ndarray of shape (n,)

    Notes
    -----
    Output size per axis: ``(H + pad_before + pad_after - ((h - 1)*d0 + 1)) // s0 + 1``; rows and
    columns that fill no window are ignored, as in the original toolbox.
    """

    param_names = ("W", "B")

    def __init__(
        self,
        filtersize: tuple[int, int, int, int] = (5, 5, 3, 32),
        stride: Any = (2, 2),
        padding: Any = 0,
        dilation: Any = (1, 1),
        rng: numpy.random.Generator | None = None,
        dtype: object = numpy.float64,
    ) -> None:
        super().__init__()
        fs = tuple(filtersize)
        if len(fs) != 4 or not all(isinstance(v, (int, numpy.integer)) and v >= 1 for v in fs):
            raise ValueError(
                f"Convolution: filtersize must be 4 positive ints (h, w, d, n), got {filtersize!r}"
            )
        self.filtersize = tuple(int(v) for v in fs)
        self.stride = windows.as_pair(stride, "Convolution stride")
        self.padding = windows.as_padding(padding)
        self.dilation = windows.as_pair(dilation, "Convolution dilation")
        h, w, d, n = self.filtersize
        rng = numpy.random.default_rng(0) if rng is None else rng
        self.W = (rng.standard_normal(self.filtersize) * (h * w * d) ** -0.5).astype(dtype)
        self.B = numpy.zeros(n, dtype=dtype)

    def _describe(self) -> str:
        text = f"filtersize={self.filtersize}, stride={self.stride}"
        if self.padding != ((0, 0), (0, 0)):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        return text

    def _config(self) -> dict[str, Any]:
        return {
            "filtersize": self.filtersize,
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
        }

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        h, w, d, n = self.filtersize
        Ho, Wo = windows.check_spatial_input(
            self, tuple(input_shape), (h, w), self.stride, self.dilation, self.padding, depth=d
        )
        return (Ho, Wo, n)

    # ------------------------------------------------------------------ windows
    def windows(self, x: Array) -> Array:
        """All receptive fields of ``x``: ``(N, Ho, Wo, d, h, w)`` (a view of the padded input)."""
        Ho, Wo, _ = self.output_shape(tuple(x.shape[1:]))
        h, w = self.filtersize[:2]
        return windows.window_view(windows.pad(x, self.padding), (h, w), self.stride, self.dilation, (Ho, Wo))

    def windows_t(self, cols: Array, input_shape: tuple[int, ...]) -> Array:
        """Adjoint of ``windows``: ``cols (N, Ho, Wo, h, w, d)`` summed onto ``(N, H, W, d)``."""
        return self._offsets_t(cols.transpose(3, 4, 0, 1, 2, 5), input_shape)

    def _offsets_t(self, parts: Array, input_shape: tuple[int, ...]) -> Array:
        """Adjoint of ``windows`` for offset-major ``parts (h, w, N, Ho, Wo, d)``."""
        H, W = input_shape[0], input_shape[1]
        padded = (H + sum(self.padding[0]), W + sum(self.padding[1]))
        h, w = self.filtersize[:2]
        return windows.window_sum_t(parts, padded, (h, w), self.stride, self.dilation, self.padding)

    # ------------------------------------------------------------------ linear-family interface
    @property
    def lrp_weight(self) -> Array:
        return self.W

    @property
    def lrp_bias(self) -> Array:
        return self.B

    @property
    def fan_in(self) -> int:
        h, w, d, _ = self.filtersize
        return h * w * d

    def gemm_cols(self, x: Array) -> Array:
        """Receptive fields of ``x`` (zero-padded) as a ``(N*Ho*Wo, h*w*d)`` GEMM operand."""
        Ho, Wo, _ = self.output_shape(tuple(x.shape[1:]))
        h, w = self.filtersize[:2]
        return windows.gemm_cols(windows.pad(x, self.padding), (h, w), self.stride, self.dilation, (Ho, Wo))

    def affine(self, x: Array, w: Array, b: Array | None = None) -> Array:
        backend.get_namespace(x, w)
        Ho, Wo, _ = self.output_shape(tuple(x.shape[1:]))
        n = w.shape[-1]
        z = (self.gemm_cols(x) @ w.reshape(-1, n)).reshape(x.shape[0], Ho, Wo, n)
        if b is not None:
            z += b
        return z

    def affine_t(self, s: Array, w: Array) -> Array:
        xp = backend.get_namespace(s, w)
        h, ww, d = w.shape[:3]
        N, Ho, Wo, n = s.shape
        H, W = self.cache.x.shape[1:3]
        s2 = s.reshape(N * Ho * Wo, n)
        if d == 1:  # one plain GEMM gives the offset-major layout (h*w, M) directly
            parts = (w.reshape(h * ww, n) @ s2.T).reshape(h, ww, N, Ho, Wo, 1)
            return self._offsets_t(parts, (H, W))
        # per kernel row a: one batched GEMM (M, n) @ (n, d) for its w offsets, offset-major so that
        # every slice-add reads a contiguous slab; the buffer is 1/h of the full im2col size
        out = xp.zeros((N, H + sum(self.padding[0]), W + sum(self.padding[1]), d), dtype=s.dtype)
        for a in range(h):
            parts = xp.matmul(s2, w[a].transpose(0, 2, 1))
            windows.add_window_row(out, parts.reshape(ww, N, Ho, Wo, d), a, self.stride, self.dilation)
        return windows.crop(out, self.padding)

    # ------------------------------------------------------------------ passes
    def _forward(self, X: Array) -> Array:
        return self.affine(X, self.W, self.B)

    def _backward(self, DY: Array) -> Array:
        backend.get_namespace(DY, self.W)
        n = DY.shape[-1]
        DY2 = DY.reshape(-1, n)
        dW = (self.gemm_cols(self.cache.x).T @ DY2).reshape(self.W.shape)
        self.grads = {"W": dW, "B": DY2.sum(axis=0)}
        return self.affine_t(DY, self.W)
