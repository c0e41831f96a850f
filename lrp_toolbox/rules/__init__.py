"""LRP rules as small immutable objects, with one stabiliser and one 0/0 policy.

See docs/rules.md for every formula, default and the differences to zennit, Captum, iNNvestigate,
RelevancePropagation.jl and the original toolbox.
"""

from __future__ import annotations

from .base import Rule
from .gamma import Gamma
from .legacy import VALID_NAMES, from_legacy
from .passthrough import Pass, WinnerTakeAll
from .positive import AlphaBeta, ZPlus
from .stabilizer import sign, stabilize
from .uniform import Flat, WSquare
from .zbox import Bound, ZBox
from .zrules import DEFAULT_STABILIZER, Epsilon, Zero

__all__ = [
    "DEFAULT_STABILIZER",
    "VALID_NAMES",
    "AlphaBeta",
    "Bound",
    "Epsilon",
    "Flat",
    "Gamma",
    "Pass",
    "Rule",
    "WSquare",
    "WinnerTakeAll",
    "ZBox",
    "ZPlus",
    "Zero",
    "from_legacy",
    "sign",
    "stabilize",
]
