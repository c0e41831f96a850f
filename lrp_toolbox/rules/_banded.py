"""Rules on the banded pass (``Convolution.lrp_pass``): after a plain forward, or from memoised bands."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from .. import backend
from .._typing import Array
from ._ops import memo
from .stabilizer import keep_for_ratios, ratio, stabilize_and_mask


def banded_pass(
    layer: Any,
    key: Hashable,
    xs: Sequence[Array],
    ws: Sequence[Array],
    b: Array | None,
    R: Array,
    denominators: Callable[[Array], Any],
    ratios: Callable[[Any, Array, Array], Array],
) -> Array:
    """``layer.lrp_pass`` of a rule given as its two band-wise halves; call it without a ledger.

    ``denominators(z)`` turns a band's pre-activations ``z`` (a temporary it may overwrite) into
    what the ratios need; ``ratios(dens, r, into)`` writes the band's ratios for the relevance band
    ``r`` into ``into`` and returns it. After a plain forward ``into`` is ``z`` itself; after an
    lrp_aware forward the denominators of every band are memoised under ``('bands', key)`` and
    ``into`` is a fresh array. Both give the same bits.
    """
    if layer.cache.memo is None:
        return layer.lrp_pass(xs, ws, b, R, lambda z, r: ratios(denominators(z), r, z))
    xp = backend.get_namespace(R)
    n = ws[0].shape[-1]
    prepared = memo(layer, ("bands", key), lambda: layer.lrp_bands(xs, ws, b, denominators))

    def fresh(dens: Any, r: Array) -> Array:
        return ratios(dens, r, xp.empty((n, *r.shape[1:]), dtype=r.dtype))

    return layer.lrp_pass(xs, ws, b, R, fresh, prepared=prepared)


def ratio_into(r: Array, den: Array, dropped: Any, into: Array) -> Array:
    """``ratio(r, den, dropped)`` written into ``into`` (returned)."""
    s = ratio(r, den, dropped, out=into)[0]
    if s is not into:  # a dropped output: ratio made a new array
        into[...] = s
    return into


def one_ratio_pass(
    layer: Any,
    key: Hashable,
    xs: Sequence[Array],
    ws: Sequence[Array],
    b: Array | None,
    R: Array,
    eps: float,
    form: str,
) -> Array:
    """``sum_k xs[k] * affine_t(s, ws[k])`` with ``s = R / stab(affine_sum(xs, ws, b))``, banded.

    The values are those of ``ratio(R, *stabilize_and_mask(z, eps, form))`` on the whole layer,
    bit for bit (``banded_pass``).
    """

    def denominators(z: Array) -> tuple[Array, Any]:
        return keep_for_ratios(*stabilize_and_mask(z, eps, form, out=z))

    def ratios(dens: tuple[Array, Any], r: Array, into: Array) -> Array:
        return ratio_into(r, *dens, into)

    return banded_pass(layer, key, xs, ws, b, R, denominators, ratios)
