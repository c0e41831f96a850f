"""2-D convolution (cross-correlation) on NHWC inputs, vectorised as chunked column GEMMs (docs/design.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy

from .. import backend
from .._typing import Array
from ..errors import ShapeError
from . import conv_columns, windows
from .base import check_param_dtype
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
        if len(fs) != 4 or not all(windows.is_int(v) and v >= 1 for v in fs):
            raise ValueError(
                f"Convolution: filtersize must be 4 positive ints (h, w, d, n), got {filtersize!r}"
            )
        h, w, d, n = (int(v) for v in fs)
        self.filtersize: tuple[int, int, int, int] = (h, w, d, n)
        self.stride = windows.as_pair(stride, "Convolution stride")
        self.padding = windows.as_padding(padding)
        self.dilation = windows.as_pair(dilation, "Convolution dilation")
        rng = numpy.random.default_rng(0) if rng is None else rng
        dtype = check_param_dtype(dtype, f"Convolution(filtersize={self.filtersize})")
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

    def windows_t(self, v: Array, input_shape: tuple[int, ...] | None = None) -> Array:
        """Adjoint of ``windows``: window values ``v (N, Ho, Wo, d, h, w)`` summed onto ``(N, H, W, d)``.

        ``out[n, i, j, c] = sum of v[n, p, q, c, a, b] over p*s0 + a*d0 - top = i and
        q*s1 + b*d1 - left = j``; values that fall on the padding are dropped. ``input_shape`` is
        ``(H, W, d)``, by default that of the last forward input.
        """
        shape = tuple(self.cache.x.shape[1:]) if input_shape is None else tuple(input_shape)
        Ho, Wo, _ = self.output_shape(shape)
        h, w, d, _ = self.filtersize
        expected = (Ho, Wo, d, h, w)
        if v.ndim != 6 or tuple(v.shape[1:]) != expected:
            raise ShapeError(
                f"{self!r}: windows_t expects values of shape (N, {', '.join(map(str, expected))}) "
                f"for inputs {shape}, got {tuple(v.shape)}"
            )
        padded = (shape[0] + sum(self.padding[0]), shape[1] + sum(self.padding[1]))
        parts = v.transpose(4, 5, 0, 1, 2, 3)  # (h, w, N, Ho, Wo, d): kernel offset first
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

    def _bands(
        self, x_shape: tuple[int, ...], K: int, like: Array
    ) -> tuple[int, int, list[conv_columns.Band]]:
        """``(Ho, Wo, bands)`` for an input of shape ``x_shape`` (validated), ``K`` column rows and
        columns of the dtype and backend of ``like``."""
        Ho, Wo, _ = self.output_shape(tuple(x_shape[1:]))
        budget = conv_columns.chunk_bytes(backend.backend_name(like))
        return Ho, Wo, list(conv_columns.row_bands(Ho, K * Wo * x_shape[0] * like.dtype.itemsize, budget))

    def _columns(self, xc: Array, band: conv_columns.Band, Wo: int) -> Array:
        """``(h*w*D, rows*Wo*N)`` receptive fields of the output rows ``band`` of ``xc (D, Hp, Wp, N)``."""
        return conv_columns.columns(xc, self.filtersize[:2], self.stride, self.dilation, band, Wo)

    def _band_z(self, xc: Array, wT: Array, b: Array | None, band: conv_columns.Band, Wo: int) -> Array:
        """``(n, rows*Wo*N)`` pre-activations of the output rows ``band``: ``wT @ cols (+ b)``."""
        zT = wT @ self._columns(xc, band, Wo)
        if b is not None:
            zT += b[:, None]
        return zT

    def _add_band_t(self, buf: Array, wK: Array, s_band: Array, band: conv_columns.Band, Wo: int) -> None:
        """Add ``affine_t`` of the band's ``s_band (n, rows*Wo*N)`` onto ``buf (d, Hp, Wp, N)``."""
        h, ww = self.filtersize[:2]
        shape = (h, ww, wK.shape[0] // (h * ww), band[1] - band[0], Wo, buf.shape[3])
        conv_columns.add_columns(buf, (wK @ s_band).reshape(shape), self.stride, self.dilation, band)

    def _t_buffer(self, d: int, x_shape: tuple[int, ...], like: Array) -> Array:
        """Zeroed padded ``(d, Hp, Wp, N)`` buffer for a transposed pass onto inputs ``x_shape``."""
        N, H, W = x_shape[:3]
        shape = (d, H + sum(self.padding[0]), W + sum(self.padding[1]), N)
        return backend.get_namespace(like).zeros(shape, dtype=like.dtype)

    def _affine_chwn(self, xs: Sequence[Array], w: Array, b: Array | None) -> Array:
        """``affine`` of the inputs ``xs`` stacked along channels, with ``w (h, w, len(xs)*d, n)``."""
        xp = backend.get_namespace(*xs, w)
        N = xs[0].shape[0]
        n = w.shape[-1]
        wT = w.reshape(-1, n).T
        Ho, Wo, bands = self._bands(xs[0].shape, wT.shape[1], xs[0])
        xc = conv_columns.to_chwn(xs, self.padding)
        out = xp.empty((N, Ho, Wo, n), dtype=xs[0].dtype)
        for band in bands:
            zT = self._band_z(xc, wT, b, band, Wo)
            conv_columns.swap_outer(zT.reshape(n, band[1] - band[0], Wo, N), out[:, band[0] : band[1]])
        return out

    def affine(self, x: Array, w: Array, b: Array | None = None) -> Array:
        """``z[n, p, q, :] = sum_{a,b,c} Xpad[n, p*s0 + a*d0, q*s1 + b*d1, c] w[a, b, c, :] (+ b)``.

        Per band of output rows one GEMM ``w.reshape(K, n).T @ cols`` with ``cols (K, rows*Wo*N)``
        (``conv_columns``); the bias is added before the band is transposed to NHWC.
        """
        return self._affine_chwn([x], w, b)

    def affine_sum(self, xs: Sequence[Array], ws: Sequence[Array], b: Array | None = None) -> Array:
        """``sum_k affine(xs[k], ws[k]) (+ b)`` as one convolution of the channel-stacked inputs."""
        xp = backend.get_namespace(*xs, *ws)
        return self._affine_chwn(xs, xp.concatenate(list(ws), axis=2), b)

    def _affine_t_chwn(self, ss: Sequence[Array], w: Array) -> Array:
        """``affine_t(s, w)`` as a padded ``(d, Hp, Wp, N)`` buffer (``d = w.shape[2]``), where ``s``
        is the concatenation of the blocks ``ss`` along the output-channel axis."""
        xp = backend.get_namespace(*ss, w)
        h, ww, d, n = w.shape
        N = ss[0].shape[0]
        dtype = ss[0].dtype
        x_shape = self.cache.x.shape
        _, Wo, bands = self._bands(x_shape, h * ww * d, ss[0])
        wK = w.reshape(h * ww * d, n)
        buf = self._t_buffer(d, x_shape, ss[0])
        for band in bands:
            rows = band[1] - band[0]
            s_band = xp.empty((n, rows, Wo, N), dtype=dtype)
            start = 0
            for s in ss:  # each block transposed straight into its rows: no concatenated copy
                stop = start + s.shape[-1]
                conv_columns.swap_outer(s[:, band[0] : band[1]], s_band[start:stop])
                start = stop
            self._add_band_t(buf, wK, s_band.reshape(n, rows * Wo * N), band, Wo)
        return buf

    def affine_t(self, s: Array, w: Array) -> Array:
        """``R[n, i, j, c] = sum over windows covering (i, j) of sum_f w[a, b, c, f] s[n, p, q, f]``.

        Per band of output rows one GEMM ``w.reshape(K, n) @ sT`` gives every kernel offset's share,
        added onto a ``(d, Hp, Wp, N)`` buffer with one slice-add per offset (``conv_columns``).
        """
        return conv_columns.from_chwn(self._affine_t_chwn([s], w), self.padding)

    def input_times_affine_t(self, x: Array, s: Array, w: Array) -> Array:
        """``x * affine_t(s, w)``, multiplied straight from the transposed pass's buffer (one pass less)."""
        return conv_columns.from_chwn(self._affine_t_chwn([s], w), self.padding, times=x)

    def affine_t_many(self, ss: Sequence[Array], ws: Sequence[Array]) -> list[Array]:
        """``[affine_t(concatenate(ss, -1), w) for w in ws]`` as one transposed pass, the weights
        stacked along ``d`` and the blocks ``ss`` never concatenated."""
        xp = backend.get_namespace(*ss, *ws)
        d = ws[0].shape[2]
        w = ws[0] if len(ws) == 1 else xp.concatenate(list(ws), axis=2)
        out = conv_columns.from_chwn(self._affine_t_chwn(ss, w), self.padding)
        return [out[..., k * d : (k + 1) * d] for k in range(len(ws))]

    def fuses_lrp_pass(self, like: Array) -> bool:
        """Whether the rules may run ``lrp_pass`` for a relevance ``like``: on NumPy, with the dtype
        and batch of the last forward input (what the engine guarantees; a relevance of another
        dtype or batch takes the unfused path, which promotes or raises as NumPy does).

        On CuPy the rules take the unfused passes: the fused pass has not been run or measured on
        a GPU. The values are the same either way.
        """
        x = self.cache.x
        return backend.backend_name(like) == "numpy" and like.dtype == x.dtype and like.shape[0] == x.shape[0]

    def _stacked(
        self, xs: Sequence[Array], ws: Sequence[Array]
    ) -> tuple[Array, int, list[conv_columns.Band]]:
        """``(wK, Wo, bands)`` of a banded LRP pass: the weights stacked along the input channels
        as ``(h*w*D, n)`` and the bands of ``affine_sum(xs, ws)`` and ``affine_t_many(., ws)``."""
        xp = backend.get_namespace(*xs, *ws)
        w = ws[0] if len(ws) == 1 else xp.concatenate(list(ws), axis=2)
        wK = w.reshape(-1, w.shape[-1])
        _, Wo, bands = self._bands(xs[0].shape, wK.shape[0], xs[0])
        return wK, Wo, bands

    def lrp_bands(
        self, xs: Sequence[Array], ws: Sequence[Array], b: Array | None, prepare: Callable[[Array], Any]
    ) -> list[Any]:
        """``[prepare(z) for every band]``: the relevance-free half of ``lrp_pass``, to memoise.

        ``z (n, rows, Wo, N)`` is a band of ``affine_sum(xs, ws, b)`` in ``lrp_pass``'s layout (a
        temporary ``prepare`` may overwrite, e.g. with stabilised denominators); hand the list to
        ``lrp_pass(..., prepared=...)`` with the same ``xs`` and ``ws``.
        """
        wK, Wo, bands = self._stacked(xs, ws)
        return list(self._band_values(xs, wK, Wo, bands, b, prepare))

    def _band_values(
        self,
        xs: Sequence[Array],
        wK: Array,
        Wo: int,
        bands: Sequence[conv_columns.Band],
        b: Array | None,
        prepare: Callable[[Array], Any],
    ) -> Iterator[Any]:
        """``prepare(z)`` band after band (a generator: one band's ``z`` alive at a time)."""
        n, N = wK.shape[1], xs[0].shape[0]
        xc = conv_columns.to_chwn(xs, self.padding)
        for band in bands:
            yield prepare(self._band_z(xc, wK.T, b, band, Wo).reshape(n, band[1] - band[0], Wo, N))

    def lrp_pass(
        self,
        xs: Sequence[Array],
        ws: Sequence[Array],
        b: Array | None,
        R: Array,
        between: Callable[[Any, Array], Array],
        prepared: Sequence[Any] | None = None,
    ) -> Array:
        """``sum_k xs[k] * affine_t(s, ws[k])`` with ``s = between(affine_sum(xs, ws, b), R)``, band by band.

        For each band of output rows, the band's pre-activations ``z`` and its share of ``R`` go
        through ``between`` and the result straight into the band's transposed GEMM: ``z`` and
        ``s`` never exist for the whole output and never change layout (``affine_sum`` and
        ``affine_t_many`` each transpose them to NHWC and back). Both GEMMs run on the same bands
        and operands as in those two methods, so the result is bitwise that of
        ``sum_k xs[k] * affine_t_many([between(affine_sum(xs, ws, b), R)], ws)[k]``.

        Parameters
        ----------
        xs : sequence of ndarray of shape (N, H, W, d)
            Inputs, e.g. ``[x+, x-]``; each is also the factor of its own transposed term.
        ws : sequence of ndarray of shape (h, w, d, n)
            One weight per input; ``n`` may exceed the layer's (stacked parts such as ``[w+, w-]``).
        b : ndarray of shape (n,) or None
        R : ndarray of shape (N, Ho, Wo, r)
            Handed to ``between`` band by band; the dtype and batch of ``xs`` (``fuses_lrp_pass``).
        between : callable
            ``between(z, r) -> s`` on a band, channels first: ``z (n, rows, Wo, N)`` (writable, may
            be returned), ``r (r, rows, Wo, N)`` (a copy of R's band), ``s (n, rows, Wo, N)``. It
            must work element by element (no reductions across the band), so that its values do
            not depend on the bands.
        prepared : list, optional
            ``lrp_bands(xs, ws, b, prepare)`` of an earlier call: the forward GEMMs are skipped and
            ``between`` gets each band's prepared value instead of ``z`` (a memoised value: it must
            not write into it).

        Returns
        -------
        ndarray of shape (N, H, W, d)
        """
        xp = backend.get_namespace(*xs, *ws, R)
        wK, Wo, bands = self._stacked(xs, ws)
        n, N, d = wK.shape[1], xs[0].shape[0], xs[0].shape[3]
        if prepared is not None and len(prepared) != len(bands):
            raise ValueError(f"{self!r}: {len(prepared)} prepared bands for a pass of {len(bands)}")
        values = self._band_values(xs, wK, Wo, bands, b, lambda z: z) if prepared is None else iter(prepared)
        buf = self._t_buffer(wK.shape[0] // (self.filtersize[0] * self.filtersize[1]), xs[0].shape, xs[0])
        for band, value in zip(bands, values, strict=True):
            rows = band[1] - band[0]
            r = xp.empty((R.shape[3], rows, Wo, N), dtype=R.dtype)  # R's band, in z's layout
            conv_columns.swap_outer(R[:, band[0] : band[1]], r)
            s = between(value, r)
            self._add_band_t(buf, wK, s.reshape(n, rows * Wo * N), band, Wo)
        if len(xs) == 1:
            return conv_columns.from_chwn(buf, self.padding, times=xs[0])
        t = conv_columns.from_chwn(buf, self.padding)
        total = xs[0] * t[..., :d]
        for k in range(1, len(xs)):
            total = total + xs[k] * t[..., k * d : (k + 1) * d]
        return total

    # ------------------------------------------------------------------ passes
    def _forward(self, X: Array) -> Array:
        return self.affine(X, self.W, self.B)

    def _forward_and_z(self, X: Array) -> tuple[Array, Array | None]:
        Y = self._forward(X)
        own = type(self)._forward is Convolution._forward  # then the output is affine(X, W, B)
        return Y, (Y if own else None)

    def _backward(self, DY: Array) -> Array:
        xp = backend.get_namespace(DY, self.W)
        x = self.cache.x
        n = DY.shape[-1]
        _, Wo, bands = self._bands(x.shape, self.W.size // n, x)
        xc = conv_columns.to_chwn([x], self.padding)
        N = DY.shape[0]
        dW = xp.zeros((self.W.size // n, n), dtype=DY.dtype)
        for band in bands:
            dy_band = xp.empty((n, band[1] - band[0], Wo, N), dtype=DY.dtype)
            conv_columns.swap_outer(DY[:, band[0] : band[1]], dy_band)
            dW += self._columns(xc, band, Wo) @ dy_band.reshape(n, -1).T
        self.grads = {"W": dW.reshape(self.W.shape), "B": DY.reshape(-1, n).sum(axis=0)}
        return self.affine_t(DY, self.W)
