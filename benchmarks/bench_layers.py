"""Forward and forward+backward time per batch for the MNIST MLP and LeNet-5 (batch 100).

Run: ``python benchmarks/bench_layers.py`` (prints one table; medians of 7 runs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from networks import lenet5, mnist_mlp
from timing import median_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"{'network':<10} {'dtype':<8} {'forward ms':>11} {'fwd+bwd ms':>11}")
    for name, build in (("MLP", mnist_mlp), ("LeNet-5", lenet5)):
        for dtype in ("float64", "float32"):
            model, shape = build()
            model.to(dtype=dtype)
            X = numpy.random.default_rng(1).standard_normal((args.batch, *shape)).astype(dtype)

            def fwd_bwd(model=model, X=X) -> None:
                model.backward(model.forward(X))

            t_f = median_seconds(lambda model=model, X=X: model.forward(X), args.repeats)
            t_fb = median_seconds(fwd_bwd, args.repeats)
            print(f"{name:<10} {dtype:<8} {t_f * 1e3:>11.2f} {t_fb * 1e3:>11.2f}")


if __name__ == "__main__":
    main()
