"""Conservation ledger: where the relevance of every layer goes, per sample.

For each layer the ledger records, per sample (arrays of shape ``(N,)``):

- ``upper``: ``sum_j R_j``, the relevance arriving at the layer output;
- ``passed``: ``sum_i R_i``, the relevance handed to the layer input;
- ``bias``: relevance absorbed by the bias (or bias-like terms such as ``b+``, ``b^2``);
- ``stabilizer``: relevance absorbed by the stabiliser, ``sum_j s_j (stab(d_j) - d_j)``;
- ``created``: relevance created (> 0) or destroyed (< 0) by the rule itself: the α-β share of an
  empty positive/negative part (α-β with a ReLU input creates ``β R_j``), and outputs that pass no
  relevance under the 0/0 policy or the generalized γ rule at ``z_j = 0`` (``-R_j``).

The decomposition ``passed = upper - bias - stabilizer + created`` holds exactly in exact
arithmetic for every rule of ``lrp_toolbox.rules``; ``residual`` is its floating-point error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy

from . import backend
from ._typing import Array
from .rules._ops import per_sample

TERMS: tuple[str, ...] = ("bias", "stabilizer", "created")


class ConservationError(ValueError):
    """A layer does not conserve relevance within the requested tolerance."""


class Book:
    """Accumulator a rule fills while propagating through one layer (internal)."""

    def __init__(self) -> None:
        self.terms: dict[str, Any] = {}

    def add(self, term: str, per_sample: Array) -> None:
        """Add a per-sample ``(N,)`` amount to ``term`` (one of ``TERMS``)."""
        if term not in TERMS:
            raise KeyError(term)
        prev = self.terms.get(term)
        self.terms[term] = per_sample if prev is None else prev + per_sample


@dataclass(frozen=True)
class LayerBudget:
    """Per-sample relevance budget of one layer (all arrays are NumPy float64 of shape ``(N,)``).

    Attributes
    ----------
    index : int
        Layer index in the model.
    layer : str
        ``repr`` of the layer.
    rule : str
        ``repr`` of the rule used on it.
    upper, passed, bias, stabilizer, created : ndarray of shape (N,)
        See the module docstring.
    """

    index: int
    layer: str
    rule: str
    upper: numpy.ndarray
    passed: numpy.ndarray
    bias: numpy.ndarray
    stabilizer: numpy.ndarray
    created: numpy.ndarray

    @property
    def residual(self) -> numpy.ndarray:
        """``passed - (upper - bias - stabilizer + created)``: rounding error only."""
        return self.passed - (self.upper - self.bias - self.stabilizer + self.created)


@dataclass
class Ledger:
    """The budgets of every layer of one LRP pass, in model order (input layer first)."""

    layers: list[LayerBudget] = field(default_factory=list)

    def record(self, index: int, layer: Any, rule: Any, R_upper: Array, R_lower: Array, book: Book) -> None:
        """Append the budget of one layer (called by the engine)."""
        n = R_upper.shape[0]

        def host(a: Any) -> numpy.ndarray:
            if a is None:
                return numpy.zeros(n)
            return numpy.asarray(backend.to_numpy(a), dtype=numpy.float64).reshape(n)

        def total(a: Array) -> numpy.ndarray:
            return host(per_sample(a))

        budget = LayerBudget(
            index=index,
            layer=repr(layer),
            rule=repr(rule),
            upper=total(R_upper),
            passed=total(R_lower),
            bias=host(book.terms.get("bias")),
            stabilizer=host(book.terms.get("stabilizer")),
            created=host(book.terms.get("created")),
        )
        self.layers.append(budget)
        self.layers.sort(key=lambda b: b.index)

    def __iter__(self) -> Any:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def table(self, sample: int = 0) -> str:
        """A printable table of one sample's budget per layer."""
        head = ("#", "layer", "rule", "upper", "passed", "bias", "stabilizer", "created")
        rows: list[tuple[str, ...]] = [head]
        for b in self.layers:
            vals = (b.upper, b.passed, b.bias, b.stabilizer, b.created)
            rows.append((str(b.index), b.layer, b.rule, *(f"{v[sample] + 0.0:.6g}" for v in vals)))  # no -0
        widths = [max(len(r[c]) for r in rows) for c in range(len(head))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)

    __str__ = table


def check_conservation(
    ledger: Ledger,
    rtol: float = 1e-9,
    atol: float = 0.0,
    allow: Iterable[str] = (),
    raise_error: bool = True,
) -> list[str]:
    """Check ``passed == upper - sum(allowed terms)`` for every layer and sample.

    Parameters
    ----------
    ledger : Ledger
        From ``lrp_toolbox.engine.layerwise_lrp(..., ledger=Ledger())`` or ``explain(..., ledger=...)``.
    rtol, atol : float
        A sample violates when ``|passed - expected| > atol + rtol * max(|upper|, |passed|)``.
    allow : str or iterable of {'bias', 'stabilizer', 'created'}
        Terms that may explain a difference. ``()`` (default) demands strict conservation
        (``passed == upper``); ``TERMS`` checks the exact decomposition, which every rule satisfies.
    raise_error : bool
        Raise ``ConservationError`` on the first violating layer (default); otherwise return messages.

    Returns
    -------
    list of str
        One message per violating layer (empty when conserved).
    """
    allowed = (allow,) if isinstance(allow, str) else tuple(allow)
    for term in allowed:
        if term not in TERMS:
            raise ValueError(f"unknown ledger term {term!r}; valid: {TERMS}")
    messages = []
    for b in ledger.layers:
        expected = b.upper - b.bias * ("bias" in allowed) - b.stabilizer * ("stabilizer" in allowed)
        expected = expected + b.created * ("created" in allowed)
        err = numpy.abs(b.passed - expected)
        tol = atol + rtol * numpy.maximum(numpy.abs(b.upper), numpy.abs(b.passed))
        bad = numpy.nonzero(err > tol)[0]
        if bad.size:
            k = int(bad[numpy.argmax(err[bad])])
            messages.append(
                f"layer {b.index} ({b.layer}, rule {b.rule}): sample {k} passes {b.passed[k]:.17g} of "
                f"{b.upper[k]:.17g} (expected {expected[k]:.17g}; bias {b.bias[k]:.6g}, stabilizer "
                f"{b.stabilizer[k]:.6g}, created {b.created[k]:.6g}; {bad.size} sample(s) off, "
                f"rtol={rtol}, atol={atol}, allowed terms {allowed})"
            )
    if messages and raise_error:
        raise ConservationError("relevance not conserved:\n" + "\n".join(messages))
    return messages
