"""Rules that ignore the input: ``Flat`` (uniform) and ``WSquare`` (w²; Montavon et al. 2017)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .. import backend
from .._typing import Array
from ..modules import LinearFamily, MaxPool
from ._ops import memo, ones_input, per_sample
from .base import Rule, book_part
from .stabilizer import check_stabilizer, ratio, stabilize, stabilize_and_mask
from .zrules import _check_bias

if TYPE_CHECKING:
    from ..ledger import Book


def _propagate_input_free(
    rule: Any, layer: Any, R: Array, w: Array, b: Array | None, book: Book | None
) -> Array:
    """``R_i = sum_j w_ij R_j / stab(sum_i' w_i'j + b_j)`` with the sums over real (unpadded) inputs."""

    def prepare() -> tuple[Array, Array, Array | None]:
        raw = layer.affine(ones_input(layer), w, b)  # (1, *out): per-output sums over real inputs
        return (raw, *stabilize_and_mask(raw, rule.stabilizer, rule.stabilizer_form))

    raw, den, mask = memo(layer, ("den", rule.cache_key), prepare)
    s, dropped = ratio(R, den, mask)
    book_part(book, 1.0, R, s, den, raw, b, dropped)
    return layer.affine_t(s, w)


@dataclass(frozen=True)
class Flat(Rule):
    """Flat rule: every input of an output's receptive field gets an equal share.

    ``R_i = sum_j [i -> j] R_j / stab(n_j)`` where ``n_j`` counts the real (non-padding) inputs
    connected to output ``j`` (``fan_in`` without padding). Equivalently: inputs := 1, weights := 1,
    bias := 0. On MaxPool it spreads ``R_j / (hp * wp)`` uniformly over the window (the original's
    ``'flat'`` on max-pooling, the "flat" MaxPool mode).

    Parameters
    ----------
    stabilizer : float
        Default 0 (exact, as the original and iNNvestigate; zennit adds 1e-6). An output with
        ``n_j = 0`` (a window entirely in the padding) passes nothing.
    stabilizer_form : {'signed', 'unsigned', 'zero_only'}
    """

    stabilizer: float = 0.0
    stabilizer_form: Literal["signed", "unsigned", "zero_only"] = "signed"

    def __post_init__(self) -> None:
        object.__setattr__(self, "stabilizer", check_stabilizer(self.stabilizer, self.stabilizer_form))

    def supports(self, layer: Any) -> bool:
        return isinstance(layer, (LinearFamily, MaxPool))

    def propagate(self, layer: Any, R: Array, book: Book | None = None) -> Array:
        if isinstance(layer, MaxPool):
            xp = backend.get_namespace(R)
            k = R.dtype.type(layer.window_size)
            den = stabilize(xp.asarray(k), self.stabilizer, self.stabilizer_form)
            share = R / den
            if book is not None and self.stabilizer:
                book.add("stabilizer", per_sample(R) * ((den - k) / den))
            return layer.windows_t(xp.broadcast_to(share[..., None, None], (*R.shape, *layer.pool)))
        xp = backend.get_namespace(layer.lrp_weight)
        ones = memo(layer, "ones_w", lambda: xp.ones_like(layer.lrp_weight))
        return _propagate_input_free(self, layer, R, ones, None, book)


@dataclass(frozen=True)
class WSquare(Rule):
    """w² rule (Montavon et al. 2017, Eq. 12): ``R_i = sum_j w_ij² R_j / stab(sum_i' w_i'j² + b_j')``.

    Parameters
    ----------
    stabilizer : float
        Default 0 (exact, as the original, iNNvestigate and RP.jl's dense path); an output whose
        squared weights are all 0 passes nothing.
    stabilizer_form : {'signed', 'unsigned', 'zero_only'}
    bias : {'none', 'squared'}
        ``'none'`` (default; original, iNNvestigate, RP.jl): ``b_j' = 0``; ``'squared'``: ``b_j' = b_j²``
        (zennit ``WSquare``, which squares every parameter; ``b²`` then absorbs relevance).

    Notes
    -----
    On pools (``lrp_weight`` a scalar) this is uniform over the window, as the original's ``'ww'``.
    """

    stabilizer: float = 0.0
    stabilizer_form: Literal["signed", "unsigned", "zero_only"] = "signed"
    bias: Literal["none", "squared"] = "none"

    def __post_init__(self) -> None:
        object.__setattr__(self, "stabilizer", check_stabilizer(self.stabilizer, self.stabilizer_form))
        _check_bias(self.bias, ("none", "squared"))

    def propagate(self, layer: Any, R: Array, book: Book | None = None) -> Array:
        w, b = layer.lrp_weight, layer.lrp_bias
        w2 = memo(layer, "w2", lambda: w * w)
        b2 = None
        if b is not None and self.bias == "squared":
            b2 = memo(layer, "b2", lambda: b * b)
        return _propagate_input_free(self, layer, R, w2, b2, book)
