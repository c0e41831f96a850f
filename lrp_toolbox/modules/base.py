"""Base class of all layers, the forward cache and the layer record used by the file formats."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, ModuleType
from typing import Any, ClassVar

import numpy

from .. import backend
from .._typing import Array
from ..errors import NotForwardedError, ShapeError

PARAM_DTYPES = (numpy.dtype(numpy.float64), numpy.dtype(numpy.float32))
"""The parameter dtypes: float64 (the reference mode) and float32."""


def check_param_dtype(dtype: Any, where: str) -> numpy.dtype:
    """``numpy.dtype(dtype)`` if it is one of ``PARAM_DTYPES``, else ``TypeError`` naming ``where``."""
    try:
        resolved = numpy.dtype(dtype)
    except TypeError:
        raise TypeError(f"{where}: dtype must be float64 or float32, got {dtype!r}") from None
    if resolved not in PARAM_DTYPES:
        raise TypeError(f"{where}: dtype must be float64 or float32, got {resolved}")
    return resolved


@dataclass
class ForwardCache:
    """What one forward pass leaves behind for ``backward`` and ``lrp``.

    Attributes
    ----------
    x : ndarray of shape (N, *input_shape)
        The layer input (not copied; the toolbox never mutates inputs).
    y : ndarray of shape (N, *output_shape)
        The layer output.
    memo : dict or None
        ``None`` for a plain forward; a dict when the forward ran with ``lrp_aware=True``.
    z : ndarray of shape (N, *output_shape) or None
        The pre-activation ``affine(x, lrp_weight, lrp_bias)`` of a linear-family layer, when its
        forward computed it on the way (the same bits): ``y`` itself for Linear, Convolution and
        AvgPool; SumPool's raw window sums ``S`` (``y = S / sqrt(k)``), kept so that LRP does not
        sum the windows again, at the cost of one more output-sized array. ``None`` otherwise.
        Read-only, like ``x`` and ``y``.
    scratch : dict or None
        While one rule runs on the layer after a plain forward (``call_scope``): values computed
        twice within that call (input and weight parts) are computed once. Dropped at its end.
    """

    x: Array
    y: Array
    memo: dict[Hashable, Any] | None = None
    z: Array | None = None
    scratch: dict[Hashable, Any] | None = field(default=None, repr=False)

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """Return ``compute()``, memoised under ``key`` when the forward was ``lrp_aware`` (for
        every later call) or inside ``call_scope`` (for the rest of that call).

        The memoised value is produced by the same call as in plain mode, so results are bitwise
        identical with and without ``lrp_aware``.
        """
        store = self.memo if self.memo is not None else self.scratch
        if store is None:
            return compute()
        if key not in store:
            store[key] = compute()
        return store[key]

    @contextlib.contextmanager
    def call_scope(self) -> Iterator[None]:
        """Memoise for the duration of one rule call (a no-op after an ``lrp_aware`` forward)."""
        if self.memo is not None:
            yield
            return
        self.scratch = {}
        try:
            yield
        finally:
            self.scratch = None

    def nbytes(self) -> int:
        """Bytes held by the memo: every array buffer its values keep alive (through tuples and
        lists, views counted by the buffer they view, each buffer once), except ``x``, ``y`` and
        ``z``, which a plain forward keeps as well."""
        if not self.memo:
            return 0
        seen = {id(_buffer(a)) for a in (self.x, self.y, self.z) if a is not None}
        total = 0
        stack = list(self.memo.values())
        while stack:
            value = stack.pop()
            if isinstance(value, (tuple, list)):
                if id(value) not in seen:  # each container once: no endless walk
                    seen.add(id(value))
                    stack.extend(value)
            elif hasattr(value, "nbytes") and hasattr(value, "shape"):
                root = _buffer(value)
                if id(root) not in seen:
                    seen.add(id(root))
                    total += int(root.nbytes)
        return total


def _buffer(a: Any) -> Any:
    """The array that owns the memory of ``a`` (``a`` itself, or the base of a view)."""
    while getattr(a, "base", None) is not None and hasattr(a.base, "nbytes"):
        a = a.base
    return a


@dataclass(frozen=True)
class LayerRecord:
    """Backend-neutral description of one layer, as serialised by ``lrp_toolbox.model_io``.

    Attributes
    ----------
    kind : str
        Class name, e.g. ``'Linear'`` (see ``LAYER_TYPES``).
    config : mapping
        Hyper-parameters (ints and tuples of ints), e.g. ``{'m': 784, 'n': 10}``.
    arrays : mapping of str to numpy.ndarray
        Parameters as NumPy arrays, e.g. ``{'W': ..., 'B': ...}``.
    """

    kind: str
    config: Mapping[str, Any] = field(default_factory=dict)
    arrays: Mapping[str, numpy.ndarray] = field(default_factory=dict)


class _SkipInit:
    """Stands in for a ``numpy.random.Generator`` when a layer's parameters are about to be
    overwritten (``Module.from_record``): zeros instead of random draws, at a fraction of the cost."""

    @staticmethod
    def standard_normal(shape: tuple[int, ...]) -> numpy.ndarray:
        return numpy.zeros(shape)


_SKIP_INIT = _SkipInit()


class Module:
    """Base class of every layer.

    Subclasses implement ``_forward`` and ``_backward`` and, if they have parameters, list them in
    ``param_names``. The base class handles caching, validation, backends and dtypes.
    """

    param_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self._cache: ForwardCache | None = None
        self.grads: dict[str, Array] = {}
        self.lrp_var: Any = None
        self.lrp_param: Any = None

    # ------------------------------------------------------------------ description
    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()})"

    def _describe(self) -> str:
        return ""

    # ------------------------------------------------------------------ parameters
    @property
    def params(self) -> dict[str, Array]:
        """Parameters by name (``{'W': ..., 'B': ...}``; empty for parameter-free layers)."""
        return {name: getattr(self, name) for name in self.param_names}

    @property
    def dtype(self) -> numpy.dtype | None:
        """Floating dtype of the parameters, or ``None`` for parameter-free layers."""
        params = self.params
        return next(iter(params.values())).dtype if params else None

    @property
    def xp(self) -> ModuleType:
        """Array namespace (``numpy`` or ``cupy``) of the parameters (NumPy when there are none)."""
        return backend.get_namespace(*self.params.values())

    def num_params(self) -> int:
        """Number of scalar parameters."""
        return int(sum(p.size for p in self.params.values()))

    # ------------------------------------------------------------------ shapes
    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Output shape (without the batch axis) for an input of shape ``input_shape``.

        Raises
        ------
        ShapeError
            If the layer cannot take inputs of that shape.
        """
        return tuple(input_shape)

    def _check_input(self, X: Array) -> None:
        """Raise ``ShapeError`` (or ``TypeError``) if ``X`` is not a valid input batch."""
        if not hasattr(X, "shape") or not hasattr(X, "dtype"):
            raise TypeError(f"{self!r}: expected an ndarray, got {type(X).__name__}")
        if X.dtype.kind != "f":
            raise TypeError(f"{self!r}: expected a floating-point array, got dtype {X.dtype}")
        if X.ndim < 1:
            raise ShapeError(f"{self!r}: expected a batch (N, ...), got a 0-d array")
        self.output_shape(tuple(X.shape[1:]))

    # ------------------------------------------------------------------ passes
    def forward(self, X: Array, lrp_aware: bool = False) -> Array:
        """Compute the layer output and cache what ``backward`` and ``lrp`` need.

        Parameters
        ----------
        X : ndarray of shape (N, *input_shape)
            Input batch; never modified.
        lrp_aware : bool
            Memoise intermediate results of later ``lrp`` calls (bitwise identical results).

        Returns
        -------
        ndarray of shape (N, *output_shape)
        """
        self._check_input(X)
        backend.get_namespace(X, *self.params.values())
        if self.params and X.dtype != self.dtype:
            raise TypeError(
                f"{self!r}: input dtype {X.dtype} differs from parameter dtype {self.dtype}; "
                f"convert with X.astype({self.dtype}) or model.to(dtype=...)"
            )
        Y, z = self._forward_and_z(X)
        self._cache = ForwardCache(X, Y, {} if lrp_aware else None, z)
        return Y

    def _forward(self, X: Array) -> Array:
        return X

    def _forward_and_z(self, X: Array) -> tuple[Array, Array | None]:
        """``(Y, z)``: the output and what ``ForwardCache.z`` keeps (here ``None``).

        Linear-family layers return the pre-activation their own ``_forward`` computes; a subclass
        that overrides ``_forward`` gets this default (``z = None``: the rules recompute ``z``).
        """
        return self._forward(X), None

    @property
    def cache(self) -> ForwardCache:
        """The cache of the last forward pass.

        Raises
        ------
        NotForwardedError
            If ``forward`` has not been called since construction or ``clean()``.
        """
        if self._cache is None:
            raise NotForwardedError(f"{self!r}: call forward() before backward() or lrp()")
        return self._cache

    def _check_output_like(self, A: Array, what: str) -> None:
        y = self.cache.y
        if not hasattr(A, "shape") or tuple(A.shape) != tuple(y.shape):
            got = getattr(A, "shape", type(A).__name__)
            raise ShapeError(f"{self!r}: {what} must have the output shape {y.shape}, got {got}")
        backend.get_namespace(A, y)
        if A.dtype != y.dtype:
            raise TypeError(
                f"{self!r}: {what} has dtype {A.dtype} but the layer output {y.dtype}; "
                f"use {what}.astype({y.dtype})"
            )

    def backward(self, DY: Array) -> Array:
        """Return the gradient with respect to the input and store parameter gradients.

        Parameters
        ----------
        DY : ndarray of shape (N, *output_shape)
            Gradient of the loss with respect to this layer's output, in the dtype of that output
            (another dtype raises ``TypeError``: no silent casts or integer truncation).

        Returns
        -------
        ndarray of shape (N, *input_shape)
            Exact gradient with respect to the input of the last forward pass.
        """
        self._check_output_like(DY, "DY")
        return self._backward(DY)

    def _backward(self, DY: Array) -> Array:
        return DY

    def update(self, lrate: float) -> None:
        """Plain SGD step on every parameter: ``p -= lrate * grad``."""
        for name, grad in self.grads.items():
            param = getattr(self, name)
            param -= lrate * grad

    def clean(self) -> None:
        """Drop the forward cache and the parameter gradients."""
        self._cache = None
        self.grads = {}

    # ------------------------------------------------------------------ backends and dtypes
    def to(self, backend_name: str | None = None, dtype: Any = None) -> Module:
        """Move parameters to a backend and/or cast them to a floating dtype, in place.

        Parameters
        ----------
        backend_name : {'numpy', 'cupy'}, optional
        dtype : numpy dtype, optional
            ``float64`` (the reference mode) or ``float32``.

        Returns
        -------
        Module
            ``self``, with the cache and gradients dropped.
        """
        if dtype is not None:
            dtype = check_param_dtype(dtype, repr(self))
        if backend_name is not None:
            backend.namespace(backend_name)  # validates the name and CuPy availability
        for name, value in self.params.items():
            if backend_name is not None:
                value = backend.to_backend(value, backend_name)
            if dtype is not None and value.dtype != dtype:
                value = value.astype(dtype)
            setattr(self, name, value)
        self.clean()
        return self

    def to_cupy(self) -> Module:
        """Move the parameters to CuPy (the original toolbox's name for ``to('cupy')``)."""
        return self.to("cupy")

    def to_numpy(self) -> Module:
        """Move the parameters to NumPy (the original toolbox's name for ``to('numpy')``)."""
        return self.to("numpy")

    # ------------------------------------------------------------------ records
    def _config(self) -> dict[str, Any]:
        return {}

    def to_record(self) -> LayerRecord:
        """Backend-neutral description of this layer (parameters copied to NumPy)."""
        arrays = {name: backend.to_numpy(value).copy() for name, value in self.params.items()}
        return LayerRecord(type(self).__name__, MappingProxyType(self._config()), arrays)

    @classmethod
    def _from_config(cls, config: Mapping[str, Any]) -> Module:
        return cls(**config)

    @staticmethod
    def from_record(record: LayerRecord) -> Module:
        """Build a layer from a record.

        Raises
        ------
        ValueError
            Unknown kind, bad hyper-parameters, or arrays of the wrong shape, dtype or with NaN/Inf.
        """
        from . import LAYER_TYPES

        cls = LAYER_TYPES.get(record.kind)
        if cls is None:
            raise ValueError(f"unknown layer kind {record.kind!r}; known: {sorted(LAYER_TYPES)}")
        config = dict(record.config)
        build = {**config, "rng": _SKIP_INIT} if cls.param_names else config
        try:
            layer = cls._from_config(build)
        except TypeError as exc:  # unknown or missing keyword: a bad record, not a programming error
            raise ValueError(f"{record.kind}: bad config {config!r}: {exc}") from None
        unknown = sorted(set(config) - set(layer._config()))
        if unknown:
            raise ValueError(f"{layer!r}: unknown config keys {unknown}; known: {sorted(layer._config())}")
        expected = set(layer.param_names)
        if set(record.arrays) != expected:
            raise ValueError(f"{layer!r}: expected arrays {sorted(expected)}, got {sorted(record.arrays)}")
        for name in layer.param_names:
            value = numpy.asarray(record.arrays[name])
            current = getattr(layer, name)
            if value.shape != current.shape:
                raise ValueError(f"{layer!r}: {name} must have shape {current.shape}, got {value.shape}")
            if value.dtype.newbyteorder("=") not in PARAM_DTYPES:
                raise ValueError(f"{layer!r}: {name} must be float32 or float64, got {value.dtype}")
            value = value.astype(value.dtype.newbyteorder("="), copy=False)  # native byte order
            if not numpy.isfinite(value).all():
                raise ValueError(f"{layer!r}: {name} contains NaN or Inf")
            setattr(layer, name, numpy.array(value, copy=True))
        dtypes = sorted({str(value.dtype) for value in layer.params.values()})
        if len(dtypes) > 1:
            raise ValueError(f"{layer!r}: parameters must share one dtype, got {', '.join(dtypes)}")
        return layer

    # ------------------------------------------------------------------ LRP
    def set_lrp_parameters(self, lrp_var: Any = None, param: Any = None) -> None:
        """Store a per-layer LRP preset used when ``lrp`` is called without a rule.

        ``lrp_var`` is a rule name of the original toolbox (``'epsilon'``, ``'alphabeta'``, ...)
        or a rule object from ``lrp_toolbox.rules``; ``param`` its parameter.
        """
        self.lrp_var = lrp_var
        self.lrp_param = param

    def lrp(self, R: Array, lrp_var: Any = None, param: Any = None) -> Array:
        """Relevance at this layer's input for relevance ``R`` at its output.

        See ``lrp_toolbox.engine`` and docs/rules.md for the rules and their exact formulas.
        """
        from ..engine import module_lrp

        return module_lrp(self, R, lrp_var, param)
