"""Pooling layers on NHWC inputs: SumPool (the original's sum/sqrt(k)), AvgPool and MaxPool."""

from __future__ import annotations

from typing import Any

from .. import backend
from .._typing import Array
from . import windows
from .base import Module
from .linear_family import LinearFamily

_NO_PAD = ((0, 0), (0, 0))
_NO_DILATION = (1, 1)


class _Windowed(Module):
    """Shared window bookkeeping of the pooling layers (no padding, no dilation)."""

    def __init__(self, pool: Any = (2, 2), stride: Any = (2, 2)) -> None:
        super().__init__()
        name = type(self).__name__
        self.pool = windows.as_pair(pool, f"{name} pool")
        self.stride = windows.as_pair(stride, f"{name} stride")

    def _describe(self) -> str:
        return f"pool={self.pool}, stride={self.stride}"

    def _config(self) -> dict[str, Any]:
        return {"pool": self.pool, "stride": self.stride}

    @property
    def window_size(self) -> int:
        """Number of elements ``hp * wp`` in one window."""
        return self.pool[0] * self.pool[1]

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        Ho, Wo = windows.check_spatial_input(
            self, tuple(input_shape), self.pool, self.stride, _NO_DILATION, _NO_PAD
        )
        return (Ho, Wo, input_shape[2])

    def windows(self, x: Array) -> Array:
        """All pooling windows of ``x``: ``(N, Ho, Wo, C, hp, wp)`` (a view)."""
        Ho, Wo, _ = self.output_shape(tuple(x.shape[1:]))
        return windows.window_view(x, self.pool, self.stride, _NO_DILATION, (Ho, Wo))

    def windows_t(self, v: Array, input_shape: tuple[int, ...] | None = None) -> Array:
        """Adjoint of ``windows``: ``v (N, Ho, Wo, C, hp, wp)`` summed onto ``(N, H, W, C)``."""
        H, W = (self.cache.x.shape[1:3]) if input_shape is None else input_shape[:2]
        parts = v.transpose(4, 5, 0, 1, 2, 3)
        return windows.window_sum_t(parts, (H, W), self.pool, self.stride, _NO_DILATION, _NO_PAD)

    def _reduce(self, x: Array, op: str) -> Array:
        Ho, Wo, _ = self.output_shape(tuple(x.shape[1:]))
        return windows.window_reduce(x, self.pool, self.stride, (Ho, Wo), op)

    def _window_sum(self, x: Array) -> Array:
        """Raw window sums ``S[n, p, q, c] = sum_{a,b} x[n, p*s0 + a, q*s1 + b, c]``."""
        return self._reduce(x, "sum")

    def _spread(self, s: Array) -> Array:
        """Transpose of ``_window_sum``: each window element receives its window's value of ``s``."""
        xp = backend.get_namespace(s)
        v = xp.broadcast_to(s[..., None, None], (*s.shape, *self.pool))
        return self.windows_t(v)


class _LinearPool(_Windowed, LinearFamily):
    """A pool that is linear in its input: ``Y = scale * S`` with window sums ``S``."""

    forward_scale: float = 1.0

    def affine(self, x: Array, w: Array, b: Array | None = None) -> Array:
        z = self._window_sum(x) * w
        if b is not None:
            z += b
        return z

    def affine_t(self, s: Array, w: Array) -> Array:
        return self._spread(s * w)

    @property
    def fan_in(self) -> int:
        return self.window_size

    def _forward(self, X: Array) -> Array:
        return self._window_sum(X) * X.dtype.type(self._scale())

    def _backward(self, DY: Array) -> Array:
        return self._spread(DY * DY.dtype.type(self._scale()))

    def _scale(self) -> float:
        raise NotImplementedError

    def _scalar(self, value: float) -> Array:
        """A 0-d array on the backend and in the dtype of the last forward input."""
        x = self.cache.x
        return backend.get_namespace(x).asarray(value, dtype=x.dtype)


class SumPool(_LinearPool):
    """Sum pooling with the original toolbox's scaling: ``Y = S / sqrt(hp * wp)``.

    ``S`` is the raw window sum. The 1/sqrt(k) factor (neither a sum nor a mean) is kept so that the
    original's models load unchanged. For LRP the layer acts on the raw window sum ``S`` (its
    ``lrp_weight`` is 1), so an epsilon is added to ``S`` as in the original.

    Parameters
    ----------
    pool : (hp, wp) or int
    stride : (s0, s1) or int
    """

    def _scale(self) -> float:
        return float(self.window_size) ** -0.5

    @property
    def lrp_weight(self) -> Array:
        return self._scalar(1.0)


class AvgPool(_LinearPool):
    """Average pooling ``Y = S / (hp * wp)``; its ``lrp_weight`` is ``1/(hp*wp)``."""

    def _scale(self) -> float:
        return 1.0 / self.window_size

    @property
    def lrp_weight(self) -> Array:
        return self._scalar(1.0 / self.window_size)


class MaxPool(_Windowed):
    """Max pooling ``Y[n, p, q, c] = max over the window of X``.

    Notes
    -----
    ``backward`` splits ``DY`` equally among tied maxima (a valid subgradient, symmetric in the
    tied elements); without ties this is the exact gradient. LRP rules for MaxPool (winner-take-all
    with a tie policy, or flat) live in ``lrp_toolbox.rules``; they use ``winner_mask``.
    """

    def _forward(self, X: Array) -> Array:
        return self._reduce(X, "max")

    def winner_mask(self) -> Array:
        """Boolean ``(N, Ho, Wo, C, hp, wp)``: which window elements equal the window maximum."""
        return self.cache.get("maxpool.winner_mask", self._compute_winner_mask)

    def _compute_winner_mask(self) -> Array:
        return self.windows(self.cache.x) == self.cache.y[..., None, None]

    def split_among_winners(self, R: Array) -> Array:
        """Input-shaped ``sum_j [x_i == y_j] R_j / #ties_j`` (winner-take-all, ties split evenly)."""
        mask = self.winner_mask()
        share = R / mask.sum(axis=(4, 5)).astype(R.dtype)
        return self.windows_t(mask * share[..., None, None])

    def _backward(self, DY: Array) -> Array:
        return self.split_among_winners(DY)
