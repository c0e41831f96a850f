"""The interface every linear-family layer (Linear, Convolution, SumPool, AvgPool) offers to LRP."""

from __future__ import annotations

from .._typing import Array
from .base import Module


class LinearFamily(Module):
    """A layer whose output is an affine map of its input, ``z = A_w x + b``.

    LRP rules (``lrp_toolbox.rules``) propagate relevance through such a layer with one generic
    algorithm: a modified forward ``affine(x', w', b')``, then the transposed map ``affine_t``.

    Attributes
    ----------
    lrp_weight : ndarray
        ``W`` for Linear and Convolution; a 0-d array for pools (1 for SumPool, 1/(hp*wp) for AvgPool).
    lrp_bias : ndarray or None
        ``B``, or ``None`` for pools.
    fan_in : int
        Number of inputs that feed one output unit.
    """

    @property
    def lrp_weight(self) -> Array:
        raise NotImplementedError

    @property
    def lrp_bias(self) -> Array | None:
        return None

    @property
    def fan_in(self) -> int:
        raise NotImplementedError

    def affine(self, x: Array, w: Array, b: Array | None = None) -> Array:
        """The layer's map with parameters ``(w, b)``: ``(N, *input_shape) -> (N, *output_shape)``.

        The last axis of ``w`` indexes output channels, so weights stacked along it give stacked
        outputs. Pools take a 0-d ``w``.
        """
        raise NotImplementedError

    def affine_t(self, s: Array, w: Array) -> Array:
        """Transpose of ``x -> affine(x, w)`` (bias-free) applied to an output-shaped ``s``."""
        raise NotImplementedError
