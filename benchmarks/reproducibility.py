"""How far apart are float64 relevances computed under different run conditions?

Every rule and preset on the three shipped MNIST models explains the first ``--n`` test digits
(predicted class, ``init='logit'``) in separate worker processes, one per condition:

- ``repeat``: the reference conditions again (one BLAS thread, the whole batch in one call), in a
  new process: must give the same bytes (``same`` in the table);
- ``2 threads``: BLAS with two threads (OpenBLAS splits a GEMM differently; OpenBLAS caps the
  count at the cores present, so more threads need a bigger machine);
- ``batch 1`` / ``batch 7``: the digits explained one at a time, or in batches of 7 (a GEMM of
  other dimensions is blocked differently);
- ``float32``: model and digits in float32 (how far the fast mode is from the reference).

Each cell is ``max over samples of max|R - R_ref| / max|R_ref|`` against the reference run
(``lrp_toolbox.testing.relevance_error``); ``0`` means the same values. docs/reference.md lists the
results and what they mean for a tolerance.

Run ``python benchmarks/reproducibility.py`` (about 40 s on 2 cores); ``--n``, ``--models``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy

from lrp_toolbox import composites, data_io, model_io
from lrp_toolbox.cli import int_at_least
from lrp_toolbox.explain import explain
from lrp_toolbox.mnist import load_mnist
from lrp_toolbox.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, Zero, ZPlus
from lrp_toolbox.testing import relevance_error

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("lenet5-sumpool", "cnn-maxpool-padded", "mlp-400-relu")
CONDITIONS = {  # name: (BLAS threads, batch size (0: all at once), dtype)
    "reference": (1, 0, "float64"),
    "repeat": (1, 0, "float64"),
    "2 threads": (2, 0, "float64"),
    "batch 1": (1, 1, "float64"),
    "batch 7": (1, 7, "float64"),
    "float32": (1, 0, "float32"),
}


def cases() -> dict[str, object]:
    """Every rule (on every layer it fits) and preset composite, with its defaults."""
    return {
        "Zero": Zero(),
        "Epsilon(0.01)": Epsilon(0.01),
        "Epsilon(1e-6)": Epsilon(1e-6),
        "ZPlus": ZPlus(),
        "AlphaBeta(2, 1)": AlphaBeta(2.0, 1.0),
        "AlphaBeta(1, 0)": AlphaBeta(1.0, 0.0),
        "Gamma(0.25)": Gamma(0.25),
        "Gamma(0.25, generalized)": Gamma(0.25, variant="generalized"),
        "Flat": Flat(),
        "WSquare": WSquare(),
        "EpsilonPlus": composites.epsilon_plus(),
        "EpsilonPlusFlat": composites.epsilon_plus_flat(),
        "EpsilonAlpha2Beta1": composites.epsilon_alpha2_beta1(),
        "EpsilonAlpha2Beta1Flat": composites.epsilon_alpha2_beta1_flat(),
        "EpsilonGammaBox": composites.epsilon_gamma_box(-1.0, 1.0),
        "DeepTaylor": composites.deep_taylor(-1.0, 1.0),
    }


def digits(model_name: str, n: int) -> numpy.ndarray:
    """The first ``n`` MNIST test digits in the shape the shipped model expects."""
    X = load_mnist("test", preprocessing="original")[0][:n]
    if model_name.startswith("lenet5"):
        return numpy.pad(X, ((0, 0), (2, 2), (2, 2), (0, 0)), constant_values=-1.0)
    return X.reshape(n, -1) if model_name.startswith("mlp") else X


def work(out: str, models: list[str], n: int, batch: int, dtype: str) -> None:
    """Worker: explain ``n`` digits with every case on every model, save ``{model|case: R}``."""
    results = {}
    for name in models:
        model = model_io.read(ROOT / "models" / "MNIST" / f"{name}.npz")
        model.to("numpy", dtype=dtype)
        X = digits(name, n).astype(dtype)
        step = batch or n
        for case, rule in cases().items():
            parts = [explain(model, X[i : i + step], rule=rule) for i in range(0, n, step)]
            results[f"{name}|{case}"] = numpy.concatenate(parts)
    data_io.write(results, out)


def run_worker(out: Path, models: list[str], n: int, threads: int, batch: int, dtype: str) -> None:
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    command = [sys.executable, __file__, "--worker", str(out), "--n", str(n), "--batch", str(batch)]
    command += ["--dtype", dtype]
    subprocess.run([*command, "--models", *models], check=True, env=env)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n", type=int_at_least(1), default=100, help="test digits (default 100)")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--worker", metavar="OUT.npz", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int_at_least(0), default=0, help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="float64", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        work(args.worker, args.models, args.n, args.batch, args.dtype)
        return

    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for k, (condition, (threads, batch, dtype)) in enumerate(CONDITIONS.items()):
            path = Path(tmp) / f"run{k}.npz"
            run_worker(path, args.models, args.n, threads, batch, dtype)
            with numpy.load(path) as data:
                runs[condition] = {key: data[key] for key in data.files}
    reference = runs.pop("reference")
    print(f"# {args.n} digits; max over samples of max|R - R_ref| / max|R_ref| (R_ref: float64)")
    print("| model | case | " + " | ".join(runs) + " |")
    print("|---|---|" + "---:|" * len(runs))
    for key, R_ref in reference.items():
        cells = []
        for condition, results in runs.items():
            R = results[key]
            if condition == "repeat":
                cells.append("same" if R.tobytes() == R_ref.tobytes() else "**differs**")
            else:
                cells.append(f"{relevance_error(R, R_ref).max():.1e}")
        print("| " + " | ".join(key.split("|")) + " | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
