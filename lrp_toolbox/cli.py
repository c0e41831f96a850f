"""Command line: ``lrp-toolbox info`` and ``lrp-toolbox explain``.

lrp-toolbox info --model models/MNIST/lenet5-sumpool.txt --input-shape 32,32,1
lrp-toolbox explain --model models/MNIST/mlp-400-relu.txt --input digit.png \
        --rule epsilon_plus_flat --out heatmap.png
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy

from . import __version__, data_io, model_io, render
from .errors import ModelFormatError, RuleError, ShapeError
from .explain import explain
from .rule_names import rule_by_name, rule_names

SCALINGS = ("original", "unit", "none")


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated ints like 28,28,1, got {text!r}"
        ) from None
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected positive sizes, got {text!r}")
    return shape


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type`` for ints ``>= minimum`` (0: "non-negative", 1: "positive")."""
    what = {0: "a non-negative int", 1: "a positive int"}.get(minimum, f"an int >= {minimum}")

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


RELEVANCE_SUFFIXES = (".npy", ".npz", ".mat", ".txt")


def _relevance_path(text: str) -> Path:
    """Where ``--save-relevance`` writes, exactly at that name, in the format of its suffix."""
    path = Path(text)
    if path.suffix.lower() not in RELEVANCE_SUFFIXES:
        raise argparse.ArgumentTypeError(
            f"the file name must end in one of {', '.join(RELEVANCE_SUFFIXES)} (the format), got {text!r}"
        )
    return path


def load_input(path: Path, scale: str) -> numpy.ndarray:
    """One input sample from an image (as grey values) or a ``.npy`` array.

    Images are scaled as ``scale`` says: ``'original'`` ``x/127.5 - 1`` (the original demos'
    [-1, 1]), ``'unit'`` ``x/255``, ``'none'`` raw 0..255. ``.npy`` arrays are used as stored (read
    by ``data_io``, which checks a file's declared size before allocating).
    """
    if path.suffix.lower() == ".npy":
        data = data_io.read(path, fmt="npy")
        if data.dtype.kind not in "fiu":
            raise ValueError(f"{path}: expected a numeric array, got dtype {data.dtype}")
        return data.astype(numpy.float64)
    from PIL import Image

    try:
        with Image.open(path) as image:
            grey = numpy.asarray(image.convert("L"), dtype=numpy.float64)[..., None]
    except (Image.DecompressionBombError, MemoryError) as exc:
        raise ValueError(f"{path}: the image is too large to explain ({exc})") from None
    if scale == "original":
        return grey / 127.5 - 1.0
    if scale == "unit":
        return grey / 255.0
    return grey


def fit_input(
    model: object, sample: numpy.ndarray, pad: int, pad_value: float
) -> tuple[numpy.ndarray, tuple]:
    """Pad an image by ``pad`` pixels, flatten it if the model needs vectors, add the batch axis.

    Returns the batch ``(1, *model_input_shape)`` and the (padded) sample shape for display.
    """
    x = sample
    if pad:
        if x.ndim != 3:
            raise ValueError(f"--pad needs an image input (H, W, C), got shape {x.shape}")
        x = numpy.pad(x, ((pad, pad), (pad, pad), (0, 0)), constant_values=pad_value)
    for candidate in (x, x.reshape(-1)):
        try:
            model.output_shape(candidate.shape)  # type: ignore[attr-defined]
        except ShapeError:
            continue
        return candidate[None], x.shape
    model.output_shape(x.shape)  # type: ignore[attr-defined]  # raises with the layer's message
    return x[None], x.shape


def cmd_info(args: argparse.Namespace) -> int:
    model = model_io.read(args.model)
    print(f"{args.model}")
    print(model.summary(args.input_shape))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    rule = rule_by_name(args.rule, args.param, args.low, args.high)
    model = model_io.read(args.model)
    sample = load_input(args.input, args.scale)
    pad_value = {"original": -1.0, "unit": 0.0, "none": 0.0}[args.scale]
    X, display_shape = fit_input(model, sample, args.pad, pad_value)
    R = explain(model, X, target=args.target, rule=rule, init=args.init)[0]
    logits = model.forward(X)[0]
    target = int(numpy.argmax(logits)) if args.target is None else args.target
    heat = R.reshape(display_shape)
    if heat.ndim == 3:  # (H, W, C) -> (H, W): relevance summed over channels
        heat = heat.sum(axis=-1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    render.save_image([render.hm_to_rgb(heat, scaling=args.scaling, cmap=args.cmap)], args.out)
    if args.save_relevance:
        data_io.write(R, args.save_relevance)  # atomically, exactly at that name
    print(f"class {target} (score {float(logits[target]):.4f}); sum of input relevance {float(R.sum()):.4f}")
    print(f"wrote {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lrp-toolbox", description="Layer-wise Relevance Propagation on NumPy/CuPy."
    )
    parser.add_argument("--version", action="version", version=f"lrp_toolbox {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser(
        "info", help="print a model's summary table", description="Print a model's summary table."
    )
    info.add_argument("--model", type=Path, required=True, help="model file (.txt, .npz, .mat)")
    info.add_argument(
        "--input-shape",
        type=_shape,
        help="input shape without batch axis, e.g. 28,28,1 (shows output shapes)",
    )
    info.set_defaults(run=cmd_info)

    exp = sub.add_parser(
        "explain",
        help="write a heatmap for one input",
        description="Explain one input and write its heatmap as a PNG.",
    )
    exp.add_argument("--model", type=Path, required=True, help="model file (.txt, .npz, .mat)")
    exp.add_argument("--input", type=Path, required=True, help="an image (PNG, JPEG, ...) or a .npy sample")
    exp.add_argument("--rule", default="epsilon_plus_flat", help=f"one of: {', '.join(rule_names())}")
    exp.add_argument(
        "--param", type=float, help="parameter of the original's rule names (epsilon, alpha, gamma)"
    )
    exp.add_argument("--target", type=int, help="class to explain (default: the predicted class)")
    exp.add_argument(
        "--init", choices=("logit", "one", "probability"), default="logit", help="initial relevance"
    )
    exp.add_argument("--scale", choices=SCALINGS, default="original", help="pixel scaling of image inputs")
    exp.add_argument(
        "--pad", type=int_at_least(0), default=0, help="pad image inputs by this many pixels (LeNet-5: 2)"
    )
    exp.add_argument("--low", type=float, default=-1.0, help="lowest input value (z^B presets)")
    exp.add_argument("--high", type=float, default=1.0, help="highest input value (z^B presets)")
    exp.add_argument("--cmap", default="bwr", help="colour map name or spec string")
    exp.add_argument("--scaling", type=int, default=3, help="pixel enlargement of the heatmap")
    exp.add_argument("--out", type=Path, default=Path("heatmap.png"), help="output PNG")
    exp.add_argument(
        "--save-relevance",
        type=_relevance_path,
        help="also save the relevance array (.npy, .npz, .mat or .txt, by the name's suffix)",
    )
    exp.set_defaults(run=cmd_explain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lrp-toolbox`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (ModelFormatError, RuleError, ShapeError, ValueError, OSError) as exc:
        print(f"lrp-toolbox {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
