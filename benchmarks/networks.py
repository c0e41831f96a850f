"""Benchmark networks with random weights: the MNIST MLP, the original LeNet-5 and VGG-16."""

from __future__ import annotations

import itertools

import numpy

from lrp_toolbox.modules import Convolution, Flatten, Linear, MaxPool, Rect, Sequential, SumPool


def mnist_mlp(seed: int = 0) -> tuple[Sequential, tuple[int, ...]]:
    """784-1296-1296-1296-10 ReLU MLP; input (784,)."""
    rng = numpy.random.default_rng(seed)
    sizes = [784, 1296, 1296, 1296, 10]
    layers: list = []
    for m, n in itertools.pairwise(sizes):
        layers += [Linear(m, n, rng=rng), Rect()]
    return Sequential(layers[:-1]), (784,)


def lenet5(seed: int = 0) -> tuple[Sequential, tuple[int, ...]]:
    """The original toolbox's LeNet-5 (SumPool, valid convolutions); input (32, 32, 1)."""
    rng = numpy.random.default_rng(seed)
    return Sequential(
        [
            Convolution((5, 5, 1, 10), (1, 1), rng=rng),
            Rect(),
            SumPool((2, 2), (2, 2)),
            Convolution((5, 5, 10, 25), (1, 1), rng=rng),
            Rect(),
            SumPool((2, 2), (2, 2)),
            Convolution((4, 4, 25, 100), (1, 1), rng=rng),
            Rect(),
            SumPool((2, 2), (2, 2)),
            Convolution((1, 1, 100, 10), (1, 1), rng=rng),
            Flatten(),
        ]
    ), (32, 32, 1)


def vgg16(seed: int = 0, classes: int = 1000) -> tuple[Sequential, tuple[int, ...]]:
    """VGG-16 (13 padded 3x3 convolutions, 5 max-pools, 3 dense layers); input (224, 224, 3)."""
    rng = numpy.random.default_rng(seed)
    plan = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    layers: list = []
    depth = 3
    for item in plan:
        if item == "M":
            layers.append(MaxPool((2, 2), (2, 2)))
        else:
            layers += [Convolution((3, 3, depth, item), (1, 1), padding=1, rng=rng), Rect()]
            depth = item
    layers += [Flatten(), Linear(7 * 7 * 512, 4096, rng=rng), Rect(), Linear(4096, 4096, rng=rng), Rect()]
    layers.append(Linear(4096, classes, rng=rng))
    return Sequential(layers), (224, 224, 3)
