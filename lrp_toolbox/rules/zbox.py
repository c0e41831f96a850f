"""The z^B (box) rule for inputs known to lie in ``[low, high]`` (Montavon et al. 2017)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy

from .. import backend
from .._typing import Array
from ..errors import RuleError
from ._banded import one_ratio_pass
from ._ops import memo, split_affine, split_affine_t, weight_parts
from .base import Rule, book_part
from .stabilizer import check_stabilizer, ratio, stabilize_and_mask
from .zrules import DEFAULT_STABILIZER

if TYPE_CHECKING:
    from ..ledger import Book


class Bound:
    """An immutable, hashable bound: a float64 scalar or array (compared by shape and values)."""

    __slots__ = ("array",)
    array: numpy.ndarray

    def __init__(self, value: Any) -> None:
        arr = numpy.array(backend.to_numpy(value) if hasattr(value, "shape") else value, dtype=numpy.float64)
        if not numpy.isfinite(arr).all():
            raise RuleError("ZBox: bounds must be finite")
        arr.setflags(write=False)
        object.__setattr__(self, "array", arr)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Bound is immutable")

    def _key(self) -> tuple[Any, ...]:
        return (self.array.shape, self.array.tobytes())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Bound) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        a = self.array
        if a.ndim == 0:
            return repr(float(a))
        return f"array(shape={a.shape}, min={a.min():.6g}, max={a.max():.6g})"


@dataclass(frozen=True)
class ZBox(Rule):
    """z^B rule for inputs bounded by ``low <= x <= high``.

    ::

        d_j = sum_i (x_i w_ij - l_i w+_ij - h_i w-_ij)
        R_i = x_i sum_j w_ij s_j - l_i sum_j w+_ij s_j - h_i sum_j w-_ij s_j,   s_j = R_j / stab(d_j)

    The bias does not appear: zennit and RP.jl run the three modified layers with ``b``, ``b+`` and
    ``b-``, which cancel exactly (``b - b+ - b- = 0``); iNNvestigate drops it. The rule conserves
    relevance up to the stabiliser.

    Parameters
    ----------
    low, high : float or array_like
        Bounds; scalars or arrays broadcastable to one input sample's shape (e.g. per channel
        ``(C,)`` or per pixel ``(H, W, C)``). ``low <= high`` is required.
    stabilizer : float
        Default ``1e-9``.
    stabilizer_form : {'signed', 'unsigned', 'zero_only'}
    """

    low: Any = -1.0
    high: Any = 1.0
    stabilizer: float = DEFAULT_STABILIZER
    stabilizer_form: Literal["signed", "unsigned", "zero_only"] = "signed"

    def __post_init__(self) -> None:
        low = self.low if isinstance(self.low, Bound) else Bound(self.low)
        high = self.high if isinstance(self.high, Bound) else Bound(self.high)
        try:
            ok = bool((low.array <= high.array).all())
        except ValueError:
            raise RuleError(f"ZBox: low {low!r} and high {high!r} do not broadcast together") from None
        if not ok:
            raise RuleError("ZBox: low must be <= high everywhere")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "stabilizer", check_stabilizer(self.stabilizer, self.stabilizer_form))

    def check_layer(self, layer: Any) -> None:
        """Both bounds must broadcast to one input sample of the forwarded ``layer``."""
        for bound in (self.low, self.high):
            self._sample_bound(layer, bound)

    def _sample_bound(self, layer: Any, bound: Bound) -> numpy.ndarray:
        shape = tuple(layer.cache.x.shape[1:])
        try:
            return numpy.broadcast_to(bound.array, shape)
        except ValueError:
            raise RuleError(
                f"ZBox: bound of shape {bound.array.shape} does not broadcast to the input sample shape "
                f"{shape} of {layer!r}"
            ) from None

    def _bound(self, layer: Any, bound: Bound) -> Array:
        x = layer.cache.x
        xp = backend.get_namespace(x)
        return xp.asarray(self._sample_bound(layer, bound)[None], dtype=x.dtype)

    def propagate(self, layer: Any, R: Array, book: Book | None = None) -> Array:
        """``d = A⁺(x - l) + A⁻(x - h)`` and ``R = (x - l) ⊙ A⁺ᵀs + (x - h) ⊙ A⁻ᵀs``, ``s = R / stab(d)``.

        Every term of ``d`` is ``>= 0`` for inputs inside the box, so ``d`` is summed without
        cancellation (``A x - A⁺l - A⁻h``, the same number in exact arithmetic, cancels where ``x``
        is near a bound). Without a ledger a convolution runs both passes as one banded pass.
        """
        x = layer.cache.x
        wpos, wneg = weight_parts(layer)
        low, high = self._bound(layer, self.low), self._bound(layer, self.high)
        x_low, x_high = x - low, (None if wneg is None else x - high)  # >= 0 and <= 0 inside the box
        eps, form = self.stabilizer, self.stabilizer_form
        if book is None and layer.fuses_lrp_pass(R):
            xs, ws = ([x_low], [wpos]) if x_high is None else ([x_low, x_high], [wpos, wneg])
            return one_ratio_pass(layer, self.cache_key, xs, ws, None, R, eps, form)

        def prepare() -> tuple[Array, Array, Array | None]:
            raw = split_affine(layer, x_low, x_high, wpos, wneg)
            return (raw, *stabilize_and_mask(raw, eps, form))

        raw, den, mask = memo(layer, ("den", self.cache_key), prepare)
        s, dropped = ratio(R, den, mask)
        book_part(book, 1.0, R, s, den, raw, None, dropped)
        return split_affine_t(layer, [s], x_low, x_high, wpos, wneg)
