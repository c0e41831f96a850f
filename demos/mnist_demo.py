"""Explain MNIST test digits with LRP and write a PNG grid: digit, then one heatmap per rule.

    python demos/mnist_demo.py                          # LeNet-5, 8 digits, 4 rules -> out/
    python demos/mnist_demo.py --model models/MNIST/mlp-400-relu.txt --rule epsilon --rule flat
    python demos/mnist_demo.py --backend cupy --n 64    # on the GPU (needs CuPy)

Prints ``test accuracy: <value>`` for the whole MNIST test set, the rules' resolved tables, and
timings. Rules are names from ``lrp_toolbox.rule_names`` (presets such as ``epsilon_plus_flat``
or the original's names such as ``epsilon`` with ``--param``).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy

from lrp_toolbox import backend, model_io, render
from lrp_toolbox.cli import int_at_least
from lrp_toolbox.errors import BackendError, RuleError
from lrp_toolbox.explain import explain
from lrp_toolbox.mnist import ENV_VAR, load_mnist
from lrp_toolbox.modules import Sequential
from lrp_toolbox.rule_names import PRESETS, rule_by_name, rule_names
from lrp_toolbox.training import predict

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "models" / "MNIST" / "lenet5-sumpool.txt"
DEFAULT_RULES = ("epsilon", "alpha2beta1", "epsilon_plus_flat", "epsilon_gamma_box")


def shape_for(model: Sequential, X: numpy.ndarray) -> numpy.ndarray:
    """Reshape (N, 28, 28, 1) digits for the model: flat for an MLP, padded to 32x32 with -1 for
    the original LeNet-5 (whose output is only (10,) for 32x32 inputs)."""
    for candidate in (X, X.reshape(X.shape[0], -1)):
        try:
            if model.output_shape(candidate.shape[1:]) == (10,):
                return candidate
        except ValueError:
            continue
    padded = numpy.pad(X, ((0, 0), (2, 2), (2, 2), (0, 0)), constant_values=-1.0)
    if model.output_shape(padded.shape[1:]) != (10,):
        raise ValueError("the model takes neither 28x28, 784 nor 32x32 MNIST inputs")
    return padded


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model file (.txt, .npz, .mat)")
    parser.add_argument(
        "--rule", action="append", metavar="NAME", help=f"repeatable; one of {', '.join(rule_names())}"
    )
    parser.add_argument(
        "--param", type=float, help="parameter of the legacy rule names among --rule (epsilon, alpha, gamma)"
    )
    parser.add_argument("--n", type=int_at_least(1), default=8, help="number of test digits to explain")
    parser.add_argument("--out", type=Path, default=Path("out"), help="output folder for the PNG grid")
    parser.add_argument("--backend", choices=("numpy", "cupy"), default="numpy")
    parser.add_argument("--seed", type=int, default=0, help="which digits: a seeded random choice")
    parser.add_argument("--figure", action="store_true", help="also write a titled figure (mnist_figure.png)")
    parser.add_argument("--smoke", action="store_true", help="tiny run for CI: 1000 test images, 2 digits")
    args = parser.parse_args()
    names = args.rule or list(DEFAULT_RULES)
    try:  # bad names or a missing GPU stop here, before the accuracy pass
        legacy = [name for name in names if name.lower() not in PRESETS]
        if args.param is not None and not legacy:
            raise RuleError(f"--param {args.param}: none of the rules {names} takes a parameter")
        rules = {name: rule_by_name(name, args.param if name in legacy else None) for name in names}
        backend.namespace(args.backend)
    except (RuleError, BackendError) as exc:
        parser.error(str(exc))

    os.environ.setdefault(ENV_VAR, str(ROOT / "data"))  # the repository's MNIST, also when installed with pip
    t0 = time.perf_counter()
    model = model_io.read(args.model, backend=args.backend)
    model.drop_softmax_output_layer()
    X, Y = load_mnist("test", preprocessing="original")
    if args.smoke:
        X, Y, args.n = X[:1000], Y[:1000], min(args.n, 2)
    if args.n > X.shape[0]:
        parser.error(f"--n {args.n}: there are {X.shape[0]} test images")
    inputs = backend.to_backend(shape_for(model, X), args.backend)
    t_load = time.perf_counter() - t0

    t0 = time.perf_counter()
    predictions = backend.to_numpy(predict(model, inputs)).argmax(axis=1)
    t_accuracy = time.perf_counter() - t0
    print(f"test accuracy: {float((predictions == Y.argmax(axis=1)).mean()):.4f} ({X.shape[0]} images)")

    chosen = numpy.sort(numpy.random.default_rng(args.seed).choice(X.shape[0], size=args.n, replace=False))
    batch = inputs[backend.to_backend(chosen, args.backend)]
    heatmaps, timings = {}, {}
    for name, rule in rules.items():
        if hasattr(rule, "describe"):
            print(f"\n{name}:\n{rule.describe(model)}")
        t0 = time.perf_counter()
        R = explain(model, batch, rule=rule)  # relevance of the predicted class, R_out = its logit
        timings[name] = time.perf_counter() - t0
        heatmaps[name] = backend.to_numpy(R)

    digits = backend.to_numpy(batch).reshape(
        args.n, *((32, 32) if batch.size // args.n == 1024 else (28, 28))
    )
    rows = []
    for i in range(args.n):
        row = [render.digit_to_rgb((digits[i] + 1) / 2, scaling=3)]
        for name in names:
            R = heatmaps[name][i].reshape(digits[i].shape)
            row.append(render.hm_to_rgb(R, X=(digits[i] + 1) / 2, scaling=3, sigma=2, cmap="bwr"))
        rows.append(row)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "mnist_heatmaps.png"
    render.save_image(rows, path, gap=2)
    numpy.save(args.out / "mnist_relevances.npy", numpy.stack([heatmaps[n] for n in names], axis=1))
    if args.figure:
        labels = [
            f"true {t}, pred {p}" for t, p in zip(Y.argmax(1)[chosen], predictions[chosen], strict=True)
        ]
        render.plot_grid(
            digits, {n: heatmaps[n].reshape(digits.shape) for n in names}, row_labels=labels,
            panel_size=2.2, path=args.out / "mnist_figure.png",
        )  # fmt: skip
        print(f"wrote {args.out / 'mnist_figure.png'} (titled matplotlib figure)")

    print(f"\nwrote {path} (rows: digits {chosen.tolist()}; columns: digit, {', '.join(names)})")
    print(f"timings: load {t_load:.2f} s, accuracy pass {t_accuracy:.2f} s", end="")
    print("".join(f", {n} {t * 1e3:.1f} ms" for n, t in timings.items()), f"for {args.n} digits")


if __name__ == "__main__":
    main()
