"""The banded ``Convolution.lrp_pass`` against the unfused path it replaces, per layer and per model.

z+, α-β, the classic γ and z^B run each convolution band by band (``Convolution.lrp_pass``,
docs/design.md); a ledger takes the unfused path, which this script reaches by reporting
``fuses_lrp_pass() == False`` for the timed calls (the only thing it changes). Both paths give the
same bits, which the script checks for every case.

``--backend cupy`` (a CUDA GPU): the library takes the banded pass on NumPy only; here "fused"
forces it on CuPy as well, to measure what switching it on there would give (device-synchronised
timings). ``tests/test_gpu.py`` checks that the forced pass gives the unfused path's bits.

For each rule (applied everywhere) and composite: median time of every convolution's rule call
and of the whole ``model.lrp`` in ``--rounds`` interleaved rounds, fused and unfused, each after an
untimed plain forward. LeNet-5 at batch 100, float64 unless ``--dtype float32``; one BLAS thread
unless ``--threads N`` (0: the library default).

Run ``python benchmarks/bench_fused.py`` (about 45 s on 2 cores).
"""

from __future__ import annotations

import argparse
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
from networks import lenet5

from lrp_toolbox import backend, composites
from lrp_toolbox.cli import int_at_least
from lrp_toolbox.engine import resolve_rules
from lrp_toolbox.modules import Convolution
from lrp_toolbox.rules import AlphaBeta, Gamma, ZBox, ZPlus

MODES = ("fused", "unfused")
FUSES = Convolution.fuses_lrp_pass


def _fuses_on_any_backend(self: Convolution, like: Any) -> bool:
    """``fuses_lrp_pass`` without its NumPy-only condition (``--backend cupy``)."""
    x = self.cache.x
    return bool(like.dtype == x.dtype and like.shape[0] == x.shape[0])


def _set_mode(mode: str, backend_name: str) -> None:
    """Let Convolution fuse as it does (``'fused'``; forced on CuPy) or never (``'unfused'``)."""
    if mode == "unfused":
        choice = lambda self, like: False  # noqa: E731
    else:
        choice = FUSES if backend_name == "numpy" else _fuses_on_any_backend
    Convolution.fuses_lrp_pass = choice  # type: ignore[method-assign]


def cases() -> dict[str, Any]:
    return {
        "ZPlus": ZPlus(),
        "AlphaBeta(2, 1)": AlphaBeta(2.0, 1.0),
        "Gamma(0.25)": Gamma(0.25),
        "ZBox(-1, 1)": ZBox(-1.0, 1.0),
        "EpsilonPlus": composites.epsilon_plus(),
        "EpsilonAlpha2Beta1": composites.epsilon_alpha2_beta1(),
        "DeepTaylor": composites.deep_taylor(-1.0, 1.0),
    }


def _timed(call: Callable[[], object], sync: Callable[[], None]) -> float:
    sync()
    start = time.perf_counter()
    call()
    sync()
    return time.perf_counter() - start


def measure(dtype: str, rounds: int, backend_name: str) -> None:
    model, shape = lenet5(seed=0)
    model.to(backend_name, dtype=dtype)
    xp = backend.namespace(backend_name)
    sync: Callable[[], None] = lambda: None  # noqa: E731
    if backend_name == "cupy":
        sync = xp.cuda.Device().synchronize
    X = xp.asarray(numpy.random.default_rng(1).uniform(-1, 1, (100, *shape)).astype(dtype))
    Y = backend.to_numpy(model.forward(X))
    R0_host = numpy.zeros_like(Y)
    R0_host[numpy.arange(len(Y)), Y.argmax(axis=1)] = 1
    R0 = xp.asarray(R0_host)
    layers = list(model.modules)
    convs = [i for i, layer in enumerate(layers) if isinstance(layer, Convolution)]
    print(f"# backend {backend_name}, {dtype}, LeNet-5, batch 100, {rounds} rounds")
    print("| case | path | " + " | ".join(f"layer {i} ms" for i in convs) + " | model.lrp ms |")
    print("|---|---|" + "---:|" * (len(convs) + 1))
    for name, spec in cases().items():
        rules = resolve_rules(model, spec)
        results = {}
        for mode in MODES:  # the two paths must agree bit for bit
            _set_mode(mode, backend_name)
            model.forward(X)
            results[mode] = backend.to_numpy(model.lrp(R0, spec))
        if results["fused"].tobytes() != results["unfused"].tobytes():
            raise SystemExit(f"{name}: the fused and unfused paths differ")
        per_layer: dict[tuple[str, int], list[float]] = {}
        whole: dict[str, list[float]] = {mode: [] for mode in MODES}
        for _ in range(rounds):
            for mode in MODES:
                _set_mode(mode, backend_name)
                model.forward(X)
                whole[mode].append(_timed(lambda spec=spec: model.lrp(R0, spec), sync))
                for i in convs:  # each layer's call alone (as the engine makes it), on an R of ones
                    layer, R = layers[i], xp.ones_like(layers[i].cache.y)

                    def call(rule: Any = rules[i], layer: Any = layer, R: Any = R) -> None:
                        with layer.cache.call_scope():
                            rule.propagate(layer, R)

                    per_layer.setdefault((mode, i), []).append(_timed(call, sync))
        for mode in MODES:
            cells = [f"{statistics.median(per_layer[mode, i]) * 1e3:.2f}" for i in convs]
            total = statistics.median(whole[mode]) * 1e3
            print(f"| {name} | {mode} | " + " | ".join(cells) + f" | {total:.1f} |", flush=True)
    _set_mode("fused", "numpy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    parser.add_argument("--rounds", type=int_at_least(1), default=15, help="interleaved rounds (default 15)")
    add_threads_argument(parser)
    args = parser.parse_args(argv)
    measure(args.dtype, args.rounds, args.backend)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
