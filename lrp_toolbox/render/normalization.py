"""Normalisation of relevance maps for display."""

from __future__ import annotations

from typing import Literal

import numpy

from .._typing import Array
from ..backend import to_numpy

__all__ = ["NORMALIZE_MODES", "NormalizeMode", "normalize"]

NormalizeMode = Literal["symmetric", "absolute", "minmax", "none"]
NORMALIZE_MODES: tuple[str, ...] = ("symmetric", "absolute", "minmax", "none")


def _safe_ratio(num: numpy.ndarray, den: numpy.ndarray) -> numpy.ndarray:
    """``num / den`` where ``den > 0``, else 0 (an all-zero or constant map gives zeros, not NaN)."""
    den = numpy.broadcast_to(den, num.shape)
    out = numpy.zeros(num.shape, dtype=numpy.float64)
    numpy.divide(num, den, out=out, where=den > 0)
    return out


def _reduction_axes(
    ndim: int, axis: int | tuple[int, ...] | None, per_sample: bool
) -> int | tuple[int, ...] | None:
    if per_sample:
        if axis is not None:
            raise ValueError("give either axis or per_sample=True, not both")
        if ndim < 2:
            raise ValueError("per_sample=True needs a batch axis: an array of rank >= 2")
        return tuple(range(1, ndim))
    return axis


def normalize(
    R: Array,
    mode: NormalizeMode = "symmetric",
    axis: int | tuple[int, ...] | None = None,
    *,
    per_sample: bool = False,
) -> numpy.ndarray:
    """Rescale a relevance map for display.

    Let ``max``/``min`` run over ``axis`` (all axes by default; all but axis 0 with
    ``per_sample=True``), with the results broadcast back:

    ============= ================================== ===========
    mode          formula                            range
    ============= ================================== ===========
    'symmetric'   ``R / max|R|`` (sign kept, 0 -> 0)  [-1, 1]
    'absolute'    ``|R| / max|R|``                   [0, 1]
    'minmax'      ``(R - min R) / (max R - min R)``  [0, 1]
    'none'        ``R`` unchanged (float64 copy)     as given
    ============= ================================== ===========

    A zero denominator (an all-zero map; a constant map for 'minmax') gives zeros, never NaN.

    Parameters
    ----------
    R : array_like, any shape
        Relevance values, NumPy or CuPy (moved to the host first).
    mode : {'symmetric', 'absolute', 'minmax', 'none'}
        Normalisation, see the table.
    axis : int or tuple of int, optional
        Axes that share one scale. ``None`` (default): one scale for the whole array.
    per_sample : bool
        Shorthand for ``axis = (1, ..., R.ndim - 1)``: one scale per sample of a batch ``(N, ...)``.

    Returns
    -------
    numpy.ndarray, same shape as ``R``, float64
        A new array; the input is never modified.

    Raises
    ------
    ValueError
        For an unknown mode, non-finite values (NaN or Inf), or both ``axis`` and ``per_sample``.
    """
    if mode not in NORMALIZE_MODES:
        raise ValueError(f"unknown normalisation mode {mode!r}; expected one of {NORMALIZE_MODES}")
    r = numpy.array(to_numpy(R), dtype=numpy.float64, copy=True)
    if not numpy.all(numpy.isfinite(r)):
        raise ValueError("cannot normalise a relevance map that contains NaN or Inf")
    axes = _reduction_axes(r.ndim, axis, per_sample)
    if mode == "none" or r.size == 0:
        return r
    if mode == "minmax":
        low, high = r.min(axis=axes, keepdims=True), r.max(axis=axes, keepdims=True)
        if numpy.any(high / 2 - low / 2 > numpy.finfo(numpy.float64).max / 2):  # range beyond float64
            r, low, high = r / 2, low / 2, high / 2  # (e.g. ±1e308): halving is exact, ratios equal
        return _safe_ratio(r - low, high - low)
    scale = numpy.abs(r).max(axis=axes, keepdims=True)
    return _safe_ratio(numpy.abs(r) if mode == "absolute" else r, scale)
