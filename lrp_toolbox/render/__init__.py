"""Rendering of inputs and relevance maps: heatmaps, colour maps, image files and figure grids.

The core is NumPy only; matplotlib, scikit-image and Pillow are imported inside the functions that
need them, so ``import lrp_toolbox.render`` is fast and needs no display. Every function accepts
NumPy or CuPy arrays (moved to the host with :func:`lrp_toolbox.backend.to_numpy`) and returns NumPy.

The original toolbox's deprecated ``repaint_corner_pixels`` is not provided. See ``docs/render.md``.
"""

from .cmapspec import colormap_from_spec, parse_colormap_spec
from .colormaps import LRP_PREFIX, ZENNIT_COLORMAPS, get_colormap, register_colormaps
from .custom_maps import CUSTOM_COLORMAPS
from .images import digit_to_rgb, enlarge_image, hm_to_rgb, overlay, to_uint8, vec2im
from .normalization import NORMALIZE_MODES, normalize
from .plotting import plot_grid
from .saving import save_image, tile_images

__all__ = [
    "CUSTOM_COLORMAPS",
    "LRP_PREFIX",
    "NORMALIZE_MODES",
    "ZENNIT_COLORMAPS",
    "colormap_from_spec",
    "digit_to_rgb",
    "enlarge_image",
    "get_colormap",
    "hm_to_rgb",
    "normalize",
    "overlay",
    "parse_colormap_spec",
    "plot_grid",
    "register_colormaps",
    "save_image",
    "tile_images",
    "to_uint8",
    "vec2im",
]
