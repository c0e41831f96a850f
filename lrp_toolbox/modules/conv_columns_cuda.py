"""CuPy kernels of ``conv_columns``: the adjoint of ``columns`` and the layout swaps.

**Adjoint of ``columns``**, one gather kernel per band.

On NumPy, ``conv_columns.add_columns`` adds each kernel offset's share with one strided slice-add
(``h*w`` passes over the band's rows of the buffer). On a GPU each of these is a kernel launch that
reads and writes the buffer again: for a 3x3 convolution 27 band-sized transfers and 9 launches.
Here one thread per element of the buffer's touched rows reads its current value and adds the
shares of every offset ``(a, b)`` that covers it, in row-major ``(a, b)`` order, then writes once
(10 transfers, one launch, no atomics).

The additions per element happen in the same order as the slice-adds (starting from the buffer's
value, offset ``(0, 0)`` first), so on one device both paths give the same bits
(``tests/test_gpu.py`` checks it), and float64 results repeat bit for bit.

**Layout swaps** ``dst[b, y, x, a] = src[a, y, x, b]`` (optionally times ``mul[b, y, x, a]``)
between NHWC activations and the ``(d, Hp, Wp, N)`` column layout. CuPy runs the plain
``dst[...] = src.transpose(3, 1, 2, 0)`` as an element-wise copy whose reads (or writes) jump by a
whole image per element; here a 32x32 tile of the ``(a, b)`` plane of one position ``(y, x)`` goes
through shared memory, so reads and writes both run along their contiguous axis. Values are only
moved (or multiplied once, as NumPy does), so the bits are those of the NumPy path.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy

from .._typing import Array
from . import conv_columns, windows

_SWAP_SOURCE = r"""
extern "C" __global__ void lrp_toolbox_swap_outer(
    const T* src, T* dst, const T* mul, const int has_mul,
    const long long A, const long long W, const long long B,
    const long long sA, const long long sH, const long long sW, const long long sB,
    const long long dB, const long long dH, const long long dW, const long long dA,
    const long long mB, const long long mH, const long long mW, const long long mA)
{
    __shared__ T tile[32][33];
    const long long y = blockIdx.x / W, x = blockIdx.x - (blockIdx.x / W) * W;
    const long long b0 = (long long)blockIdx.y * 32, a0 = (long long)blockIdx.z * 32;
    const T* s = src + y * sH + x * sW;
    for (int j = threadIdx.y; j < 32; j += 8) {
        const long long a = a0 + j, b = b0 + threadIdx.x;
        if (a < A && b < B) tile[j][threadIdx.x] = s[a * sA + b * sB];
    }
    __syncthreads();
    T* d = dst + y * dH + x * dW;
    const T* m = mul + y * mH + x * mW;
    for (int j = threadIdx.y; j < 32; j += 8) {
        const long long b = b0 + j, a = a0 + threadIdx.x;
        if (a < A && b < B) {
            T v = tile[threadIdx.x][j];
            if (has_mul) v = m[b * mB + a * mA] * v;
            d[b * dB + a * dA] = v;
        }
    }
}
"""

_OPERATION = r"""
const ptrdiff_t k = i % nb;
ptrdiff_t t = i / nb;
const int xx = (int)(t % nx);
t /= nx;
const int yy = (int)(t % ny);
const ptrdiff_t c = t / ny;
T v = y;
for (int a = 0; a < h; ++a) {
    const int py = yy - a * d0;
    if (py < 0 || py % s0 != 0 || py / s0 >= rows) continue;
    const ptrdiff_t p = py / s0;
    for (int b = 0; b < w; ++b) {
        const int qx = xx - b * d1;
        if (qx < 0 || qx % s1 != 0 || qx / s1 >= wo) continue;
        const ptrdiff_t q = qx / s1;
        v += parts[((((ptrdiff_t)(a * w + b) * d + c) * rows + p) * wo + q) * nb + k];
    }
}
y = v;
"""


@functools.cache
def _kernel() -> Any:
    """The compiled-on-first-use ``ElementwiseKernel`` (an immutable object; CuPy caches the binary)."""
    import cupy

    return cupy.ElementwiseKernel(
        "raw T parts, int32 h, int32 w, int32 d, int32 rows, int32 wo, int32 nb, int32 ny, int32 nx, "
        "int32 s0, int32 s1, int32 d0, int32 d1",
        "T y",
        _OPERATION,
        "lrp_toolbox_add_columns",
        reduce_dims=False,  # ``i`` is the C-order index over the (d, rows, columns, N) view
    )


@functools.cache
def _swap_kernel(ctype: str) -> Any:
    """The compiled-on-first-use swap kernel for ``T = ctype`` ('float' or 'double')."""
    import cupy

    return cupy.RawKernel(f"typedef {ctype} T;\n{_SWAP_SOURCE}", "lrp_toolbox_swap_outer")


def _element_strides(a: Array) -> tuple[int, ...]:
    return tuple(stride // a.itemsize for stride in a.strides)


_MAX_TILES = 65535
"""CUDA's limit on the second and third grid dimensions (tiles of 32 along B and A)."""


def swap_kernel_applies(src: Array, dst: Array, mul: Array | None = None) -> bool:
    """Whether ``swap_outer`` handles these arrays: one float32 or float64 dtype for all, and at most
    ``32 * 65535`` values along ``A`` and ``B`` (otherwise the caller uses CuPy's own copy)."""
    dtypes = {src.dtype, dst.dtype} | ({mul.dtype} if mul is not None else set())
    A, _, _, B = src.shape
    fits = (A + 31) // 32 <= _MAX_TILES and (B + 31) // 32 <= _MAX_TILES
    return fits and len(dtypes) == 1 and src.dtype in (numpy.float32, numpy.float64)


def swap_outer(src: Array, dst: Array, mul: Array | None = None) -> None:
    """``dst[b, y, x, a] = src[a, y, x, b]`` (times ``mul[b, y, x, a]``) for CuPy views
    (``swap_kernel_applies`` must hold).

    Parameters
    ----------
    src : cupy.ndarray of shape (A, H, W, B), any strides (a window of a larger array)
    dst : cupy.ndarray of shape (B, H, W, A), any strides; written in place
    mul : cupy.ndarray of shape (B, H, W, A), optional
    """
    import cupy

    A, H, W, B = src.shape
    if src.size == 0:
        return
    kernel = _swap_kernel("double" if src.dtype == cupy.float64 else "float")
    m = dst if mul is None else mul
    grid = (H * W, (B + 31) // 32, (A + 31) // 32)
    sizes = (A, W, B, *_element_strides(src), *_element_strides(dst), *_element_strides(m))
    kernel(grid, (32, 8), (src, dst, m, numpy.int32(mul is not None), *map(numpy.int64, sizes)))


def add_columns(
    buf: Array, parts: Array, stride: windows.Pair, dilation: windows.Pair, band: conv_columns.Band
) -> None:
    """``conv_columns.add_columns`` for CuPy arrays: ``buf (d, Hp, Wp, N) += adjoint(parts)``.

    Parameters
    ----------
    buf : cupy.ndarray of shape (d, Hp, Wp, N)
        Padded accumulator, updated in place (only the rows the band touches are visited).
    parts : cupy.ndarray of shape (h, w, d, p1-p0, Wo, N), C-ordered
        ``parts[a, b, c, p - p0, q, k]`` is added to ``buf[c, p*s0 + a*d0, q*s1 + b*d1, k]``.
    stride, dilation : (int, int)
    band : (p0, p1)
        The output rows of ``parts``.
    """
    import cupy

    h, w, d, rows, Wo, N = parts.shape
    parts = cupy.ascontiguousarray(parts)  # a no-op for the GEMM result; the kernel indexes C order
    y0 = band[0] * stride[0]
    y1 = min(buf.shape[1], y0 + (rows - 1) * stride[0] + (h - 1) * dilation[0] + 1)
    x1 = min(buf.shape[2], (Wo - 1) * stride[1] + (w - 1) * dilation[1] + 1)
    view = buf[:, y0:y1, :x1]
    _kernel()(parts, h, w, d, rows, Wo, N, view.shape[1], view.shape[2], *stride, *dilation, view)
