"""The demos and the command line run end to end (smoke mode) and write what they promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy
import pytest
from PIL import Image

from lrp_toolbox import data_io, model_io
from lrp_toolbox.cli import main
from lrp_toolbox.modules import Convolution, Flatten, Linear, Rect, Sequential, SumPool

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "models" / "MNIST").glob("*.txt"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_mnist_demo_smoke_writes_png(tmp_path: Path) -> None:
    done = run("demos/mnist_demo.py", "--smoke", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "test accuracy: " in done.stdout
    image = numpy.asarray(Image.open(tmp_path / "mnist_heatmaps.png"))
    assert image.dtype == numpy.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.shape[0] > 2 * 28 * 3  # two digit rows of 3x enlarged images
    R = numpy.load(tmp_path / "mnist_relevances.npy")
    assert R.shape[:2] == (2, 4) and numpy.isfinite(R).all()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--n", "0"], "expected a positive int, got 0"),
        (["--rule", "nonsense"], "unknown rule 'nonsense'"),
        (["--rule", "epsilon_plus", "--param", "0.1"], "rules ['epsilon_plus'] takes a parameter"),
    ],
)
def test_mnist_demo_refuses_bad_options_before_any_work(option: list[str], message: str) -> None:
    result = run("demos/mnist_demo.py", *option)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "test accuracy" not in result.stdout


def test_xor_demo_trains_and_explains() -> None:
    done = run("demos/xor_demo.py")
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()[1:5]
    predicted = [int(float(r.split()[-1]) > 0.5) for r in rows]
    assert predicted == [0, 1, 1, 0]


def tiny_cnn(path: Path) -> Path:
    rng = numpy.random.default_rng(0)
    model = Sequential(
        [
            Convolution((3, 3, 1, 4), (1, 1), rng=rng),
            Rect(),
            SumPool((2, 2), (2, 2)),
            Flatten(),
            Linear(144, 3, rng=rng),
        ]
    )
    model_io.write(model, path)
    return path


def test_cli_explain_image_and_npy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tiny_cnn(tmp_path / "cnn.txt")
    digit = (numpy.arange(14 * 14).reshape(14, 14) % 256).astype(numpy.uint8)
    Image.fromarray(digit).save(tmp_path / "digit.png")
    assert (
        main(
            [
                "explain",
                "--model",
                str(model),
                "--input",
                str(tmp_path / "digit.png"),
                "--out",
                str(tmp_path / "h.png"),
            ]
        )
        == 0
    )
    heat = numpy.asarray(Image.open(tmp_path / "h.png"))
    assert heat.shape == (14 * 3, 14 * 3, 3) and heat.dtype == numpy.uint8
    assert "wrote" in capsys.readouterr().out
    numpy.save(tmp_path / "x.npy", numpy.zeros((14, 14, 1)) + 0.5)
    options = [
        "--rule",
        "epsilon",
        "--param",
        "0.1",
        "--target",
        "2",
        "--out",
        str(tmp_path / "h2.png"),
        "--save-relevance",
        str(tmp_path / "r.npy"),
    ]
    code = main(["explain", "--model", str(model), "--input", str(tmp_path / "x.npy"), *options])
    assert code == 0
    assert numpy.load(tmp_path / "r.npy").shape == (14, 14, 1)


def test_cli_info_prints_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tiny_cnn(tmp_path / "cnn.npz")
    assert main(["info", "--model", str(model), "--input-shape", "14,14,1"]) == 0
    out = capsys.readouterr().out
    assert "Convolution" in out and "(None, 3)" in out and "total parameters: 475" in out


def test_cli_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.txt").write_text("Linear 2 2\n1 2 3\n0 0\n")
    assert main(["info", "--model", str(tmp_path / "bad.txt")]) == 2
    assert "bad.txt" in capsys.readouterr().err
    model = tiny_cnn(tmp_path / "cnn.txt")
    numpy.save(tmp_path / "x.npy", numpy.zeros((3, 3, 1)))
    assert (
        main(
            [
                "explain",
                "--model",
                str(model),
                "--input",
                str(tmp_path / "x.npy"),
                "--out",
                str(tmp_path / "h.png"),
            ]
        )
        == 2
    )
    assert "layer" in capsys.readouterr().err
    assert (
        main(["explain", "--model", str(model), "--input", str(tmp_path / "x.npy"), "--rule", "nonsense"])
        == 2
    )
    assert "unknown rule" in capsys.readouterr().err
    explain_preset = ["explain", "--model", str(model), "--input", str(tmp_path / "x.npy"), "--rule"]
    assert main([*explain_preset, "epsilon_plus", "--param", "0.1"]) == 2  # would be ignored
    assert "'epsilon_plus' is a preset and takes no parameter" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["--help"], ["info", "--help"], ["explain", "--help"]])
def test_cli_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(command)
    assert exit_info.value.code == 0
    assert "usage: lrp-toolbox" in capsys.readouterr().out


def test_cli_inputs_and_outputs_go_through_the_guarded_io(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tiny_cnn(tmp_path / "cnn.txt")
    forged = tmp_path / "forged.npy"
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000,), }".ljust(117) + b"\n"
    forged.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 32)
    # declares 745 GiB of data and holds 32 bytes: refused before anything is allocated
    common = ["explain", "--model", str(model), "--out", str(tmp_path / "h.png")]
    assert main([*common, "--input", str(forged)]) == 2
    assert "forged.npy" in capsys.readouterr().err
    numpy.save(tmp_path / "x.npy", numpy.zeros((14, 14, 1)) + 0.5)
    for name in ("r.txt", "r.npz", "r.mat"):
        assert (
            main([*common, "--input", str(tmp_path / "x.npy"), "--save-relevance", str(tmp_path / name)]) == 0
        )
        assert data_io.read(tmp_path / name).shape == (14, 14, 1)
    assert not list(tmp_path.glob("r.*.npy"))  # written at exactly the given names


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--pad", "-1"], "expected a non-negative int, got -1"),
        (["--save-relevance", "rel"], "must end in one of"),
    ],
)
def test_cli_rejects_bad_options_up_front(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option, message
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", "--model", "m.txt", "--input", "x.png", *option])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
