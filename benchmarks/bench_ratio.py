"""LRP time / forward time for every rule and preset composite (issue target: <= 3 on LeNet-5).

For each round the script runs, per case, an untimed forward (so that every LRP call finds the state
a real forward leaves behind) and then the timed call; the forward itself is one of the cases. Rounds
interleave all cases, so slow phases of a shared machine hit every case alike. Reported per case:
median and minimum over the rounds, and the ratio of medians (and of minima) to the forward.

Networks (random weights, ``benchmarks/networks.py``): ``lenet5`` (the original's LeNet-5) and
``mlp`` (784-1296³-10), both at batch 100, float64 unless ``--dtype float32``. Rules use the
toolbox's own defaults; ZBox / Deep Taylor / EpsilonGammaBox get the input box [-1, 1].

Run ``python benchmarks/bench_ratio.py`` (about 1 minute on 2 cores); ``--threads N`` sets the BLAS
threads (default 1; 0: the library default), ``--rounds`` the number of rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from threads import add_threads_argument, early_threads

if __name__ == "__main__":
    early_threads(sys.argv[1:])

import numpy
from networks import lenet5, mnist_mlp

from lrp_toolbox import composites
from lrp_toolbox.cli import int_at_least
from lrp_toolbox.rules import AlphaBeta, Epsilon, Flat, Gamma, ZPlus

TARGET = 3.0
"""Issue 3: LRP time <= 3x forward time for epsilon, z+ and the composites (LeNet-5, batch 100)."""


def cases(shape: tuple[int, ...]) -> dict[str, Any]:
    """Every rule applied everywhere, and every preset composite."""
    low, high = -numpy.ones(shape), numpy.ones(shape)
    return {
        "Epsilon": Epsilon(),
        "ZPlus": ZPlus(),
        "AlphaBeta(2, 1)": AlphaBeta(2.0, 1.0),
        "AlphaBeta(1, 0)": AlphaBeta(1.0, 0.0),
        "Gamma(0.25)": Gamma(0.25),
        "Flat": Flat(),
        "EpsilonPlus": composites.epsilon_plus(),
        "EpsilonPlusFlat": composites.epsilon_plus_flat(),
        "EpsilonAlpha2Beta1": composites.epsilon_alpha2_beta1(),
        "EpsilonAlpha2Beta1Flat": composites.epsilon_alpha2_beta1_flat(),
        "EpsilonGammaBox": composites.epsilon_gamma_box(low, high),
        "DeepTaylor": composites.deep_taylor(low, high),
    }


def measure(net: str, dtype: str, rounds: int) -> list[str]:
    """Markdown rows for one network."""
    model, shape = {"lenet5": lenet5, "mlp": mnist_mlp}[net](seed=0)
    model.to(dtype=dtype)
    X = numpy.random.default_rng(1).uniform(-1, 1, (100, *shape)).astype(dtype)
    Y = model.forward(X)
    R0 = numpy.zeros_like(Y)
    R0[numpy.arange(len(Y)), Y.argmax(axis=1)] = 1
    calls: dict[str, Callable[[], object]] = {"forward": lambda: model.forward(X)}
    for name, spec in cases(shape).items():
        calls[name] = lambda spec=spec: model.lrp(R0, spec)
    for call in calls.values():  # warm-up
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            model.forward(X)
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    med_f, min_f = statistics.median(times["forward"]), min(times["forward"])
    rows = []
    for name, ts in times.items():
        med, low = statistics.median(ts), min(ts)
        ratio = med / med_f
        flag = "" if name == "forward" else (" ✓" if ratio <= TARGET else " ✗")
        rows.append(
            f"| {net} | {dtype} | {name} | {med * 1e3:.1f} | {low * 1e3:.1f} | {ratio:.2f}{flag} "
            f"| {low / min_f:.2f} |"
        )
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--networks", nargs="+", choices=["lenet5", "mlp"], default=["lenet5", "mlp"])
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--rounds", type=int_at_least(1), default=21, help="interleaved rounds (default 21)")
    add_threads_argument(parser)
    args = parser.parse_args(argv)
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"# NumPy {numpy.__version__}; {os.cpu_count()} CPUs; BLAS threads {threads}; {args.rounds} rounds")
    print("| network | dtype | case | median ms | min ms | LRP/fwd (medians) | LRP/fwd (minima) |")
    print("|---|---|---|---:|---:|---:|---:|")
    for net in args.networks:
        measure(net, args.dtype, args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
