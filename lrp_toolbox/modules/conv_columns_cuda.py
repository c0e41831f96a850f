"""The adjoint of ``conv_columns.columns`` on CuPy as one gather kernel per band.

On NumPy, ``conv_columns.add_columns`` adds each kernel offset's share with one strided slice-add
(``h*w`` passes over the band's rows of the buffer). On a GPU each of these is a kernel launch that
reads and writes the buffer again: for a 3x3 convolution 27 band-sized transfers and 9 launches.
Here one thread per element of the buffer's touched rows reads its current value and adds the
shares of every offset ``(a, b)`` that covers it, in row-major ``(a, b)`` order, then writes once
(10 transfers, one launch, no atomics).

The additions per element happen in the same order as the slice-adds (starting from the buffer's
value, offset ``(0, 0)`` first), so on one device both paths give the same bits
(``tests/test_gpu.py`` checks it), and float64 results repeat bit for bit.
"""

from __future__ import annotations

import functools
from typing import Any

from .._typing import Array
from . import windows

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


def add_columns(
    buf: Array, parts: Array, stride: windows.Pair, dilation: windows.Pair, band: tuple[int, int]
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
    h, w, d, rows, Wo, N = parts.shape
    if not parts.flags.c_contiguous:  # the GEMM result always is; a view would be indexed wrongly
        parts = parts.copy()
    y0 = band[0] * stride[0]
    y1 = min(buf.shape[1], y0 + (rows - 1) * stride[0] + (h - 1) * dilation[0] + 1)
    x1 = min(buf.shape[2], (Wo - 1) * stride[1] + (w - 1) * dilation[1] + 1)
    view = buf[:, y0:y1, :x1]
    _kernel()(parts, h, w, d, rows, Wo, N, view.shape[1], view.shape[2], *stride, *dilation, view)
