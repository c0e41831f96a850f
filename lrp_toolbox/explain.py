"""One-call explanations: forward, initial relevance for the chosen target(s), LRP."""

from __future__ import annotations

from typing import Any, Literal

import numpy

from . import backend
from ._typing import Array
from .composites import _layers
from .engine import propagate, resolve_rules
from .errors import ShapeError
from .ledger import Ledger
from .modules import Sequential, SoftMax

INITS = ("logit", "one", "probability")


def _targets(target: Any, logits: Array) -> Any:
    N, K = logits.shape
    xp = backend.get_namespace(logits)
    if target is None:
        return xp.argmax(logits, axis=1)
    if isinstance(target, str):
        if target != "all":
            raise ValueError(f"target must be None, an int, an int array or 'all', got {target!r}")
        return "all"
    if isinstance(target, (int, numpy.integer)) and not isinstance(target, bool):
        t = int(target)
        if not 0 <= t < K:
            raise ValueError(f"target {t} out of range for {K} classes")
        return xp.full(N, t, dtype=xp.int64)
    t = xp.asarray(target)
    if t.dtype.kind not in "iu" or t.shape != (N,):
        raise ValueError(f"target array must hold {N} integer class indices, got {t.dtype} {t.shape}")
    if bool((t < 0).any()) or bool((t >= K).any()):
        raise ValueError(f"target indices must lie in [0, {K})")
    return t


def explain(
    model: Sequential,
    X: Array,
    target: int | Array | Literal["all"] | None = None,
    *,
    rule: Any,
    param: Any = None,
    init: Literal["logit", "one", "probability"] = "logit",
    lrp_aware: bool = False,
    ledger: Ledger | None = None,
) -> Array:
    """Forward ``X``, start relevance at the target class(es), and propagate it to the input.

    Parameters
    ----------
    model : Sequential
        A classifier with outputs ``(N, K)``. A trailing ``SoftMax`` is not explained: relevance
        starts at its input, the logits (LRP is defined on the pre-softmax scores; every peer does
        the same, and the original's demos drop the SoftMax).
    X : ndarray of shape (N, *input_shape)
        Finite input batch in the model's dtype.
    target : None, int, int ndarray of shape (N,), or 'all'
        ``None``: the predicted class ``argmax`` of the logits (first maximum on ties); an int: that
        class for every sample; an array: one class per sample; ``'all'``: every class.
    rule : None, str, Rule or Composite
        As ``lrp_var`` of ``Sequential.lrp`` (``None``: per-layer presets).
    param : optional
        Parameter of a legacy rule name.
    init : {'logit', 'one', 'probability'}
        Initial relevance of the target class: its logit ``f_c(x)`` (default; the original's demos,
        Captum, iNNvestigate), ``1`` (zennit, RP.jl), or its softmax probability ``p_c(x)``. All
        other classes start at 0. Rules are linear in R, so these differ by a per-sample factor.
    lrp_aware : bool
        Forward with ``lrp_aware`` (bitwise identical results). Always on for ``target='all'``,
        where one forward serves every class.
    ledger : Ledger, optional
        Filled with the conservation budget (not for ``target='all'``).

    Returns
    -------
    ndarray of shape (N, *input_shape), or (N, K, *input_shape) for ``target='all'``
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    layers = _layers(model)
    rules = resolve_rules(layers, rule, param)  # validate before any arithmetic
    xp = backend.get_namespace(X)
    if not bool(xp.isfinite(X).all()):
        raise ValueError("explain: X contains NaN or Inf")
    all_classes = isinstance(target, str) and target == "all"
    if all_classes and ledger is not None:
        raise ValueError("explain: a ledger records one pass; use a single target")
    Y = model.forward(X, lrp_aware=lrp_aware or all_classes)
    has_softmax = bool(layers) and isinstance(layers[-1], SoftMax)
    body, body_rules = (layers[:-1], rules[:-1]) if has_softmax else (layers, rules)
    logits = layers[-1].cache.x if has_softmax else Y
    if logits.ndim != 2:
        raise ShapeError(f"explain: expected class scores of shape (N, K), got {tuple(logits.shape)}")
    if init == "probability":
        if has_softmax:
            scores = Y
        else:
            E = xp.exp(logits - logits.max(axis=1, keepdims=True))
            scores = E / E.sum(axis=1, keepdims=True)
    elif init == "one":
        scores = xp.ones_like(logits)
    else:
        scores = logits
    t = _targets(target, logits)
    N, K = logits.shape
    rows = xp.arange(N)

    def start(classes: Array) -> Array:
        R = xp.zeros_like(logits)
        R[rows, classes] = scores[rows, classes]
        return R

    if not all_classes:
        return propagate(body, body_rules, start(t), ledger=ledger)[0]
    out = xp.empty((N, K, *X.shape[1:]), dtype=logits.dtype)
    for c in range(K):
        out[:, c] = propagate(body, body_rules, start(xp.full(N, c, dtype=xp.int64)))[0]
    return out
