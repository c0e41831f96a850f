"""Base class of the LRP rules and the bookkeeping shared by them."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._typing import Array
from ..modules import LinearFamily
from ._ops import per_sample

if TYPE_CHECKING:
    from ..composites import Composite
    from ..ledger import Book


@dataclass(frozen=True)
class Rule:
    """An LRP rule: an immutable, hashable, printable set of parameters plus ``propagate``.

    Subclasses are frozen dataclasses, so ``repr``, ``==`` and ``hash`` come for free and a
    composite's resolved table prints exactly which parameters every layer uses.
    """

    def supports(self, layer: Any) -> bool:
        """Whether the rule is defined on ``layer`` (default: the linear-family layers)."""
        return isinstance(layer, LinearFamily)

    def check_layer(self, layer: Any) -> None:
        """Check what only a forwarded ``layer`` can tell (e.g. the input shape); default: nothing.

        The engine calls it for every layer before any relevance arithmetic.

        Raises
        ------
        RuleError
        """

    def propagate(self, layer: Any, R: Array, book: Book | None = None) -> Array:
        """Relevance at the input of the forwarded ``layer`` for relevance ``R`` at its output.

        Parameters
        ----------
        layer : Module
            A layer after ``forward``; its cache supplies ``x`` (and ``y``).
        R : ndarray of shape (N, *output_shape)
            Upper relevance, finite.
        book : ledger.Book, optional
            Filled with the per-sample bias / stabiliser / created amounts when given.

        Returns
        -------
        ndarray of shape (N, *input_shape)
        """
        raise NotImplementedError

    @property
    def cache_key(self) -> Hashable:
        """Key under which ``lrp_aware`` memoises this rule's R-independent intermediates."""
        return self

    @staticmethod
    def from_legacy(lrp_var: Any, param: Any = None) -> Rule | Composite:
        """Parse the original toolbox's ``(lrp_var, param)``; see ``lrp_toolbox.rules.legacy``."""
        from .legacy import from_legacy

        return from_legacy(lrp_var, param)


def book_part(
    book: Book | None,
    coef: float,
    R: Array,
    s: Array,
    den: Array,
    raw: Array,
    bterm: Array | None,
    dropped: Array | None,
) -> None:
    """Book one denominator part ``coef * sum_i c_ij s_j`` with ``s_j = R_j / den_j``.

    ``raw`` is the unstabilised denominator, ``bterm`` its bias share and ``dropped`` marks the outputs
    set to ``s_j = 0`` by the 0/0 policy. Then, per sample,
    ``coef * sum_j R_j = passed_part + coef * [sum_j s_j bterm_j + sum_j s_j (den_j - raw_j)
    + sum_{j dropped} R_j]``.
    """
    if book is None:
        return
    if bterm is not None:
        book.add("bias", coef * per_sample(s * bterm))
    book.add("stabilizer", coef * per_sample(s * (den - raw)))
    if dropped is not None:
        book.add("created", -coef * per_sample(R * dropped))
