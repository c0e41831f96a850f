"""LRP-0 (``Zero``) and LRP-ε (``Epsilon``): the rules that keep the layer's own weights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .._typing import Array
from ..errors import RuleError
from ._ops import held, memo, output_z, transient
from .base import Rule, book_part
from .stabilizer import check_stabilizer, ratio, stabilize_and_mask

if TYPE_CHECKING:
    from ..ledger import Book

DEFAULT_STABILIZER = 1e-9
"""Stabiliser of every rule except ``Epsilon`` (absolute, signed; RP.jl's and Captum's value)."""


def _check_bias(bias: str, valid: tuple[str, ...]) -> None:
    if bias not in valid:
        raise RuleError(f"bias must be one of {valid}, got {bias!r}")


def propagate_z(rule: Any, layer: Any, R: Array, eps: float, book: Book | None) -> Array:
    """``R_i = x_i sum_j w_ij R_j / stab(z_j)`` with ``z_j = sum_i x_i w_ij (+ b_j)``."""
    with_bias = rule.bias == "full" and layer.lrp_bias is not None
    z = output_z(layer, with_bias)
    # after a plain forward and without a ledger, a z recomputed here (not one the forward cache
    # holds) and its denominator die with this call: the denominator and the ratio reuse their buffers
    in_place = transient(layer, book)
    spare = in_place and not held(layer, z)
    den, mask = memo(
        layer,
        ("den", rule.cache_key),
        lambda: stabilize_and_mask(z, eps, rule.stabilizer_form, out=z if spare else None),
    )
    writable = in_place and not held(layer, den) and den.shape == R.shape
    s, dropped = ratio(R, den, mask, out=den if writable else None)
    R_in = layer.input_times_affine_t(layer.cache.x, s, layer.lrp_weight)
    book_part(book, 1.0, R, s, den, z, layer.lrp_bias if with_bias else None, dropped)
    return R_in


@dataclass(frozen=True)
class Zero(Rule):
    """LRP-0 (the original's ``'simple'``; Bach et al. 2015, Eq. 56).

    ``R_i = sum_j x_i w_ij R_j / stab(z_j)``, ``z_j = sum_i x_i w_ij + b_j``,
    ``stab(z) = z + stabilizer * s(z)`` with ``s(0) = +1`` (``stabilize``).

    Parameters
    ----------
    stabilizer : float
        Absolute stabiliser, default ``1e-9`` (the original used 1e-16; 1e-12 on SumPool).
    stabilizer_form : {'signed', 'unsigned', 'zero_only'}
        See ``stabilize``; default ``'signed'``.
    bias : {'full', 'none'}
        ``'full'`` (default, every peer): ``b`` is in ``z_j`` and absorbs relevance;
        ``'none'``: ``z_j = sum_i x_i w_ij`` (zennit ``zero_params='bias'``).
    """

    stabilizer: float = DEFAULT_STABILIZER
    stabilizer_form: Literal["signed", "unsigned", "zero_only"] = "signed"
    bias: Literal["full", "none"] = "full"

    def __post_init__(self) -> None:
        object.__setattr__(self, "stabilizer", check_stabilizer(self.stabilizer, self.stabilizer_form))
        _check_bias(self.bias, ("full", "none"))

    def propagate(self, layer: Any, R: Array, book: Book | None = None) -> Array:
        return propagate_z(self, layer, R, self.stabilizer, book)


@dataclass(frozen=True)
class Epsilon(Rule):
    """LRP-ε (Bach et al. 2015, Eq. 58).

    ``R_i = sum_j x_i w_ij R_j / (z_j + ε s(z_j))``, ``z_j = sum_i x_i w_ij + b_j``, ``s(0) = +1``.
    On SumPool ``z_j`` is the raw window sum, so ε is added to the unscaled sum (as the original).

    Parameters
    ----------
    epsilon : float
        ε >= 0, default ``1e-6`` (zennit's and RP.jl's default; Captum 1e-9, iNNvestigate 1e-7).
    stabilizer_form : {'signed', 'unsigned', 'zero_only'}
    bias : {'full', 'none'}
    """

    epsilon: float = 1e-6
    stabilizer_form: Literal["signed", "unsigned", "zero_only"] = "signed"
    bias: Literal["full", "none"] = "full"

    def __post_init__(self) -> None:
        object.__setattr__(self, "epsilon", check_stabilizer(self.epsilon, self.stabilizer_form, "epsilon"))
        _check_bias(self.bias, ("full", "none"))

    def propagate(self, layer: Any, R: Array, book: Book | None = None) -> Array:
        return propagate_z(self, layer, R, self.epsilon, book)
