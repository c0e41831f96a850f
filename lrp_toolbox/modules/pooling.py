"""Pooling layers on NHWC inputs: SumPool (the original's sum/sqrt(k)), AvgPool and MaxPool.

Pools whose stride equals the pool (``tiled``: the windows tile the input without overlap, the
common case) take fast paths for the adjoints: every covered input element belongs to exactly one
window, so spreading output values back is one ``repeat`` along W plus one broadcasting write over a
``(N, Ho, hp, Wo*wp*C)`` view, instead of ``hp*wp`` strided slice-adds into a zeroed array. Other
pools use the generic window helpers of ``windows``.
"""

from __future__ import annotations

from typing import Any

import numpy

from .. import backend
from .._typing import Array
from . import windows
from .base import Module
from .linear_family import LinearFamily

_NO_PAD = ((0, 0), (0, 0))
_NO_DILATION = (1, 1)


def _row_step(a: Array) -> int | None:
    """Stride of the merged ``(W, C)`` axes of an NHWC array, ``None`` when they do not merge."""
    _, _, W, C = a.shape
    _, _, sW, sC = a.strides
    if C == 1:
        return int(sW)
    if W == 1 or sW == C * sC:
        return int(sC)
    return None


def _tile_rows(a: Array, pool: windows.Pair, out_hw: windows.Pair) -> Array:
    """View ``(N, Ho, hp, Wo*wp*C)`` of the tiled region ``a[:, :Ho*hp, :Wo*wp, :]`` of an NHWC array.

    ``view[n, p, i, (q*wp + j)*C + c] = a[n, p*hp + i, q*wp + j, c]``: one entry per input row of
    tile row ``p``, the ``Wo*wp*C`` values of that row merged into the last axis. Built with
    explicit strides, so writes through it always reach ``a`` (a reshape of a non-contiguous view
    may silently copy). ``a`` must have mergeable W and C axes (any C-contiguous array has).
    """
    step = _row_step(a)
    if step is None:
        raise ValueError(f"cannot view an array with strides {a.strides} as tile rows")
    N, _, _, C = a.shape
    (hp, wp), (Ho, Wo) = pool, out_hw
    sN, sH = a.strides[:2]
    xp = backend.get_namespace(a)
    return xp.lib.stride_tricks.as_strided(a, shape=(N, Ho, hp, Wo * wp * C), strides=(sN, hp * sH, sH, step))


def _read_rows(a: Array, pool: windows.Pair, out_hw: windows.Pair) -> Array:
    """``_tile_rows`` for reading: of a contiguous copy of ``a`` when the layout of ``a`` needs one."""
    if _row_step(a) is None:
        a = backend.get_namespace(a).ascontiguousarray(a)
    return _tile_rows(a, pool, out_hw)


def _tile_windows(a: Array, pool: windows.Pair, out_hw: windows.Pair) -> Array:
    """View ``(N, Ho, hp, Wo, wp, C)`` of the tiled region of an NHWC array (explicit strides).

    ``view[n, p, i, q, j, c] = a[n, p*hp + i, q*wp + j, c]``; valid for any strides of ``a``.
    """
    N, _, _, C = a.shape
    (hp, wp), (Ho, Wo) = pool, out_hw
    sN, sH, sW, sC = a.strides
    xp = backend.get_namespace(a)
    return xp.lib.stride_tricks.as_strided(
        a, shape=(N, Ho, hp, Wo, wp, C), strides=(sN, hp * sH, sH, wp * sW, sW, sC)
    )


def _repeat_columns(s: Array, wp: int) -> Array:
    """``s (N, Ho, Wo, C)`` repeated ``wp`` times along W, as ``(N, Ho, 1, Wo*wp*C)``.

    Broadcast against ``_tile_rows`` it gives every element of a window its window's value.
    """
    N, Ho, Wo, C = s.shape
    # repeat returns a new C-contiguous array, so this reshape is a view (and only read)
    return backend.get_namespace(s).repeat(s, wp, axis=2).reshape(N, Ho, 1, Wo * wp * C)


def _times(a: Array, w: Array) -> Array:
    """``a * w`` for a pool's 0-d weight; ``a`` itself (read-only use) when ``w`` is a NumPy 1 of
    ``a``'s dtype, e.g. SumPool's ``lrp_weight``: ``a * 1`` is ``a`` bit for bit, and the pass
    and its temporary are saved."""
    if isinstance(w, numpy.ndarray) and w.ndim == 0 and w.dtype == a.dtype and w == 1:
        return a
    return a * w


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

    @property
    def tiled(self) -> bool:
        """Whether the windows tile the input (``stride == pool``: no overlap, no gaps)."""
        return self.stride == self.pool

    def _input_hw(self, input_shape: tuple[int, ...] | None) -> tuple[int, int]:
        H, W = self.cache.x.shape[1:3] if input_shape is None else input_shape[:2]
        return int(H), int(W)

    def _tiled_output(self, xp: Any, shape: tuple[int, ...], dtype: Any, out_hw: windows.Pair) -> Array:
        """Uninitialised NHWC array for a tiled adjoint, with the rows and columns that lie in no
        window (trailing ones, when H or W is not a multiple of the pool) set to exactly 0."""
        out = xp.empty(shape, dtype=dtype)
        rows, cols = out_hw[0] * self.pool[0], out_hw[1] * self.pool[1]
        if rows < shape[1]:
            out[:, rows:] = 0
        if cols < shape[2]:
            out[:, :rows, cols:] = 0
        return out

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
        """Adjoint of ``windows``: ``v (N, Ho, Wo, C, hp, wp)`` summed onto ``(N, H, W, C)``.

        ``input_shape`` is ``(H, W, C)``, by default that of the last forward input. Tiled pools
        write each window element to its input position (one strided copy; a ``v`` broadcast along
        the window axes takes the ``_spread`` path); rows and columns in no window get 0.
        """
        if not self.tiled:
            return self._windows_t_generic(v, input_shape)
        if all(v.shape[k] == 1 or v.strides[k] == 0 for k in (4, 5)):
            return self._spread(v[..., 0, 0], input_shape)
        xp = backend.get_namespace(v)
        N, Ho, Wo, C = v.shape[:4]
        out = self._tiled_output(xp, (N, *self._input_hw(input_shape), C), v.dtype, (Ho, Wo))
        _tile_windows(out, self.pool, (Ho, Wo))[...] = v.transpose(0, 1, 4, 2, 5, 3)
        return out

    def _windows_t_generic(self, v: Array, input_shape: tuple[int, ...] | None = None) -> Array:
        """``windows_t`` for any pool: one strided slice-add per window offset onto zeros."""
        parts = v.transpose(4, 5, 0, 1, 2, 3)
        return windows.window_sum_t(
            parts, self._input_hw(input_shape), self.pool, self.stride, _NO_DILATION, _NO_PAD
        )

    def _reduce(self, x: Array, op: str) -> Array:
        Ho, Wo, _ = self.output_shape(tuple(x.shape[1:]))
        return windows.window_reduce(x, self.pool, self.stride, (Ho, Wo), op)

    def _window_sum(self, x: Array) -> Array:
        """Raw window sums ``S[n, p, q, c] = sum_{a,b} x[n, p*s0 + a, q*s1 + b, c]``."""
        return self._reduce(x, "sum")

    def _spread(self, s: Array, input_shape: tuple[int, ...] | None = None) -> Array:
        """Transpose of ``_window_sum``: each window element receives its window's value of ``s``.

        Tiled pools: one ``repeat`` along W and one broadcasting write over the
        ``(N, Ho, hp, Wo*wp*C)`` rows of the tiled region; rows and columns in no window get 0.
        """
        if not self.tiled:
            return self._spread_generic(s, input_shape)
        xp = backend.get_namespace(s)
        N, Ho, Wo, C = s.shape
        out = self._tiled_output(xp, (N, *self._input_hw(input_shape), C), s.dtype, (Ho, Wo))
        _tile_rows(out, self.pool, (Ho, Wo))[...] = _repeat_columns(s, self.pool[1])
        return out

    def _spread_generic(self, s: Array, input_shape: tuple[int, ...] | None = None) -> Array:
        """``_spread`` for any pool, through the generic ``windows_t``."""
        xp = backend.get_namespace(s)
        v = xp.broadcast_to(s[..., None, None], (*s.shape, *self.pool))
        return self._windows_t_generic(v, input_shape)


class _LinearPool(_Windowed, LinearFamily):
    """A pool that is linear in its input: ``Y = scale * S`` with window sums ``S``."""

    def affine(self, x: Array, w: Array, b: Array | None = None) -> Array:
        z = _times(self._window_sum(x), w)
        if b is not None:
            z += b
        return z

    def affine_t(self, s: Array, w: Array) -> Array:
        return self._spread(_times(s, w))

    def input_times_affine_t(self, x: Array, s: Array, w: Array) -> Array:
        """``x * affine_t(s, w)``; for tiled pools fused into one multiply over the tiled rows.

        Bitwise equal to ``x * self.affine_t(s, w)``; inputs in no window get exactly 0.
        """
        if not self.tiled:
            return x * self.affine_t(s, w)
        t = _times(s, w)
        xp = backend.get_namespace(x, t)
        Ho, Wo = t.shape[1:3]
        N = t.shape[0] if x.shape[0] == 1 else x.shape[0]
        out = self._tiled_output(xp, (N, *x.shape[1:]), numpy.result_type(x.dtype, t.dtype), (Ho, Wo))
        xp.multiply(
            _read_rows(x, self.pool, (Ho, Wo)),
            _repeat_columns(t, self.pool[1]),
            out=_tile_rows(out, self.pool, (Ho, Wo)),
        )
        return out

    @property
    def fan_in(self) -> int:
        return self.window_size

    def _forward(self, X: Array) -> Array:
        return self._scaled_sums(X)[0]

    def _scaled_sums(self, X: Array) -> tuple[Array, Array]:
        """``(Y, S)``: the output ``Y = scale * S`` and the raw window sums ``S``."""
        S = self._window_sum(X)
        return S * X.dtype.type(self._scale()), S

    def _forward_and_z(self, X: Array) -> tuple[Array, Array | None]:
        """``Y`` and the pre-activation ``affine(X, lrp_weight)`` (``_z_of``)."""
        if type(self)._forward is not _LinearPool._forward:  # a subclass's own forward: no z kept
            return super()._forward_and_z(X)
        Y, S = self._scaled_sums(X)
        return Y, self._z_of(S, Y)

    def _z_of(self, S: Array, Y: Array) -> Array:
        """``affine(X, lrp_weight)`` of the forward's window sums ``S`` and output ``Y`` (same bits).

        A subclass that changes ``_scale`` or ``lrp_weight`` must override it as well.
        """
        raise NotImplementedError

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

    def _z_of(self, S: Array, Y: Array) -> Array:
        return S  # lrp_weight 1: z is the raw window sum

    @property
    def lrp_weight(self) -> Array:
        return self._scalar(1.0)


class AvgPool(_LinearPool):
    """Average pooling ``Y = S / (hp * wp)``; its ``lrp_weight`` is ``1/(hp*wp)``."""

    def _scale(self) -> float:
        return 1.0 / self.window_size

    def _z_of(self, S: Array, Y: Array) -> Array:
        return Y  # S * (1/k), the product affine computes with lrp_weight 1/k

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
        """Boolean ``(N, Ho, Wo, C, hp, wp)``: which window elements equal the window maximum.

        For tiled pools a transposed view of an array in the input's layout (not C-contiguous).
        """
        return self.cache.get("maxpool.winner_mask", self._compute_winner_mask)

    def _compute_winner_mask(self) -> Array:
        x, y = self.cache.x, self.cache.y
        if not self.tiled:
            return self.windows(x) == y[..., None, None]
        # tiled: compare in the input's layout (no temporary besides the mask), then view the
        # mask as (N, Ho, Wo, C, hp, wp)
        xp = backend.get_namespace(x)
        N, Ho, Wo, C = y.shape
        hp, wp = self.pool
        tiles = xp.empty((N, Ho, hp, Wo, wp, C), dtype=bool)
        xp.equal(_tile_windows(x, self.pool, (Ho, Wo)), y[:, :, None, :, None, :], out=tiles)
        return tiles.transpose(0, 1, 3, 5, 2, 4)

    def first_winner_mask(self) -> Array:
        """Boolean ``(N, Ho, Wo, C, hp, wp)``: the first maximum of each window in row-major window
        order (the element PyTorch's max-pool gradient picks). Memoised like ``winner_mask``."""
        return self.cache.get("maxpool.first_winner_mask", self._compute_first_winner_mask)

    def _compute_first_winner_mask(self) -> Array:
        mask = self.winner_mask()
        xp = backend.get_namespace(mask)
        N, Ho, Wo, C, hp, wp = mask.shape
        if not self.tiled:
            flat = mask.reshape(N, Ho, Wo, C, hp * wp)
            first = xp.argmax(flat, axis=-1)
            return (xp.arange(hp * wp) == first[..., None]).reshape(mask.shape)
        # tiled: walk the window offsets in row-major order; an element wins if it is a maximum
        # and no earlier offset of its window was (one pass per offset over (N, Ho, Wo, C))
        tiles = mask.transpose(0, 1, 4, 2, 5, 3)  # (N, Ho, hp, Wo, wp, C), the input's layout
        out = xp.empty(tiles.shape, dtype=bool)
        taken = tiles[:, :, 0, :, 0].copy()
        out[:, :, 0, :, 0] = taken
        offsets = [(a, b) for a in range(hp) for b in range(wp)][1:]
        for k, (a, b) in enumerate(offsets):
            current = tiles[:, :, a, :, b]
            xp.greater(current, taken, out=out[:, :, a, :, b])  # current and not taken
            if k + 1 < len(offsets):
                taken |= current
        return out.transpose(0, 1, 3, 5, 2, 4)

    def winner_count(self) -> Array:
        """Number of maxima per window, ``(N, Ho, Wo, C)``, as integers (``uint8`` when they fit)."""
        return self.cache.get("maxpool.winner_count", self._compute_winner_count)

    def _compute_winner_count(self) -> Array:
        mask = self.winner_mask()
        if not self.tiled:
            return mask.sum(axis=(4, 5))
        N, Ho, Wo, C, hp, wp = mask.shape
        acc = numpy.uint8 if hp * wp <= 255 else numpy.int64
        rows = mask.transpose(0, 1, 4, 2, 5, 3).reshape(N, Ho, hp, Wo * wp * C)
        per_column = rows[:, :, 0].astype(acc)  # (N, Ho, Wo*wp*C): counts of each window column
        for a in range(1, hp):
            per_column += rows[:, :, a]
        per_column = per_column.reshape(N, Ho, Wo, wp, C)
        count = per_column[:, :, :, 0].copy()
        for b in range(1, wp):
            count += per_column[:, :, :, b]
        return count

    def spread_to(self, mask: Array, share: Array) -> Array:
        """Input-shaped ``sum_j mask[j, i] share_j``: each window's value to its masked elements.

        Parameters
        ----------
        mask : bool ndarray of shape (N, Ho, Wo, C, hp, wp)
            ``winner_mask()`` or ``first_winner_mask()``.
        share : ndarray of shape (N, Ho, Wo, C)

        Returns
        -------
        ndarray of shape (N, H, W, C)
            Elements in no window are 0.
        """
        xp = backend.get_namespace(share)
        if not self.tiled:
            return self.windows_t(mask * share[..., None, None])
        # tiled: one multiply of the mask rows with the shares repeated along W
        N, Ho, Wo, C, hp, wp = mask.shape
        rows = mask.transpose(0, 1, 4, 2, 5, 3).reshape(N, Ho, hp, Wo * wp * C)
        out = self._tiled_output(xp, (N, *self._input_hw(None), C), share.dtype, (Ho, Wo))
        xp.multiply(rows, _repeat_columns(share, wp), out=_tile_rows(out, self.pool, (Ho, Wo)))
        return out

    def split_among_winners(self, R: Array) -> Array:
        """Input-shaped ``sum_j [x_i == y_j] R_j / #ties_j`` (winner-take-all, ties split evenly)."""
        count = self.winner_count()
        if count.dtype != numpy.uint8:  # uint8 counts convert exactly inside the division, in R's dtype
            count = count.astype(R.dtype)
        return self.spread_to(self.winner_mask(), R / count)

    def to_first_winner(self, R: Array) -> Array:
        """Input-shaped ``R`` given whole to each window's first maximum (``first_winner_mask``)."""
        return self.spread_to(self.first_winner_mask(), R)

    def _backward(self, DY: Array) -> Array:
        return self.split_among_winners(DY)
