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
from ._ops import affine_many, affine_t_sum, input_parts, memo, per_sample, weight_parts
from .base import Rule, book_part
from .stabilizer import check_stabilizer, ratio, stabilize, zero_mask
from .zrules import DEFAULT_STABILIZER, _check_bias

if TYPE_CHECKING:
    from ..ledger import Book


def _part_sums(layer: Any, need_neg: bool) -> tuple[Array, Array | None]:
    """``(z+_j, z-_j) = (sum_i c+_ij, sum_i c-_ij)`` without bias, stacked passes, memoised.

    A part with no contributing (input sign, weight sign) pair at all (e.g. the negative part of a
    pool after a ReLU) is ``None``: statically empty.
    """

    def compute() -> tuple[Array, Array | None]:
        xpos, xneg = input_parts(layer)
        wpos, wneg = weight_parts(layer, need_neg=need_neg or xneg is not None)
        pos: list[Array] = []
        neg: list[Array] = []
        for x, w_same, w_cross in ((xpos, wpos, wneg), (xneg, wneg, wpos)):
            if x is None:
                continue
            ws, parts = [], []
            if w_same is not None:
                ws.append(w_same)
                parts.append(pos)
            if need_neg and w_cross is not None:
                ws.append(w_cross)
                parts.append(neg)
            for part, z in zip(parts, affine_many(layer, x, ws), strict=True):
                part.append(z)
        zp = _sum_or_zero(layer, pos) if pos else None
        zn = _sum_or_zero(layer, neg) if neg else None
        return zp, zn

    return memo(layer, ("zparts", need_neg), compute)


def _sum_or_zero(layer: Any, zs: list[Array]) -> Array:
    if not zs:
        y = layer.cache.y
        return backend.get_namespace(y).zeros(y.shape, dtype=y.dtype)
    total = zs[0]
    for z in zs[1:]:
        total = total + z
    return total


def _part_den(zsum: Array, bterm: Array | None, eps: float, form: str) -> tuple[Array, Array, Array | None]:
    """``(raw, stab(raw), mask)`` of one part; a part whose contributions and bias share are all 0 is
    empty and passes nothing (``mask``)."""
    raw = zsum if bterm is None else zsum + bterm
    den = stabilize(raw, eps, form)
    empty = zsum == 0 if bterm is None else (zsum == 0) & (bterm == 0)
    return raw, den, zero_mask(den, empty)


def propagate_split(
    rule: Any, layer: Any, R: Array, alpha: float, beta: float, bias_mode: str, book: Book | None
) -> Array:
    """``R_i = α sum_j c+_ij R_j / stab(d+_j) - β sum_j c-_ij R_j / stab(d-_j)``."""
    xp = backend.get_namespace(R)
    eps, form = rule.stabilizer, rule.stabilizer_form
    b = layer.lrp_bias
    bp = bn = None
    if b is not None and bias_mode == "split":
        bp = memo(layer, "b+", lambda: xp.maximum(b, 0))
        bn = memo(layer, "b-", lambda: xp.minimum(b, 0))
    elif b is not None and bias_mode == "full":
        bp = bn = b
    zp, zn = _part_sums(layer, beta != 0)
    if zp is None and bp is not None:
        zp = _sum_or_zero(layer, [])
    if zn is None and bn is not None:
        zn = _sum_or_zero(layer, [])
    use_p = alpha != 0 and zp is not None
    use_n = beta != 0 and zn is not None
    if book is not None:  # statically empty parts pass nothing: their share is booked as created
        for coef, used in ((alpha, use_p or alpha == 0), (-beta, use_n or beta == 0)):
            if not used:
                book.add("created", -coef * per_sample(R))

    def denominators() -> tuple[Any, Any]:
        dp = _part_den(zp, bp, eps, form) if use_p else None
        dn = _part_den(zn, bn, eps, form) if use_n else None
        return dp, dn

    dp, dn = memo(layer, ("den", rule.cache_key), denominators)
    ss: list[Array] = []
    coefs: list[tuple[float, int]] = []  # (coefficient, 0 = positive part / 1 = negative part)
    if use_p:
        raw, den, mask = dp
        sp, dropped = ratio(R, den, mask)
        book_part(book, alpha, R, sp, den, raw, bp, dropped)
        ss.append(sp * R.dtype.type(alpha) if alpha != 1 else sp)
        coefs.append((alpha, 0))
    if use_n:
        raw, den, mask = dn
        sn, dropped = ratio(R, den, mask)
        book_part(book, -beta, R, sn, den, raw, bn, dropped)
        ss.append(sn * R.dtype.type(-beta))
        coefs.append((-beta, 1))
    xpos, xneg = input_parts(layer)
    wpos, wneg = weight_parts(layer, need_neg=(use_n and xpos is not None) or (use_p and xneg is not None))
    R_in = None
    for x, w_for_part in ((xpos, (wpos, wneg)), (xneg, (wneg, wpos))):
        if x is None:
            continue
        pairs = [(s, w_for_part[p]) for s, (_, p) in zip(ss, coefs, strict=True) if w_for_part[p] is not None]
        if not pairs:
            continue
        term = x * affine_t_sum(layer, [s for s, _ in pairs], [w for _, w in pairs])
        R_in = term if R_in is None else R_in + term
    if R_in is None:
        x = layer.cache.x
        R_in = xp.zeros(x.shape, dtype=x.dtype)
    return R_in


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
    return x * layer.affine_t(s, wpos)


def _part_den_plain(
    z: Array, bterm: Array | None, eps: float, form: str
) -> tuple[Array, Array, Array | None]:
    raw = z if bterm is None else z + bterm
    den = stabilize(raw, eps, form)
    return raw, den, zero_mask(den)


@dataclass(frozen=True)
class AlphaBeta(Rule):
    """α-β rule (Bach et al. 2015, Eq. 60) with α - β = 1.

    ``R_i = α sum_j c+_ij R_j / stab(z+_j + b+_j) - β sum_j c-_ij R_j / stab(z-_j + b-_j)``,
    ``c+_ij = x+_i w+_ij + x-_i w-_ij``, ``c-_ij = x+_i w-_ij + x-_i w+_ij``.

    Parameters
    ----------
    alpha, beta : float
        Default α = 2, β = 1. ``alpha - beta == 1`` is required (to 1e-12). Unlike zennit/RP.jl a
        negative β is allowed, for the original's ``'alphabeta', a`` = ``AlphaBeta(a, a - 1)`` with
        ``0 <= a < 1`` (``a = 0``: negative part only).
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
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise RuleError(f"AlphaBeta: {name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if abs(self.alpha - self.beta - 1.0) > 1e-12 * max(1.0, abs(self.alpha)):
            raise RuleError(
                f"AlphaBeta: alpha - beta must be 1 (conservation), got alpha={self.alpha}, "
                f"beta={self.beta}; "
                "the original's 'alphabeta', a means AlphaBeta(a, a - 1)"
            )
        object.__setattr__(self, "stabilizer", check_stabilizer(self.stabilizer, self.stabilizer_form))
        _check_bias(self.bias, ("split", "full", "none"))

    def propagate(self, layer: Any, R: Array, book: Book | None = None) -> Array:
        return propagate_split(self, layer, R, self.alpha, self.beta, self.bias, book)
