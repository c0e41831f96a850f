"""Train the shipped MNIST models with the toolbox's own ``train`` (reproducible from a seed).

Examples
--------
    python demos/train_mnist.py --arch mlp      # 784-400-400-10 ReLU MLP (shipped)
    python demos/train_mnist.py --arch mlp1296  # 784-1296-1296-1296-10 (90 MB as text: not shipped)
    python demos/train_mnist.py --arch lenet5   # the original's LeNet-5 (SumPool), 32x32 input
    python demos/train_mnist.py --arch cnn      # padded convolutions + MaxPool, 28x28 input

Each run writes ``models/MNIST/<name>.txt`` and ``.npz`` (logits output, no SoftMax) and prints
the test accuracy and the training time. Training runs in float32 for speed; the saved model is
float64. The last 5000 training images are held out for validation (best-model selection).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy

from lrp_toolbox import model_io
from lrp_toolbox.mnist import ENV_VAR, load_mnist
from lrp_toolbox.modules import Convolution, Flatten, Linear, MaxPool, Rect, Sequential, SoftMax, SumPool
from lrp_toolbox.training import loss_and_accuracy

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models" / "MNIST"

# name -> (file stem, epochs, learning rate, learning-rate decay, batch size, model selection,
#          random shift augmentation in pixels)
ARCHS = {
    "mlp": ("mlp-400-relu", 30, 5e-4, None, 100, "accuracy", 2),
    "mlp1296": ("mlp-1296-relu", 20, 5e-4, None, 100, "accuracy", 2),
    "lenet5": ("lenet5-sumpool", 8, 2e-3, None, 64, "loss", 0),
    "cnn": ("cnn-maxpool-padded", 6, 1e-3, None, 64, "loss", 0),
}


def random_shift(rng: numpy.random.Generator, shift: int, side: int = 28):
    """Augmentation: shift each flat ``side x side`` image by up to ``shift`` pixels (background -1)."""

    def transform(X: numpy.ndarray) -> numpy.ndarray:
        images = X.reshape(X.shape[0], side, side)
        padded = numpy.pad(images, ((0, 0), (shift, shift), (shift, shift)), constant_values=-1.0)
        windows = numpy.lib.stride_tricks.sliding_window_view(padded, (side, side), axis=(1, 2))
        rows, cols = rng.integers(0, 2 * shift + 1, size=(2, X.shape[0]))
        return windows[numpy.arange(X.shape[0]), rows, cols].reshape(X.shape)

    return transform


def build(arch: str, rng: numpy.random.Generator) -> Sequential:
    """The untrained model (float64) with a SoftMax output for training."""
    if arch == "mlp":
        layers = [Linear(784, 400, rng=rng), Rect(), Linear(400, 400, rng=rng), Rect()]
        layers += [Linear(400, 10, rng=rng)]
    elif arch == "mlp1296":
        layers = [Linear(784, 1296, rng=rng), Rect(), Linear(1296, 1296, rng=rng), Rect()]
        layers += [Linear(1296, 1296, rng=rng), Rect(), Linear(1296, 10, rng=rng)]
    elif arch == "lenet5":
        layers = [
            Convolution((5, 5, 1, 10), (1, 1), rng=rng), Rect(), SumPool((2, 2), (2, 2)),
            Convolution((5, 5, 10, 25), (1, 1), rng=rng), Rect(), SumPool((2, 2), (2, 2)),
            Convolution((4, 4, 25, 100), (1, 1), rng=rng), Rect(), SumPool((2, 2), (2, 2)),
            Convolution((1, 1, 100, 10), (1, 1), rng=rng), Flatten(),
        ]  # fmt: skip
    elif arch == "cnn":
        layers = [
            Convolution((3, 3, 1, 16), (1, 1), padding=1, rng=rng), Rect(), MaxPool((2, 2), (2, 2)),
            Convolution((3, 3, 16, 32), (1, 1), padding=1, rng=rng), Rect(), MaxPool((2, 2), (2, 2)),
            Flatten(), Linear(7 * 7 * 32, 128, rng=rng), Rect(), Linear(128, 10, rng=rng),
        ]  # fmt: skip
    else:
        raise ValueError(f"unknown architecture {arch!r}; choose from {sorted(ARCHS)}")
    return Sequential([*layers, SoftMax()])


def mnist_inputs(arch: str, split: str) -> tuple[numpy.ndarray, numpy.ndarray]:
    """MNIST in the original demos' preprocessing, shaped for ``arch``."""
    X, Y = load_mnist(split, preprocessing="original")  # X in [-1, 1], (N, 28, 28, 1); Y one-hot
    if arch.startswith("mlp"):
        X = X.reshape(X.shape[0], 784)
    elif arch == "lenet5":
        X = numpy.pad(X, ((0, 0), (2, 2), (2, 2), (0, 0)), constant_values=-1.0)
    return X, Y


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", choices=sorted(ARCHS), required=True)
    parser.add_argument("--epochs", type=float, help="passes over the training set (default per arch)")
    parser.add_argument("--lrate", type=float, help="Adam learning rate (default per arch)")
    parser.add_argument("--decay", choices=("none", "sublinear", "linear"), help="learning-rate decay")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=MODELS, help="output folder")
    parser.add_argument("--silent", action="store_true", help="no progress bar")
    args = parser.parse_args()

    os.environ.setdefault(ENV_VAR, str(ROOT / "data"))  # the repository's MNIST, also when installed with pip
    stem, epochs, lrate, decay, batch, select, shift = ARCHS[args.arch]
    epochs, lrate, decay = args.epochs or epochs, args.lrate or lrate, args.decay or decay
    X, Y = mnist_inputs(args.arch, "train")
    Xtest, Ytest = mnist_inputs(args.arch, "test")
    Xtrain, Ytrain, Xval, Yval = X[:-5000], Y[:-5000], X[-5000:], Y[-5000:]
    model = build(args.arch, numpy.random.default_rng(args.seed)).to(dtype="float32")
    iters = int(epochs * Xtrain.shape[0] / batch)
    start = time.perf_counter()
    train32 = [a.astype("float32") for a in (Xtrain, Ytrain, Xval, Yval)]
    model.train(
        *train32, batchsize=batch, iters=iters, lrate=lrate, lrate_decay=decay, status=max(1, iters // 20),
        silent=args.silent, optimizer="adam", seed=args.seed, select=select,
        transform=random_shift(numpy.random.default_rng(args.seed + 1), shift) if shift else None,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    model.to(dtype="float64")
    model.drop_softmax_output_layer()
    _, accuracy = loss_and_accuracy(model, Xtest, Ytest)
    args.out.mkdir(parents=True, exist_ok=True)
    for suffix in (".txt", ".npz"):
        model_io.write(model, args.out / f"{stem}{suffix}")
    print(f"{stem}: test accuracy {accuracy:.4f}, training {seconds:.0f} s ({iters} iterations of {batch})")


if __name__ == "__main__":
    main()
