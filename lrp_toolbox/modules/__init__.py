"""Layers of the toolbox: batch first, images NHWC, original names and constructor signatures."""

from __future__ import annotations

from types import MappingProxyType

from .activations import Rect, ReLU, SoftMax, Tanh
from .base import ForwardCache, LayerRecord, Module
from .convolution import Convolution
from .flatten import Flatten
from .linear import Linear
from .linear_family import LinearFamily
from .pooling import AvgPool, MaxPool, SumPool
from .sequential import Sequential

LAYER_TYPES = MappingProxyType(
    {
        cls.__name__: cls
        for cls in (Linear, Convolution, SumPool, AvgPool, MaxPool, Rect, Tanh, SoftMax, Flatten)
    }
)
"""Layer classes by record kind (read-only)."""

__all__ = [
    "LAYER_TYPES",
    "AvgPool",
    "Convolution",
    "Flatten",
    "ForwardCache",
    "LayerRecord",
    "Linear",
    "LinearFamily",
    "MaxPool",
    "Module",
    "ReLU",
    "Rect",
    "Sequential",
    "SoftMax",
    "SumPool",
    "Tanh",
]
