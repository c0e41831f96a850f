"""Training loop, optimisers and loss/gradient pairing."""

from __future__ import annotations

import numpy
import pytest

from lrp_toolbox.errors import ShapeError
from lrp_toolbox.modules import Linear, Rect, Sequential, SoftMax, Tanh
from lrp_toolbox.optimizers import SGD, Adam, make_optimizer
from lrp_toolbox.training import _step_gradients, loss_and_accuracy, predict, train

XOR_X = numpy.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = numpy.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])


def xor_net(seed: int = 1) -> Sequential:
    rng = numpy.random.default_rng(seed)
    return Sequential(
        [Linear(2, 4, rng=rng), Tanh(), Linear(4, 4, rng=rng), Tanh(), Linear(4, 2, rng=rng), SoftMax()]
    )


@pytest.mark.parametrize("optimizer", ["adam", "momentum", "nesterov"])
def test_xor_reaches_full_accuracy(optimizer: str) -> None:
    net = xor_net()
    lrate = 0.05 if optimizer == "adam" else 0.5
    history = net.train(
        XOR_X, XOR_Y, batchsize=4, iters=1500, lrate=lrate, status=100, silent=True, optimizer=optimizer
    )
    assert history.best_accuracy == 1.0
    assert (predict(net, XOR_X).argmax(1) == XOR_Y.argmax(1)).all()


def test_training_is_bitwise_reproducible() -> None:
    results = []
    for _ in range(2):
        net = xor_net()
        net.train(XOR_X, XOR_Y, batchsize=2, iters=50, status=10, silent=True, seed=3)
        results.append([p.copy() for p in net.params.values()])
    for a, b in zip(*results, strict=True):
        assert numpy.array_equal(a, b)


def test_cross_entropy_gradient_is_exact_for_softmax_output() -> None:
    """The fused logit gradient (P - T)/N equals the finite difference of the mean cross-entropy."""
    net = xor_net(2)
    rng = numpy.random.default_rng(0)
    W = net.modules[0].W
    direction = rng.standard_normal(W.shape)
    _step_gradients(net, XOR_X, XOR_Y, below_softmax=net.modules[:-1])
    analytic = float((net.modules[0].grads["W"] * direction).sum())
    eps = 1e-6
    W += eps / 2 * direction
    up, _ = loss_and_accuracy(net, XOR_X, XOR_Y)
    W -= eps * direction
    down, _ = loss_and_accuracy(net, XOR_X, XOR_Y)
    W += eps / 2 * direction
    assert analytic == pytest.approx((up - down) / eps, rel=1e-6)


def test_squared_error_gradient_without_softmax() -> None:
    rng = numpy.random.default_rng(5)
    net = Sequential([Linear(3, 4, rng=rng), Rect(), Linear(4, 2, rng=rng)])
    X, T = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    _step_gradients(net, X, T, below_softmax=None)
    B = net.modules[2].B
    analytic = net.modules[2].grads["B"].copy()
    for j in range(2):
        e = numpy.zeros(2)
        e[j] = 1e-6
        B += e / 2
        up, _ = loss_and_accuracy(net, X, T)
        B -= e
        down, _ = loss_and_accuracy(net, X, T)
        B += e / 2
        assert analytic[j] == pytest.approx((up - down) / 1e-6, rel=1e-6)


def test_best_model_is_kept_and_final_iterations_evaluated() -> None:
    net = xor_net()
    history = net.train(XOR_X, XOR_Y, batchsize=4, iters=30, status=1000, silent=True)
    # status > iters: the original reverted to the initial weights; here the end is evaluated too
    assert history.iterations == [0, 30]
    loss, _ = loss_and_accuracy(net, XOR_X, XOR_Y)
    assert loss == pytest.approx(history.best_loss, rel=1e-12)
    assert history.best_loss == min(history.loss)


def test_early_stopping_after_convergence_evaluations() -> None:
    net = xor_net()
    history = net.train(
        XOR_X,
        XOR_Y,
        batchsize=4,
        iters=10_000,
        lrate=10.0,
        status=1,
        convergence=3,
        silent=True,
        optimizer="sgd",
    )
    assert history.stopped_early
    assert len(history.iterations) < 10_001


def test_silent_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    xor_net().train(XOR_X, XOR_Y, batchsize=4, iters=20, status=5, silent=True)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_progress_bar_shows_loss_and_accuracy(capsys: pytest.CaptureFixture[str]) -> None:
    xor_net().train(XOR_X, XOR_Y, batchsize=4, iters=20, status=5, silent=False)
    assert "eval_acc" in capsys.readouterr().err


def test_float32_training_keeps_float32() -> None:
    net = xor_net().to(dtype="float32")
    net.train(XOR_X.astype("float32"), XOR_Y.astype("float32"), batchsize=4, iters=10, status=5, silent=True)
    assert all(p.dtype == numpy.float32 for p in net.params.values())


def test_sgd_and_adam_steps_match_formulas() -> None:
    net = Sequential([Linear(2, 1, rng=numpy.random.default_rng(0))])
    layer = net.modules[0]
    W0 = layer.W.copy()
    layer.grads = {"W": numpy.array([[1.0], [-2.0]]), "B": numpy.array([0.5])}
    SGD().step(net, 0.1)
    numpy.testing.assert_array_equal(layer.W, W0 - 0.1 * numpy.array([[1.0], [-2.0]]))
    W1 = layer.W.copy()
    Adam().step(net, 0.01)
    # first Adam step: m/(1-b1) = g, v/(1-b2) = g**2, so the step is lrate * g / (|g| + eps)
    g = numpy.array([[1.0], [-2.0]])
    numpy.testing.assert_allclose(layer.W, W1 - 0.01 * g / (numpy.abs(g) + 1e-8), rtol=0, atol=1e-15)


def test_bad_arguments_are_rejected() -> None:
    net = xor_net()
    with pytest.raises(ValueError, match="samples"):
        train(net, XOR_X, XOR_Y[:3], silent=True)
    with pytest.raises(ValueError, match="lrate_decay"):
        train(net, XOR_X, XOR_Y, lrate_decay="cubic", silent=True)
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("adagrad")
    with pytest.raises(ValueError, match="Xval"):
        train(net, XOR_X, XOR_Y, Xval=XOR_X, silent=True)


def test_select_accuracy_keeps_the_most_accurate_evaluation() -> None:
    net = xor_net()
    history = net.train(
        XOR_X, XOR_Y, batchsize=4, iters=300, lrate=0.05, status=20, silent=True, select="accuracy"
    )
    best = max(range(len(history.iterations)), key=lambda i: (history.accuracy[i], -history.loss[i]))
    assert history.best_accuracy == history.accuracy[best]
    assert history.best_loss == history.loss[best]
    _, accuracy = loss_and_accuracy(net, XOR_X, XOR_Y)
    assert accuracy == history.best_accuracy
    with pytest.raises(ValueError, match="select"):
        train(net, XOR_X, XOR_Y, select="f1", silent=True)


def test_original_positional_signature() -> None:
    """train(X, Y, Xval, Yval, batchsize, iters, lrate, lrate_decay, lfactor_initial, status,
    convergence, transform, silent): the original's order, its ``[]`` defaults included."""
    net = xor_net()
    history = net.train(XOR_X, XOR_Y, [], [], 4, 20, 0.05, None, 1.0, 10, -1, None, True)
    assert history.iterations == [0, 10, 20]
    keyword = xor_net()
    same = keyword.train(XOR_X, XOR_Y, batchsize=4, iters=20, lrate=0.05, status=10, silent=True)
    assert same.loss == history.loss
    for a, b in zip(net.params.values(), keyword.params.values(), strict=True):
        assert numpy.array_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"status": 10.0}, TypeError, "status must be an int"),
        ({"iters": True}, TypeError, "iters must be an int"),
        ({"convergence": 2.5}, TypeError, "convergence must be an int"),
        ({"transform": -1}, TypeError, "transform must be a callable"),
        ({"batchsize": 0}, ValueError, "batchsize must be >= 1"),
        ({"Xval": XOR_X[:2], "Yval": XOR_Y[:3]}, ValueError, "Xval has 2 samples but Yval has 3"),
    ],
)
def test_bad_counts_and_callables_are_rejected(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        train(xor_net(), XOR_X, XOR_Y, silent=True, **kwargs)


@pytest.mark.parametrize(
    "labels",
    [XOR_Y.argmax(1), XOR_Y[:, :1], numpy.ones((4, 3)), XOR_Y[:, :, None]],
    ids=["class-indices", "one-column", "three-classes", "extra-axis"],
)
def test_labels_must_have_the_output_shape(labels) -> None:
    """Labels of another shape once broadcast silently (or crashed inside NumPy)."""
    with pytest.raises(ShapeError, match=r"Y has shape .* but the model maps X \(4, 2\) to \(N, 2\)"):
        train(xor_net(), XOR_X, labels, silent=True)
    with pytest.raises(ShapeError, match=r"Yval has shape"):
        train(xor_net(), XOR_X, XOR_Y, Xval=XOR_X, Yval=labels, silent=True)


def test_wrong_input_shape_names_the_layer() -> None:
    with pytest.raises(ShapeError, match=r"^layer 0"):
        train(xor_net(), numpy.ones((4, 3)), XOR_Y, silent=True)


@pytest.mark.parametrize("bad", [numpy.nan, numpy.inf])
def test_non_finite_data_is_rejected(bad) -> None:
    X = XOR_X.copy()
    X[1, 0] = bad
    with pytest.raises(ValueError, match="X contains NaN or Inf"):
        train(xor_net(), X, XOR_Y, silent=True)
    Y = XOR_Y.copy()
    Y[2, 1] = bad
    with pytest.raises(ValueError, match="Yval contains NaN or Inf"):
        train(xor_net(), XOR_X, XOR_Y, Xval=XOR_X, Yval=Y, silent=True)


def test_divergence_raises_and_restores_the_best_parameters() -> None:
    rng = numpy.random.default_rng(0)
    net = Sequential([Linear(2, 8, rng=rng), Linear(8, 2, rng=rng)])  # squared error, no SoftMax
    X, T = rng.standard_normal((16, 2)), rng.standard_normal((16, 2))
    with numpy.errstate(all="ignore"), pytest.raises(FloatingPointError, match="training diverged") as info:
        net.train(X, T, batchsize=16, iters=200, lrate=1e6, status=1, silent=True, optimizer="sgd")
    history = info.value.history
    assert not numpy.isfinite(history.loss[-1])
    assert history.best_iteration == 0  # the huge steps never improved on the initial model
    loss, _ = loss_and_accuracy(net, X, T)
    assert loss == history.loss[0]
