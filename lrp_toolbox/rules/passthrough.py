"""Rules for the parameter-free layers: ``Pass`` (activations, SoftMax, Flatten) and
``WinnerTakeAll`` (MaxPool)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .._typing import Array
from ..errors import RuleError
from ..modules import LinearFamily, MaxPool, Module, Sequential
from .base import Rule

if TYPE_CHECKING:
    from ..ledger import Book


@dataclass(frozen=True)
class Pass(Rule):
    """Identity for relevance: ``R_in = R`` reshaped to the input shape.

    The rule of Rect, Tanh and SoftMax (``R`` passes unchanged, as in every peer and the original)
    and Flatten (C-order reshape back to ``(N, H, W, C)``). It is defined on every layer whose input
    and output have the same number of elements and that is neither linear-family nor MaxPool.
    """

    def supports(self, layer: Any) -> bool:
        return isinstance(layer, Module) and not isinstance(layer, (LinearFamily, MaxPool, Sequential))

    def propagate(self, layer: Any, R: Array, book: Book | None = None) -> Array:
        x = layer.cache.x
        if R.size != x.size:
            raise RuleError(f"Pass on {layer!r}: input {x.shape} and relevance {R.shape} differ in size")
        return R.reshape(x.shape)


@dataclass(frozen=True)
class WinnerTakeAll(Rule):
    """Max-pooling relevance: each window's ``R_j`` goes to its maximal input(s).

    ``ties='split'`` (default, the original toolbox): ``R_i = sum_j [x_i == y_j] R_j / #{i' : x_i' == y_j}``,
    so all-zero windows after a ReLU split evenly (``[[1, 1], [.5, .2]] -> [[.5, .5], [0, 0]]``).
    ``ties='first'`` (PyTorch/zennit gradient): all of ``R_j`` to the first maximum in row-major
    window order. Both conserve relevance exactly (up to rounding) per window. Ties are exact float
    equality with the stored maximum.
    """

    ties: Literal["split", "first"] = "split"

    def __post_init__(self) -> None:
        if self.ties not in ("split", "first"):
            raise RuleError(f"WinnerTakeAll: ties must be 'split' or 'first', got {self.ties!r}")

    def supports(self, layer: Any) -> bool:
        return isinstance(layer, MaxPool)

    def propagate(self, layer: Any, R: Array, book: Book | None = None) -> Array:
        # the masks (and the tie counts) are memoised by the layer when the forward was lrp_aware
        if self.ties == "split":
            return layer.split_among_winners(R)
        return layer.to_first_winner(R)
