"""Details of the command line, rule names, legacy parsing, layer records and the demos.

Small hand-worked cases: a one-layer ``Linear`` model makes every relevance value computable by hand,
and the demos are checked against what their docstrings and help texts promise.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy
import pytest
from PIL import Image

from lrp_toolbox import composites, data_io, model_io, render
from lrp_toolbox.cli import load_input, main
from lrp_toolbox.errors import RuleError
from lrp_toolbox.mnist import load_mnist
from lrp_toolbox.modules import Convolution, LayerRecord, Linear, Module, Sequential
from lrp_toolbox.rule_names import PRESETS, rule_by_name, rule_names
from lrp_toolbox.rules import AlphaBeta, Epsilon, Gamma, Pass, ZBox, from_legacy

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def load_demo(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"demo_{name}", ROOT / "demos" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def linear_model(path: Path, W: list[list[float]]) -> Path:
    """A one-layer model ``z = x @ W`` (zero bias) written to ``path``."""
    weights = numpy.array(W, dtype=numpy.float64)
    layer = Linear(*weights.shape)
    layer.W = weights
    layer.B = numpy.zeros(weights.shape[1])
    model_io.write(Sequential([layer]), path)
    return path


def explain_relevance(tmp_path: Path, model: Path, x: Path, *options: str) -> numpy.ndarray:
    """Run ``lrp-toolbox explain`` (exit status 0) and return the relevance it saved."""
    saved = tmp_path / "r.npy"
    args = ["--model", str(model), "--input", str(x), "--out", str(tmp_path / "h.png")]
    assert main(["explain", *args, "--save-relevance", str(saved), *options]) == 0
    return numpy.load(saved)


def save_sample(path: Path, values: list[float]) -> Path:
    """A ``.npy`` sample of shape (1, len(values), 1): an image row the CLI flattens for Linear."""
    numpy.save(path, numpy.array(values, dtype=numpy.float64).reshape(1, -1, 1))
    return path


# ----------------------------------------------------------------------------------------------- CLI


def test_cli_init_option_sets_the_starting_relevance(tmp_path, capsys):
    """``--init one`` starts from R = 1 and ``--init logit`` (default) from the logit."""
    model = linear_model(tmp_path / "m.txt", [[2.0], [-1.0]])
    x = save_sample(tmp_path / "x.npy", [0.5, 0.5])  # z = 0.5*2 + 0.5*(-1) = 0.5
    # LRP-0: R_i = x_i w_i / z * R_out
    R = explain_relevance(tmp_path, model, x, "--rule", "zero", "--init", "one")
    assert "class 0 (score 0.5000); sum of input relevance 1.0000" in capsys.readouterr().out
    # R_out = 1: [1 / 0.5, -0.5 / 0.5] = [2, -1]
    numpy.testing.assert_allclose(R, [2.0, -1.0], rtol=1e-6)
    # R_out = z = 0.5: [1, -0.5]
    numpy.testing.assert_allclose(
        explain_relevance(tmp_path, model, x, "--rule", "zero"), [1.0, -0.5], rtol=1e-6
    )


def test_cli_reports_the_predicted_class(tmp_path, capsys):
    """Without ``--target`` the CLI explains and prints the class with the largest logit."""
    model = linear_model(tmp_path / "m.txt", [[1.0, 4.0, 2.0], [1.0, 2.0, 0.0]])
    x = save_sample(tmp_path / "x.npy", [0.5, 0.5])  # z = [1, 3, 1]
    explain_relevance(tmp_path, model, x)
    assert "class 1 (score 3.0000)" in capsys.readouterr().out


def test_cli_low_and_high_reach_the_zbox_rule(tmp_path):
    """``--low``/``--high`` are the z^B bounds of the ``zbox`` rule (default -1, 1)."""
    model = linear_model(tmp_path / "m.txt", [[2.0], [-1.0]])
    x = save_sample(tmp_path / "x.npy", [0.5, 0.5])  # z = 0.5 = R_out
    # numerators x_i w_i - l w+_i - h w-_i
    # l=0, h=1: [1 - 0, -0.5 + 1] = [1, 0.5], sum 1.5 -> R = 0.5 * [1, 0.5] / 1.5 = [1/3, 1/6]
    R = explain_relevance(tmp_path, model, x, "--rule", "zbox", "--low", "0", "--high", "1")
    numpy.testing.assert_allclose(R, [1 / 3, 1 / 6], rtol=1e-6)
    # l=-1, h=1: [1 + 2, -0.5 + 1] = [3, 0.5], sum 3.5 -> R = 0.5 * [3, 0.5] / 3.5 = [3/7, 1/14]
    R = explain_relevance(tmp_path, model, x, "--rule", "zbox")
    numpy.testing.assert_allclose(R, [3 / 7, 1 / 14], rtol=1e-6)


def test_cli_pad_uses_the_scale_background_and_keeps_the_image_shape(tmp_path):
    """``--pad`` pads with the background of ``--scale`` (-1 for 'original') and the heatmap of a
    vector model keeps the padded (non-square) image shape."""
    Image.fromarray(numpy.full((1, 2), 255, dtype=numpy.uint8)).save(tmp_path / "x.png")  # -> [[1, 1]]
    model = linear_model(tmp_path / "m.txt", [[1.0]] * 12)  # 3x4 padded image, flattened
    R = explain_relevance(tmp_path, model, tmp_path / "x.png", "--pad", "1", "--rule", "zero")
    padded = numpy.pad(numpy.ones((1, 2)), 1, constant_values=-1.0).ravel()
    # z = 2 - 10 = -8 and R_out = z, so LRP-0 gives R_i = x_i * 1 * z / z = x_i
    numpy.testing.assert_allclose(R, padded, rtol=1e-6)
    assert numpy.asarray(Image.open(tmp_path / "h.png")).shape == (3 * 3, 4 * 3, 3)  # default --scaling 3


def test_cli_image_scalings(tmp_path):
    """Grey values 0, 51, 255 become -1, -0.6, 1 ('original'), 0, 0.2, 1 ('unit') or stay raw."""
    Image.fromarray(numpy.array([[0, 51, 255]], dtype=numpy.uint8)).save(tmp_path / "g.png")
    # 51 / 127.5 - 1 = 0.4 - 1 = -0.6; 51 / 255 = 0.2
    expected = {"original": [-1.0, -0.6, 1.0], "unit": [0.0, 0.2, 1.0], "none": [0.0, 51.0, 255.0]}
    for scale, values in expected.items():
        x = load_input(tmp_path / "g.png", scale)
        assert x.shape == (1, 3, 1)
        numpy.testing.assert_allclose(x.ravel(), values, rtol=1e-12, err_msg=scale)


def test_cli_input_shape_refuses_zero_sizes(capsys):
    """``--input-shape`` needs positive sizes; a 0 is an argparse error (exit 2)."""
    with pytest.raises(SystemExit) as exit_info:
        main(["info", "--model", "m.txt", "--input-shape", "4,0,1"])
    assert exit_info.value.code == 2
    assert "expected positive sizes" in capsys.readouterr().err


def test_cli_save_relevance_suffix_is_case_insensitive(tmp_path):
    """``--save-relevance r.NPY`` is accepted and written exactly at that name."""
    model = linear_model(tmp_path / "m.txt", [[2.0], [-1.0]])
    x = save_sample(tmp_path / "x.npy", [0.5, 0.5])
    target = tmp_path / "r.NPY"
    args = ["explain", "--model", str(model), "--input", str(x), "--out", str(tmp_path / "h.png")]
    assert main([*args, "--save-relevance", str(target)]) == 0
    assert data_io.read(target).shape == (2,)


def test_cli_missing_model_file_is_a_clean_error(tmp_path, capsys):
    """A model file that cannot be opened gives exit status 2 and a one-line message."""
    assert main(["info", "--model", str(tmp_path / "missing.txt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lrp-toolbox info: error:") and "missing.txt" in err


# ------------------------------------------------------------------------------ rule names and legacy


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("epsilon", Epsilon(0.01)),
        ("eps", Epsilon(0.01)),
        ("epsilon_slow", Epsilon(0.01)),
        ("EPSILON", Epsilon(0.01)),
        ("alphabeta", AlphaBeta(2.0, 1.0, stabilizer=1e-16)),
        ("alpha", AlphaBeta(2.0, 1.0, stabilizer=1e-16)),
        ("alpha_slow", AlphaBeta(2.0, 1.0, stabilizer=1e-16)),
    ],
)
def test_rule_by_name_default_parameters(name, rule):
    """Legacy names without a parameter use the original demos' choices (epsilon 0.01, alpha 2)."""
    assert rule_by_name(name) == rule


@pytest.mark.parametrize("name", ["zbox", "zb"])
def test_rule_by_name_zbox_takes_the_bounds(name):
    """Both z^B names use ``low``/``high`` when no parameter is given."""
    assert rule_by_name(name, low=0.0, high=2.0) == ZBox(0.0, 2.0)


@pytest.mark.parametrize("name", ["epsilon_gamma_box", "deep_taylor"])
def test_rule_by_name_presets_use_the_bounds(name):
    """The z^B presets put ``ZBox(low, high)`` on the first weighted layer (also for low != -high)."""
    layers = [Linear(2, 2), Linear(2, 1)]
    got = rule_by_name(name, low=0.0, high=2.0).resolve(layers).rules
    want = getattr(composites, name)(0.0, 2.0).resolve(layers).rules
    assert got == want and got[0] == ZBox(0.0, 2.0)


def test_rule_by_name_is_case_insensitive_for_presets():
    """Preset names are matched case-insensitively."""
    layers = [Convolution((1, 1, 1, 2), (1, 1))]
    got = rule_by_name("EPSILON_PLUS_FLAT").resolve(layers).rules
    assert got == composites.epsilon_plus_flat().resolve(layers).rules


def test_rule_names_lists_presets_first():
    """``rule_names()``: presets first, then the legacy names."""
    names = rule_names()
    assert names[: len(PRESETS)] == tuple(PRESETS)
    assert "epsilon" in names[len(PRESETS) :]


@pytest.mark.parametrize(("name", "param"), [("epsilon", True), ("alphabeta", False), ("gamma", True)])
def test_from_legacy_refuses_bool_parameters(name, param):
    """A bool is not a number for the legacy parameters (True would silently mean 1.0)."""
    with pytest.raises(RuleError, match="must be a number"):
        from_legacy(name, param)


@pytest.mark.parametrize("param", [(0.0,), (0.0, 1.0, 2.0)])
def test_from_legacy_zbox_needs_exactly_two_bounds(param):
    """``zbox`` takes ``(low, high)``: one or three values are refused."""
    with pytest.raises(RuleError, match=r"needs param=\(low, high\)"):
        from_legacy("zbox", param)


def test_from_legacy_gamma_zero_is_kept():
    """``('gamma', 0)`` is gamma = 0 (LRP-0), not the default gamma = 0.25."""
    assert from_legacy("gamma", 0) == Gamma(gamma=0.0)
    assert rule_by_name("gamma", 0.0) == Gamma(gamma=0.0)


def test_from_legacy_ignores_surrounding_whitespace():
    """Names are stripped and lower-cased before lookup."""
    assert from_legacy("  Epsilon ", 0.1) == Epsilon(0.1)


class _Head(Module):
    """A parameter-free layer keeping the first feature: (N, 3) -> (N, 1)."""

    def output_shape(self, input_shape):
        return (1,)

    def _forward(self, X):
        return X[:, :1]


def test_pass_refuses_layers_that_change_the_size():
    """``Pass`` on a layer whose input and output differ in size raises ``RuleError``."""
    layer = _Head()
    layer.forward(numpy.ones((1, 3)))
    with pytest.raises(RuleError, match="differ in size"):
        layer.lrp(numpy.ones((1, 1)), Pass())


# ----------------------------------------------------------------------------------- layer records


def test_from_record_converts_big_endian_parameters_to_native_order():
    """Big-endian parameters in a record become native float64; forward works on float64 input."""
    W = numpy.array([[1.0], [2.0]])
    record = LayerRecord("Linear", {"m": 2, "n": 1}, {"W": W.astype(">f8"), "B": numpy.array([0.5], ">f8")})
    layer = Module.from_record(record)
    assert layer.W.dtype == numpy.float64 and layer.B.dtype == numpy.float64
    # [1, 1] @ [1, 2] + 0.5 = 3.5
    assert layer.forward(numpy.ones((1, 2))).tolist() == [[3.5]]


def test_from_record_refuses_constructor_keywords_that_are_not_config():
    """A record config may only hold the layer's settings (``dtype`` is a constructor keyword)."""
    arrays = {"W": numpy.ones((2, 1)), "B": numpy.zeros(1)}
    with pytest.raises(ValueError, match="unknown config keys"):
        Module.from_record(LayerRecord("Linear", {"m": 2, "n": 1, "dtype": "float32"}, arrays))


# ------------------------------------------------------------------------------------------- demos


def test_mnist_demo_param_check_is_case_insensitive_for_presets():
    """``--param`` with only (upper-case) presets is refused as taking no parameter."""
    result = run("demos/mnist_demo.py", "--rule", "EPSILON_PLUS", "--param", "0.1")
    assert result.returncode == 2
    assert "none of the rules ['EPSILON_PLUS'] takes a parameter" in result.stderr


def test_mnist_demo_refuses_more_digits_than_test_images():
    """``--n`` larger than the 10000 test images is a usage error, not a traceback."""
    result = run("demos/mnist_demo.py", "--n", "10001")
    assert result.returncode == 2
    assert "--n 10001: there are 10000 test images" in result.stderr and "Traceback" not in result.stderr


def test_mnist_demo_draws_digits_in_unit_range(tmp_path):
    """The digit column shows ``(x + 1) / 2`` of the [-1, 1] input (LeNet-5: padded to 32x32)."""
    done = run("demos/mnist_demo.py", "--smoke", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    chosen = [int(v) for v in re.search(r"rows: digits \[([\d, ]+)\]", done.stdout).group(1).split(",")]
    X, _ = load_mnist("test", root=ROOT / "data" / "MNIST", preprocessing="original")
    digit = numpy.pad(X[chosen[0], :, :, 0], 2, constant_values=-1.0)
    expected = render.to_uint8(render.digit_to_rgb((digit + 1) / 2, scaling=3))
    image = numpy.asarray(Image.open(tmp_path / "mnist_heatmaps.png"))
    assert numpy.array_equal(image[: 32 * 3, : 32 * 3], expected)


XOR_RULES = [("simple", None), ("epsilon", 0.01), ("alphabeta", 2.0), ("flat", None), ("ww", None)]


def test_xor_demo_prints_the_legacy_rule_relevances():
    """The XOR demo's table: the predicted class's logit explained with simple, epsilon 0.01,
    alphabeta 2, flat and ww, on the network its ``trained_xor(1)`` trains."""
    done = run("demos/xor_demo.py")
    assert done.returncode == 0, done.stderr
    printed = {line.split()[0]: line for line in done.stdout.splitlines()[-5:]}
    demo = load_demo("xor_demo")
    net = demo.trained_xor(1)
    net.drop_softmax_output_layer()
    logits = net.forward(demo.X)
    R_out = logits * (logits == logits.max(axis=1, keepdims=True))
    for name, param in XOR_RULES:
        got = [float(v) for v in re.findall(r"[+-]\d+\.\d+", printed[name])]
        numpy.testing.assert_allclose(got, net.lrp(R_out, name, param).ravel(), atol=6e-4, err_msg=name)


def test_train_mnist_random_shift_reaches_every_offset():
    """``random_shift(rng, 1)`` moves images by -1, 0 or +1 pixels in each direction: 9 offsets."""
    demo = load_demo("train_mnist")
    image = numpy.array([1.0, 2.0, 3.0, 4.0])  # 2x2 image [[1, 2], [3, 4]]
    out = demo.random_shift(numpy.random.default_rng(0), 1, side=2)(numpy.tile(image, (200, 1)))
    seen = {tuple(row) for row in out.tolist()}
    assert len(seen) == 9
    assert (-1.0, -1.0, -1.0, 1.0) in seen and (4.0, -1.0, -1.0, -1.0) in seen  # both extreme shifts


def test_train_mnist_holds_out_the_last_5000_images(tmp_path, monkeypatch):
    """Training uses all but the last 5000 training images; those 5000 are the validation set."""
    demo = load_demo("train_mnist")
    monkeypatch.setenv(demo.ENV_VAR, str(tmp_path))  # main() sets it only when unset
    N = 5003
    X = numpy.arange(N, dtype=numpy.float64)[:, None]  # row i holds i
    Y = numpy.ones((N, 1))
    calls = {}

    class Stub:
        def to(self, dtype):
            return self

        def train(self, Xtrain, Ytrain, Xval, Yval, **options):
            calls.update(Xtrain=Xtrain, Xval=Xval)

        def drop_softmax_output_layer(self):
            pass

    monkeypatch.setattr(demo, "mnist_inputs", lambda arch, split: (X, Y))
    monkeypatch.setattr(demo, "build", lambda arch, rng: Stub())
    monkeypatch.setattr(demo, "loss_and_accuracy", lambda model, X, Y: (0.0, 1.0))
    monkeypatch.setattr(demo.model_io, "write", lambda model, path: None)
    monkeypatch.setattr(sys, "argv", ["train_mnist.py", "--arch", "mlp", "--out", str(tmp_path), "--silent"])
    demo.main()
    assert calls["Xtrain"].ravel().tolist() == [0.0, 1.0, 2.0]
    assert calls["Xval"].ravel().tolist() == list(range(3, N))
