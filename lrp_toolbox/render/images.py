"""Turning inputs and relevance maps into RGB images (float arrays in [0, 1])."""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, cast

import numpy

from .._typing import Array
from ..backend import to_numpy
from .colormaps import _custom_name, get_colormap
from .custom_maps import CUSTOM_COLORMAPS
from .normalization import NORMALIZE_MODES, NormalizeMode, normalize

if TYPE_CHECKING:
    from matplotlib.colors import Colormap

__all__ = ["digit_to_rgb", "enlarge_image", "hm_to_rgb", "overlay", "to_uint8", "vec2im"]


def vec2im(V: Array, shape: tuple[int, ...] = ()) -> numpy.ndarray:
    """Reshape a vector (or any array) into an image.

    Parameters
    ----------
    V : array_like, size S
        NumPy or CuPy array.
    shape : tuple of int
        Target shape. Empty (default): a square ``(s, s)`` with ``s = sqrt(S)``.

    Returns
    -------
    numpy.ndarray
        ``V`` reshaped (C order) to ``shape`` or ``(s, s)``.

    Raises
    ------
    ValueError
        When ``shape`` does not hold ``S`` elements, or ``S`` is not a perfect square.
    """
    v = to_numpy(V)
    if shape:
        if math.prod(shape) != v.size:
            raise ValueError(f"cannot reshape an array of size {v.size} to {tuple(shape)}")
        return v.reshape(shape)
    side = math.isqrt(v.size)
    if side * side != v.size:
        raise ValueError(f"size {v.size} is not a perfect square; pass shape=(H, W)")
    return v.reshape(side, side)


def enlarge_image(img: Array, scaling: int = 3) -> numpy.ndarray:
    """Nearest-neighbour upscaling: every pixel becomes a ``scaling × scaling`` block.

    ``out[i, j, ...] = img[i // scaling, j // scaling, ...]``.

    Parameters
    ----------
    img : array_like, shape (H, W) or (H, W, C)
    scaling : int
        Positive integer factor.

    Returns
    -------
    numpy.ndarray, shape (H·scaling, W·scaling) or (H·scaling, W·scaling, C)

    Raises
    ------
    ValueError
        For a non-integer or non-positive ``scaling`` or an image of another rank.
    """
    if isinstance(scaling, bool) or not isinstance(scaling, numbers.Integral) or scaling < 1:
        raise ValueError(f"scaling must be a positive integer, got {scaling!r}")
    a = to_numpy(img)
    if a.ndim not in (2, 3):
        raise ValueError(f"expected an image of shape (H, W) or (H, W, C), got shape {a.shape}")
    s = int(scaling)
    return numpy.repeat(numpy.repeat(a, s, axis=0), s, axis=1)


def _as_image2d(X: Array, shape: tuple[int, ...], what: str) -> numpy.ndarray:
    """A 2-D float64 image from a vector, (H, W) or (H, W, 1); ``shape`` reshapes first."""
    a = to_numpy(X)
    if shape:
        a = vec2im(a, shape)
    elif a.ndim == 1:
        a = vec2im(a)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim != 2:
        raise ValueError(
            f"{what} must be a vector, (H, W) or (H, W, 1); got shape {a.shape} "
            "(sum the channels of a multi-channel relevance map first)"
        )
    return numpy.asarray(a, dtype=numpy.float64)


def _mode(normalize_arg: bool | str) -> NormalizeMode:
    if normalize_arg is True:
        return "symmetric"
    if normalize_arg is False:
        return "none"
    if normalize_arg not in NORMALIZE_MODES:
        raise ValueError(f"normalize must be a bool or one of {NORMALIZE_MODES}, got {normalize_arg!r}")
    return cast("NormalizeMode", normalize_arg)


def _colorize(R: numpy.ndarray, cmap: str | Colormap, normalize_arg: bool | str) -> numpy.ndarray:
    """Map a 2-D relevance map to RGB (H, W, 3) in [0, 1]."""
    mode = _mode(normalize_arg)
    if not numpy.all(numpy.isfinite(R)):
        raise ValueError("cannot render a relevance map that contains NaN or Inf")
    key = _custom_name(cmap) if isinstance(cmap, str) else None
    if key is not None:
        entry = CUSTOM_COLORMAPS[key]
        t = entry.prepare(R) if mode == "symmetric" else normalize(R, mode)
        return entry.colour(numpy.clip(t, -1.0, 1.0))
    colormap = get_colormap(cmap)
    t = normalize(R, mode)
    u = (t + 1.0) / 2.0 if mode in ("symmetric", "none") else t
    return numpy.asarray(colormap(numpy.clip(u, 0.0, 1.0))[..., :3], dtype=numpy.float64)


def digit_to_rgb(
    X: Array, scaling: int = 3, shape: tuple[int, ...] = (), cmap: str | Colormap = "binary"
) -> numpy.ndarray:
    """Render an input image with a colour map (no normalisation).

    ``rgb = cmap(clip(X, 0, 1))``, enlarged by ``scaling``.

    Parameters
    ----------
    X : array_like, shape (H, W), (H, W, 1) or (H·W,)
        Pixel values, expected in [0, 1]; values outside are clipped.
    scaling : int
        Upscaling factor, see :func:`enlarge_image`.
    shape : tuple of int
        Reshape ``X`` to this ``(H, W)`` first (a vector without ``shape`` must be square).
    cmap : str or Colormap
        Anything :func:`get_colormap` accepts; default ``'binary'`` (white 0, black 1).

    Returns
    -------
    numpy.ndarray, shape (H·scaling, W·scaling, 3), float64 in [0, 1]
    """
    x = _as_image2d(X, shape, "X")
    if not numpy.all(numpy.isfinite(x)):
        raise ValueError("cannot render an image that contains NaN or Inf")
    rgb = numpy.asarray(get_colormap(cmap)(numpy.clip(x, 0.0, 1.0))[..., :3], dtype=numpy.float64)
    return enlarge_image(rgb, scaling)


def hm_to_rgb(
    R: Array,
    X: Array | None = None,
    scaling: int = 3,
    shape: tuple[int, ...] = (),
    sigma: float = 2,
    cmap: str | Colormap = "jet",
    normalize: bool | str = True,
) -> numpy.ndarray:
    """Render a relevance map as an RGB heatmap, optionally outlined by the edges of its input.

    1. ``t = normalize(R, mode)`` with mode ``'symmetric'`` (``R / max|R|``) for ``True``, ``'none'``
       (``R`` taken to be in [-1, 1] already, clipped) for ``False``, or the given mode string.
    2. A custom map ``f`` gives ``f(t)``; for ``'symmetric'`` the map's own preparation is used
       (``R / max|R|``, or :func:`prepare_gray_red2` for ``'gray-red2'``).
       Any other map gives ``cmap((t + 1) / 2)`` for signed modes, ``cmap(t)`` for
       ``'absolute'``/``'minmax'``.
    3. Enlarge by ``scaling``; if ``X`` is given, pixels on the Canny edges of the enlarged ``X``
       (``skimage.feature.canny(enlarge_image(X, scaling), sigma)``) are set to black.

    Parameters
    ----------
    R : array_like, shape (H, W), (H, W, 1) or (H·W,)
        Relevance map (NumPy or CuPy), finite.
    X : array_like, optional
        The input image, same shape as ``R`` after ``shape``; its edges outline the heatmap.
    scaling : int
        Upscaling factor, see :func:`enlarge_image`.
    shape : tuple of int
        Reshape ``R`` and ``X`` to this ``(H, W)`` first.
    sigma : float
        Width of the Gaussian of the Canny edge detector.
    cmap : str or Colormap
        Anything :func:`get_colormap` accepts; default ``'jet'``.
    normalize : bool or {'symmetric', 'absolute', 'minmax', 'none'}
        See step 1. Unlike in the original, it also applies to the custom maps.

    Returns
    -------
    numpy.ndarray, shape (H·scaling, W·scaling, 3), float64 in [0, 1]

    Raises
    ------
    ValueError
        When ``X`` and ``R`` differ in shape, ``R`` is not finite, or an argument is invalid.
    """
    r = _as_image2d(R, shape, "R")
    rgb = enlarge_image(_colorize(r, cmap, normalize), scaling)
    if X is not None:
        from skimage.feature import canny

        x = _as_image2d(X, shape, "X")
        if not numpy.all(numpy.isfinite(x)):
            raise ValueError("cannot outline an image that contains NaN or Inf")
        if x.shape != r.shape:
            raise ValueError(f"X has shape {x.shape} but R has shape {r.shape}; they must match")
        edges = canny(enlarge_image(x, scaling), sigma=sigma)
        rgb[edges] = 0.0
    return rgb


def _gray(X: Array) -> numpy.ndarray:
    """(H, W) grey values from (H, W), (H, W, 1) or RGB (H, W, 3) (ITU-R BT.601 luma)."""
    a = numpy.asarray(to_numpy(X), dtype=numpy.float64)
    if a.ndim == 3 and a.shape[-1] == 3:
        a = a @ numpy.array([0.299, 0.587, 0.114])
    elif a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim != 2:
        raise ValueError(f"X must be (H, W), (H, W, 1) or (H, W, 3); got shape {a.shape}")
    if not numpy.all(numpy.isfinite(a)):
        raise ValueError("cannot render an image that contains NaN or Inf")
    return a


def overlay(
    hm_rgb_or_R: Array,
    X: Array,
    alpha: float = 0.5,
    *,
    cmap: str | Colormap = "bwr",
    normalize: bool | str = True,
    scaling: int = 1,
) -> numpy.ndarray:
    """Blend a heatmap over its grey-scale input image.

    ``out = alpha · H + (1 - alpha) · gray(clip(X, 0, 1))`` per channel, enlarged by ``scaling``.

    Parameters
    ----------
    hm_rgb_or_R : array_like, shape (H, W, 3) or (H, W) / (H, W, 1)
        An RGB heatmap in [0, 1] (as from :func:`hm_to_rgb` with ``scaling=1``), or a relevance map,
        which is rendered with ``hm_to_rgb(R, scaling=1, cmap=cmap, normalize=normalize)``. A 3-D
        array with 3 channels is always taken as RGB: sum a per-channel relevance map first.
    X : array_like, shape (H, W), (H, W, 1) or (H, W, 3)
        Input image in [0, 1]; RGB is converted to grey with luma weights (0.299, 0.587, 0.114).
    alpha : float
        Opacity of the heatmap, in [0, 1].
    cmap, normalize
        Used only when a relevance map is given, see :func:`hm_to_rgb`.
    scaling : int
        Upscaling factor of the result.

    Returns
    -------
    numpy.ndarray, shape (H·scaling, W·scaling, 3), float64 in [0, 1]
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
    h = to_numpy(hm_rgb_or_R)
    if h.ndim == 3 and h.shape[-1] == 3:
        heat = numpy.asarray(h, dtype=numpy.float64)
        if not numpy.all(numpy.isfinite(heat)):
            raise ValueError("cannot render an RGB heatmap that contains NaN or Inf")
        heat = numpy.clip(heat, 0.0, 1.0)
    else:
        heat = hm_to_rgb(h, scaling=1, cmap=cmap, normalize=normalize)
    gray = numpy.clip(_gray(X), 0.0, 1.0)
    if gray.shape != heat.shape[:2]:
        raise ValueError(f"heatmap is {heat.shape[:2]} but X is {gray.shape}; they must match")
    out = alpha * heat + (1.0 - alpha) * gray[..., None]
    return enlarge_image(numpy.clip(out, 0.0, 1.0), scaling)


def to_uint8(img: Array) -> numpy.ndarray:
    """Convert a float image in [0, 1] to uint8: ``trunc(round(clip(img, 0, 1) · 255, 12))``.

    Values are clipped *before* the cast (the original wrapped around instead). The rounding to 12
    decimals only absorbs float error (``(1 - 254/255) · 255 = 0.9999999999999964`` becomes 1, not
    0); the cast then truncates as in the original toolbox and zennit, so byte-level results agree
    with them for in-range inputs.
    NaN raises ``ValueError``.
    """
    a = numpy.asarray(to_numpy(img), dtype=numpy.float64)
    if numpy.isnan(a).any():
        raise ValueError("cannot convert an image that contains NaN to uint8")
    return numpy.round(numpy.clip(a, 0.0, 1.0) * 255.0, 12).astype(numpy.uint8)
