"""Layer-side building blocks shared by the rules (memoised through ``layer.cache.get``).

Every helper takes a forwarded layer and returns arrays derived from its cached input and its
parameters only (never from the relevance), so ``lrp_aware`` memoisation is exact.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

from .. import backend
from .._typing import Array
from ..modules import LinearFamily


def memo(layer: Any, key: Hashable, compute: Any) -> Any:
    """``layer.cache.get(('lrp',) + key, compute)``: memoised after an ``lrp_aware`` forward."""
    return layer.cache.get(("lrp", *key) if isinstance(key, tuple) else ("lrp", key), compute)


def per_sample(a: Array) -> Array:
    """Sum over every axis but the first: ``(N, ...) -> (N,)`` (``N = 0`` included)."""
    return a.reshape(a.shape[0], math.prod(a.shape[1:])).sum(axis=1)


def output_z(layer: LinearFamily, with_bias: bool) -> Array:
    """Pre-activation ``z = affine(x, w, b)`` of the last forward (``b`` omitted unless ``with_bias``).

    The forward's own ``cache.z`` where it is that value (the output of Linear, Convolution and
    AvgPool, SumPool's raw window sums; Linear and Convolution only with the bias, pools have none);
    otherwise recomputed once and memoised. Either way the caller must not write into it (``held``).
    """
    z = layer.cache.z
    if z is not None and (with_bias or layer.lrp_bias is None):
        return z
    b = layer.lrp_bias if with_bias else None
    return memo(layer, ("z", with_bias), lambda: layer.affine(layer.cache.x, layer.lrp_weight, b))


def held(layer: Any, a: Array) -> bool:
    """Whether ``a`` is an array of the layer's forward cache (``y`` or ``z``), which no rule may
    overwrite, not even after a plain forward (``transient``)."""
    cache = layer.cache
    return a is cache.y or a is cache.z


def is_nonnegative(layer: Any) -> bool:
    """Whether every cached input is ``>= 0`` (then ``x+ = x`` and ``x- = 0``; e.g. after a ReLU)."""
    return bool(memo(layer, "x>=0", lambda: bool((layer.cache.x >= 0).all())))


def input_parts(layer: Any) -> tuple[Array, Array | None]:
    """``(x+, x-)`` with ``x+ = max(x, 0)``, ``x- = min(x, 0)``; ``x-`` is ``None`` when it is all zero."""
    x = layer.cache.x
    if is_nonnegative(layer):
        return x, None
    xp = backend.get_namespace(x)
    xpos = memo(layer, "x+", lambda: xp.maximum(x, 0))
    xneg = memo(layer, "x-", lambda: xp.minimum(x, 0))
    return xpos, xneg


def weight_parts(layer: LinearFamily, need_neg: bool = True) -> tuple[Array, Array | None]:
    """``(w+, w-)`` of ``lrp_weight``.

    ``w-`` is ``None`` for a 0-d non-negative pool weight, and is not computed (``None``) when
    ``need_neg`` is false. When both are needed they are the two halves of
    ``stacked_weight_parts`` (views, no copy): two weight-sized arrays in all, not four.
    """
    w = layer.lrp_weight
    xp = backend.get_namespace(w)
    if w.ndim == 0 and float(w) >= 0:
        return w, None
    if not need_neg:
        return memo(layer, "w+", lambda: xp.maximum(w, 0)), None
    both = stacked_weight_parts(layer)
    n = w.shape[-1]
    return both[..., :n], both[..., n:]


def stacked_weight_parts(layer: LinearFamily) -> Array:
    """``[w+, w-]`` stacked along the output axis: ``(..., 2n)``, memoised."""
    w = layer.lrp_weight

    def stack() -> Array:
        xp = backend.get_namespace(w)
        n = w.shape[-1]
        both = xp.empty((*w.shape[:-1], 2 * n), dtype=w.dtype)
        xp.maximum(w, 0, out=both[..., :n])
        xp.minimum(w, 0, out=both[..., n:])
        return both

    return memo(layer, "w+-", stack)


def swapped_halves(layer: Any, key: Hashable, both: Array) -> Array:
    """``[b, a]`` for ``both = [a, b]`` stacked along the last axis (e.g. ``[w-, w+]``), memoised
    under ``key`` (the modified forward and the transposed pass both need it)."""

    def swap() -> Array:
        n = both.shape[-1] // 2
        return backend.get_namespace(both).concatenate([both[..., n:], both[..., :n]], axis=-1)

    return memo(layer, key, swap)


def transient(layer: Any, book: Any) -> bool:
    """Whether a rule's R-independent intermediates die with this call (a plain forward, no ledger),
    so that denominators and ratios may reuse their buffers."""
    return layer.cache.memo is None and book is None


def split_affine(
    layer: LinearFamily,
    xpos: Array,
    xneg: Array | None,
    w_pos: Array,
    w_neg: Array | None,
    b: Array | None = None,
) -> Array:
    """``affine(x+, w_pos) + affine(x-, w_neg) (+ b)``, as one pass (``LinearFamily.affine_sum``).

    ``xneg`` or ``w_neg`` ``None``: the second term is statically zero.
    """
    if xneg is None or w_neg is None:
        return layer.affine(xpos, w_pos, b)
    return layer.affine_sum([xpos, xneg], [w_pos, w_neg], b)


def split_affine_t(
    layer: LinearFamily,
    ss: Sequence[Array],
    xpos: Array,
    xneg: Array | None,
    w_pos: Array,
    w_neg: Array | None,
) -> Array:
    """``x+ ⊙ affine_t(s, w_pos) + x- ⊙ affine_t(s, w_neg)`` with ``s`` the blocks ``ss`` stacked
    along the output channels, as one transposed pass (``LinearFamily.affine_t_many``); ``None``
    drops the second term."""
    if xneg is None or w_neg is None:
        if len(ss) == 1:
            return layer.input_times_affine_t(xpos, ss[0], w_pos)
        return xpos * layer.affine_t_many(ss, [w_pos])[0]
    t_pos, t_neg = layer.affine_t_many(ss, [w_pos, w_neg])
    return xpos * t_pos + xneg * t_neg


def ones_input(layer: Any) -> Array:
    """A single all-ones sample ``(1, *input_shape)`` in the dtype and namespace of the input."""
    x = layer.cache.x
    xp = backend.get_namespace(x)
    return memo(layer, "ones", lambda: xp.ones((1, *x.shape[1:]), dtype=x.dtype))
