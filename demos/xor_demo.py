"""Train a tiny XOR network with the toolbox, then explain its four predictions with several rules.

    python demos/xor_demo.py            # trains (a second), prints predictions and relevances
    python demos/xor_demo.py --model path/to/xor_net_small.txt   # explain a stored model

The input (0, 0) receives no relevance under the input-proportional rules (every z_ij = x_i w_ij
is 0); 'flat' and 'ww' ignore the input and spread the relevance anyway.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy

from lrp_toolbox import model_io
from lrp_toolbox.modules import Linear, Sequential, SoftMax, Tanh

X = numpy.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = numpy.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
RULES = [("simple", None), ("epsilon", 0.01), ("alphabeta", 2.0), ("flat", None), ("ww", None)]


def trained_xor(seed: int) -> Sequential:
    rng = numpy.random.default_rng(seed)
    net = Sequential(
        [Linear(2, 3, rng=rng), Tanh(), Linear(3, 3, rng=rng), Tanh(), Linear(3, 2, rng=rng), SoftMax()]
    )
    net.train(X, Y, batchsize=4, iters=2000, lrate=0.05, status=100, silent=True, seed=seed)
    return net


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, help="a stored XOR model (default: train one)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    net = model_io.read(args.model) if args.model else trained_xor(args.seed)
    probabilities = net.forward(X)
    print("input     P(class 0)  P(class 1)")
    for x, p in zip(X, probabilities, strict=True):
        print(f"{x!s:<9} {p[0]:>10.3f}  {p[1]:>10.3f}")
    net.drop_softmax_output_layer()
    logits = net.forward(X)
    R_out = logits * (logits == logits.max(axis=1, keepdims=True))  # logit of the predicted class
    print("\nrelevance of the two inputs for the predicted class")
    for name, param in RULES:
        R = net.lrp(R_out, name, param)
        cells = "  ".join(f"[{r[0]:+.3f} {r[1]:+.3f}]" for r in R)
        print(f"{name:<10} {cells}")


if __name__ == "__main__":
    main()
