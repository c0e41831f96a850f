"""Comparing relevances with lrp_toolbox's reference numbers, in other projects' tests.

``assert_relevance_close(actual, expected, rtol)`` passes when, for every sample ``n``,

    max_i |actual[n, i] - expected[n, i]|  <=  rtol * max_i |expected[n, i]|

(``per='sample'``, the default; ``per='array'`` takes both maxima over the whole array). The
scale is the sample's largest relevance, not each element: relevance maps have many entries near
0 whose relative error means nothing. Which ``rtol`` to use, and what changes the last bits of our
float64 results (BLAS thread count, batch composition), is measured in docs/reference.md.
"""

from __future__ import annotations

import numbers
from typing import Literal

import numpy

from . import backend
from ._typing import Array

DEFAULT_RTOL = 1e-12
"""Default tolerance of ``assert_relevance_close`` for float64 (docs/reference.md: measured
differences across BLAS thread counts and batch compositions, and the rules that amplify them)."""

Per = Literal["sample", "array"]


def _host_pair(actual: Array, expected: Array) -> tuple[numpy.ndarray, numpy.ndarray]:
    a, e = (numpy.asarray(backend.to_numpy(v)) for v in (actual, expected))
    if a.shape != e.shape:
        raise AssertionError(f"relevance shapes differ: actual {a.shape}, expected {e.shape}")
    if a.ndim == 0:
        raise ValueError("relevances are arrays of shape (N, ...) with the sample first; got 0-d arrays")
    for name, v in (("actual", a), ("expected", e)):
        if v.dtype.kind not in "fiu":
            raise AssertionError(f"{name} relevance must be a real array, got dtype {v.dtype}")
        if not numpy.isfinite(v).all():
            index = tuple(int(i) for i in numpy.argwhere(~numpy.isfinite(v))[0])
            raise AssertionError(f"{name} relevance is not finite: {v[index]} at index {index}")
    return a.astype(numpy.float64, copy=False), e.astype(numpy.float64, copy=False)


def _rows(v: numpy.ndarray, per: Per) -> numpy.ndarray:
    """``v`` as ``(groups, values)``: one row per sample, or one row."""
    return v.reshape(1, -1) if per == "array" else v.reshape(v.shape[0], -1)


def relevance_error(actual: Array, expected: Array, per: Per = "sample") -> numpy.ndarray:
    """Relative difference of two relevances, scaled by the largest expected relevance.

    Parameters
    ----------
    actual, expected : ndarray of shape (N, ...)
        NumPy or CuPy arrays of the same shape, finite.
    per : {'sample', 'array'}
        ``'sample'``: one value per sample (axis 0); ``'array'``: one value for the whole array.

    Returns
    -------
    ndarray of shape (N,) or (1,)
        ``max_i |actual - expected| / max_i |expected|`` per group; ``0`` where both are all
        zero, ``inf`` where ``expected`` is all zero but ``actual`` is not.

    Raises
    ------
    AssertionError
        For different shapes, non-real dtypes, or NaN/Inf in either array.
    ValueError
        For an unknown ``per`` or 0-d arrays (no sample axis).
    """
    if per not in ("sample", "array"):
        raise ValueError(f"per must be 'sample' or 'array', got {per!r}")
    a, e = _host_pair(actual, expected)
    with numpy.errstate(over="ignore"):  # 1e308 - (-1e308): an inf difference, reported as such
        diff = _rows(numpy.abs(a - e), per)
    scale = _rows(numpy.abs(e), per)
    if diff.shape[1] == 0:
        return numpy.zeros(diff.shape[0])
    worst, top = diff.max(axis=1), scale.max(axis=1)
    with numpy.errstate(divide="ignore", invalid="ignore"):
        return numpy.where(worst == 0, 0.0, worst / top)


def assert_relevance_close(
    actual: Array, expected: Array, rtol: float = DEFAULT_RTOL, per: Per = "sample", err_msg: str = ""
) -> None:
    """Assert ``max|actual - expected| <= rtol * max|expected|`` per sample (or for the whole array).

    Parameters
    ----------
    actual, expected : ndarray of shape (N, ...)
        NumPy or CuPy arrays of the same shape (e.g. ``explain(...)`` results; axis 0 is the sample).
    rtol : float
        Relative tolerance, ``>= 0``. Default ``1e-12``, for float64 against float64
        (docs/reference.md: ``1e-9`` for classic γ, LRP-0 or a small ε on mixed-sign layers, whose
        near-zero denominators amplify rounding). Do not compare float32 with float64 at a fixed
        tolerance: max-pool ties and near-zero denominators moved single pixels by up to 17% of a
        sample's maximum.
    per : {'sample', 'array'}
        Scale by each sample's largest expected relevance (default) or by the array's.
    err_msg : str
        Prepended to the failure message.

    Raises
    ------
    AssertionError
        Naming the groups that fail, the worst one, the index of its largest difference and both
        values there; also for different shapes or NaN/Inf in either array.
    ValueError
        For a negative or non-finite ``rtol``, an unknown ``per`` or 0-d arrays.
    """
    if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real) or not 0 <= rtol < numpy.inf:
        raise ValueError(f"rtol must be a finite number >= 0, got {rtol!r}")
    errors = relevance_error(actual, expected, per)
    bad = numpy.nonzero(errors > rtol)[0]
    if not bad.size:
        return
    a, e = _host_pair(actual, expected)
    k = int(bad[numpy.argmax(errors[bad])])
    with numpy.errstate(over="ignore"):
        row = _rows(numpy.abs(a - e), per)
    index = tuple(int(i) for i in numpy.unravel_index(k * row.shape[1] + int(numpy.argmax(row[k])), a.shape))
    where = (
        f"per sample) in {bad.size} of {errors.size} samples; worst: sample {k},"
        if per == "sample"
        else "over the array):"
    )
    prefix = f"{err_msg}\n" if err_msg else ""
    raise AssertionError(
        f"{prefix}relevances differ beyond rtol={rtol:g} (max|actual - expected| <= rtol * max|expected| "
        f"{where} relative difference {errors[k]:.3g}, largest at index {index}: "
        f"actual {float(a[index]):.17g}, expected {float(e[index]):.17g}"
    )
