"""Tiling RGB images into one picture and writing it atomically."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy

from .._typing import Array
from ..backend import to_numpy
from .images import to_uint8

__all__ = ["save_image", "tile_images", "write_atomically"]


def _as_rgb(img: Array, where: str) -> numpy.ndarray:
    a = numpy.asarray(to_numpy(img), dtype=numpy.float64)
    if a.ndim == 2:
        a = numpy.repeat(a[..., None], 3, axis=-1)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f"image {where} must be (H, W, 3) or (H, W); got shape {a.shape}")
    return a


def _is_grid(rgb_images: object) -> bool:
    if not isinstance(rgb_images, Sequence) or isinstance(rgb_images, str) or not rgb_images:
        return False
    first = rgb_images[0]
    return isinstance(first, Sequence) and not isinstance(first, str)


def _row(images: Sequence[Array], gap: int, r: int) -> numpy.ndarray:
    rgbs = [_as_rgb(img, f"[{r}][{c}]") for c, img in enumerate(images)]
    if not rgbs:
        raise ValueError(f"row {r} holds no images")
    heights = {img.shape[0] for img in rgbs}
    if len(heights) > 1:
        found = [img.shape[0] for img in rgbs]
        raise ValueError(f"images in row {r} must share one height, got heights {found}")
    height = rgbs[0].shape[0]
    parts: list[numpy.ndarray] = []
    for c, img in enumerate(rgbs):
        if c:
            parts.append(numpy.zeros((height, gap, 3)))
        parts.append(img)
    return numpy.concatenate(parts, axis=1)


def tile_images(
    rgb_images: Array | Sequence[Array] | Sequence[Sequence[Array]], gap: int = 2
) -> numpy.ndarray:
    """Tile RGB images into one float image, separated by black gaps.

    Parameters
    ----------
    rgb_images : array (H, W, 3) or (N, H, W, 3), list of arrays, or list of lists of arrays
        One image; one row of images, as a list or a batch array (concatenated horizontally, equal
        heights); or a grid, one list per row (rows stacked vertically, narrower rows padded with
        black on the right).
        ``(H, W)`` images are taken as grey.
    gap : int
        Width in pixels of the black separators between images and between rows.

    Returns
    -------
    numpy.ndarray, shape (H_total, W_total, 3), float64
    """
    if isinstance(gap, bool) or not isinstance(gap, int | numpy.integer) or gap < 0:
        raise ValueError(f"gap must be a non-negative integer, got {gap!r}")
    if hasattr(rgb_images, "ndim"):  # a NumPy/CuPy array: one image, or a batch (N, H, W, 3)
        a = to_numpy(rgb_images)
        rows = [list(a)] if a.ndim == 4 else [[a]]
    elif _is_grid(rgb_images):
        rows = [list(row) for row in rgb_images]
    elif isinstance(rgb_images, Sequence) and not isinstance(rgb_images, str):
        rows = [list(rgb_images)]
    else:
        rows = [[rgb_images]]
    if not rows or not rows[0]:
        raise ValueError("no images to tile")
    tiled = [_row(row, int(gap), r) for r, row in enumerate(rows)]
    width = max(t.shape[1] for t in tiled)
    parts: list[numpy.ndarray] = []
    for r, t in enumerate(tiled):
        if r:
            parts.append(numpy.zeros((gap, width, 3)))
        parts.append(numpy.pad(t, ((0, 0), (0, width - t.shape[1]), (0, 0))))
    return numpy.concatenate(parts, axis=0)


def _image_format(path: Path) -> str:
    from PIL import Image

    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot tell the image format of {str(path)!r}; use e.g. a .png suffix")
    return fmt


def write_atomically(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(fh)`` on a temporary file in the folder of ``path``, then move it onto ``path``.

    ``os.replace`` is atomic on POSIX and Windows: an existing file at ``path`` is either replaced
    completely or, if ``write`` raises, left intact (the temporary file is removed). The new file gets
    the usual permissions (``0o666`` minus the umask).
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_image(
    rgb_images: Array | Sequence[Array] | Sequence[Sequence[Array]],
    path: str | os.PathLike[str],
    gap: int = 2,
) -> numpy.ndarray:
    """Tile RGB images (see :func:`tile_images`) and write them as one image file.

    The float image is clipped to [0, 1] before the uint8 cast (:func:`to_uint8`). The file is
    written to a temporary file in the same folder and moved into place with ``os.replace``, so an
    existing file at ``path`` is either replaced completely or left intact.

    Parameters
    ----------
    rgb_images : array (H, W, 3), list of arrays, or list of lists of arrays
        One image, one row, or a grid of rows.
    path : str or os.PathLike
        Target file; its suffix picks the format (``.png`` recommended, any Pillow format works).
    gap : int
        Width of the black separators in pixels.

    Returns
    -------
    numpy.ndarray, shape (H_total, W_total, 3), uint8
        The image as written.
    """
    from PIL import Image

    fmt = _image_format(Path(path))
    img = to_uint8(tile_images(rgb_images, gap))
    write_atomically(path, lambda fh: Image.fromarray(img).save(fh, format=fmt))
    return img
