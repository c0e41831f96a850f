"""The interface every linear-family layer (Linear, Convolution, SumPool, AvgPool) offers to LRP."""

from __future__ import annotations

from collections.abc import Sequence

from .. import backend
from .._typing import Array
from .base import Module


class LinearFamily(Module):
    """A layer whose output is an affine map of its input, ``z = A_w x + b``.

    LRP rules (``lrp_toolbox.rules``) propagate relevance through such a layer with one generic
    algorithm: a modified forward ``affine(x', w', b')``, then the transposed map ``affine_t``
    (usually multiplied by an input, ``input_times_affine_t``).

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

    def affine_sum(self, xs: Sequence[Array], ws: Sequence[Array], b: Array | None = None) -> Array:
        """``sum_k affine(xs[k], ws[k]) (+ b)`` for inputs of one shape, e.g. ``x+`` and ``x-``.

        Layers with a channel axis compute it as one pass over the channel-stacked inputs.
        """
        total = self.affine(xs[0], ws[0])
        for x, w in zip(xs[1:], ws[1:], strict=True):
            total = total + self.affine(x, w)
        if b is not None:
            total += b
        return total

    def affine_t_many(self, ss: Sequence[Array], ws: Sequence[Array]) -> list[Array]:
        """``[affine_t(s, w) for w in ws]`` with ``s`` the blocks ``ss`` concatenated along the
        output-channel (last) axis, e.g. ``[s+, s-]`` for stacked weights ``[w+, w-]``.

        Layers with a channel axis compute it as one pass, the weights stacked along the input
        channels; pools (0-d weights) take a single block.
        """
        if len(ss) != 1:
            s = backend.get_namespace(*ss).concatenate(list(ss), axis=-1)
        else:
            s = ss[0]
        return [self.affine_t(s, w) for w in ws]

    def fuses_lrp_pass(self, like: Array) -> bool:
        """Whether the layer offers a fused ``lrp_pass`` for arrays like ``like`` (see
        ``Convolution.lrp_pass``); ``False`` here."""
        return False

    def input_times_affine_t(self, x: Array, s: Array, w: Array) -> Array:
        """Input times transposed map, ``R = x ⊙ Aᵀ s``, i.e. ``x * affine_t(s, w)``.

        Parameters
        ----------
        x : ndarray of shape (N, *input_shape)
            The layer input or a modified input (e.g. its positive part); a batch of 1 broadcasts.
        s : ndarray of shape (N, *output_shape)
            Output-shaped values, e.g. relevance divided by the stabilised pre-activations.
        w : ndarray
            The parameters of the map, as for ``affine_t``.

        Returns
        -------
        ndarray of shape (N, *input_shape)
            ``x * affine_t(s, w)``. Layers may fuse the product into the transposed map (pools
            with ``stride == pool`` do, saving an input-sized temporary); the values are those of
            the plain expression.
        """
        return x * self.affine_t(s, w)
