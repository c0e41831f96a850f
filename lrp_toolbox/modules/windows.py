"""Sliding-window helpers shared by convolution and pooling (NHWC, no Python loop over outputs).

``window_view`` returns a strided view ``(N, Ho, Wo, C, h, w)`` of the padded input; its adjoint
``window_sum_t`` adds window-shaped values back onto input positions with one strided slice-add per
kernel offset (h*w iterations, deterministic order, no atomics).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeGuard

import numpy

from .. import backend
from .._typing import Array
from ..errors import ShapeError

Pair = tuple[int, int]
Padding = tuple[Pair, Pair]


def is_int(value: object) -> TypeGuard[int | numpy.integer]:
    """A Python or NumPy integer, not a bool."""
    return isinstance(value, (int, numpy.integer)) and not isinstance(value, (bool, numpy.bool_))


def as_pair(value: object, name: str, minimum: int = 1) -> Pair:
    """Normalise an int or a pair of ints, each ``>= minimum``."""
    items = (value, value) if is_int(value) else _items(value)
    ints = [int(v) for v in items if is_int(v)]
    if len(items) != 2 or len(ints) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(ints) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return (ints[0], ints[1])


def _items(value: object) -> tuple[object, ...]:
    """``tuple(value)`` for an iterable that is not a string, else ``()`` (never a valid pair)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return ()
    try:
        return tuple(value)
    except TypeError:  # e.g. a 0-d array
        return ()


def as_padding(value: object) -> Padding:
    """Normalise padding: ``'valid'``, an int, ``(ph, pw)`` or ``((top, bottom), (left, right))``."""
    if value is None or (isinstance(value, str) and value == "valid"):
        return ((0, 0), (0, 0))
    if is_int(value):
        p = as_pair(value, "padding", 0)
        return ((p[0], p[0]), (p[1], p[1]))
    items = _items(value)
    if len(items) == 2 and all(is_int(v) for v in items):
        ph, pw = as_pair(items, "padding", 0)
        return ((ph, ph), (pw, pw))
    if len(items) == 2:
        return (as_pair(items[0], "padding", 0), as_pair(items[1], "padding", 0))
    raise ValueError(f"padding must be 'valid', an int or pairs of ints, got {value!r}")


def output_size(size: int, window: int, stride: int, dilation: int, pad: Pair) -> int:
    """Number of window positions along one axis (trailing rows that fill no window are dropped)."""
    extent = (window - 1) * dilation + 1
    padded = size + pad[0] + pad[1]
    if extent > padded:
        return 0
    return (padded - extent) // stride + 1


def check_spatial_input(
    layer: object,
    input_shape: tuple[int, ...],
    window: Pair,
    stride: Pair,
    dilation: Pair,
    padding: Padding,
    depth: int | None = None,
) -> tuple[int, int]:
    """Validate an NHWC input shape (without batch axis); return ``(Ho, Wo)``."""
    if len(input_shape) != 3:
        raise ShapeError(
            f"{layer!r}: expected input of shape (N, H, W, C), got (N, {', '.join(map(str, input_shape))})"
        )
    H, W, C = input_shape
    if depth is not None and depth != C:
        raise ShapeError(f"{layer!r}: expected input of shape (N, H, W, {depth}), got (N, {H}, {W}, {C})")
    Ho = output_size(H, window[0], stride[0], dilation[0], padding[0])
    Wo = output_size(W, window[1], stride[1], dilation[1], padding[1])
    if Ho < 1 or Wo < 1:
        raise ShapeError(
            f"{layer!r}: window {window} (dilation {dilation}) is larger than the padded input "
            f"{H + sum(padding[0])}x{W + sum(padding[1])} (input (N, {H}, {W}, {C}), padding {padding})"
        )
    return Ho, Wo


def pad(x: Array, padding: Padding, value: float = 0.0) -> Array:
    """Pad the spatial axes of an NHWC array (returns ``x`` itself when no padding is needed)."""
    if padding == ((0, 0), (0, 0)):
        return x
    xp = backend.get_namespace(x)
    return xp.pad(x, ((0, 0), padding[0], padding[1], (0, 0)), constant_values=value)


def window_view(x: Array, window: Pair, stride: Pair, dilation: Pair, out_hw: Pair) -> Array:
    """Strided view of all windows of an (already padded) NHWC array.

    Returns
    -------
    ndarray of shape (N, Ho, Wo, C, h, w)
        ``view[n, p, q, c, a, b] = x[n, p*s0 + a*d0, q*s1 + b*d1, c]``.
    """
    xp = backend.get_namespace(x)
    extent = ((window[0] - 1) * dilation[0] + 1, (window[1] - 1) * dilation[1] + 1)
    view = xp.lib.stride_tricks.sliding_window_view(x, extent, axis=(1, 2))
    view = view[:, :: stride[0], :: stride[1], :, :: dilation[0], :: dilation[1]]
    return view[:, : out_hw[0], : out_hw[1]]


def offset_slices(offset: Pair, stride: Pair, dilation: Pair, out_hw: Pair) -> tuple[slice, slice]:
    """Spatial slices selecting ``x[p*s0 + a*d0, q*s1 + b*d1]`` for all ``(p, q)`` at offset ``(a, b)``."""
    r0, c0 = offset[0] * dilation[0], offset[1] * dilation[1]
    return (
        slice(r0, r0 + stride[0] * (out_hw[0] - 1) + 1, stride[0]),
        slice(c0, c0 + stride[1] * (out_hw[1] - 1) + 1, stride[1]),
    )


def window_reduce(x: Array, window: Pair, stride: Pair, out_hw: Pair, op: str) -> Array:
    """Sum or maximum over every window, as a loop over the window offsets.

    Returns ``(N, Ho, Wo, C)``; the reduction order (offsets in row-major order) is fixed.
    """
    xp = backend.get_namespace(x)
    combine = xp.add if op == "sum" else xp.maximum
    offsets = [(a, b) for a in range(window[0]) for b in range(window[1])]
    parts = (
        x[:, rows, columns, :]
        for rows, columns in (offset_slices(o, stride, (1, 1), out_hw) for o in offsets)
    )
    result = next(parts)
    if len(offsets) == 1:
        return result.copy()
    # the first two offsets straight into a new C-ordered array (whatever the layout of x)
    result = combine(result, next(parts), out=xp.empty(result.shape, dtype=x.dtype))
    for part in parts:
        combine(result, part, out=result)
    return result


def add_window_row(out: Array, parts_row: Array, a: int, stride: Pair, dilation: Pair) -> None:
    """Add the values of kernel row ``a`` onto a padded NHWC array, in place.

    ``out[n, p*s0 + a*d0, q*s1 + b*d1, c] += parts_row[b, n, p, q, c]`` for every kernel column
    ``b`` (in increasing order: deterministic, no atomics).

    Parameters
    ----------
    out : ndarray of shape (N, Hp, Wp, C)
    parts_row : ndarray of shape (w, N, Ho, Wo, C)
    """
    Ho, Wo = parts_row.shape[2], parts_row.shape[3]
    for b in range(parts_row.shape[0]):
        rows, columns = offset_slices((a, b), stride, dilation, (Ho, Wo))
        out[:, rows, columns, :] += parts_row[b]


def crop(out: Array, padding: Padding) -> Array:
    """Remove the padding of an NHWC array (a view)."""
    (top, bottom), (left, right) = padding
    return out[:, top : out.shape[1] - bottom, left : out.shape[2] - right, :]


def window_sum_t(
    parts: Array, padded_hw: Pair, window: Pair, stride: Pair, dilation: Pair, padding: Padding
) -> Array:
    """Adjoint of ``window_view``: add window values back onto (unpadded) input positions.

    Parameters
    ----------
    parts : ndarray of shape (h, w, N, Ho, Wo, C)
        Values per window element, kernel offset first (so that each offset's slab is contiguous
        when ``parts`` is; views of other layouts work too, only slower).
    padded_hw : (int, int)
        Spatial size of the padded input.

    Returns
    -------
    ndarray of shape (N, H, W, C)
        ``out[n, i, j, c] = sum over (p, q, a, b) with p*s0 + a*d0 = i, q*s1 + b*d1 = j`` of
        ``parts[a, b, n, p, q, c]``, with the padding cropped away. Offsets are added in row-major
        order, one strided slice-add each (deterministic, no atomics).
    """
    xp = backend.get_namespace(parts)
    N, C = parts.shape[2], parts.shape[5]
    out = xp.zeros((N, padded_hw[0], padded_hw[1], C), dtype=parts.dtype)
    for a in range(window[0]):
        add_window_row(out, parts[a], a, stride, dilation)
    return crop(out, padding)
