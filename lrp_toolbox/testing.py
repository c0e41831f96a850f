"""Comparing relevances with lrp_toolbox's reference numbers, in other projects' tests.

``assert_relevance_close(actual, expected, rtol)`` passes when, for every sample ``n``,

    max_i |actual[n, i] - expected[n, i]|  <=  rtol * max_i |expected[n, i]|

(``per='sample'``, the default; ``per='array'`` takes both maxima over the whole array). The
scale is the sample's largest relevance, not each element: relevance maps have many entries near
0 whose relative error means nothing. Which ``rtol`` to use, and what changes the last bits of our
float64 results (BLAS thread count, batch composition), is measured in docs/reference.md.
"""

from __future__ import annotations

import math
import numbers
from typing import Literal

import numpy

from . import backend
from ._typing import Array

DEFAULT_RTOL = 1e-12
"""Default tolerance of ``assert_relevance_close`` for float64 (docs/reference.md: measured
differences across BLAS thread counts and batch compositions, and the rules that amplify them)."""

Per = Literal["sample", "array"]


def _host_pair(actual: Array, expected: Array, per: Per) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Both arrays on the host in float64, after the checks every comparison makes."""
    if per not in ("sample", "array"):
        raise ValueError(f"per must be 'sample' or 'array', got {per!r}")
    a, e = (numpy.asarray(backend.to_numpy(v)) for v in (actual, expected))
    if a.shape != e.shape:
        raise AssertionError(f"relevance shapes differ: actual {a.shape}, expected {e.shape}")
    if per == "sample" and a.ndim < 2:
        raise ValueError(
            f"per='sample' compares arrays of shape (N, ...) with one sample per row; got {a.ndim}-d "
            "arrays (use per='array' for a single map)"
        )
    if a.ndim == 0:
        raise ValueError("relevances are arrays, got 0-d values")
    pair = []
    for name, v in (("actual", a), ("expected", e)):
        if v.dtype.kind not in "fiu" or v.dtype.itemsize > 8:
            raise AssertionError(
                f"{name} relevance must be a real array of at most 64 bits, got dtype {v.dtype}"
            )
        v = v.astype(numpy.float64, copy=False)
        if not numpy.isfinite(v).all():
            index = tuple(int(i) for i in numpy.argwhere(~numpy.isfinite(v))[0])
            raise AssertionError(f"{name} relevance is not finite: {v[index]} at index {index}")
        pair.append(v)
    return pair[0], pair[1]


def _rows(v: numpy.ndarray, per: Per) -> numpy.ndarray:
    """``v`` as ``(groups, values)``: one row per sample, or one row (an empty batch: no rows)."""
    return v.reshape(1, v.size) if per == "array" else v.reshape(v.shape[0], math.prod(v.shape[1:]))


def _differences(a: numpy.ndarray, e: numpy.ndarray, per: Per) -> tuple[numpy.ndarray, numpy.ndarray]:
    """``|a - e|`` and ``|e|`` as ``(groups, values)`` rows."""
    with numpy.errstate(over="ignore"):  # 1e308 - (-1e308): an inf difference, reported as such
        return _rows(numpy.abs(a - e), per), _rows(numpy.abs(e), per)


def _worst_and_scale(diff: numpy.ndarray, scale: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Per row ``max|a - e|`` and ``max|e|`` (0 for rows without values)."""
    if diff.shape[1] == 0:
        return numpy.zeros(diff.shape[0]), numpy.zeros(diff.shape[0])
    return diff.max(axis=1), scale.max(axis=1)


def relevance_error(actual: Array, expected: Array, per: Per = "sample") -> numpy.ndarray:
    """Relative difference of two relevances, scaled by the largest expected relevance.

    Parameters
    ----------
    actual, expected : ndarray of shape (N, ...)
        NumPy or CuPy arrays of the same shape, finite. With ``per='sample'`` at least 2-D (one
        sample per row); reshape ``explain(..., target='all')``'s ``(N, K, ...)`` to
        ``(N*K, ...)`` to scale each class's map by its own maximum.
    per : {'sample', 'array'}, optional
        ``'sample'`` (default): one value per sample (axis 0); ``'array'``: one value for the array.

    Returns
    -------
    ndarray of shape (N,) or (1,)
        ``max_i |actual - expected| / max_i |expected|`` per group; ``0`` where both are all
        zero, ``inf`` where ``expected`` is all zero but ``actual`` is not.

    Raises
    ------
    AssertionError
        For different shapes, dtypes other than integers and floats of at most 64 bits, or NaN/Inf
        in either array.
    ValueError
        For an unknown ``per``, 0-d arrays, or 1-d arrays with ``per='sample'``.
    """
    worst, top = _worst_and_scale(*_differences(*_host_pair(actual, expected, per), per))
    with numpy.errstate(divide="ignore", invalid="ignore"):
        return numpy.where(worst == 0, 0.0, worst / top)


def assert_relevance_close(
    actual: Array,
    expected: Array,
    rtol: float = DEFAULT_RTOL,
    *,
    atol: float = 0.0,
    per: Per = "sample",
    err_msg: str = "",
) -> None:
    """Assert ``max|actual - expected| <= atol + rtol * max|expected|`` per sample (or per array).

    Unlike ``numpy.testing.assert_allclose``, whose ``rtol`` applies to each element, the
    tolerance is normwise: one scale, the largest expected relevance, per sample.

    Parameters
    ----------
    actual, expected : ndarray of shape (N, ...)
        NumPy or CuPy arrays of the same shape (e.g. ``explain(...)`` results; axis 0 is the
        sample). With ``per='sample'`` at least 2-D.
    rtol : float, optional
        Relative tolerance, ``>= 0``. Default ``1e-12``, for float64 against float64
        (docs/reference.md: ``1e-9`` for classic γ on layers with inputs of both signs, whose
        near-zero denominators amplify rounding). Do not compare float32 with float64 at a fixed
        tolerance: max-pool ties and near-zero denominators moved single pixels by up to 17% of a
        sample's maximum.
    atol : float, optional
        Absolute tolerance, ``>= 0`` (default 0), for samples whose expected relevance is all zero
        or tiny (a zero target logit, z+ without positive evidence).
    per : {'sample', 'array'}, optional
        Scale by each sample's largest expected relevance (default) or by the array's.
    err_msg : str, optional
        Prepended to the failure message.

    Raises
    ------
    AssertionError
        Naming the groups that fail, the worst one with its ``max|expected|``, the index of its
        largest difference and both values there; also for different shapes or NaN/Inf in either
        array.
    ValueError
        For a negative or non-finite ``rtol`` or ``atol``, an unknown ``per``, 0-d arrays, or 1-d
        arrays with ``per='sample'``.

    Examples
    --------
    >>> import numpy
    >>> from lrp_toolbox.testing import assert_relevance_close
    >>> expected = numpy.array([[4.0, 1.0], [0.5, 0.0]])
    >>> assert_relevance_close(expected + [[0, 1e-13], [0, 0]], expected)  # 2.5e-14 of sample 0's max
    """
    tolerances: dict[str, float] = {}
    for name, value in (("rtol", rtol), ("atol", atol)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < numpy.inf:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        tolerances[name] = float(value)
    a, e = _host_pair(actual, expected, per)
    diff, scale = _differences(a, e, per)
    worst, top = _worst_and_scale(diff, scale)
    bad = numpy.nonzero(worst > tolerances["atol"] + tolerances["rtol"] * top)[0]
    if not bad.size:
        return
    with numpy.errstate(divide="ignore", invalid="ignore"):
        relative = numpy.where(worst == 0, 0.0, worst / top)
    k = int(bad[numpy.argmax(relative[bad])])
    index = tuple(
        int(i) for i in numpy.unravel_index(k * diff.shape[1] + int(numpy.argmax(diff[k])), a.shape)
    )
    where = (
        f"per sample) in {bad.size} of {worst.size} samples; worst: sample {k} (max|expected| {top[k]:.3g}),"
        if per == "sample"
        else f"over the array, max|expected| {top[k]:.3g}):"
    )
    prefix = f"{err_msg}\n" if err_msg else ""
    bound = f"atol={tolerances['atol']:g} + " if tolerances["atol"] else ""
    raise AssertionError(
        f"{prefix}relevances differ beyond {bound}rtol={tolerances['rtol']:g} (max|actual - expected| <= "
        f"{'atol + ' if bound else ''}rtol * max|expected| {where} relative difference {relative[k]:.3g}, "
        f"largest at index {index}: actual {float(a[index]):.17g}, expected {float(e[index]):.17g}"
    )
