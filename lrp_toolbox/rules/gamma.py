"""LRP-γ in its two published forms: ``'classic'`` (Montavon et al. 2019) and ``'generalized'``
(Andéol et al. 2021, zennit's ``Gamma``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .. import backend
from .._typing import Array
from ..errors import RuleError
from ._banded import one_ratio_pass
from ._ops import input_parts, memo, output_z, split_affine, split_affine_t, swapped_halves
from .base import Rule, book_part
from .stabilizer import check_stabilizer, ratio, real_number, stabilize_and_mask
from .zrules import DEFAULT_STABILIZER, _check_bias

if TYPE_CHECKING:
    from ..ledger import Book


@dataclass(frozen=True)
class Gamma(Rule):
    """LRP-γ: favour positive contributions by adding ``γ w+``.

    ``variant='classic'`` (default; Montavon et al. 2019 overview, RP.jl ``GammaRule``, Captum up to
    the bias), for every output sign::

        d_j = sum_i x_i (w_ij + γ w+_ij) + (b_j + γ b+_j)
        R_i = x_i sum_j (w_ij + γ w+_ij) R_j / stab(d_j)

    ``variant='generalized'`` (zennit ``Gamma``, RP.jl ``GeneralizedGammaRule``), with ``z_j`` the
    layer output::

        z_j > 0:  c_ij = x+_i (w_ij + γ w+_ij) + x-_i (w_ij + γ w-_ij),  d_j = sum_i c_ij + b_j + γ b+_j
        z_j < 0:  c_ij = x+_i (w_ij + γ w-_ij) + x-_i (w_ij + γ w+_ij),  d_j = sum_i c_ij + b_j + γ b-_j
        z_j = 0:  no relevance passes (booked as ``created = -R_j``)
        R_i = sum_j c_ij R_j / stab(d_j)

    Parameters
    ----------
    gamma : float
        γ >= 0, default 0.25 (zennit, RP.jl, Captum). γ = 0 gives LRP-0.
    variant : {'classic', 'generalized'}
    stabilizer : float
        Default ``1e-9``.
    stabilizer_form : {'signed', 'unsigned', 'zero_only'}
    bias : {'modified', 'raw', 'none'}
        ``'modified'`` (default): ``b + γ b+`` (``b + γ b-`` for negative outputs in the generalized
        form); ``'raw'``: ``b`` (Captum ``set_bias_to_zero=False``); ``'none'``.
    """

    gamma: float = 0.25
    variant: Literal["classic", "generalized"] = "classic"
    stabilizer: float = DEFAULT_STABILIZER
    stabilizer_form: Literal["signed", "unsigned", "zero_only"] = "signed"
    bias: Literal["modified", "raw", "none"] = "modified"

    def __post_init__(self) -> None:
        g = real_number(self.gamma, "Gamma: gamma")
        if g < 0:
            raise RuleError(f"Gamma: gamma must be a finite number >= 0, got {self.gamma!r}")
        object.__setattr__(self, "gamma", g)
        if self.variant not in ("classic", "generalized"):
            raise RuleError(f"Gamma: variant must be 'classic' or 'generalized', got {self.variant!r}")
        object.__setattr__(self, "stabilizer", check_stabilizer(self.stabilizer, self.stabilizer_form))
        _check_bias(self.bias, ("modified", "raw", "none"))

    def _weights(self, layer: Any) -> tuple[Array, Array]:
        w = layer.lrp_weight
        xp = backend.get_namespace(w)
        g = w.dtype.type(self.gamma)
        wp = memo(layer, ("gamma.w+", self.gamma), lambda: w + g * xp.maximum(w, 0))
        wn = memo(layer, ("gamma.w-", self.gamma), lambda: w + g * xp.minimum(w, 0))
        return wp, wn

    def _biases(self, layer: Any) -> tuple[Array | None, Array | None]:
        b = layer.lrp_bias
        if b is None or self.bias == "none":
            return None, None
        if self.bias == "raw":
            return b, b
        xp = backend.get_namespace(b)
        g = b.dtype.type(self.gamma)
        return b + g * xp.maximum(b, 0), b + g * xp.minimum(b, 0)

    def propagate(self, layer: Any, R: Array, book: Book | None = None) -> Array:
        if self.variant == "classic":
            return self._classic(layer, R, book)
        return self._generalized(layer, R, book)

    def _classic(self, layer: Any, R: Array, book: Book | None) -> Array:
        x = layer.cache.x
        wp = self._weights(layer)[0]
        bterm = self._biases(layer)[0]
        if book is None and layer.fuses_lrp_pass(R):  # one banded pass, the same values
            eps, form = self.stabilizer, self.stabilizer_form
            return one_ratio_pass(layer, self.cache_key, [x], [wp], bterm, R, eps, form)

        def prepare() -> tuple[Array, Array, Array | None]:
            raw = layer.affine(x, wp, bterm)
            return (raw, *stabilize_and_mask(raw, self.stabilizer, self.stabilizer_form))

        raw, den, mask = memo(layer, ("den", self.cache_key), prepare)
        s, dropped = ratio(R, den, mask)
        book_part(book, 1.0, R, s, den, raw, bterm, dropped)
        return layer.input_times_affine_t(x, s, wp)

    def _stacked(self, layer: Any) -> Array | None:
        """``[w+γ, w-γ]`` stacked along the output axis (``None`` for a pool's 0-d weight)."""
        wp, wn = self._weights(layer)
        if wp.ndim == 0:
            return None
        xp = backend.get_namespace(wp)
        return memo(layer, ("gamma.w+-", self.gamma), lambda: xp.concatenate([wp, wn], axis=-1))

    def _generalized(self, layer: Any, R: Array, book: Book | None) -> Array:
        xp = backend.get_namespace(R)
        wp, wn = self._weights(layer)
        both = self._stacked(layer)
        xpos, xneg = input_parts(layer)
        z = output_z(layer, layer.lrp_bias is not None)

        def prepare() -> tuple[Array, ...]:
            # positive-output sum x+ w+γ + x- w-γ and negative-output sum x+ w-γ + x- w+γ
            if both is None:
                zpos, zneg = layer.affine(xpos, wp), layer.affine(xpos, wn)
                if xneg is not None:
                    zpos, zneg = zpos + layer.affine(xneg, wn), zneg + layer.affine(xneg, wp)
            else:
                swapped = None if xneg is None else swapped_halves(layer, ("gamma.w-+", self.gamma), both)
                z2 = split_affine(layer, xpos, xneg, both, swapped)
                n = wp.shape[-1]
                zpos, zneg = z2[..., :n], z2[..., n:]
            bp, bn = self._biases(layer)
            if bp is not None:
                zpos, zneg = zpos + bp, zneg + bn
                bterm = xp.where(z > 0, bp, bn)
            else:
                bterm = None
            raw = xp.where(z > 0, zpos, zneg)
            den, mask = stabilize_and_mask(raw, self.stabilizer, self.stabilizer_form, drop=z == 0)
            return raw, den, mask, bterm, z > 0, z < 0

        raw, den, mask, bterm, pos, neg = memo(layer, ("den", self.cache_key), prepare)
        s, dropped = ratio(R, den, mask)
        book_part(book, 1.0, R, s, den, raw, bterm, dropped)
        zero = R.dtype.type(0)
        sp, sn = xp.where(pos, s, zero), xp.where(neg, s, zero)
        if both is None:
            R_in = xpos * (layer.affine_t(sp, wp) + layer.affine_t(sn, wn))
            if xneg is not None:
                R_in = R_in + xneg * (layer.affine_t(sp, wn) + layer.affine_t(sn, wp))
            return R_in
        swapped = None if xneg is None else swapped_halves(layer, ("gamma.w-+", self.gamma), both)
        return split_affine_t(layer, [sp, sn], xpos, xneg, both, swapped)
