"""The banded ``Convolution.lrp_pass`` against the unfused path it replaces, per layer and per model.

After a plain forward, z+, α-β and the classic γ run each convolution band by band
(``Convolution.lrp_pass``, docs/design.md); the lrp_aware memo and the ledger take the unfused
path, which this script reaches by reporting ``fuses_lrp_pass() == False`` for the timed calls
(the only thing it changes). Both paths give the same bits, which the script checks for every case.

For each rule (applied everywhere) and composite: median time of every convolution's rule call
and of the whole ``model.lrp`` in ``--rounds`` interleaved rounds, fused and unfused, each after an
untimed plain forward. LeNet-5 at batch 100, float64 unless ``--dtype float32``; one BLAS thread
unless ``--threads N`` (0: the library default).

Run ``python benchmarks/bench_fused.py`` (about 1 minute on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from threads import add_threads_argument, early_threads

if __name__ == "__main__":
    early_threads(sys.argv[1:])

import numpy
from networks import lenet5

from lrp_toolbox import composites
from lrp_toolbox.cli import int_at_least
from lrp_toolbox.engine import resolve_rules
from lrp_toolbox.modules import Convolution
from lrp_toolbox.rules import AlphaBeta, Gamma, ZPlus

MODES = ("fused", "unfused")
FUSES = Convolution.fuses_lrp_pass


def _set_mode(mode: str) -> None:
    """Let Convolution report ``fuses_lrp_pass`` as it does (``'fused'``) or as ``False``."""
    Convolution.fuses_lrp_pass = FUSES if mode == "fused" else lambda self, like: False  # type: ignore[method-assign]


def cases() -> dict[str, Any]:
    return {
        "ZPlus": ZPlus(),
        "AlphaBeta(2, 1)": AlphaBeta(2.0, 1.0),
        "Gamma(0.25)": Gamma(0.25),
        "EpsilonPlus": composites.epsilon_plus(),
        "EpsilonAlpha2Beta1": composites.epsilon_alpha2_beta1(),
    }


def measure(dtype: str, rounds: int) -> None:
    model, shape = lenet5(seed=0)
    model.to(dtype=dtype)
    X = numpy.random.default_rng(1).uniform(-1, 1, (100, *shape)).astype(dtype)
    Y = model.forward(X)
    R0 = numpy.zeros_like(Y)
    R0[numpy.arange(len(Y)), Y.argmax(axis=1)] = 1
    layers = list(model.modules)
    convs = [i for i, layer in enumerate(layers) if isinstance(layer, Convolution)]
    print("| case | path | " + " | ".join(f"layer {i} ms" for i in convs) + " | model.lrp ms |")
    print("|---|---|" + "---:|" * (len(convs) + 1))
    for name, spec in cases().items():
        rules = resolve_rules(model, spec)
        results = {}
        for mode in MODES:  # the two paths must agree bit for bit
            _set_mode(mode)
            model.forward(X)
            results[mode] = model.lrp(R0, spec)
        if not numpy.array_equal(results["fused"], results["unfused"]):
            raise SystemExit(f"{name}: the fused and unfused paths differ")
        per_layer: dict[tuple[str, int], list[float]] = {}
        whole: dict[str, list[float]] = {mode: [] for mode in MODES}
        for _ in range(rounds):
            for mode in MODES:
                _set_mode(mode)
                model.forward(X)
                start = time.perf_counter()
                model.lrp(R0, spec)
                whole[mode].append(time.perf_counter() - start)
                for i in convs:  # each layer's call alone (as the engine makes it), on an R of ones
                    R = numpy.ones_like(layers[i].cache.y)
                    start = time.perf_counter()
                    with layers[i].cache.call_scope():
                        rules[i].propagate(layers[i], R)
                    per_layer.setdefault((mode, i), []).append(time.perf_counter() - start)
        for mode in MODES:
            cells = [f"{statistics.median(per_layer[mode, i]) * 1e3:.2f}" for i in convs]
            total = statistics.median(whole[mode]) * 1e3
            print(f"| {name} | {mode} | " + " | ".join(cells) + f" | {total:.1f} |")
    _set_mode("fused")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--rounds", type=int_at_least(1), default=15, help="interleaved rounds (default 15)")
    add_threads_argument(parser)
    args = parser.parse_args(argv)
    measure(args.dtype, args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
