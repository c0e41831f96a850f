"""A matplotlib figure grid for notebooks: inputs in rows, one column per rule."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy

from .._typing import Array
from ..backend import to_numpy
from .images import hm_to_rgb
from .normalization import normalize as _normalize
from .saving import write_atomically

if TYPE_CHECKING:
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure

__all__ = ["plot_grid"]


def _batch(a: Array, what: str) -> numpy.ndarray:
    """(N, H, W) or (N, H, W, C) float64 from a batch, a single (H, W) image, or a list of images."""
    arr = numpy.asarray(
        [to_numpy(x) for x in a] if isinstance(a, list | tuple) else to_numpy(a), dtype=numpy.float64
    )
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim not in (3, 4):
        raise ValueError(f"{what} must be (N, H, W), (N, H, W, C) or (H, W); got shape {arr.shape}")
    if not numpy.all(numpy.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or Inf")
    return arr


def plot_grid(
    inputs: Array | Sequence[Array],
    heatmaps_by_rule: Mapping[str, Array],
    *,
    cmap: str | Colormap = "bwr",
    normalize: bool | str = True,
    input_cmap: str | Colormap = "gray",
    row_labels: Sequence[str] | None = None,
    panel_size: float = 2.0,
    path: str | os.PathLike[str] | None = None,
    dpi: float = 100.0,
) -> Figure:
    """Draw inputs (rows) next to their heatmaps under several rules (columns).

    Column 0 shows the input, min-max scaled per sample to [0, 1] (grey via ``input_cmap``, or RGB
    for 3 channels). Column ``k + 1`` shows ``hm_to_rgb(R_k[n], scaling=1, cmap=cmap,
    normalize=normalize)`` of the k-th rule, so every heatmap is normalised on its own (per sample
    and rule). Relevance maps with a channel axis are summed over it.

    The figure is a ``matplotlib.figure.Figure`` built without pyplot, so no global state is
    touched and no display is needed; in a notebook, the returned figure displays itself.

    Parameters
    ----------
    inputs : array_like, shape (N, H, W), (N, H, W, 1), (N, H, W, 3) or (H, W); or a list of images
    heatmaps_by_rule : mapping of str to array_like, each (N, H, W) or (N, H, W, C)
        Column title -> relevance maps of the N inputs (NumPy or CuPy).
    cmap : str or Colormap
        Heatmap colour map, anything :func:`get_colormap` accepts.
    normalize : bool or str
        Heatmap normalisation, see :func:`hm_to_rgb`.
    input_cmap : str or Colormap
        Colour map of grey inputs.
    row_labels : sequence of str, optional
        One label per input, shown left of each row.
    panel_size : float
        Edge length of one panel in inches.
    path : str or os.PathLike, optional
        When given, the figure is also saved there (atomically; the suffix picks the format).
    dpi : float
        Resolution used when saving.

    Returns
    -------
    matplotlib.figure.Figure
        ``N`` rows by ``1 + len(heatmaps_by_rule)`` columns of axes.

    Raises
    ------
    ValueError
        When there are no rules, or a heatmap's batch size or (H, W) differs from the inputs.
    """
    from matplotlib.figure import Figure

    from .colormaps import get_colormap

    x = _batch(inputs, "inputs")
    n, h, w = x.shape[:3]
    if not heatmaps_by_rule:
        raise ValueError("heatmaps_by_rule is empty: give at least one rule")
    heatmaps = {}
    for rule, maps in heatmaps_by_rule.items():
        r = _batch(maps, f"heatmaps_by_rule[{rule!r}]")
        r = r.sum(axis=-1) if r.ndim == 4 else r
        if r.shape != (n, h, w):
            raise ValueError(f"heatmaps for {rule!r} have shape {r.shape}, expected {(n, h, w)}")
        heatmaps[str(rule)] = r
    if row_labels is not None and len(row_labels) != n:
        raise ValueError(f"got {len(row_labels)} row labels for {n} inputs")
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim == 4 and x.shape[-1] != 3:
        raise ValueError(f"inputs must have 1 or 3 channels, got {x.shape[-1]}")
    shown = _normalize(x, "minmax", per_sample=True)
    gray_map = get_colormap(input_cmap)

    cols = 1 + len(heatmaps)
    fig = Figure(figsize=(panel_size * cols, panel_size * n), layout="constrained")
    axes = fig.subplots(n, cols, squeeze=False)
    for i in range(n):
        if shown.ndim == 3:
            axes[i, 0].imshow(shown[i], cmap=gray_map, vmin=0.0, vmax=1.0, interpolation="nearest")
        else:
            axes[i, 0].imshow(shown[i], interpolation="nearest")
        for k, r in enumerate(heatmaps.values(), start=1):
            rgb = hm_to_rgb(r[i], scaling=1, cmap=cmap, normalize=normalize)
            axes[i, k].imshow(rgb, interpolation="nearest")
        if row_labels is not None:
            axes[i, 0].set_ylabel(str(row_labels[i]))
    for k, title in enumerate(["input", *heatmaps]):
        axes[0, k].set_title(title)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if path is not None:
        fmt = Path(path).suffix.lstrip(".").lower() or "png"
        write_atomically(path, lambda fh: fig.savefig(fh, format=fmt, dpi=dpi))
    return fig
