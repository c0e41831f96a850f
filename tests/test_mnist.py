"""MNIST loader: checksums, preprocessing of the original demos, root lookup, speed."""

from __future__ import annotations

import gzip
import shutil
import time
from pathlib import Path

import numpy
import pytest
from paths import FIXTURES

from lrp_toolbox import mnist
from lrp_toolbox.errors import ModelFormatError

REPO_DATA = Path(__file__).resolve().parents[1] / "data" / "MNIST"
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]

pytestmark = pytest.mark.skipif(
    not (REPO_DATA / "t10k-images-idx3-ubyte.gz").is_file(), reason="data/MNIST not present"
)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(mnist.ENV_VAR, raising=False)


def test_sha256sums_file_matches_the_canonical_values():
    sums = {}
    for line in (REPO_DATA / "SHA256SUMS").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split()
            sums[name] = digest
    assert sums == mnist.SHA256


def test_default_root_is_the_repository_data():
    assert mnist.default_root() == REPO_DATA


def test_test_split_original_preprocessing():
    X, Y = mnist.load_mnist("test")
    assert X.shape == (10000, 28, 28, 1) and X.dtype == numpy.float64
    assert X.min() == -1.0 and X.max() == 1.0
    assert Y.shape == (10000, 10) and Y.dtype == numpy.float64
    assert numpy.array_equal(Y.sum(1), numpy.ones(10000))
    assert Y.sum(0).tolist() == TEST_COUNTS
    labels = mnist.load_mnist_labels("test")
    assert labels.dtype == numpy.int64 and numpy.array_equal(labels, Y.argmax(1))
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_lenet5_padding_matches_the_reference_inputs():
    ref = FIXTURES / "lenet5_reference.npz"
    if not ref.is_file():
        pytest.skip("fixture not available")
    X, _ = mnist.load_mnist("test", pad=2)
    assert X.shape == (10000, 32, 32, 1)
    assert (X[:, :2] == -1).all() and (X[:, :, -2:] == -1).all()
    with numpy.load(ref, allow_pickle=False) as z:
        assert numpy.array_equal(X[:10], z["X"])


def test_unit_raw_flat_and_float32():
    X, Y = mnist.load_mnist("test", preprocessing="unit", dtype=numpy.float32)
    assert X.dtype == numpy.float32 and Y.dtype == numpy.float32
    assert X.min() == 0.0 and X.max() == 1.0
    R, labels = mnist.load_mnist("test", preprocessing="raw")
    assert R.dtype == numpy.uint8 and R.shape == (10000, 28, 28, 1)
    assert labels.dtype == numpy.int64 and labels.shape == (10000,)
    assert numpy.array_equal(X, (R / 255.0).astype(numpy.float32))
    F, _ = mnist.load_mnist("test", flat=True)
    assert F.shape == (10000, 784)
    P, _ = mnist.load_mnist("test", preprocessing="unit", pad=1)
    assert P.shape == (10000, 30, 30, 1) and (P[:, 0] == 0).all()
    with pytest.raises(ValueError, match="flat"):
        mnist.load_mnist("test", flat=True, pad=2)
    with pytest.raises(ValueError, match="preprocessing"):
        mnist.load_mnist("test", preprocessing="zscore")
    with pytest.raises(ValueError, match="split"):
        mnist.load_mnist("validation")


def test_train_split_loads_fast():
    start = time.perf_counter()
    X, Y = mnist.load_mnist("train")
    elapsed = time.perf_counter() - start
    assert X.shape == (60000, 28, 28, 1)
    assert Y.sum(0).tolist() == TRAIN_COUNTS
    assert elapsed < 10.0  # about 1.5 s on 2 shared cores, checksums included


def test_helpers():
    assert mnist.one_hot(numpy.array([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]
    with pytest.raises(ValueError):
        mnist.one_hot(numpy.array([3]), 3)
    X = numpy.zeros((1, 2, 2, 1))
    assert mnist.pad_images(X, 2).shape == (1, 6, 6, 1)
    assert mnist.pad_images(X, 1)[0, 0, 0, 0] == -1.0
    assert mnist.pad_images(X, numpy.int64(1)).shape == (1, 4, 4, 1)
    for bad in (True, -1, 1.0):
        with pytest.raises(ValueError, match="pad must be a non-negative int"):
            mnist.pad_images(X, bad)


def test_labels_out_of_range_are_named(tmp_path):
    _copy_test_split(tmp_path)
    name = "t10k-labels-idx1-ubyte"
    raw = bytearray(gzip.decompress((tmp_path / f"{name}.gz").read_bytes()))
    raw[100] = 12
    (tmp_path / f"{name}.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(ModelFormatError, match=rf"^{name}: MNIST labels .* largest value 12"):
        mnist.load_mnist("test", root=tmp_path, verify=False)


def _copy_test_split(dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in mnist.FILES["test"]:
        shutil.copy(REPO_DATA / f"{name}.gz", dst / f"{name}.gz")


def test_corrupted_copy_is_refused(tmp_path):
    _copy_test_split(tmp_path)
    name = "t10k-labels-idx1-ubyte"
    raw = bytearray(gzip.decompress((tmp_path / f"{name}.gz").read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # still a valid idx file with valid labels
    (tmp_path / f"{name}.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(ModelFormatError, match="SHA-256 mismatch") as info:
        mnist.load_mnist("test", root=tmp_path)
    assert str(tmp_path / f"{name}.gz") in str(info.value)
    _, Y = mnist.load_mnist("test", root=tmp_path, verify=False)
    assert Y.shape == (10000, 10)


def test_uncompressed_files_and_env_var(tmp_path, monkeypatch):
    folder = tmp_path / "MNIST"
    folder.mkdir()
    for name in mnist.FILES["test"]:
        (folder / name).write_bytes(gzip.decompress((REPO_DATA / f"{name}.gz").read_bytes()))
    monkeypatch.setenv(mnist.ENV_VAR, str(tmp_path))
    assert mnist.default_root() == folder
    _, Y = mnist.load_mnist("test", preprocessing="raw")
    assert Y[:3].tolist() == [7, 2, 1]
    monkeypatch.setenv(mnist.ENV_VAR, str(folder))
    assert mnist.default_root() == folder


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        mnist.load_mnist("test", root=tmp_path)
    assert str(tmp_path / "t10k-images-idx3-ubyte.gz") in str(info.value)
    assert mnist.ENV_VAR in str(info.value)


def test_truncated_gzip_is_refused(tmp_path):
    _copy_test_split(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelFormatError, match="corrupt gzip"):
        mnist.load_mnist("test", root=tmp_path)


def _original_lenet5():
    """The original toolbox's LeNet-5 (skips when the shared fixture is absent)."""
    from lrp_toolbox import model_io

    path = FIXTURES / "LeNet-5.txt"
    if not path.is_file():
        pytest.skip("fixture not available")
    return model_io.read(path)


def test_lenet5_accuracy_first_1000():
    model = _original_lenet5()
    X, Y = mnist.load_mnist("test", pad=2)
    pred = model.forward(X[:1000]).argmax(1)
    assert (pred == Y[:1000].argmax(1)).mean() == pytest.approx(0.988)


@pytest.mark.slow
def test_lenet5_accuracy_all_test_images():
    model = _original_lenet5()
    X, Y = mnist.load_mnist("test", pad=2)
    pred = numpy.concatenate([model.forward(X[i : i + 1000]).argmax(1) for i in range(0, 10000, 1000)])
    assert (pred == Y.argmax(1)).mean() == pytest.approx(0.9924)
