"""The banded pass (``Convolution.lrp_pass``) of a rule with one ratio ``s = R / stab(z)``."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from .._typing import Array
from ._ops import memo
from .stabilizer import keep_for_ratios, ratio, stabilize_and_mask


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

    For a layer whose ``fuses_lrp_pass(R)`` holds, called without a ledger. After a plain forward
    the ratios overwrite each band's pre-activations; after an lrp_aware forward the bands'
    stabilised denominators are memoised under ``('bands', key)`` and every call divides and
    transposes. The values are those of ``ratio(R, *stabilize_and_mask(z, eps, form))`` on the
    whole layer, bit for bit.
    """

    def denominators(z: Array) -> tuple[Array, Any]:
        return keep_for_ratios(*stabilize_and_mask(z, eps, form, out=z))

    if layer.cache.memo is None:
        return layer.lrp_pass(xs, ws, b, R, lambda z, r: ratio(r, *denominators(z), out=z)[0])
    prepared = memo(layer, ("bands", key), lambda: layer.lrp_bands(xs, ws, b, denominators))
    return layer.lrp_pass(xs, ws, b, R, lambda dens, r: ratio(r, *dens)[0], prepared=prepared)
