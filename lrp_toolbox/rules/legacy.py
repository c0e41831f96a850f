"""Boundary parser for the original toolbox's ``lrp(R, lrp_var, param)`` strings.

Nothing below the public API handles strings: ``from_legacy`` turns ``(lrp_var, param)`` into a rule
object (or a small composite where the original's meaning depends on the layer type) once.

| ``lrp_var`` (case-insensitive, stripped) | result |
|---|---|
| ``None``, ``'none'``, ``'simple'`` (+ ``'slow'``, ``'simple_slow'``) | composite ``legacy_simple`` |
| ``'epsilon'``, ``'eps'`` (+ ``'_slow'``) | ``Epsilon(param)``; ``param`` required |
| ``'alphabeta'``, ``'alpha'`` (+ ``'_slow'``) | ``AlphaBeta(a, a - 1, stabilizer=1e-16)``, ``a = param`` |
| ``'flat'`` | ``Flat()`` (uniform on MaxPool too) |
| ``'ww'``, ``'w^2'`` | ``WSquare()``, ``Flat()`` on MaxPool (composite ``legacy_ww``) |
| ``'zero'``, ``'lrp0'`` | ``Zero()`` |
| ``'zplus'``, ``'z+'`` | ``ZPlus()`` |
| ``'gamma'`` | ``Gamma(param)``, ``Gamma()`` (γ = 0.25) without param |
| ``'zbox'``, ``'zb'`` | ``ZBox(*param)``; ``param = (low, high)`` required |
| ``'wsquare'`` | ``WSquare()`` |
| ``'pass'`` | ``Pass()`` |
| ``'wta'``, ``'winner_take_all'`` | ``WinnerTakeAll(param or 'split')`` |

``_slow`` variants compute the same rule (their formulas are the test oracles). The original ignored
``param`` for simple/flat/ww; so does this parser. ``from_legacy(None, p)`` with ``p`` not None raises
(the original silently ran simple LRP). ``legacy_simple`` is ``Zero(1e-16)`` with ``Zero(1e-12)``
on SumPool; ``legacy_ww`` is ``WSquare()`` with ``Flat()`` on MaxPool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import RuleError
from .base import Rule
from .gamma import Gamma
from .passthrough import Pass, WinnerTakeAll
from .positive import AlphaBeta, ZPlus
from .uniform import Flat, WSquare
from .zbox import ZBox
from .zrules import Epsilon, Zero

if TYPE_CHECKING:
    from ..composites import Composite

LEGACY_SIMPLE_STABILIZER = 1e-16
LEGACY_SUMPOOL_STABILIZER = 1e-12
LEGACY_ALPHABETA_STABILIZER = 1e-16

_SIMPLE = ("none", "simple", "slow", "simple_slow")
_EPSILON = ("epsilon", "eps", "epsilon_slow", "eps_slow")
_ALPHABETA = ("alphabeta", "alpha", "alphabeta_slow", "alpha_slow")
_NEW_PLAIN = {"zero": Zero, "lrp0": Zero, "zplus": ZPlus, "z+": ZPlus, "wsquare": WSquare, "pass": Pass}

VALID_NAMES: tuple[str, ...] = (
    *_SIMPLE,
    *_EPSILON,
    *_ALPHABETA,
    "flat",
    "ww",
    "w^2",
    *_NEW_PLAIN,
    "gamma",
    "zbox",
    "zb",
    "wta",
    "winner_take_all",
)


def _number(name: str, param: Any) -> float:
    if param is None:
        raise RuleError(
            f"lrp variant {name!r} needs a parameter, e.g. lrp(R, {name!r}, "
            f"{'0.01' if name.startswith('eps') else '2'}); the original raised TypeError here"
        )
    if isinstance(param, bool):
        raise RuleError(f"lrp variant {name!r}: parameter must be a number, got {param!r}")
    try:
        return float(param)
    except (TypeError, ValueError):
        raise RuleError(f"lrp variant {name!r}: parameter must be a number, got {param!r}") from None


def legacy_simple() -> Composite:
    """The original's ``'simple'``: ``Zero(1e-16)``, but ``Zero(1e-12)`` on SumPool."""
    from ..composites import ByType, Composite, Everywhere
    from ..modules import SumPool

    return Composite(
        Everywhere(Zero(stabilizer=LEGACY_SIMPLE_STABILIZER)),
        ByType(SumPool, Zero(stabilizer=LEGACY_SUMPOOL_STABILIZER)),
        name="legacy_simple",
    )


def legacy_ww() -> Composite:
    """The original's ``'ww'``: ``WSquare()`` and a uniform split (``Flat()``) on MaxPool."""
    from ..composites import ByType, Composite, Everywhere
    from ..modules import MaxPool

    return Composite(Everywhere(WSquare()), ByType(MaxPool, Flat()), name="legacy_ww")


def from_legacy(lrp_var: Any, param: Any = None) -> Rule | Composite:
    """Map the original toolbox's ``(lrp_var, param)`` to a rule or composite (see module table).

    Raises
    ------
    RuleError
        Unknown name (the message lists the valid ones), a missing or malformed parameter, or
        ``lrp_var=None`` with a parameter.
    """
    if lrp_var is None:
        if param is not None:
            raise RuleError(
                f"lrp(R, None, {param!r}): a parameter without a rule name is ambiguous (the original "
                "silently ran simple LRP); pass e.g. lrp(R, 'epsilon', param)"
            )
        return legacy_simple()
    if not isinstance(lrp_var, str):
        raise RuleError(f"lrp_var must be a string, a Rule or a Composite, got {type(lrp_var).__name__}")
    name = lrp_var.strip().lower()
    if name in _SIMPLE:
        return legacy_simple()
    if name in _EPSILON:
        return Epsilon(epsilon=_number(name, param))
    if name in _ALPHABETA:
        a = _number(name, param)
        return AlphaBeta(alpha=a, beta=a - 1.0, stabilizer=LEGACY_ALPHABETA_STABILIZER)
    if name == "flat":
        return Flat()
    if name in ("ww", "w^2"):
        return legacy_ww()
    if name in _NEW_PLAIN:
        if param is not None:
            raise RuleError(f"lrp variant {name!r} takes no parameter, got {param!r}")
        return _NEW_PLAIN[name]()
    if name == "gamma":
        return Gamma() if param is None else Gamma(gamma=_number(name, param))
    if name in ("zbox", "zb"):
        if not isinstance(param, (tuple, list)) or len(param) != 2:
            raise RuleError(f"lrp variant {name!r} needs param=(low, high), got {param!r}")
        return ZBox(low=param[0], high=param[1])
    if name in ("wta", "winner_take_all"):
        return WinnerTakeAll() if param is None else WinnerTakeAll(ties=param)
    raise RuleError(f"unknown lrp variant {lrp_var!r}; valid names: {', '.join(VALID_NAMES)}")
