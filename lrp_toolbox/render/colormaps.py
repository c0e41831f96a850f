"""Colour-map lookup by name or spec string, and registration with matplotlib.

Lookup order of :func:`get_colormap` (no ``eval``; every name is looked up in a registry):

1. a ``matplotlib.colors.Colormap`` instance is returned as is;
2. the five custom maps of the original toolbox, by plain name (``'gray-red'``) or prefixed
   (``'lrp.gray-red'``);
3. zennit's eleven named maps as ``'zennit.<name>'`` (e.g. ``'zennit.coldnhot'``), prefixed because
   several (``'gray'``, ``'hot'``, ``'bwr'``, ``'seismic'``) clash with different matplotlib maps;
4. every colour map known to ``matplotlib.colormaps`` (``'jet'``, ``'bwr'``, ``'binary_r'``, ...);
5. otherwise the string is parsed as a colour-map spec string (``'0ff,00f,80:000,f00,ff0,fff'``).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy

from .cmapspec import colormap_from_spec, parse_colormap_spec
from .custom_maps import CUSTOM_COLORMAPS

if TYPE_CHECKING:
    from matplotlib.colors import Colormap

__all__ = ["LRP_PREFIX", "ZENNIT_COLORMAPS", "get_colormap", "register_colormaps"]

#: Prefix of the names under which :func:`register_colormaps` registers our maps with matplotlib.
LRP_PREFIX = "lrp."

#: zennit's named colour maps (``zennit.image.CMAPS``) as spec strings; use as ``'zennit.<name>'``.
ZENNIT_COLORMAPS: MappingProxyType[str, str] = MappingProxyType(
    {
        "gray": "000,fff",
        "wred": "fff,f00",
        "wblue": "fff,00f",
        "hot": "000,f00,ff0,fff",
        "cold": "000,00f,0ff",
        "coldnhot": "0ff,00f,80:000,f00,ff0,fff",
        "bwr": "00f,80:fff,f00",
        "france": "0055a4,80:fff,ef4135",
        "seismic": "0000d0,80:d0d0d0,d00000",
        "coolio": "00d0d0,80:d0d0d0,d000d0",
        "coleus": "00d000,80:d0d0d0,d000d0",
    }
)


def _custom_name(name: str) -> str | None:
    """The registry key of a custom map given as ``'gray-red'`` or ``'lrp.gray-red'``, else None."""
    key = name.removeprefix(LRP_PREFIX)
    return key if key in CUSTOM_COLORMAPS else None


def _zennit_name(name: str) -> str | None:
    key = name.removeprefix(LRP_PREFIX)
    if key.startswith("zennit.") and key.removeprefix("zennit.") in ZENNIT_COLORMAPS:
        return key.removeprefix("zennit.")
    return None


def _listed_custom(key: str) -> Colormap:
    """Sample a custom map at 256 points: entry ``k`` is ``f(2k/255 - 1)``, i.e. [0, 1] -> [-1, 1]."""
    from matplotlib.colors import ListedColormap

    t = numpy.linspace(-1.0, 1.0, 256)
    return ListedColormap(CUSTOM_COLORMAPS[key].colour(t), name=LRP_PREFIX + key)


def get_colormap(name_or_spec: str | Colormap) -> Colormap:
    """Return a matplotlib colour map for a name or a colour-map spec string.

    Parameters
    ----------
    name_or_spec : str or matplotlib.colors.Colormap
        A custom map (``'gray-red'``, ``'black-green'``, ``'black-firered'``, ``'gray-red2'``,
        ``'blue-black-yellow'``, optionally prefixed ``'lrp.'``), a zennit map (``'zennit.coldnhot'``),
        any matplotlib name, or a spec string (see :mod:`lrp_toolbox.render.cmapspec`).

    Returns
    -------
    matplotlib.colors.Colormap
        A colour map on [0, 1]. A custom map ``f`` on [-1, 1] becomes a 256-entry ``ListedColormap``
        with entry ``k = f(2k/255 - 1)``, so ``cmap((t + 1) / 2) ≈ f(t)`` for ``t = R / max|R|``.
        ``gray-red2``'s outlier saturation acts on ``R``, not on colours, and is therefore applied
        only by :func:`hm_to_rgb`.

    Raises
    ------
    ValueError
        When the string is neither a known name nor a valid spec string (the message carries the
        spec parser's complaint).
    TypeError
        For anything but a str or a Colormap.
    """
    import matplotlib
    from matplotlib.colors import Colormap

    if isinstance(name_or_spec, Colormap):
        return name_or_spec
    if not isinstance(name_or_spec, str):
        raise TypeError(f"a colour map is a str or a Colormap, not {type(name_or_spec).__name__}")
    name = name_or_spec.strip()
    key = _custom_name(name)
    if key is not None:
        return _listed_custom(key)
    key = _zennit_name(name)
    if key is not None:
        return colormap_from_spec(ZENNIT_COLORMAPS[key], name=f"{LRP_PREFIX}zennit.{key}")
    if name in matplotlib.colormaps:
        return matplotlib.colormaps[name]
    try:
        parse_colormap_spec(name)
    except ValueError as exc:
        raise ValueError(
            f"unknown colour map {name_or_spec!r}: not a custom, zennit or matplotlib name, and not "
            f"a spec string ({exc})"
        ) from exc
    return colormap_from_spec(name)


def _registered_maps() -> dict[str, Colormap]:
    maps = {LRP_PREFIX + key: _listed_custom(key) for key in CUSTOM_COLORMAPS}
    for key, spec in ZENNIT_COLORMAPS.items():
        name = f"{LRP_PREFIX}zennit.{key}"
        maps[name] = colormap_from_spec(spec, name=name)
    return maps


def register_colormaps() -> tuple[str, ...]:
    """Register our colour maps with matplotlib's global colour-map registry (idempotent).

    Registers the five custom maps as ``'lrp.<name>'`` (e.g. ``'lrp.gray-red'``) and zennit's named
    maps as ``'lrp.zennit.<name>'``, so that ``imshow(x, cmap='lrp.gray-red')`` and
    ``matplotlib.colormaps['lrp.gray-red']`` work. Nothing is registered at import time.

    Returns
    -------
    tuple of str
        The registered names.

    Raises
    ------
    ValueError
        When one of the names is already registered with a *different* colour map.
    """
    import matplotlib

    maps = _registered_maps()
    for name, cmap in maps.items():
        if name in matplotlib.colormaps:
            if matplotlib.colormaps[name] != cmap:
                raise ValueError(f"colour map {name!r} is already registered with different colours")
            continue
        matplotlib.colormaps.register(cmap, name=name)
    return tuple(maps)
