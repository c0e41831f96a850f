"""Sign-split rules: z+ (``ZPlus``) and α-β (``AlphaBeta``).

Contributions are split by the sign of the product ``x_i w_ij`` (equivalently, inputs by sign and
weights by sign): ``c+_ij = x+_i w+_ij + x-_i w-_ij >= 0`` and ``c-_ij = x+_i w-_ij + x-_i w+_ij <= 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .. import backend
from .._typing import Array
from ..errors import RuleError
from ._banded import banded_pass, ratio_into
from ._ops import (
    held,
    input_parts,
    memo,
    output_z,
    per_sample,
    split_affine,
    split_affine_t,
    stacked_weight_parts,
    swapped_halves,
    transient,
    weight_parts,
)
from .base import Rule, book_part
from .stabilizer import (
    check_stabilizer,
    denominator_nonzero,
    keep_for_ratios,
    ratio,
    real_number,
    stabilize,
    stabilize_and_mask,
    zero_mask,
)
from .zrules import DEFAULT_STABILIZER, _check_bias

if TYPE_CHECKING:
    from ..ledger import Book


def _part_sums(
    layer: Any, need_neg: bool, b_pos: Array | None, b_neg: Array | None
) -> tuple[Array | None, Array | None]:
    """``(z+_j + b_pos_j, z-_j + b_neg_j)`` with ``z±_j = sum_i c±_ij``, in one stacked pass.

    The biases (``None``: none) are added inside the layer's pass. A part with no contributing
    (input sign, weight sign) pair at all (e.g. the negative part of a pool after a ReLU) and no
    bias is ``None``: statically empty.
    """
    xp = backend.get_namespace(layer.cache.x)
    xpos, xneg = input_parts(layer)
    wpos, wneg = weight_parts(layer, need_neg=need_neg or xneg is not None)
    if wpos.ndim == 0:  # a pool (no bias; w >= 0): c+ = x+ w and c- = x- w
        if xneg is None:  # x+ = x: z+ is the forward's own pre-activation
            return output_z(layer, False), None
        return layer.affine(xpos, wpos), (layer.affine(xneg, wpos) if need_neg else None)
    if not need_neg:
        return split_affine(layer, xpos, xneg, wpos, wneg, b_pos), None
    # outputs [z+, z-] stacked: x+ meets [w+, w-], x- meets [w-, w+]
    both = stacked_weight_parts(layer)
    b = None
    if b_pos is not None:
        b = xp.concatenate([b_pos, b_neg])
    swapped = None if xneg is None else swapped_halves(layer, "w-+", both)
    z = split_affine(layer, xpos, xneg, both, swapped, b)
    n = wpos.shape[-1]
    return z[..., :n], z[..., n:]


def _part_den(
    z: Array, bterm: Array | None, folded: bool, eps: float, form: str, sign: int, in_place: bool = False
) -> tuple[Array | None, Array, Array | None]:
    """``(raw, stab(raw), mask)`` of the part with sign ``sign``; a part whose contributions and bias
    share are all 0 is empty and passes nothing (``mask``).

    ``folded``: ``z`` already holds the bias share, which has the part's sign (or there is none), so
    every term of ``raw = z`` has the sign ``sign`` and ``raw == 0`` exactly when all are 0.
    Otherwise ``raw = z + bterm`` with a bias of either sign (``bias='full'``). ``in_place``: ``z`` is
    a temporary of this call and no ledger reads ``raw``, so ``stab(raw)`` may overwrite it (then
    ``raw`` is returned as ``None``).
    """
    if folded:
        raw, empty, known = z, z == 0, sign
    else:
        raw, empty, known = z + bterm, (z == 0) & (bterm == 0), None
    den = stabilize(raw, eps, form, sign=known, zero=empty if folded else None, out=raw if in_place else None)
    mask = zero_mask(den, empty, den_nonzero=denominator_nonzero(eps, form, known, den.dtype))
    return (None if in_place else raw), den, mask


def propagate_split(
    rule: Any, layer: Any, R: Array, alpha: float, beta: float, bias_mode: str, book: Book | None
) -> Array:
    """``R_i = α sum_j c+_ij R_j / stab(d+_j) - β sum_j c-_ij R_j / stab(d-_j)``.

    Without a ledger (after a plain or an lrp_aware forward), a layer that fuses (``fuses_lrp_pass``)
    runs it as one banded pass (``_propagate_split_banded``), bitwise equal to the unfused steps
    below, unless ``bias='full'`` (its bias of either sign is added outside the pass) or
    ``alpha == 0`` (the transposed pass then uses half the stacked weights: a different GEMM).
    """
    xp = backend.get_namespace(R)
    eps, form = rule.stabilizer, rule.stabilizer_form
    b = layer.lrp_bias
    bp = bn = None
    if b is not None and bias_mode == "split":
        bp = memo(layer, "b+", lambda: xp.maximum(b, 0))
        bn = memo(layer, "b-", lambda: xp.minimum(b, 0))
    elif b is not None and bias_mode == "full":
        bp = bn = b
    folded = bias_mode != "full" or b is None  # bias shares of the parts' signs: folded into the pass
    need_neg = beta != 0
    # after a plain forward and without a ledger the part sums and denominators die with this call:
    # denominators and ratios then reuse their buffers (fewer fresh pages; same values)
    in_place = transient(layer, book)
    if book is None and folded and alpha != 0 and layer.fuses_lrp_pass(R):
        fold = bp if bp is None or not need_neg else xp.concatenate([bp, bn])
        return _propagate_split_banded(rule, layer, R, alpha, beta, fold)

    def sums() -> tuple[Array | None, Array | None]:
        return _part_sums(layer, need_neg, bp if folded else None, bn if folded and need_neg else None)

    zp, zn = memo(layer, ("zparts", need_neg, bias_mode), sums)
    if zp is None and bp is not None:
        zp = _zeros_like(layer.cache.y)
    if zn is None and bn is not None:
        zn = _zeros_like(layer.cache.y)
    use_p = alpha != 0 and zp is not None
    use_n = beta != 0 and zn is not None
    if book is not None:  # statically empty parts pass nothing: their share is booked as created
        for coef, used in ((alpha, use_p or alpha == 0), (-beta, use_n or beta == 0)):
            if not used:
                book.add("created", -coef * per_sample(R))

    def spare(a: Array) -> bool:  # a temporary of this call, not an array of the forward cache
        return in_place and not held(layer, a)

    def denominators() -> tuple[Any, Any]:
        dp = _part_den(zp, bp, folded, eps, form, +1, spare(zp)) if use_p else None
        dn = _part_den(zn, bn, folded, eps, form, -1, spare(zn)) if use_n else None
        return dp, dn

    dp, dn = memo(layer, ("den", rule.cache_key), denominators)
    s_pos = s_neg = None
    if use_p:
        raw, den, mask = dp
        s_pos, dropped = ratio(R, den, mask, out=den if spare(den) and den.shape == R.shape else None)
        book_part(book, alpha, R, s_pos, den, raw, bp, dropped)
        if alpha != 1:
            s_pos *= R.dtype.type(alpha)
    if use_n:
        raw, den, mask = dn
        s_neg, dropped = ratio(R, den, mask, out=den if spare(den) and den.shape == R.shape else None)
        book_part(book, -beta, R, s_neg, den, raw, bn, dropped)
        s_neg *= R.dtype.type(-beta)
    return _split_transpose(layer, s_pos, s_neg)


def _propagate_split_banded(
    rule: Any, layer: Any, R: Array, alpha: float, beta: float, b: Array | None
) -> Array:
    """``propagate_split`` (no ledger, bias folded, ``alpha != 0``) as one banded ``layer.lrp_pass``.

    The modified forward over ``[x+, x-]`` with the stacked parts (outputs ``[z+, z-]``, bias
    shares ``b`` folded in), the denominators, the ratios and the transposed pass run band by band
    on the operands of the unfused path, so every value is bitwise that path's (``banded_pass``:
    after an lrp_aware forward from memoised denominators).
    """
    eps, form = rule.stabilizer, rule.stabilizer_form
    xpos, xneg = input_parts(layer)
    xs = [xpos] if xneg is None else [xpos, xneg]
    if beta != 0:
        both = stacked_weight_parts(layer)
        ws = [both] if xneg is None else [both, swapped_halves(layer, "w-+", both)]
    else:
        wpos, wneg = weight_parts(layer, need_neg=xneg is not None)
        ws = [wpos] if xneg is None else [wpos, wneg]
    n = layer.lrp_weight.shape[-1]
    parts = [(+1, alpha)] if beta == 0 else [(+1, alpha), (-1, -beta)]

    def denominators(z: Array) -> list[tuple[Array, Any]]:  # z: (len(parts)*n, rows, Wo, N)
        dens = []
        for k, (sign, _) in enumerate(parts):
            _, den, mask = _part_den(z[k * n : (k + 1) * n], None, True, eps, form, sign, in_place=True)
            dens.append(keep_for_ratios(den, mask))
        return dens

    def ratios(dens: list[tuple[Array, Any]], r: Array, into: Array) -> Array:
        for k, ((den, mask), (_, coef)) in enumerate(zip(dens, parts, strict=True)):
            sk = ratio_into(r, den, mask, into[k * n : (k + 1) * n])
            if coef != 1:
                sk *= r.dtype.type(coef)
        return into

    return banded_pass(layer, rule.cache_key, xs, ws, b, R, denominators, ratios)


def _split_transpose(layer: Any, s_pos: Array | None, s_neg: Array | None) -> Array:
    """``R_i = sum_j c+_ij s+_j + sum_j c-_ij s-_j`` (``None``: the part passes nothing).

    ``c+`` pairs x+ with w+ and x- with w-, ``c-`` pairs x+ with w- and x- with w+; with both parts
    the two are one transposed pass ``x+ ⊙ Aᵀ([s+, s-]; [w+, w-]) + x- ⊙ Aᵀ([s+, s-]; [w-, w+])``.
    """
    xpos, xneg = input_parts(layer)
    x = layer.cache.x
    w = layer.lrp_weight
    if w.ndim == 0:  # a pool (w >= 0): the positive part reaches x+ only, the negative part x- only
        R_in = None
        for xpart, s in ((xpos, s_pos), (xneg, s_neg)):
            if xpart is not None and s is not None:
                term = layer.input_times_affine_t(xpart, s, w)
                R_in = term if R_in is None else R_in + term
        return _zeros_like(x) if R_in is None else R_in
    if s_pos is None and s_neg is None:
        return _zeros_like(x)
    if s_neg is None:
        wpos, wneg = weight_parts(layer, need_neg=xneg is not None)
        return split_affine_t(layer, [s_pos], xpos, xneg, wpos, wneg)
    both = stacked_weight_parts(layer)
    n = w.shape[-1]
    if s_pos is None:
        return split_affine_t(layer, [s_neg], xpos, xneg, both[..., n:], both[..., :n])
    swapped = None if xneg is None else swapped_halves(layer, "w-+", both)
    return split_affine_t(layer, [s_pos, s_neg], xpos, xneg, both, swapped)


def _zeros_like(a: Array) -> Array:
    return backend.get_namespace(a).zeros(a.shape, dtype=a.dtype)


@dataclass(frozen=True)
class ZPlus(Rule):
    """z+ rule (α1β0 with the input sign split; Montavon et al. 2017).

    ``R_i = sum_j c+_ij R_j / stab(z+_j + b+_j)`` with ``c+_ij = x+_i w+_ij + x-_i w-_ij``.

    Parameters
    ----------
    stabilizer : float
        Default ``1e-9``.
    stabilizer_form : {'signed', 'unsigned', 'zero_only'}
    bias : {'positive', 'full', 'none'}
        ``'positive'`` (default; zennit, RP.jl, the original's ``'alphabeta', 1``): ``b+`` in the
        denominator; ``'full'``: ``b`` (iNNvestigate ``Alpha1Beta0``); ``'none'`` (iNNvestigate ``ZPlus``).
    split_inputs : bool
        ``True`` (default): inputs split by sign as above. ``False``: ``c_ij = x_i w+_ij`` (Captum
        ``Alpha1_Beta0_Rule``, iNNvestigate ``ZPlusFast``); identical for non-negative inputs.
    """

    stabilizer: float = DEFAULT_STABILIZER
    stabilizer_form: Literal["signed", "unsigned", "zero_only"] = "signed"
    bias: Literal["positive", "full", "none"] = "positive"
    split_inputs: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "stabilizer", check_stabilizer(self.stabilizer, self.stabilizer_form))
        _check_bias(self.bias, ("positive", "full", "none"))

    def propagate(self, layer: Any, R: Array, book: Book | None = None) -> Array:
        if self.split_inputs:
            return propagate_split(
                self, layer, R, 1.0, 0.0, {"positive": "split"}.get(self.bias, self.bias), book
            )
        return _propagate_unsplit(self, layer, R, book)


def _propagate_unsplit(rule: ZPlus, layer: Any, R: Array, book: Book | None) -> Array:
    xp = backend.get_namespace(R)
    x, b = layer.cache.x, layer.lrp_bias
    wpos = weight_parts(layer, need_neg=False)[0]
    bterm = None
    if b is not None and rule.bias == "positive":
        bterm = memo(layer, "b+", lambda: xp.maximum(b, 0))
    elif b is not None and rule.bias == "full":
        bterm = b
    z = memo(layer, ("z", "x w+"), lambda: layer.affine(x, wpos))
    raw, den, mask = memo(
        layer,
        ("den", rule.cache_key),
        lambda: _part_den_plain(z, bterm, rule.stabilizer, rule.stabilizer_form),
    )
    s, dropped = ratio(R, den, mask)
    book_part(book, 1.0, R, s, den, raw, bterm, dropped)
    return layer.input_times_affine_t(x, s, wpos)


def _part_den_plain(
    z: Array, bterm: Array | None, eps: float, form: str
) -> tuple[Array, Array, Array | None]:
    raw = z if bterm is None else z + bterm
    return (raw, *stabilize_and_mask(raw, eps, form))


@dataclass(frozen=True)
class AlphaBeta(Rule):
    """α-β rule (Bach et al. 2015, Eq. 60) with α - β = 1.

    ``R_i = α sum_j c+_ij R_j / stab(z+_j + b+_j) - β sum_j c-_ij R_j / stab(z-_j + b-_j)``,
    ``c+_ij = x+_i w+_ij + x-_i w-_ij``, ``c-_ij = x+_i w-_ij + x-_i w+_ij``.

    Parameters
    ----------
    alpha, beta : float
        Default α = 2, β = 1. ``alpha - beta == 1`` is required (to 1e-12, or 4 ulps of the larger
        parameter, at most 1e-6). Unlike zennit/RP.jl a negative β is allowed, for the original's
        ``'alphabeta', a`` = ``AlphaBeta(a, a - 1)`` with ``0 <= a < 1`` (``a = 0``: negative part
        only).
    stabilizer : float
        Default ``1e-9`` (the original: 1e-16).
    stabilizer_form : {'signed', 'unsigned', 'zero_only'}
    bias : {'split', 'full', 'none'}
        ``'split'`` (default; zennit, RP.jl, original): ``b+`` in the positive, ``b-`` in the negative
        denominator; ``'full'``: ``b`` in both (iNNvestigate ``AlphaBetaRule(bias=True)``); ``'none'``.

    Notes
    -----
    Conservation holds when both parts of every output are non-empty. When a part is empty (e.g.
    no negative contribution after a ReLU), its share ``α R_j`` / ``β R_j`` cannot be distributed:
    it passes nothing and the ledger books it under ``created``.
    """

    alpha: float = 2.0
    beta: float = 1.0
    stabilizer: float = DEFAULT_STABILIZER
    stabilizer_form: Literal["signed", "unsigned", "zero_only"] = "signed"
    bias: Literal["split", "full", "none"] = "split"

    def __post_init__(self) -> None:
        for name in ("alpha", "beta"):
            object.__setattr__(self, name, real_number(getattr(self, name), f"AlphaBeta: {name}"))
        # 1e-12, or a few units in the last place of large parameters (alpha = a, beta = a - 1
        # rounded), but never so loose that alpha - beta = 1 is not what holds
        spacing = math.ulp(max(abs(self.alpha), abs(self.beta)))
        if abs(self.alpha - self.beta - 1.0) > min(1e-6, max(1e-12, 4 * spacing)):
            raise RuleError(
                f"AlphaBeta: alpha - beta must be 1 (conservation), got alpha={self.alpha}, "
                f"beta={self.beta}; "
                "the original's 'alphabeta', a means AlphaBeta(a, a - 1)"
            )
        object.__setattr__(self, "stabilizer", check_stabilizer(self.stabilizer, self.stabilizer_form))
        _check_bias(self.bias, ("split", "full", "none"))

    def propagate(self, layer: Any, R: Array, book: Book | None = None) -> Array:
        return propagate_split(self, layer, R, self.alpha, self.beta, self.bias, book)
