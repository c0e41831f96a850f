"""lrp_toolbox: Layer-wise Relevance Propagation on NumPy and CuPy.

The package import is light: layers, rules, composites and ``explain``. Submodules with heavier
or optional dependencies are imported on use: ``lrp_toolbox.model_io``, ``data_io``, ``mnist``,
``render``, ``training``, ``cli``.
"""

from . import backend, composites, errors, rules
from .composites import Composite
from .engine import layerwise_lrp
from .explain import explain
from .ledger import Ledger, check_conservation
from .modules import (
    AvgPool,
    Convolution,
    Flatten,
    Linear,
    MaxPool,
    Module,
    Rect,
    ReLU,
    Sequential,
    SoftMax,
    SumPool,
    Tanh,
)

__version__ = "2.0.0"

__all__ = [
    "AvgPool",
    "Composite",
    "Convolution",
    "Flatten",
    "Ledger",
    "Linear",
    "MaxPool",
    "Module",
    "ReLU",
    "Rect",
    "Sequential",
    "SoftMax",
    "SumPool",
    "Tanh",
    "__version__",
    "backend",
    "check_conservation",
    "composites",
    "errors",
    "explain",
    "layerwise_lrp",
    "rules",
]
