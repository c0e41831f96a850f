"""The original toolbox's five custom colour maps, as functions of a normalised value.

Each map is a pure function ``f(t) -> rgb`` of ``t`` in [-1, 1] (``t = R / max|R|``), returning an
array of shape ``t.shape + (3,)`` in [0, 1]; ``c(v, lo, hi)`` below is ``clip(v, lo, hi)``. The
functions never modify their input. ``gray-red2`` additionally prepares ``R`` before normalising (see
:func:`prepare_gray_red2`). The formulas and the fixes against the original are listed in
``docs/render.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import NamedTuple

import numpy

from .normalization import _safe_ratio, normalize

__all__ = ["CUSTOM_COLORMAPS", "CustomColormap", "prepare_gray_red2"]


def _c(v: numpy.ndarray, lo: float, hi: float) -> numpy.ndarray:
    return numpy.clip(v, lo, hi)


def _rgb(r: numpy.ndarray, g: numpy.ndarray, b: numpy.ndarray) -> numpy.ndarray:
    return numpy.clip(numpy.stack([r, g, b], axis=-1), 0.0, 1.0)


def _gray_red(t: numpy.ndarray) -> numpy.ndarray:
    """t >= 0: (0.8 + 0.2t, 0.8 - 0.8t, 0.8 - 0.8t); t < 0: (0.8 + 0.8t, 0.8 + 0.8t, 0.8 - 0.2t)."""
    t = _c(t, -1.0, 1.0)
    pos = t >= 0
    r = numpy.where(pos, 0.8 + 0.2 * t, 0.8 + 0.8 * t)
    g = numpy.where(pos, 0.8 - 0.8 * t, 0.8 + 0.8 * t)
    b = numpy.where(pos, 0.8 - 0.8 * t, 0.8 - 0.2 * t)
    return _rgb(r, g, b)


def _black_green(t: numpy.ndarray) -> numpy.ndarray:
    """(0, max(t, 0), max(-t, 0)): positive green, negative blue (despite the name)."""
    t = _c(t, -1.0, 1.0)
    return _rgb(numpy.zeros_like(t), numpy.maximum(t, 0.0), numpy.maximum(-t, 0.0))


def _black_firered(t: numpy.ndarray) -> numpy.ndarray:
    """Positive: black -> red -> yellow -> white; negative: black -> blue -> cyan -> white."""
    x = _c(t, -1.0, 1.0)
    r = _c(x, 0, 0.25) / 0.25 + _c(-x - 0.5, 0, 0.5) / 0.5
    g = _c(x - 0.25, 0, 0.25) / 0.25 + _c(-x - 0.25, 0, 0.25) / 0.25
    b = _c(x - 0.5, 0, 0.5) / 0.5 + _c(-x, 0, 0.25) / 0.25
    return _rgb(r, g, b)


def _gray_red2(t: numpy.ndarray) -> numpy.ndarray:
    """x = max(t, 0); r = 0.9 - c(x-.3,0,.7)/.7*0.5; g = b = 0.9 - c(x,0,.3)/.3*0.5 - c(x-.3,0,.7)/.7*0.4."""
    x = _c(t, 0.0, 1.0)
    high = _c(x - 0.3, 0, 0.7) / 0.7
    r = 0.9 - 0.5 * high
    gb = 0.9 - 0.5 * (_c(x, 0, 0.3) / 0.3) - 0.4 * high
    return _rgb(r, gb, gb)


def _blue_black_yellow(t: numpy.ndarray) -> numpy.ndarray:
    """(max(t, 0), max(t, 0), max(-t, 0)): positive yellow, negative blue, zero black."""
    t = _c(t, -1.0, 1.0)
    pos = numpy.maximum(t, 0.0)
    return _rgb(pos, pos, numpy.maximum(-t, 0.0))


def prepare_gray_red2(R: numpy.ndarray) -> numpy.ndarray:
    """Normalise ``R`` for ``gray-red2``: ``x = min(max(R, 0), θ) / max(...)``, ``θ = 10·std(R)``.

    The original set ``R > 10·var(R)`` to zero in place. That threshold has the units of ``R²``, so
    for maps with small values (``|R| < 0.1``, typical for pixel relevance) it blanks almost every
    positive pixel, and zeroing hides the strongest evidence. Here outliers above ``10·std(R)``
    (scale-invariant) are saturated instead, on a copy. Negative values map to 0, as in the original.

    Parameters
    ----------
    R : numpy.ndarray, any shape
        Relevance map (finite).

    Returns
    -------
    numpy.ndarray, same shape, float64 in [0, 1]
    """
    t = normalize(R, "symmetric")  # std(t) = std(R) / max|R|: same threshold, no overflow
    x = numpy.maximum(t, 0.0)
    theta = 10.0 * float(numpy.std(t)) if t.size else 0.0
    if theta > 0.0:
        x = numpy.minimum(x, theta)
    return _safe_ratio(x, numpy.max(x, initial=0.0))


def _symmetric(R: numpy.ndarray) -> numpy.ndarray:
    return normalize(R, "symmetric")


class CustomColormap(NamedTuple):
    """A custom colour map: its colour function and the normalisation ``hm_to_rgb`` applies first."""

    colour: Callable[[numpy.ndarray], numpy.ndarray]
    prepare: Callable[[numpy.ndarray], numpy.ndarray]


#: Read-only registry: original name -> custom colour map.
CUSTOM_COLORMAPS: MappingProxyType[str, CustomColormap] = MappingProxyType(
    {
        "gray-red": CustomColormap(_gray_red, _symmetric),
        "black-green": CustomColormap(_black_green, _symmetric),
        "black-firered": CustomColormap(_black_firered, _symmetric),
        "gray-red2": CustomColormap(_gray_red2, prepare_gray_red2),
        "blue-black-yellow": CustomColormap(_blue_black_yellow, _symmetric),
    }
)
