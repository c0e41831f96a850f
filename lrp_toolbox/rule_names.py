"""Rules and composites by name, for command lines and demos.

``rule_by_name('epsilon_plus_flat')`` returns the composite; a name of the original toolbox
(``'epsilon'``, ``'alphabeta'``, ``'flat'``, ...) goes through ``lrp_toolbox.rules.from_legacy``
with ``param``. Input bounds ``low``/``high`` are used by the z^B-based presets.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from . import composites, rules
from .errors import RuleError

Builder = Callable[[Any, float, float], Any]

PRESETS: MappingProxyType[str, Builder] = MappingProxyType(
    {
        "epsilon_plus": lambda p, lo, hi: composites.epsilon_plus(),
        "epsilon_plus_flat": lambda p, lo, hi: composites.epsilon_plus_flat(),
        "epsilon_alpha2_beta1": lambda p, lo, hi: composites.epsilon_alpha2_beta1(),
        "epsilon_alpha2_beta1_flat": lambda p, lo, hi: composites.epsilon_alpha2_beta1_flat(),
        "epsilon_gamma_box": lambda p, lo, hi: composites.epsilon_gamma_box(lo, hi),
        "deep_taylor": lambda p, lo, hi: composites.deep_taylor(lo, hi),
        "alpha2beta1": lambda p, lo, hi: rules.AlphaBeta(2.0, 1.0),
        "alpha1beta0": lambda p, lo, hi: rules.AlphaBeta(1.0, 0.0),
    }
)
"""Composite presets and common rules that need no parameter (read-only)."""

DEFAULT_PARAMS: MappingProxyType[str, float] = MappingProxyType(
    {"epsilon": 0.01, "eps": 0.01, "alphabeta": 2.0, "alpha": 2.0}
)
"""Parameters used for legacy names given without one (the original demos' choices)."""


def rule_names() -> tuple[str, ...]:
    """Every accepted name: presets first, then the legacy names."""
    return (*PRESETS, *rules.VALID_NAMES)


def rule_by_name(name: str, param: Any = None, low: float = -1.0, high: float = 1.0) -> Any:
    """Return the rule or composite called ``name``.

    Parameters
    ----------
    name : str
        A preset (``PRESETS``) or a legacy name (``lrp_toolbox.rules.VALID_NAMES``).
    param : optional
        Parameter of a legacy name (epsilon, alpha, gamma); ``DEFAULT_PARAMS`` when omitted.
        Presets take none.
    low, high : float
        Input bounds for ``epsilon_gamma_box`` and ``deep_taylor`` (MNIST in the original
        preprocessing: -1, 1).

    Raises
    ------
    RuleError
        Unknown name, or a parameter given to a preset (it would be ignored).
    """
    key = name.lower()
    if key in PRESETS:
        if param is not None:
            raise RuleError(f"{name!r} is a preset and takes no parameter, got {param!r}")
        return PRESETS[key](param, low, high)
    if key in ("zbox", "zb") and param is None:
        param = (low, high)
    if param is None:
        param = DEFAULT_PARAMS.get(key.removesuffix("_slow"))
    if key not in rules.VALID_NAMES:
        raise RuleError(f"unknown rule {name!r}; choose from {', '.join(rule_names())}")
    return rules.from_legacy(key, param)
