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
from .modules.activations import SoftMax
from .modules.base import Module
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


def _ends_in_softmax(model: Module) -> bool:
    modules = getattr(model, "modules", None)
    return bool(modules) and isinstance(modules[-1], SoftMax)


def loss_and_accuracy(model: Module, X: Array, Y: Array, batchsize: int = 500) -> tuple[float, float]:
    """Mean loss (cross-entropy after a SoftMax, else squared error) and argmax accuracy."""
    xp = backend.get_namespace(X, Y)
    P = predict(model, X, batchsize)
    if _ends_in_softmax(model):
        tiny = numpy.finfo(P.dtype).tiny
        loss = -float((Y * xp.log(xp.maximum(P, tiny))).sum()) / X.shape[0]
    else:
        loss = 0.5 * float(((P - Y) ** 2).sum()) / X.shape[0]
    accuracy = (
        float((P.argmax(axis=1) == Y.argmax(axis=1)).mean()) if Y.ndim == 2 and Y.shape[1] > 1 else math.nan
    )
    return loss, accuracy


def _step_gradients(model: Module, Xb: Array, Yb: Array, softmax_output: bool) -> float:
    """Forward, loss, backward for one batch; returns the batch loss."""
    n = Xb.shape[0]
    P = model.forward(Xb)
    if softmax_output:
        tiny = numpy.finfo(P.dtype).tiny
        xp = backend.get_namespace(P)
        loss = -float((Yb * xp.log(xp.maximum(P, tiny))).sum()) / n
        D = (P - Yb) / P.dtype.type(n)  # d(cross-entropy)/d(logits), skipping the SoftMax layer
        for layer in reversed(model.modules[:-1]):
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
    status: int = 250,
    convergence: int = -1,
    transform: Callable[[Array], Array] | None = None,
    silent: bool = False,
    *,
    optimizer: str | Any = "adam",
    momentum: float = 0.9,
    seed: int | numpy.random.Generator = 0,
    eval_batchsize: int = 500,
    lfactor_initial: float = 1.0,
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
        Validation data; when absent the training data is used for evaluation.
    batchsize : int
        Samples per update.
    iters : int
        Number of updates.
    lrate : float
        Learning rate (times the learning factor, see ``lrate_decay``).
    lrate_decay : {None, 'none', 'sublinear', 'linear'}
        After an improving evaluation the learning factor becomes ``1 - acc**2`` ('sublinear') or
        ``1 - acc`` ('linear'), as in the original toolbox.
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
    lfactor_initial : float
        Initial learning factor.
    select : {'loss', 'accuracy'}
        What "best" means for the kept model: the lowest evaluation loss (default), or the highest
        evaluation accuracy with the loss breaking ties (cross-entropy often rises while accuracy
        still improves).

    Returns
    -------
    TrainingHistory
    """
    if batchsize < 1 or iters < 0 or status < 1:
        raise ValueError(
            f"batchsize and status must be >= 1 and iters >= 0, got {batchsize}, {status}, {iters}"
        )
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} samples but Y has {Y.shape[0]}")
    if (Xval is None) != (Yval is None):
        raise ValueError("give both Xval and Yval, or neither")
    decay = (lrate_decay or "none").lower()
    if decay not in ("none", "sublinear", "linear"):
        raise ValueError(f"lrate_decay must be None, 'sublinear' or 'linear', got {lrate_decay!r}")
    if select not in ("loss", "accuracy"):
        raise ValueError(f"select must be 'loss' or 'accuracy', got {select!r}")
    from tqdm.auto import tqdm

    dtype = model.dtype or numpy.dtype(numpy.float64)
    X, Y = X.astype(dtype, copy=False), Y.astype(dtype, copy=False)
    Xe, Ye = (X, Y) if Xval is None else (Xval.astype(dtype, copy=False), Yval.astype(dtype, copy=False))
    rng = seed if isinstance(seed, numpy.random.Generator) else numpy.random.default_rng(seed)
    opt = make_optimizer(optimizer, momentum)
    softmax_output = _ends_in_softmax(model)
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
    evaluate(0)
    order = rng.permutation(X.shape[0])
    position = 0
    bar = tqdm(total=iters, disable=silent, unit="it", dynamic_ncols=True)
    try:
        for it in range(1, iters + 1):
            if position + batchsize > X.shape[0]:
                order, position = rng.permutation(X.shape[0]), 0
            idx = order[position : position + batchsize]
            position += batchsize
            Xb = X[idx] if transform is None else transform(X[idx])
            batch_loss = _step_gradients(model, Xb, Y[idx], softmax_output)
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
        for (layer, name), value in zip(slots, best, strict=True):
            setattr(layer, name, value)
        model.clean()
    return history
