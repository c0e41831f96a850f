"""MNIST loader with checksum verification and the original demos' preprocessing.

The four canonical idx files (``{train,t10k}-{images-idx3,labels-idx1}-ubyte``, plain or ``.gz``)
are looked up in ``root``: by default ``$LRP_TOOLBOX_DATA`` (the folder itself or its ``MNIST``
subfolder) when that variable is set, else the repository's ``data/MNIST``. The SHA-256 of each
decompressed file is compared with the canonical value (the same as ``data/MNIST/SHA256SUMS``).

Example
-------
>>> X, Y = load_mnist('test', pad=2)   # LeNet-5 input: (10000, 32, 32, 1) in [-1, 1], one-hot Y
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path
from typing import Any, Literal

import numpy

from .data_io import parse_idx
from .errors import ModelFormatError
from .modules.windows import is_int

__all__ = [
    "SHA256",
    "default_root",
    "load_mnist",
    "load_mnist_images",
    "load_mnist_labels",
    "one_hot",
    "pad_images",
]

ENV_VAR = "LRP_TOOLBOX_DATA"
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
"""SHA-256 of the canonical decompressed MNIST files."""

Split = Literal["train", "test"]
Preprocessing = Literal["original", "unit", "raw"]


def default_root() -> Path:
    """Folder searched when no ``root`` is given.

    ``$LRP_TOOLBOX_DATA/MNIST`` if that folder exists, else ``$LRP_TOOLBOX_DATA`` when the variable
    is set; otherwise the repository's ``data/MNIST``.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        base = Path(env)
        return base / "MNIST" if (base / "MNIST").is_dir() else base
    return Path(__file__).resolve().parents[1] / "data" / "MNIST"


def _locate(root: Path, name: str) -> Path:
    for candidate in (root / f"{name}.gz", root / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"MNIST file not found: {root / (name + '.gz')} (or uncompressed {root / name}); "
        f"pass root= or set {ENV_VAR} to the folder holding the MNIST idx files"
    )


def _load(name: str, root: str | os.PathLike[str] | None, verify: bool) -> numpy.ndarray:
    folder = Path(root) if root is not None else default_root()
    path = _locate(folder, name)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ModelFormatError(f"{path}: corrupt gzip file ({exc})") from None
    if verify:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != SHA256[name]:
            raise ModelFormatError(
                f"{path}: SHA-256 mismatch: expected {SHA256[name]} (canonical {name}), got "
                f"{digest}; the file is corrupt or not the canonical MNIST file (replace it, or "
                "pass verify=False to load it anyway)"
            )
    return parse_idx(raw, os.fspath(path))


def _check_split(split: str) -> tuple[str, str]:
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return FILES[split]


def load_mnist_images(
    split: Split = "test", root: str | os.PathLike[str] | None = None, verify: bool = True
) -> numpy.ndarray:
    """Raw images, uint8 of shape ``(N, 28, 28)`` (N = 60000 train, 10000 test).

    Raises
    ------
    FileNotFoundError
        The file is missing (the message names the path searched).
    ModelFormatError
        Checksum mismatch or malformed file.
    """
    images = _load(_check_split(split)[0], root, verify)
    if images.dtype != numpy.uint8 or images.ndim != 3:
        raise ModelFormatError(f"MNIST images must be uint8 (N, H, W), got {images.dtype} {images.shape}")
    return images


def load_mnist_labels(
    split: Split = "test", root: str | os.PathLike[str] | None = None, verify: bool = True
) -> numpy.ndarray:
    """Integer labels 0..9, int64 of shape ``(N,)``.

    Raises
    ------
    FileNotFoundError, ModelFormatError
        As :func:`load_mnist_images`.
    """
    name = _check_split(split)[1]
    labels = _load(name, root, verify)
    if labels.dtype != numpy.uint8 or labels.ndim != 1 or (labels.size and labels.max() > 9):
        largest = labels.max() if labels.size and labels.dtype.kind in "iu" else None
        raise ModelFormatError(
            f"{name}: MNIST labels must be uint8 digits 0..9 of shape (N,), got dtype {labels.dtype}, "
            f"shape {labels.shape}, largest value {largest}"
        )
    return labels.astype(numpy.int64)


def one_hot(labels: Any, num_classes: int = 10, dtype: Any = numpy.float64) -> numpy.ndarray:
    """One-hot encoding ``(N, num_classes)`` of integer labels ``(N,)``."""
    labels = numpy.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes})")
    out = numpy.zeros((labels.shape[0], num_classes), dtype=dtype)
    out[numpy.arange(labels.shape[0]), labels] = 1
    return out


def pad_images(X: Any, pad: int = 2, value: float = -1.0) -> numpy.ndarray:
    """Pad the two spatial axes of NHWC images by ``pad`` pixels on each side with ``value``.

    The LeNet-5 demo of the original toolbox pads its ``[-1, 1]`` images by 2 pixels with -1
    (the background), giving ``(N, 32, 32, 1)``.
    """
    X = numpy.asarray(X)
    if X.ndim != 4:
        raise ValueError(f"expected NHWC images (N, H, W, C), got shape {X.shape}")
    if not is_int(pad) or pad < 0:
        raise ValueError(f"pad must be a non-negative int, got {pad!r}")
    pad = int(pad)
    if pad == 0:
        return X
    return numpy.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=value)


def load_mnist(
    split: Split = "test",
    root: str | os.PathLike[str] | None = None,
    preprocessing: Preprocessing = "original",
    verify: bool = True,
    *,
    pad: int = 0,
    flat: bool = False,
    dtype: Any = numpy.float64,
) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Load an MNIST split as ``(X, Y)``.

    Parameters
    ----------
    split : {'test', 'train'}
        10000 test or 60000 training images.
    root : path, optional
        Folder with the idx files (plain or ``.gz``); default :func:`default_root`.
    preprocessing : {'original', 'unit', 'raw'}
        ``'original'``: the original demos' ``X / 127.5 - 1`` in [-1, 1] and one-hot ``Y``
        (float). ``'unit'``: ``X / 255`` in [0, 1] and one-hot ``Y``. ``'raw'``: uint8 pixels and
        int64 labels ``(N,)``.
    verify : bool
        Check the SHA-256 of every file (about 0.1 s for the training images).
    pad : int
        Pixels of background added on each side (``'original'``: -1, otherwise 0); ``pad=2``
        gives the ``(N, 32, 32, 1)`` input of the original LeNet-5.
    flat : bool
        Return ``X`` as ``(N, 784)`` (the MLP demos' layout) instead of ``(N, 28, 28, 1)``.
    dtype : float dtype
        dtype of ``X`` and of one-hot ``Y`` for 'original' and 'unit' (values are computed in
        float64 and rounded once).

    Returns
    -------
    X : ndarray
        ``(N, 28 + 2*pad, 28 + 2*pad, 1)`` or ``(N, 784)``.
    Y : ndarray
        One-hot ``(N, 10)`` of ``dtype``, or int64 ``(N,)`` for 'raw'. For integer labels with
        preprocessed images, use :func:`load_mnist_labels` (or ``Y.argmax(1)``).

    Raises
    ------
    FileNotFoundError
        A file is missing (the message names the path).
    ModelFormatError
        Checksum mismatch or malformed file.
    """
    if preprocessing not in ("original", "unit", "raw"):
        raise ValueError(f"preprocessing must be 'original', 'unit' or 'raw', got {preprocessing!r}")
    if flat and pad:
        raise ValueError("pad= needs image output; it cannot be combined with flat=True")
    dtype = numpy.dtype(dtype)
    if preprocessing != "raw" and dtype.kind != "f":
        raise ValueError(f"dtype must be floating-point, got {dtype}")
    images = load_mnist_images(split, root, verify)
    labels = load_mnist_labels(split, root, verify)
    if images.shape[0] != labels.shape[0]:
        raise ModelFormatError(f"MNIST {split}: {images.shape[0]} images but {labels.shape[0]} labels")
    X: numpy.ndarray = images[..., None]
    if preprocessing == "raw":
        background = 0.0
    else:
        X = X.astype(numpy.float64)
        if preprocessing == "original":
            X /= 127.5
            X -= 1.0
            background = -1.0
        else:
            X /= 255.0
            background = 0.0
        if dtype != X.dtype:
            X = X.astype(dtype)
    if flat:
        X = X.reshape(X.shape[0], -1)
    elif pad:
        X = pad_images(X, pad, background)
    if preprocessing == "raw":
        return X, labels
    return X, one_hot(labels, 10, dtype)
