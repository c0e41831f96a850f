"""Training-loop details by hand: learning factor, early stopping, ties, batch order, seeding,
and the update formulas of SGD (momentum, Nesterov, weight decay) and Adam (bias correction,
weight decay) beyond the first step."""

from __future__ import annotations

import numpy
import pytest

from lrp_toolbox.modules import Linear, Sequential
from lrp_toolbox.optimizers import SGD, Adam
from lrp_toolbox.training import train


class _Recorder:
    """An optimiser that never changes the parameters and records the learning rates it gets."""

    def __init__(self) -> None:
        self.lrates: list[float] = []

    def step(self, model, lrate: float) -> None:
        self.lrates.append(lrate)


def _identity_net() -> tuple[Sequential, numpy.ndarray, numpy.ndarray]:
    """Linear(2, 2) with W = I, B = 0 (squared error) on four samples of which two are classified
    correctly: P = X, argmax P = [0, 1, 0, 1], argmax Y = [0, 0, 1, 1], so the accuracy is 0.5."""
    net = Sequential([Linear(2, 2)])
    net.modules[0].W = numpy.eye(2)
    X = numpy.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    Y = numpy.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    return net, X, Y


@pytest.mark.parametrize(
    ("decay", "initial", "factor"),
    [
        (None, 0.5, 0.5),  # no decay: the initial factor is kept
        ("linear", 1.0, 0.5),  # 1 - acc = 1 - 0.5
        ("sublinear", 1.0, 0.75),  # 1 - acc**2 = 1 - 0.25
    ],
)
def test_learning_factor_scales_every_step(decay, initial, factor) -> None:
    """The optimiser receives lrate * factor, the factor being lfactor_initial or the decay of the
    accuracy after an improving evaluation (accuracy 0.5 here, see _identity_net)."""
    net, X, Y = _identity_net()
    opt = _Recorder()
    train(
        net, X, Y, batchsize=4, iters=2, lrate=0.1, lrate_decay=decay, lfactor_initial=initial,
        status=1, silent=True, optimizer=opt,
    )  # fmt: skip
    assert opt.lrates == pytest.approx([0.1 * factor] * 2, rel=1e-15)


class _Drift:
    """An optimiser that moves the bias away from the target: B += 1 per step."""

    def step(self, model, lrate: float) -> None:
        model.modules[0].B += 1.0


def test_early_stopping_after_exactly_convergence_worse_evaluations() -> None:
    """P = B, T = 0: loss 0.5*B**2 = 0, 0.5, 2.0, ... gets worse at every evaluation; with
    convergence=2 training stops at the second worse evaluation and restores B = 0."""
    net = Sequential([Linear(1, 1)])
    net.modules[0].W = numpy.zeros((1, 1))
    history = train(
        net, numpy.zeros((1, 1)), numpy.zeros((1, 1)), batchsize=1, iters=10, status=1,
        convergence=2, silent=True, optimizer=_Drift(),
    )  # fmt: skip
    assert history.iterations == [0, 1, 2]
    assert history.loss == [0.0, 0.5, 2.0]
    assert history.stopped_early and history.best_iteration == 0
    assert net.modules[0].B.tolist() == [0.0]


def test_equal_losses_keep_the_later_evaluation() -> None:
    """Ties count as improvements (as with select='accuracy'): with parameters that never change
    every evaluation has the same loss, and the last one is reported as the best."""
    net, X, Y = _identity_net()
    history = train(net, X, Y, batchsize=4, iters=3, status=1, silent=True, optimizer=_Recorder())
    assert len(set(history.loss)) == 1
    assert history.best_iteration == 3


def _batches(seed, iters: int = 6) -> list[list[float]]:
    """The samples (0..5) of each batch of size 2, seen through ``transform``."""
    seen: list[list[float]] = []

    def record(batch: numpy.ndarray) -> numpy.ndarray:
        seen.append(batch[:, 0].tolist())
        return batch

    X = numpy.arange(6.0).reshape(6, 1)
    train(
        Sequential([Linear(1, 1)]), X, numpy.zeros((6, 1)), batchsize=2, iters=iters, status=iters,
        transform=record, silent=True, optimizer=_Recorder(), seed=seed,
    )  # fmt: skip
    return seen


def test_each_epoch_uses_every_sample_once() -> None:
    """6 samples in batches of 2: batches 1-3 and batches 4-6 each partition the samples."""
    seen = _batches(0)
    for epoch in (seen[:3], seen[3:]):
        assert sorted(v for batch in epoch for v in batch) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_seed_selects_the_batch_order() -> None:
    """An int seed means default_rng(seed); different seeds give different orders."""
    assert _batches(7) == _batches(numpy.random.default_rng(7))
    assert _batches(7) != _batches(8)


G = numpy.array([[1.0], [-2.0]])
W0 = numpy.array([[0.5], [2.0]])


def _two_weights() -> tuple[Sequential, Linear]:
    net = Sequential([Linear(2, 1)])
    layer = net.modules[0]
    layer.W = W0.copy()
    layer.grads = {"W": G.copy()}
    return net, layer


def test_adam_bias_correction_on_later_steps() -> None:
    """With a constant gradient g the corrected moments are exactly g and g**2 at every step t
    (m_t = (1 - b1**t) g, v_t = (1 - b2**t) g**2), so each step moves by lrate * g / (|g| + eps)."""
    net, layer = _two_weights()
    opt = Adam()
    for _ in range(3):
        opt.step(net, 0.01)
    numpy.testing.assert_allclose(layer.W, W0 - 3 * 0.01 * G / (numpy.abs(G) + 1e-8), rtol=0, atol=1e-12)


def test_adam_decoupled_weight_decay() -> None:
    """First step: g/|g| + wd * W0 = [1 + 0.1*0.5, -1 + 0.1*2] = [1.05, -0.8];
    W1 = W0 - 0.01 * that = [0.5 - 0.0105, 2 + 0.008] = [0.4895, 2.008]."""
    net, layer = _two_weights()
    Adam(weight_decay=0.1).step(net, 0.01)
    numpy.testing.assert_allclose(layer.W, [[0.4895], [2.008]], rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        # v1 = g, v2 = 0.5 g + g = 1.5 g: W2 = W0 - 0.1 * (1 + 1.5) g = W0 - 0.25 g
        ({"momentum": 0.5}, W0 - 0.25 * G),
        # steps g + 0.5 v: 1.5 g, then g + 0.5 * 1.5 g = 1.75 g: W2 = W0 - 0.1 * 3.25 g
        ({"momentum": 0.5, "nesterov": True}, W0 - 0.325 * G),
        # g + 0.1 W, updated W each step: W1 = [0.5 - 0.1*1.05, 2 - 0.1*(-1.8)] = [0.395, 2.18];
        # W2 = [0.395 - 0.1*(1 + 0.0395), 2.18 - 0.1*(-2 + 0.218)] = [0.29105, 2.3582]
        ({"weight_decay": 0.1}, numpy.array([[0.29105], [2.3582]])),
    ],
    ids=["momentum", "nesterov", "weight-decay"],
)
def test_sgd_two_steps(kwargs, expected) -> None:
    """Two SGD steps (lrate 0.1) with the constant gradient g = [1, -2] from W0 = [0.5, 2]."""
    net, layer = _two_weights()
    opt = SGD(**kwargs)
    for _ in range(2):
        opt.step(net, 0.1)
    numpy.testing.assert_allclose(layer.W, expected, rtol=0, atol=1e-12)
