"""Sample-innermost receptive-field columns: the GEMM layout of ``Convolution`` (docs/design.md).

The input is copied once to the layout ``(d, Hp, Wp, N)`` (channel, padded row, padded column,
sample). The receptive fields of a band of output rows ``p0 <= p < p1`` then form a C-ordered
operand ``cols (h*w*d, (p1-p0)*Wo*N)`` built with one copy per kernel offset whose runs are
``Wo*N`` values long (stride 1), and the layer is the GEMM ``W.reshape(h*w*d, n).T @ cols``. The
adjoint is ``W.reshape(h*w*d, n) @ sT`` followed by one slice-add per kernel offset into a
``(d, Hp, Wp, N)`` buffer, again over runs of ``Wo*N`` values. With the long axis last, BLAS runs
these skinny products 1.4-2.3x faster than the row-major ``(M, h*w*d) @ (h*w*d, n)`` form, and the
long runs make the copies and slice-adds 2-5x faster than with NHWC windows. Bands bound the
column buffer (at least one output row), which keeps the memory of a pass small for any batch
size: ``CPU_CHUNK_BYTES`` on NumPy, ``GPU_CHUNK_BYTES`` on CuPy (see ``chunk_bytes``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from .. import backend
from .._typing import Array
from . import windows

Band = tuple[int, int]
"""Output rows ``(p0, p1)``, ``p0 <= p < p1``, whose columns are built and multiplied together."""

CPU_CHUNK_BYTES = 4 * 2**20
"""Size bound of one band's column buffer on NumPy: small enough to be reused from the allocator's
free lists and caches (larger bands measured slower on LeNet-5 and VGG-16, docs/benchmarks.md)."""

GPU_CHUNK_BYTES = 128 * 2**20
"""Size bound of one band's column buffer on CuPy: a GPU needs few, large GEMMs (one output row
per band of a VGG-16 layer at batch 16 means hundreds of launches per layer), while the bound
keeps a pass's extra device memory far below a VGG-size network's activations."""


def chunk_bytes(backend_name: str) -> int:
    """The band bound for a backend (``'numpy'`` or ``'cupy'``)."""
    return GPU_CHUNK_BYTES if backend_name == "cupy" else CPU_CHUNK_BYTES


def row_bands(n_rows: int, bytes_per_row: int, budget: int) -> Iterator[Band]:
    """Consecutive output-row ranges ``(p0, p1)`` whose columns take at most ``budget`` bytes.

    A band holds at least one row. The ranges depend on the shapes and the backend only, so the
    arithmetic (and every float64 bit) of a pass is the same run to run.
    """
    step = max(1, budget // max(1, bytes_per_row))
    for start in range(0, n_rows, step):
        yield start, min(n_rows, start + step)


def swap_outer(src: Array, dst: Array, mul: Array | None = None) -> None:
    """``dst[b, y, x, a] = src[a, y, x, b]``, or ``mul[b, y, x, a] * src[a, y, x, b]``.

    The layout change between NHWC arrays and the ``(d, Hp, Wp, N)`` column layout. ``src`` and
    ``dst`` may be windows of larger arrays (a band of rows, the unpadded part of a buffer, a block
    of channels). On CuPy one tiled kernel (``conv_columns_cuda.swap_outer``); the bits are the same.

    Parameters
    ----------
    src : ndarray of shape (A, H, W, B)
    dst : ndarray of shape (B, H, W, A), written in place
    mul : ndarray of shape (B, H, W, A), optional
    """
    if backend.backend_name(dst) == "cupy":
        from . import conv_columns_cuda

        if conv_columns_cuda.swap_kernel_applies(src, dst, mul):
            conv_columns_cuda.swap_outer(src, dst, mul)
            return
    if mul is None:
        dst[...] = src.transpose(3, 1, 2, 0)
    else:
        backend.get_namespace(dst).multiply(mul, src.transpose(3, 1, 2, 0), out=dst)


def to_chwn(xs: Sequence[Array], padding: windows.Padding) -> Array:
    """Zero-padded copy ``(k*d, Hp, Wp, N)`` of ``k`` NHWC arrays ``(N, H, W, d)``, channels stacked."""
    xp = backend.get_namespace(*xs)
    N, H, W, d = xs[0].shape
    (top, bottom), (left, right) = padding
    alloc = xp.empty if padding == ((0, 0), (0, 0)) else xp.zeros
    out = alloc((len(xs) * d, H + top + bottom, W + left + right, N), dtype=xs[0].dtype)
    for k, x in enumerate(xs):
        swap_outer(x, out[k * d : (k + 1) * d, top : top + H, left : left + W, :])
    return out


def interior(buf: Array, padding: windows.Padding) -> Array:
    """The unpadded part ``(d, H, W, N)`` of a padded ``(d, Hp, Wp, N)`` buffer (a view)."""
    (top, bottom), (left, right) = padding
    _, Hp, Wp, _ = buf.shape
    return buf[:, top : Hp - bottom, left : Wp - right, :]


def from_chwn(buf: Array, padding: windows.Padding, times: Array | None = None) -> Array:
    """Crop a padded ``(d, Hp, Wp, N)`` buffer to a C-ordered NHWC array (times ``times``, NHWC)."""
    inner = interior(buf, padding)
    d, H, W, N = inner.shape
    out = backend.get_namespace(buf).empty((N, H, W, d), dtype=buf.dtype)
    swap_outer(inner, out, times)
    return out


def _band_slices(
    offset: windows.Pair, band: Band, Wo: int, stride: windows.Pair, dilation: windows.Pair
) -> tuple[slice, slice]:
    """Input rows and columns read by kernel offset ``(a, b)`` for the output rows ``band``."""
    p0, p1 = band
    r0 = p0 * stride[0] + offset[0] * dilation[0]
    c0 = offset[1] * dilation[1]
    return (
        slice(r0, r0 + stride[0] * (p1 - p0 - 1) + 1, stride[0]),
        slice(c0, c0 + stride[1] * (Wo - 1) + 1, stride[1]),
    )


def columns(
    xc: Array,
    window: windows.Pair,
    stride: windows.Pair,
    dilation: windows.Pair,
    band: Band,
    Wo: int,
) -> Array:
    """Receptive fields of the output rows ``band`` of ``xc (d, Hp, Wp, N)``.

    Returns
    -------
    ndarray of shape (h*w*d, (p1-p0)*Wo*N), C-ordered
        ``cols[(a, b, c), (p - p0, q, k)] = xc[c, p*s0 + a*d0, q*s1 + b*d1, k]``; the row order
        ``(a, b, c)`` matches ``W.reshape(h*w*d, n)``.
    """
    xp = backend.get_namespace(xc)
    d, N = xc.shape[0], xc.shape[3]
    h, w = window
    rows = band[1] - band[0]
    cols = xp.empty((h, w, d, rows, Wo, N), dtype=xc.dtype)
    sC, sH, sW, sN = xc.strides
    strides = (sW * dilation[1], sC, sH * stride[0], sW * stride[1], sN)
    for a in range(h):  # one strided copy per kernel row: all w offsets, runs of Wo*N values
        start = xc[:, band[0] * stride[0] + a * dilation[0] :]
        cols[a] = xp.lib.stride_tricks.as_strided(start, shape=(w, d, rows, Wo, N), strides=strides)
    return cols.reshape(h * w * d, rows * Wo * N)


def add_columns(buf: Array, parts: Array, stride: windows.Pair, dilation: windows.Pair, band: Band) -> None:
    """Adjoint of ``columns``, accumulated in place into ``buf (d, Hp, Wp, N)``.

    ``parts`` has the shape ``(h, w, d, p1-p0, Wo, N)``. Offsets are added in row-major order, one
    strided slice-add each on NumPy; on CuPy one gather kernel adds them in the same order
    (``conv_columns_cuda``). Deterministic, no atomics.
    """
    if backend.backend_name(buf) == "cupy":
        from . import conv_columns_cuda

        conv_columns_cuda.add_columns(buf, parts, stride, dilation, band)
        return
    add_columns_sliced(buf, parts, stride, dilation, band)


def add_columns_sliced(
    buf: Array, parts: Array, stride: windows.Pair, dilation: windows.Pair, band: Band
) -> None:
    """``add_columns`` as one strided slice-add per kernel offset (any backend)."""
    Wo = parts.shape[4]
    for a in range(parts.shape[0]):
        for b in range(parts.shape[1]):
            index = (slice(None), *_band_slices((a, b), band, Wo, stride, dilation))
            buf[index] += parts[a, b]
