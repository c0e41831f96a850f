"""Sequential container: forward, exact backward, training, LRP and a printable summary."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy

from .._typing import Array
from ..errors import NotForwardedError, ShapeError
from ..training import train as train_model
from .activations import SoftMax
from .base import LayerRecord, Module


class Sequential(Module):
    """A chain of modules applied in order.

    Parameters
    ----------
    modules : sequence of Module
        The layers, input first.

    Notes
    -----
    Errors raised by a layer are re-raised with its index, e.g.
    ``layer 2 (Linear(784, 10)): expected input of shape (N, 784), got (N, 100)``.
    """

    def __init__(self, modules: Iterable[Module]) -> None:
        super().__init__()
        self.modules: list[Module] = list(modules)
        for index, module in enumerate(self.modules):
            if not isinstance(module, Module):
                raise TypeError(f"layer {index}: expected a Module, got {type(module).__name__}")

    # ------------------------------------------------------------------ container protocol
    def __len__(self) -> int:
        return len(self.modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.modules)

    def __getitem__(self, index: int) -> Module:
        return self.modules[index]

    def __repr__(self) -> str:
        inner = ",\n".join(f"  {m!r}" for m in self.modules)
        return f"Sequential([\n{inner}\n])"

    def __str__(self) -> str:
        """The summary table; output shapes are those of the last forward pass (``?`` before one)."""
        first = self.modules[0]._cache if self.modules else None
        return self.summary(tuple(first.x.shape[1:]) if first is not None else None)

    @property
    def params(self) -> dict[str, Array]:
        """Parameters of all layers, keyed ``'<index>.<name>'``."""
        return {f"{i}.{k}": v for i, m in enumerate(self.modules) for k, v in m.params.items()}

    @property
    def dtype(self) -> numpy.dtype | None:
        return next((m.dtype for m in self.modules if m.dtype is not None), None)

    # ------------------------------------------------------------------ shapes and summary
    def _wrap(self, index: int, exc: ValueError | TypeError) -> Exception:
        """``exc`` re-created with the layer's index and repr in front of its message, to be raised
        in its place. A ``ShapeError``, ``ValueError`` or ``TypeError`` of exactly that type replaces
        the original (same message, no duplicate traceback); for a subclass (e.g. one of NumPy's,
        whose constructor takes other arguments) the base type is raised with the original as its
        cause.
        """
        name = repr(self.modules[index])
        text = str(exc).removeprefix(f"{name}: ")  # layers prefix their own repr; name it once
        message = f"layer {index} ({name}): {text}"
        base = next(t for t in (ShapeError, ValueError, TypeError) if isinstance(exc, t))
        wrapped = base(message)
        if type(exc) is base:
            wrapped.__suppress_context__ = True
        else:
            wrapped.__cause__ = exc
        return wrapped

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        shape = tuple(input_shape)
        for index, module in enumerate(self.modules):
            try:
                shape = module.output_shape(shape)
            except (ValueError, TypeError) as exc:
                raise self._wrap(index, exc)  # noqa: B904 (_wrap sets the chain)
        return shape

    def summary(self, input_shape: Sequence[int] | None = None) -> str:
        """A table of layers, output shapes and parameter counts.

        Parameters
        ----------
        input_shape : sequence of int, optional
            Input shape without the batch axis; without it output shapes are shown as ``?``.
        """
        rows = [("#", "layer", "output shape", "params")]
        shape: tuple[int, ...] | None = tuple(input_shape) if input_shape is not None else None
        if shape is not None:
            rows.append(("", "input", str((None, *shape)), ""))
        for index, module in enumerate(self.modules):
            if shape is not None:
                try:
                    shape = module.output_shape(shape)
                except (ValueError, TypeError) as exc:
                    raise self._wrap(index, exc)  # noqa: B904 (_wrap sets the chain)
            out = str((None, *shape)) if shape is not None else "?"
            rows.append((str(index), repr(module), out, f"{module.num_params():,}"))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip() for row in rows
        ]
        rule = "-" * len(lines[0])
        dtype = self.dtype
        footer = f"total parameters: {self.num_params():,}" + (f" ({dtype})" if dtype is not None else "")
        return "\n".join([lines[0], rule, *lines[1:], rule, footer])

    # ------------------------------------------------------------------ passes
    def forward(self, X: Array, lrp_aware: bool = False) -> Array:
        """Chain the forward passes; see ``Module.forward``."""
        Y = X
        for index, module in enumerate(self.modules):
            try:
                Y = module.forward(Y, lrp_aware=lrp_aware)
            except (ValueError, TypeError) as exc:
                raise self._wrap(index, exc)  # noqa: B904 (_wrap sets the chain)
        self._cache = None
        return Y

    @property
    def cache(self) -> Any:
        raise NotForwardedError("Sequential keeps no cache of its own; use its layers' caches")

    def backward(self, DY: Array) -> Array:
        """Chain the exact backward passes in reverse order; returns ``dLoss/dX``."""
        for index in range(len(self.modules) - 1, -1, -1):
            try:
                DY = self.modules[index].backward(DY)
            except (ValueError, TypeError) as exc:
                raise self._wrap(index, exc)  # noqa: B904 (_wrap sets the chain)
        return DY

    def update(self, lrate: float) -> None:
        for module in self.modules:
            module.update(lrate)

    def clean(self) -> None:
        for module in self.modules:
            module.clean()

    def to(self, backend_name: str | None = None, dtype: Any = None) -> Sequential:
        for module in self.modules:
            module.to(backend_name, dtype)
        return self

    # ------------------------------------------------------------------ records
    def to_records(self) -> list[LayerRecord]:
        """One record per layer (see ``Module.to_record``)."""
        return [m.to_record() for m in self.modules]

    @classmethod
    def from_records(cls, records: Iterable[LayerRecord]) -> Sequential:
        """Build a model from layer records; errors name the layer index."""
        modules = []
        for index, record in enumerate(records):
            try:
                modules.append(Module.from_record(record))
            except (ValueError, TypeError) as exc:
                raise type(exc)(f"layer {index}: {exc}") from None
        return cls(modules)

    # ------------------------------------------------------------------ training
    train = train_model
    """``Sequential.train(X, Y, Xval=None, Yval=None, batchsize=25, iters=10000, lrate=0.005,
    lrate_decay=None, lfactor_initial=1.0, status=250, convergence=-1, transform=None, silent=False)``:
    the original toolbox's signature; see ``lrp_toolbox.training.train`` and docs/training.md."""

    # ------------------------------------------------------------------ LRP
    def set_lrp_parameters(self, lrp_var: Any = None, param: Any = None) -> None:
        """Broadcast one LRP preset to every layer (the original's behaviour)."""
        for module in self.modules:
            module.set_lrp_parameters(lrp_var, param)

    def drop_softmax_output_layer(self) -> bool:
        """Remove a final SoftMax layer; return whether one was removed."""
        if self.modules and isinstance(self.modules[-1], SoftMax):
            del self.modules[-1]
            return True
        return False

    def lrp(self, R: Array, lrp_var: Any = None, param: Any = None) -> Array:
        """Input relevance for output relevance ``R`` (see ``lrp_toolbox.engine``)."""
        from ..engine import sequential_lrp

        return sequential_lrp(self, R, lrp_var, param)

    def layerwise_lrp(self, R: Array, lrp_var: Any = None, param: Any = None) -> list[Array]:
        """Relevance at every layer's input; element 0 is input space, the last is ``R``."""
        from ..engine import layerwise_lrp

        return layerwise_lrp(self, R, lrp_var, param)
