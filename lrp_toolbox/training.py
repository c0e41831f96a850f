"""Mini-batch training with the signature of the original ``Sequential.train``.

Differences from the original toolbox (all deliberate, see docs/training.md):
- the loss and its gradient are paired correctly: softmax cross-entropy when the model ends in a
  ``SoftMax`` (gradient ``Y - T`` with respect to the logits), squared error otherwise;
  gradients are averaged over the batch;
- batches are drawn without replacement within an epoch from a seeded ``numpy.random.Generator``;
- the best model is chosen by the validation loss, only its parameters are copied, and the model is
  evaluated once more after the last iteration, so no iterations are discarded;
- optimisers: SGD (optionally momentum/Nesterov) and Adam; progress goes to a tqdm bar, and
  ``silent=True`` prints nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy

from . import backend
from ._typing import Array
from .errors import ShapeError
from .modules.activations import SoftMax
from .modules.base import Module
from .modules.windows import is_int
from .optimizers import make_optimizer, parameter_slots


@dataclass
class TrainingHistory:
    """What happened during ``train``: one entry per evaluation.

    Attributes
    ----------
    iterations, loss, accuracy : list
        Iteration number, evaluation loss and accuracy at each evaluation.
    best_iteration : int
        Iteration whose parameters were kept (0 = the initial model).
    best_loss, best_accuracy : float
    stopped_early : bool
    """

    iterations: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    best_iteration: int = 0
    best_loss: float = math.inf
    best_accuracy: float = math.nan
    stopped_early: bool = False


def predict(model: Module, X: Array, batchsize: int = 500) -> Array:
    """Model output for ``X``, computed in chunks of ``batchsize`` to bound memory.

    The layers' caches are dropped afterwards.
    """
    xp = backend.get_namespace(X)
    parts = [model.forward(X[i : i + batchsize]) for i in range(0, X.shape[0], batchsize)]
    model.clean()
    return xp.concatenate(parts, axis=0)


def _softmax_head(model: Module) -> list[Module] | None:
    """The layers below a final SoftMax (``None``: the model does not end in one)."""
    from .modules.sequential import Sequential  # sequential.py imports this module

    modules = model.modules if isinstance(model, Sequential) else []
    return modules[:-1] if modules and isinstance(modules[-1], SoftMax) else None


def loss_and_accuracy(model: Module, X: Array, Y: Array, batchsize: int = 500) -> tuple[float, float]:
    """Mean loss (cross-entropy after a SoftMax, else squared error) and argmax accuracy."""
    xp = backend.get_namespace(X, Y)
    P = predict(model, X, batchsize)
    if _softmax_head(model) is not None:
        tiny = numpy.finfo(P.dtype).tiny
        loss = -float((Y * xp.log(xp.maximum(P, tiny))).sum()) / X.shape[0]
    else:
        loss = 0.5 * float(((P - Y) ** 2).sum()) / X.shape[0]
    accuracy = (
        float((P.argmax(axis=1) == Y.argmax(axis=1)).mean()) if Y.ndim == 2 and Y.shape[1] > 1 else math.nan
    )
    return loss, accuracy


def _step_gradients(model: Module, Xb: Array, Yb: Array, below_softmax: list[Module] | None) -> float:
    """Forward, loss, backward for one batch; returns the batch loss."""
    n = Xb.shape[0]
    P = model.forward(Xb)
    if below_softmax is not None:
        tiny = numpy.finfo(P.dtype).tiny
        xp = backend.get_namespace(P)
        loss = -float((Yb * xp.log(xp.maximum(P, tiny))).sum()) / n
        D = (P - Yb) / P.dtype.type(n)  # d(cross-entropy)/d(logits), skipping the SoftMax layer
        for layer in reversed(below_softmax):
            D = layer.backward(D)
    else:
        loss = 0.5 * float(((P - Yb) ** 2).sum()) / n
        model.backward((P - Yb) / P.dtype.type(n))
    return loss


def train(
    model: Module,
    X: Array,
    Y: Array,
    Xval: Array | None = None,
    Yval: Array | None = None,
    batchsize: int = 25,
    iters: int = 10000,
    lrate: float = 0.005,
    lrate_decay: str | None = None,
    lfactor_initial: float = 1.0,
    status: int = 250,
    convergence: int = -1,
    transform: Callable[[Array], Array] | None = None,
    silent: bool = False,
    *,
    optimizer: str | Any = "adam",
    momentum: float = 0.9,
    seed: int | numpy.random.Generator = 0,
    eval_batchsize: int = 500,
    select: str = "loss",
) -> TrainingHistory:
    """Train ``model`` in place on ``(X, Y)`` and keep the parameters with the best evaluation loss.

    Parameters
    ----------
    model : Sequential
    X : ndarray of shape (N, *input_shape)
    Y : ndarray of shape (N, C)
        One-hot labels (or regression targets).
    Xval, Yval : ndarray, optional
        Validation data; when absent (``None``, or empty as the original's default ``[]``) the
        training data is used for evaluation.
    batchsize : int
        Samples per update.
    iters : int
        Number of updates.
    lrate : float
        Learning rate (times the learning factor, see ``lrate_decay``).
    lrate_decay : {None, 'none', 'sublinear', 'linear'}
        After an improving evaluation the learning factor becomes ``1 - acc**2`` ('sublinear') or
        ``1 - acc`` ('linear'), as in the original toolbox.
    lfactor_initial : float
        Initial learning factor.
    status : int
        Evaluate (and update the progress bar) every ``status`` iterations.
    convergence : int
        Stop after this many evaluations without improvement; ``<= 0`` never stops early.
    transform : callable, optional
        Applied to each input batch (data augmentation).
    silent : bool
        Print nothing (no progress bar).
    optimizer : {'adam', 'sgd', 'momentum', 'nesterov'} or object with ``step(model, lrate)``
    momentum : float
        Momentum of 'momentum'/'nesterov'.
    seed : int or numpy.random.Generator
        Source of the batch order.
    eval_batchsize : int
        Chunk size for evaluation.
    select : {'loss', 'accuracy'}
        What "best" means for the kept model: the lowest evaluation loss (default), or the highest
        evaluation accuracy with the loss breaking ties (cross-entropy often rises while accuracy
        still improves).

    Returns
    -------
    TrainingHistory

    Raises
    ------
    ValueError, TypeError
        Bad arguments: non-integer counts, labels whose shape is not the model's output shape
        (``ShapeError``), NaN or Inf in the data, ``transform`` not callable.
    FloatingPointError
        An evaluation loss is NaN or Inf (training diverged). The parameters of the best
        evaluation so far are restored first; the history is the exception's ``history``.
    """
    for name, value, least in (("batchsize", batchsize, 1), ("iters", iters, 0), ("status", status, 1)):
        _check_count(name, value, least)
    _check_count("convergence", convergence, None)
    _check_count("eval_batchsize", eval_batchsize, 1)
    if transform is not None and not callable(transform):
        raise TypeError(f"transform must be a callable or None, got {type(transform).__name__}")
    Xval, Yval = (None if _absent(a) else a for a in (Xval, Yval))
    if (Xval is None) != (Yval is None):
        raise ValueError("give both Xval and Yval, or neither")
    decay = (lrate_decay or "none").lower()
    if decay not in ("none", "sublinear", "linear"):
        raise ValueError(f"lrate_decay must be None, 'sublinear' or 'linear', got {lrate_decay!r}")
    if select not in ("loss", "accuracy"):
        raise ValueError(f"select must be 'loss' or 'accuracy', got {select!r}")
    from tqdm.auto import tqdm

    dtype = model.dtype or numpy.dtype(numpy.float64)
    X, Y = _checked_data(model, X, Y, "X", "Y", dtype)
    Xe, Ye = (X, Y) if Xval is None else _checked_data(model, Xval, Yval, "Xval", "Yval", dtype)
    rng = seed if isinstance(seed, numpy.random.Generator) else numpy.random.default_rng(seed)
    opt = make_optimizer(optimizer, momentum)
    below_softmax = _softmax_head(model)
    slots = parameter_slots(model)
    history = TrainingHistory()
    factor = lfactor_initial
    patience = convergence

    def evaluate(iteration: int) -> bool:
        nonlocal factor, patience
        loss, acc = loss_and_accuracy(model, Xe, Ye, eval_batchsize)
        history.iterations.append(iteration)
        history.loss.append(loss)
        history.accuracy.append(acc)
        if not math.isfinite(loss):
            kept = f"those of iteration {history.best_iteration} were restored" if best else "none kept"
            error = FloatingPointError(
                f"training diverged: the evaluation loss at iteration {iteration} is {loss} "
                f"(lrate {lrate}, learning factor {factor}); parameters: {kept}"
            )
            error.history = history  # type: ignore[attr-defined]
            raise error
        if select == "accuracy" and not math.isnan(acc):
            better = (acc, -loss) >= (history.best_accuracy, -history.best_loss) or iteration == 0
        else:
            better = loss <= history.best_loss
        if better:
            history.best_loss, history.best_accuracy, history.best_iteration = loss, acc, iteration
            best[:] = [getattr(layer, name).copy() for layer, name in slots]
            if decay != "none" and not math.isnan(acc):
                factor = 1.0 - acc**2 if decay == "sublinear" else 1.0 - acc
            patience = convergence
            return False
        patience -= 1
        return convergence > 0 and patience <= 0

    best: list[Array] = []
    bar = tqdm(total=iters, disable=silent, unit="it", dynamic_ncols=True)
    try:
        evaluate(0)
        order = rng.permutation(X.shape[0])
        position = 0
        for it in range(1, iters + 1):
            if position + batchsize > X.shape[0]:
                order, position = rng.permutation(X.shape[0]), 0
            idx = order[position : position + batchsize]
            position += batchsize
            Xb = X[idx] if transform is None else transform(X[idx])
            batch_loss = _step_gradients(model, Xb, Y[idx], below_softmax)
            opt.step(model, lrate * factor)
            bar.update(1)
            if it % status == 0 or it == iters:
                stop = evaluate(it)
                bar.set_postfix(
                    loss=f"{batch_loss:.4f}",
                    eval_loss=f"{history.loss[-1]:.4f}",
                    eval_acc=f"{history.accuracy[-1]:.4f}",
                )
                if stop:
                    history.stopped_early = True
                    break
    finally:
        bar.close()
        if best:  # empty only when the very first evaluation failed: nothing was changed yet
            for (layer, name), value in zip(slots, best, strict=True):
                setattr(layer, name, value)
        model.clean()
    return history


def _check_count(name: str, value: Any, least: int | None) -> None:
    """An ``int`` (not a bool, not a float) that is at least ``least`` (``None``: any)."""
    if not is_int(value):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if least is not None and value < least:
        raise ValueError(f"{name} must be >= {least}, got {value}")


def _absent(a: Any) -> bool:
    """``None`` or an empty sequence (the original's default ``Xval=[]``)."""
    return a is None or (not hasattr(a, "shape") and len(a) == 0)


def _checked_data(model: Module, X: Any, Y: Any, x_name: str, y_name: str, dtype: Any) -> tuple[Array, Array]:
    """``(X, Y)`` in ``dtype``, after checking that they are arrays of the same length, that ``Y``
    has the model's output shape for ``X`` and that both are finite."""
    for name, a in ((x_name, X), (y_name, Y)):
        if not hasattr(a, "shape") or not hasattr(a, "dtype") or a.ndim < 1:
            raise TypeError(f"{name} must be an array with a batch axis, got {type(a).__name__}")
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers, got dtype {a.dtype}")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"{x_name} has {X.shape[0]} samples but {y_name} has {Y.shape[0]}")
    out = tuple(model.output_shape(tuple(X.shape[1:])))
    if tuple(Y.shape[1:]) != out:
        raise ShapeError(
            f"{y_name} has shape {tuple(Y.shape)}, but the model maps {x_name} {tuple(X.shape)} to "
            f"(N, {', '.join(map(str, out))}); give one-hot labels or targets of that shape"
        )
    X, Y = X.astype(dtype, copy=False), Y.astype(dtype, copy=False)
    xp = backend.get_namespace(X, Y)
    for name, a in ((x_name, X), (y_name, Y)):
        if not bool(xp.isfinite(a).all()):
            raise ValueError(f"{name} contains NaN or Inf")
    return X, Y
