"""Per-layer rule assignment as data: composites of ordered entries that resolve to a table.

A ``Composite`` is a sequence of entries applied in order; **later entries override earlier ones**
(as RelevancePropagation.jl; zennit uses first-match). Before any entry applies, every layer has
its default: MaxPool ``WinnerTakeAll()`` (ties split), Rect/Tanh/SoftMax/Flatten ``Pass()``, and
linear-family layers (Linear, Convolution, SumPool, AvgPool) no rule. After all entries, a
linear-family layer without a rule is an error.

Entries that *name* layers (``ByType``, ``At``, ``First``) must fit every layer they name (else
``RuleError`` naming index and layer); entries that cover a *region* (``Everywhere``, ``InRange``)
apply to the layers their rule fits and leave the others alone.

>>> table = epsilon_plus().resolve(model)   # doctest: +SKIP
>>> print(table)                            # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import RuleError
from .modules import AvgPool, Convolution, Linear, LinearFamily, MaxPool, Module, Sequential, SumPool
from .modules.windows import is_int
from .rules import AlphaBeta, Epsilon, Flat, Gamma, Pass, Rule, WinnerTakeAll, ZBox, Zero, ZPlus
from .rules.zrules import DEFAULT_STABILIZER

WEIGHTED: tuple[type, ...] = (Linear, Convolution)
POOLS: tuple[type, ...] = (SumPool, AvgPool)


def _check_rule(rule: Any) -> Rule:
    if not isinstance(rule, Rule):
        raise RuleError(f"expected a Rule, got {rule!r}")
    return rule


def _types(types: Any) -> tuple[type, ...]:
    out = tuple(types) if isinstance(types, (tuple, list)) else (types,)
    if not out or not all(isinstance(t, type) for t in out):
        raise RuleError(f"expected a layer class or a tuple of them, got {types!r}")
    return out


@dataclass(frozen=True)
class Everywhere:
    """Every layer the rule fits (region entry; like RP.jl ``GlobalMap``)."""

    rule: Rule

    def __post_init__(self) -> None:
        _check_rule(self.rule)

    def select(self, layers: Sequence[Module]) -> tuple[list[int], bool]:
        return list(range(len(layers))), False


@dataclass(frozen=True)
class ByType:
    """Every layer of the given type(s) (``isinstance``; like RP.jl ``GlobalTypeMap``)."""

    types: Any
    rule: Rule

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", _types(self.types))
        _check_rule(self.rule)

    def select(self, layers: Sequence[Module]) -> tuple[list[int], bool]:
        return [i for i, m in enumerate(layers) if isinstance(m, self.types)], True


@dataclass(frozen=True)
class At:
    """The layer(s) at the given index or indices (negative counts from the end; ``LayerMap``)."""

    index: Any
    rule: Rule

    def __post_init__(self) -> None:
        try:
            idx = (self.index,) if is_int(self.index) else tuple(self.index)
        except TypeError:
            raise RuleError(f"At: index must be an int or ints, got {self.index!r}") from None
        if not all(is_int(i) for i in idx):
            raise RuleError(f"At: index must be an int or ints, got {self.index!r}")
        object.__setattr__(self, "index", tuple(int(i) for i in idx))
        _check_rule(self.rule)

    def select(self, layers: Sequence[Module]) -> tuple[list[int], bool]:
        n = len(layers)
        for i in self.index:
            if not -n <= i < n:
                raise RuleError(f"At({i}): index out of range for a model of {n} layers")
        return [i % n for i in self.index], True


@dataclass(frozen=True)
class InRange:
    """Layers ``start <= i < stop`` (Python slice semantics) that the rule fits (``RangeMap``)."""

    start: int | None
    stop: int | None
    rule: Rule

    def __post_init__(self) -> None:
        for name in ("start", "stop"):
            value = getattr(self, name)
            if value is not None and not is_int(value):
                raise RuleError(f"InRange: {name} must be an int or None, got {value!r}")
            object.__setattr__(self, name, None if value is None else int(value))
        _check_rule(self.rule)

    def select(self, layers: Sequence[Module]) -> tuple[list[int], bool]:
        return list(range(len(layers)))[self.start : self.stop], False


@dataclass(frozen=True)
class First:
    """The first layer (input side) of the given type(s), default ``(Linear, Convolution)``."""

    rule: Rule
    types: Any = WEIGHTED

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", _types(self.types))
        _check_rule(self.rule)

    def select(self, layers: Sequence[Module]) -> tuple[list[int], bool]:
        return [i for i, m in enumerate(layers) if isinstance(m, self.types)][:1], True


Entry = Everywhere | ByType | At | InRange | First


def default_rule(layer: Module) -> Rule | None:
    """The rule a layer gets before any entry: MaxPool ``WinnerTakeAll()``, else ``Pass()`` where
    it fits, ``None`` for linear-family layers."""
    if isinstance(layer, MaxPool):
        return WinnerTakeAll()
    if isinstance(layer, LinearFamily):
        return None
    if Pass().supports(layer):
        return Pass()
    raise RuleError(f"{layer!r}: no LRP rule is defined for {type(layer).__name__}")


@dataclass(frozen=True)
class RuleTable:
    """The resolved assignment: one ``(index, layer, rule)`` row per layer; prints as a table."""

    rows: tuple[tuple[int, str, Rule], ...]
    name: str = ""

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(r for _, _, r in self.rows)

    def __iter__(self) -> Iterator[tuple[int, str, Rule]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Rule:
        return self.rows[index][2]

    def __str__(self) -> str:
        head = ("#", "layer", "rule")
        body = [(str(i), layer, repr(rule)) for i, layer, rule in self.rows]
        widths = [max(len(r[c]) for r in [head, *body]) for c in range(3)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [head, *body]
        ]
        title = [f"composite {self.name}"] if self.name else []
        return "\n".join([*title, lines[0], "-" * len(lines[0]), *lines[1:]])


def _layers(model: Any) -> list[Module]:
    layers = list(model.modules) if isinstance(model, Sequential) else list(model)
    for i, m in enumerate(layers):
        if isinstance(m, Sequential):
            raise RuleError(f"layer {i}: nested Sequential models are not supported; flatten the model")
        if not isinstance(m, Module):
            raise RuleError(f"layer {i}: expected a Module, got {type(m).__name__}")
    return layers


class Composite:
    """An ordered list of entries mapping layers to rules (later entries override earlier ones).

    Parameters
    ----------
    *entries : Everywhere, ByType, At, InRange or First
    name : str, optional
        Shown in the resolved table.

    Examples
    --------
    >>> c = Composite(ByType(Linear, Epsilon(0.01)), ByType(Convolution, AlphaBeta(2, 1)),
    ...               First(Flat()))                                          # doctest: +SKIP
    >>> print(c.resolve(model))                                              # doctest: +SKIP
    """

    def __init__(self, *entries: Entry, name: str = "") -> None:
        for e in entries:
            if not isinstance(e, (Everywhere, ByType, At, InRange, First)):
                raise RuleError(
                    f"Composite: expected an entry (Everywhere, ByType, At, InRange, First), got {e!r}"
                )
        self._entries: tuple[Entry, ...] = tuple(entries)
        self._name = str(name)

    @property
    def entries(self) -> tuple[Entry, ...]:
        return self._entries

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        inner = ", ".join(repr(e) for e in self._entries)
        return f"Composite({inner}{', ' if inner else ''}name={self._name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Composite) and (self._entries, self._name) == (other._entries, other._name)

    def __hash__(self) -> int:
        return hash((self._entries, self._name))

    def then(self, *entries: Entry) -> Composite:
        """A new composite with ``entries`` appended (so they override this one's)."""
        return Composite(*self._entries, *entries, name=self._name)

    def resolve(self, model: Sequential | Iterable[Module]) -> RuleTable:
        """One rule per layer, validated (no arithmetic happens here).

        Raises
        ------
        RuleError
            An entry names a layer its rule does not fit, or a linear-family layer has no rule.
        """
        layers = _layers(model)
        table: list[Rule | None] = [default_rule(m) for m in layers]
        for entry in self._entries:
            indices, strict = entry.select(layers)
            for i in indices:
                if entry.rule.supports(layers[i]):
                    table[i] = entry.rule
                elif strict:
                    raise RuleError(
                        f"layer {i} ({layers[i]!r}): rule {entry.rule!r} does not apply to "
                        f"{type(layers[i]).__name__} (entry {entry!r})"
                    )
        for i, rule in enumerate(table):
            if rule is None:
                raise RuleError(
                    f"layer {i} ({layers[i]!r}): no rule assigned by {self!r}; add e.g. "
                    "Everywhere(Epsilon()) or ByType(...)"
                )
        rows = tuple((i, repr(m), r) for i, m, r in zip(range(len(layers)), layers, table, strict=True))
        return RuleTable(rows, self._name)  # type: ignore[arg-type]

    def describe(self, model: Sequential | Iterable[Module]) -> str:
        """``str(self.resolve(model))``."""
        return str(self.resolve(model))


# ---------------------------------------------------------------------------------------- presets
def _base(epsilon: float, stabilizer: float) -> tuple[Entry, ...]:
    return (ByType(Linear, Epsilon(epsilon)), ByType(POOLS, Zero(stabilizer)))


def epsilon_plus(epsilon: float = 1e-6, stabilizer: float = DEFAULT_STABILIZER) -> Composite:
    """zennit/RP.jl ``EpsilonPlus``: Linear ``Epsilon(ε)``, Convolution ``ZPlus()``.

    Pools get ``Zero()`` (zennit: ``Norm``, the same formula with stabiliser 1e-6 on AvgPool; on
    SumPool ``Zero(k*eps)`` equals ``Norm(eps)`` since our rules act on the raw window sum), MaxPool
    ``WinnerTakeAll()``, activations and Flatten ``Pass()``.
    """
    return Composite(*_base(epsilon, stabilizer), ByType(Convolution, ZPlus(stabilizer)), name="epsilon_plus")


def epsilon_plus_flat(epsilon: float = 1e-6, stabilizer: float = DEFAULT_STABILIZER) -> Composite:
    """``EpsilonPlusFlat``: ``epsilon_plus`` with ``Flat()`` on the first Linear/Convolution layer."""
    c = epsilon_plus(epsilon, stabilizer).then(First(Flat()))
    return Composite(*c.entries, name="epsilon_plus_flat")


def epsilon_alpha2_beta1(epsilon: float = 1e-6, stabilizer: float = DEFAULT_STABILIZER) -> Composite:
    """``EpsilonAlpha2Beta1``: Linear ``Epsilon(ε)``, Convolution ``AlphaBeta(2, 1)``."""
    return Composite(
        *_base(epsilon, stabilizer),
        ByType(Convolution, AlphaBeta(2.0, 1.0, stabilizer)),
        name="epsilon_alpha2_beta1",
    )


def epsilon_alpha2_beta1_flat(epsilon: float = 1e-6, stabilizer: float = DEFAULT_STABILIZER) -> Composite:
    """``EpsilonAlpha2Beta1Flat``: as ``epsilon_alpha2_beta1`` with ``Flat()`` on the first weighted layer."""
    c = epsilon_alpha2_beta1(epsilon, stabilizer).then(First(Flat()))
    return Composite(*c.entries, name="epsilon_alpha2_beta1_flat")


def epsilon_gamma_box(
    low: Any,
    high: Any,
    epsilon: float = 1e-6,
    gamma: float = 0.25,
    gamma_variant: str = "classic",
    stabilizer: float = DEFAULT_STABILIZER,
) -> Composite:
    """``EpsilonGammaBox``: Linear ``Epsilon(ε)``, Convolution ``Gamma(γ)``, first weighted layer ``ZBox``.

    zennit uses the generalized γ (``gamma_variant='generalized'``), RP.jl the classic one (our
    default). The first *weighted* layer (Linear or Convolution) gets ``ZBox(low, high)``, so MLPs
    are covered too (zennit: first Convolution only).
    """
    return Composite(
        *_base(epsilon, stabilizer),
        ByType(Convolution, Gamma(gamma, variant=gamma_variant, stabilizer=stabilizer)),  # type: ignore[arg-type]
        First(ZBox(low, high, stabilizer)),
        name="epsilon_gamma_box",
    )


def deep_taylor(low: Any, high: Any, stabilizer: float = DEFAULT_STABILIZER) -> Composite:
    """Deep Taylor decomposition (Montavon et al. 2017): ``ZBox(low, high)`` on the first weighted
    layer, ``ZPlus()`` on every other linear-family layer (pools included)."""
    return Composite(Everywhere(ZPlus(stabilizer)), First(ZBox(low, high, stabilizer)), name="deep_taylor")


__all__ = [
    "At",
    "ByType",
    "Composite",
    "Everywhere",
    "First",
    "InRange",
    "RuleTable",
    "deep_taylor",
    "default_rule",
    "epsilon_alpha2_beta1",
    "epsilon_alpha2_beta1_flat",
    "epsilon_gamma_box",
    "epsilon_plus",
    "epsilon_plus_flat",
]
