"""Bridge to PyTorch/zennit: convert a toolbox ``Sequential`` and match rule conventions.

Used by ``benchmarks/bench_lrp.py`` and ``tests/test_vs_zennit.py``. Importing this module does not
import torch or zennit; the functions that need them import them lazily.

Model conversion (NHWC -> NCHW)
-------------------------------
- ``Linear(m, n)``: ``W (m, n) -> weight (n, m)`` (``W.T``). The first ``Linear`` after a ``Flatten``
  of an ``(h, w, c)`` map gets its rows permuted from our C-order ``(h, w, c)`` to torch's
  ``(c, h, w)`` feature order.
- ``Convolution``: ``W (h, w, d, n) -> weight (n, d, h, w)``; stride, dilation and symmetric padding
  map to ``Conv2d``; asymmetric padding becomes a ``ZeroPad2d`` in front of the convolution.
- ``SumPool`` (``S / sqrt(k)``, ``k = hp * wp``) becomes ``AvgPool2d`` (``S / k``), i.e. the torch
  activation is ``1/sqrt(k)`` times ours; the factor ``sqrt(k)`` is folded into the weights of the
  next ``Linear``/``Convolution`` (only ``Rect``, ``MaxPool``, ``Flatten`` and pools may lie between,
  all positively homogeneous). Every later pre-activation is therefore unchanged, and so is every
  product ``x_i w_ij``: the relevance of every rule that depends on the weights only through
  ``x_i w_ij`` (0, ε, z+, α-β, γ, flat) is unchanged at every layer.
- ``AvgPool`` -> ``AvgPool2d``, ``MaxPool`` -> ``MaxPool2d``, ``Rect`` -> ``ReLU``, ``Tanh`` -> ``Tanh``,
  ``Flatten`` -> ``Flatten``. A final ``SoftMax`` is dropped (LRP starts at the logits, as
  ``explain``).

Rule conventions (our rule ⇔ zennit hook)
-----------------------------------------
- zennit's stabiliser is signed ``d + 1e-6 s(d)`` (``s(0) = +1``) for every rule, ours too with
  ``stabilizer=1e-6`` / ``Epsilon(1e-6)`` (our default stabiliser is 1e-9, so it is set explicitly).
- zennit ``Norm`` on ``AvgPool2d``: ``R_i = x_i R_j / (S_j + k 1e-6 s(S_j))`` (the stabiliser is added to the
  *mean*). Ours on ``AvgPool`` ``Zero(1e-6)`` is the same formula; on ``SumPool`` (whose rules act on the
  raw sum ``S_j``) it is ``Zero(k * 1e-6)``.
- zennit gives MaxPool the plain gradient: all relevance to the single argmax that torch's forward
  picks (the first maximum in row-major window order on the CPU) = our ``WinnerTakeAll('first')``.
- ``Flat`` in zennit adds ``1e-6`` to the fan-in: ours ``Flat(stabilizer=1e-6)``.
- ``WSquare`` in zennit squares the bias too: ours ``WSquare(stabilizer=1e-6, bias='squared')``.
- ``Gamma`` in zennit is the generalized form: ours ``Gamma(variant='generalized', stabilizer=1e-6)``.
- zennit's ``EpsilonPlusFlat``: ``Flat`` on the first Linear/Conv, ``ZPlus`` on convolutions,
  ``Epsilon`` on ``torch.nn.Linear``, ``Norm`` on avg-pools, ``Pass`` on activations: the same as our
  ``epsilon_plus_flat`` preset with the stabilisers above.
"""

from __future__ import annotations

import math
from typing import Any

import numpy

from lrp_toolbox import backend
from lrp_toolbox.composites import At, ByType, Composite, First
from lrp_toolbox.modules import (
    AvgPool,
    Convolution,
    Flatten,
    Linear,
    MaxPool,
    Rect,
    Sequential,
    SoftMax,
    SumPool,
    Tanh,
)
from lrp_toolbox.rules import AlphaBeta, Epsilon, Flat, WinnerTakeAll, Zero, ZPlus

ZENNIT_STABILIZER = 1e-6
"""zennit's default stabiliser (and ``Epsilon``'s default ε)."""

RULES = ("epsilon", "zplus", "alpha2beta1", "epsilon_plus_flat")
"""Rule names shared by the benchmark and the tests (each maps to both libraries)."""


# ------------------------------------------------------------------------------ our side
def _pool_entries(model: Sequential, eps: float) -> list[Any]:
    """Pool rules equal to zennit's ``Norm(eps)`` on ``AvgPool2d``; MaxPool single winner."""
    entries: list[Any] = [ByType(MaxPool, WinnerTakeAll("first"))]
    for i, layer in enumerate(model.modules):
        if isinstance(layer, SumPool):
            entries.append(At(i, Zero(eps * layer.window_size)))
        elif isinstance(layer, AvgPool):
            entries.append(At(i, Zero(eps)))
    return entries


def our_composite(name: str, model: Sequential, eps: float = ZENNIT_STABILIZER) -> Composite:
    """Our composite for rule ``name`` (one of ``RULES``) with zennit's conventions on ``model``.

    Parameters
    ----------
    name : str
        ``'epsilon'``, ``'zplus'``, ``'alpha2beta1'`` (rule on every Linear/Convolution) or
        ``'epsilon_plus_flat'`` (the composite).
    model : Sequential
        The model (pools need per-layer stabilisers, see the module docstring).
    eps : float
        zennit's stabiliser / ε.

    Returns
    -------
    Composite
    """
    weighted = (Linear, Convolution)
    if name == "epsilon":
        head = [ByType(weighted, Epsilon(eps))]
    elif name == "zplus":
        head = [ByType(weighted, ZPlus(stabilizer=eps))]
    elif name == "alpha2beta1":
        head = [ByType(weighted, AlphaBeta(2.0, 1.0, stabilizer=eps))]
    elif name == "epsilon_plus_flat":
        head = [
            ByType(Linear, Epsilon(eps)),
            ByType(Convolution, ZPlus(stabilizer=eps)),
            First(Flat(stabilizer=eps)),
        ]
    else:
        raise ValueError(f"unknown rule {name!r}; expected one of {RULES}")
    # Pools first: ``head`` never names pools, and ``Everywhere`` is not used, so order is free.
    return Composite(*_pool_entries(model, eps), *head, name=f"{name} (zennit conventions)")


def zennit_composite(name: str, eps: float = ZENNIT_STABILIZER) -> Any:
    """The zennit composite for rule ``name`` (one of ``RULES``).

    Single rules are ``LayerMapComposite`` s with zennit's base map (activations ``Pass``, avg-pools
    ``Norm``) plus the rule on every ``Conv*``/``Linear``; ``'epsilon_plus_flat'`` is zennit's own
    ``EpsilonPlusFlat``.
    """
    from zennit.composites import EpsilonPlusFlat, LayerMapComposite, layer_map_base
    from zennit.rules import AlphaBeta as ZAlphaBeta
    from zennit.rules import Epsilon as ZEpsilon
    from zennit.rules import ZPlus as ZZPlus
    from zennit.types import Linear as ZLinear

    if name == "epsilon_plus_flat":
        return EpsilonPlusFlat(epsilon=eps, stabilizer=eps)
    hooks = {
        "epsilon": lambda: ZEpsilon(epsilon=eps),
        "zplus": lambda: ZZPlus(stabilizer=eps),
        "alpha2beta1": lambda: ZAlphaBeta(alpha=2.0, beta=1.0, stabilizer=eps),
    }
    if name not in hooks:
        raise ValueError(f"unknown rule {name!r}; expected one of {RULES}")
    return LayerMapComposite(layer_map=[*layer_map_base(eps), (ZLinear, hooks[name]())])


# ---------------------------------------------------------------------------- conversion
def _flatten_permutation(shape: tuple[int, ...]) -> numpy.ndarray:
    """``perm`` with ``ours[perm] = torch order``: torch feature ``(c, h, w)`` is our ``(h, w, c)``."""
    if len(shape) != 3:
        return numpy.arange(math.prod(shape))
    H, W, C = shape
    return numpy.arange(H * W * C).reshape(H, W, C).transpose(2, 0, 1).reshape(-1)


def to_torch(model: Sequential, input_shape: tuple[int, ...], dtype: Any = None) -> Any:
    """A ``torch.nn.Sequential`` computing the same logits as ``model`` (see the module docstring).

    Parameters
    ----------
    model : Sequential
        Layers on NumPy arrays (a CuPy model is copied to the host).
    input_shape : tuple of int
        Input shape without the batch axis, e.g. ``(224, 224, 3)`` or ``(784,)``.
    dtype : torch.dtype, optional
        Default: the dtype matching ``model``'s parameters.

    Returns
    -------
    torch.nn.Sequential
        In eval mode, parameters in ``dtype``; expects NCHW (or ``(N, m)``) inputs.

    Raises
    ------
    ValueError
        For a layer without a torch equivalent, a ``SoftMax`` that is not last, or a ``SumPool`` whose
        ``sqrt(k)`` cannot be folded (a ``Tanh``/``SoftMax`` or the end of the model follows it).
    """
    import torch

    layers = list(model.modules)
    if layers and isinstance(layers[-1], SoftMax):
        layers = layers[:-1]
    out: list[Any] = []
    shape = tuple(input_shape)
    scale = 1.0  # pending sqrt(k) factors of SumPools, folded into the next weighted layer
    perm: numpy.ndarray | None = None  # pending Flatten permutation for the next Linear
    np_dtype = None
    for i, layer in enumerate(layers):
        next_shape = layer.output_shape(shape)
        if isinstance(layer, Linear):
            W = backend.to_numpy(layer.W).astype(numpy.float64) * scale
            if perm is not None:
                W = W[perm]
            lin = torch.nn.Linear(layer.m, layer.n, dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(numpy.ascontiguousarray(W.T)))
                lin.bias.copy_(torch.from_numpy(backend.to_numpy(layer.B).astype(numpy.float64)))
            np_dtype = np_dtype or layer.W.dtype
            out.append(lin)
            scale, perm = 1.0, None
        elif isinstance(layer, Convolution):
            h, w, d, n = layer.filtersize
            (top, bottom), (left, right) = layer.padding
            symmetric = top == bottom and left == right
            if not symmetric:
                out.append(torch.nn.ZeroPad2d((left, right, top, bottom)))
            conv = torch.nn.Conv2d(
                d,
                n,
                (h, w),
                stride=layer.stride,
                padding=(top, left) if symmetric else 0,
                dilation=layer.dilation,
                dtype=torch.float64,
            )
            W = backend.to_numpy(layer.W).astype(numpy.float64) * scale
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(numpy.ascontiguousarray(W.transpose(3, 2, 0, 1))))
                conv.bias.copy_(torch.from_numpy(backend.to_numpy(layer.B).astype(numpy.float64)))
            np_dtype = np_dtype or layer.W.dtype
            out.append(conv)
            scale = 1.0
        elif isinstance(layer, (SumPool, AvgPool)):
            out.append(torch.nn.AvgPool2d(layer.pool, stride=layer.stride))
            if isinstance(layer, SumPool):
                scale *= math.sqrt(layer.window_size)
        elif isinstance(layer, MaxPool):
            out.append(torch.nn.MaxPool2d(layer.pool, stride=layer.stride))
        elif isinstance(layer, Rect):
            out.append(torch.nn.ReLU())
        elif isinstance(layer, Flatten):
            out.append(torch.nn.Flatten())
            perm = _flatten_permutation(shape)
        elif isinstance(layer, Tanh):
            if scale != 1.0:
                raise ValueError(f"layer {i}: cannot fold a SumPool's sqrt(k) through Tanh")
            out.append(torch.nn.Tanh())
        elif isinstance(layer, SoftMax):
            raise ValueError(f"layer {i}: SoftMax is only supported as the last layer")
        else:
            raise ValueError(f"layer {i}: no torch equivalent for {type(layer).__name__}")
        shape = tuple(next_shape)
    if scale != 1.0:
        raise ValueError("a SumPool must be followed by a Linear or Convolution to fold its sqrt(k)")
    tdtype = dtype if dtype is not None else _torch_dtype(np_dtype or numpy.float64)
    return torch.nn.Sequential(*out).to(tdtype).eval()


def _torch_dtype(np_dtype: Any) -> Any:
    import torch

    return {numpy.dtype("float64"): torch.float64, numpy.dtype("float32"): torch.float32}[
        numpy.dtype(np_dtype)
    ]


def to_nchw(X: numpy.ndarray) -> numpy.ndarray:
    """NHWC -> NCHW (2-D inputs unchanged), contiguous."""
    return numpy.ascontiguousarray(X.transpose(0, 3, 1, 2)) if X.ndim == 4 else numpy.ascontiguousarray(X)


def to_nhwc(X: numpy.ndarray) -> numpy.ndarray:
    """NCHW -> NHWC (2-D inputs unchanged)."""
    return X.transpose(0, 2, 3, 1) if X.ndim == 4 else X


class ZennitExplainer:
    """zennit relevance for a converted model: ``explainer(X_nhwc, R_out) -> R_in (NHWC, NumPy)``.

    The composite is registered once (``Gradient`` context entered in ``__init__``); call ``close``
    (or use it as a context manager) to remove the hooks.

    Parameters
    ----------
    torch_model : torch.nn.Module
        From :func:`to_torch`.
    composite : zennit.core.Composite
        From :func:`zennit_composite`.
    """

    def __init__(self, torch_model: Any, composite: Any) -> None:
        from zennit.attribution import Gradient

        self.model = torch_model
        self._dtype = next(torch_model.parameters()).dtype
        self._attributor = Gradient(model=torch_model, composite=composite)
        self._attributor.__enter__()

    def __call__(self, X: numpy.ndarray, R_out: numpy.ndarray) -> numpy.ndarray:
        import torch

        x = torch.from_numpy(to_nchw(X)).to(self._dtype)
        r = torch.from_numpy(numpy.ascontiguousarray(R_out)).to(self._dtype)
        _, relevance = self._attributor(x, r)
        return to_nhwc(relevance.detach().numpy())

    def close(self) -> None:
        """Remove zennit's hooks from the model."""
        self._attributor.__exit__(None, None, None)

    def __enter__(self) -> ZennitExplainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "RULES",
    "ZENNIT_STABILIZER",
    "ZennitExplainer",
    "our_composite",
    "to_nchw",
    "to_nhwc",
    "to_torch",
    "zennit_composite",
]
