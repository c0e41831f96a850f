"""Explaining all 10 classes of a LeNet-5 batch: one lrp_aware forward + 10 LRP calls versus 10
separate forward + LRP calls (the original toolbox's way), for several rules.

Run: ``python benchmarks/bench_all_classes.py`` (medians of ``--runs`` runs, default 5; float64,
batch 100; one BLAS thread unless ``--threads N``, 0: the library default).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from threads import add_threads_argument, early_threads

if __name__ == "__main__":
    early_threads(sys.argv[1:])

import numpy
from networks import lenet5
from timing import median_seconds

from lrp_toolbox.cli import int_at_least
from lrp_toolbox.composites import epsilon_alpha2_beta1, epsilon_plus_flat
from lrp_toolbox.explain import explain
from lrp_toolbox.rules import AlphaBeta, Epsilon, ZPlus


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int_at_least(1), default=5, help="timed runs per case (default 5)")
    add_threads_argument(parser)
    args = parser.parse_args(argv)
    model, shape = lenet5()
    X = numpy.random.default_rng(1).standard_normal((100, *shape))
    rules = {
        "epsilon": Epsilon(0.01),
        "zplus": ZPlus(),
        "alpha2beta1": AlphaBeta(2.0, 1.0),
        "epsilon_plus_flat": epsilon_plus_flat(),
        "epsilon_alpha2_beta1": epsilon_alpha2_beta1(),
    }
    print(
        f"{'rule':<22} {'10 x (fwd+lrp) ms':>18} {'aware fwd + 10 lrp ms':>22} {'speed-up':>9} {'memo MB':>8}"
    )
    for name, rule in rules.items():

        def separate(rule=rule) -> None:
            for k in range(10):
                explain(model, X, target=k, rule=rule)

        def together(rule=rule) -> None:
            explain(model, X, target="all", rule=rule)

        t_sep = median_seconds(separate, args.runs)
        t_all = median_seconds(together, args.runs)
        memo = sum(layer.cache.nbytes() for layer in model.modules) / 2**20
        print(f"{name:<22} {t_sep * 1e3:>18.1f} {t_all * 1e3:>22.1f} {t_sep / t_all:>8.2f}x {memo:>8.1f}")
    together = explain(model, X, target="all", rule=rules["zplus"])
    one_by_one = numpy.stack([explain(model, X, target=k, rule=rules["zplus"]) for k in range(10)], axis=1)
    equal = together.tobytes() == one_by_one.tobytes()  # bytes: -0.0 and +0.0 differ as well
    print(f"bitwise equal (z+, all classes vs one class at a time): {equal}")


if __name__ == "__main__":
    main()
