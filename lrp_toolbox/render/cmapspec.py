"""Colour-map spec strings (the zennit colour-map specification language, re-implemented).

Grammar (whitespace around tokens is ignored; matching is case-insensitive)::

    spec   := node ("," node)+
    node   := [index ":"] colour
    index  := HEX{1,2}                 # node position 0..ff; one digit is doubled ("8" -> 0x88)
    colour := HEX{6} | HEX{3} | HEX{2} | HEX{1}
              # rrggbb | rgb (each digit doubled) | grey gg | grey g (doubled)

Placement of the nodes on the index axis 0..255 (position = index / 255):

- a first node without index sits at 0, a last node without index at 255;
- runs of nodes without index are spread evenly between the indexed nodes around them, at
  ``floor(a + (b - a) * k / (m + 1))`` for the k-th of m nodes between indices a and b;
- indices must not decrease from left to right; two equal indices make a hard step;
- a first index > 0 (last index < 255) extends the first (last) colour to the end of the axis.

Colours between nodes are interpolated linearly per RGB channel. The 1- and 2-digit grey colours are
an extension over zennit; every spec that zennit accepts (except a trailing comma) means the same here.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, NamedTuple

import numpy

if TYPE_CHECKING:
    from matplotlib.colors import LinearSegmentedColormap

__all__ = ["colormap_from_spec", "parse_colormap_spec"]

_HEX = re.compile(r"[0-9a-fA-F]+")


class _Node(NamedTuple):
    position: int | None  # 0..255, or None: placed evenly between its neighbours
    rgb: tuple[int, int, int]


def _bad(spec: str, token: str, why: str) -> ValueError:
    return ValueError(f"invalid colour-map spec {spec!r}: bad token {token!r} ({why})")


def _parse_colour(spec: str, token: str) -> tuple[int, int, int]:
    if not _HEX.fullmatch(token):
        raise _bad(spec, token, "a colour must be 1, 2, 3 or 6 hexadecimal digits")
    n = len(token)
    if n == 6:
        r, g, b = (int(token[k : k + 2], 16) for k in (0, 2, 4))
        return r, g, b
    if n == 3:
        r, g, b = (int(c * 2, 16) for c in token)
        return r, g, b
    if n in (1, 2):
        grey = int(token * 2 if n == 1 else token, 16)
        return grey, grey, grey
    raise _bad(spec, token, "a colour must be 1, 2, 3 or 6 hexadecimal digits")


def _parse_node(spec: str, item: str) -> _Node:
    token = item.strip()
    if not token:
        raise _bad(spec, item, "empty entry between commas")
    if token.count(":") > 1:
        raise _bad(spec, token, "more than one ':'")
    if ":" in token:
        index_token, colour_token = (part.strip() for part in token.split(":"))
        if not _HEX.fullmatch(index_token) or len(index_token) > 2:
            raise _bad(spec, index_token, "an index must be 1 or 2 hexadecimal digits, 0..ff")
        index = int(index_token * 2 if len(index_token) == 1 else index_token, 16)
        return _Node(index, _parse_colour(spec, colour_token))
    return _Node(None, _parse_colour(spec, token))


def parse_colormap_spec(spec: str) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Parse a colour-map spec string into node positions and colours.

    Parameters
    ----------
    spec : str
        For example ``"0ff,00f,80:000,f00,ff0,fff"`` (cyan, blue, black at the centre 0x80, red,
        yellow, white). See the module docstring for the grammar.

    Returns
    -------
    positions : numpy.ndarray, shape (K,), float64
        Non-decreasing node positions in [0, 1], starting at 0 and ending at 1.
    colours : numpy.ndarray, shape (K, 3), float64
        RGB colour of each node, in [0, 1].

    Raises
    ------
    ValueError
        For a malformed entry (the message names the bad token), decreasing indices, or fewer than
        two colours.
    """
    if not isinstance(spec, str):
        raise TypeError(f"a colour-map spec must be a str, not {type(spec).__name__}")
    nodes = [_parse_node(spec, item) for item in spec.split(",")]
    if len(nodes) < 2:
        raise ValueError(f"invalid colour-map spec {spec!r}: at least two colours are needed")
    last = len(nodes) - 1
    anchors = [
        (k, 0 if k == 0 else 255) if node.position is None else (k, node.position)
        for k, node in enumerate(nodes)
        if node.position is not None or k in (0, last)
    ]
    placed = [0] * len(nodes)
    for (left, a), (right, b) in itertools.pairwise(anchors):
        if b < a:
            token = spec.split(",")[right].strip()
            raise _bad(spec, token, f"index {b:#04x} is below the previous index {a:#04x}")
        placed[left], placed[right] = a, b
        step = 1.0 / (right - left)
        for k in range(1, right - left):
            alpha = k * step
            placed[left + k] = int(a * (1.0 - alpha) + b * alpha)
    positions = [index / 255.0 for index in placed]
    colours = [[c / 255.0 for c in node.rgb] for node in nodes]
    if positions[0] > 0.0:
        positions.insert(0, 0.0)
        colours.insert(0, colours[0])
    if positions[-1] < 1.0:
        positions.append(1.0)
        colours.append(colours[-1])
    return numpy.asarray(positions, dtype=numpy.float64), numpy.asarray(colours, numpy.float64)


def colormap_from_spec(spec: str, name: str | None = None) -> LinearSegmentedColormap:
    """Build a 256-entry matplotlib colour map from a spec string.

    Parameters
    ----------
    spec : str
        Colour-map spec string, see :func:`parse_colormap_spec`.
    name : str, optional
        Name of the colour map; defaults to the spec string itself.

    Returns
    -------
    matplotlib.colors.LinearSegmentedColormap
        Entry ``k`` of its lookup table is the linear interpolation of the nodes at ``k / 255``.
    """
    from matplotlib.colors import LinearSegmentedColormap

    positions, colours = parse_colormap_spec(spec)
    nodes = [(float(p), tuple(float(c) for c in rgb)) for p, rgb in zip(positions, colours, strict=True)]
    return LinearSegmentedColormap.from_list(spec if name is None else name, nodes, N=256)
