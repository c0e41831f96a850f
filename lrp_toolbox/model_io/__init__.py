"""Reading and writing models: text (the original's format), ``.npz`` and ``.mat``; never pickle.

``read(path)`` and ``write(model, path)`` pick the format from the file extension unless ``fmt``
is given:

=========  ==========================================================================
``.txt``   the original LRP Toolbox's text format, both ways compatible (version 1), plus a
           versioned extension for padding, dilation, AvgPool and float32 (version 2)
``.npz``   NumPy archive: parameters plus a JSON architecture member
``.mat``   MATLAB struct layout (``scipy.io``)
=========  ==========================================================================

Pickled models (``.nn``, ``.pickle``, ``.pickled``, ``.pkl`` and extension-less paths, which the
original unpickled) are refused: unpickling runs arbitrary code. Every file problem raises
:class:`~lrp_toolbox.errors.ModelFormatError` naming the file and the line or member; a file that
cannot be opened raises the usual ``OSError``. Writes are atomic and never modify the model.
The exact formats are specified in docs/formats.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ModelFormatError
from . import mat, npz, text
from ._atomic import atomic_write
from ._records import build_model, model_records

__all__ = ["FORMATS", "PICKLE_FORMATS", "read", "read_records", "write"]

FORMATS = ("txt", "npz", "mat")
"""Supported model formats (``fmt`` values; ``'text'`` is accepted for ``'txt'``)."""
PICKLE_FORMATS = ("nn", "pickle", "pickled", "pkl", "")
"""Formats the original toolbox unpickled; refused here."""


def _pickle_refusal(path: str, fmt: str) -> ModelFormatError:
    what = "has no extension" if fmt == "" else f"is a pickled model ('.{fmt}')"
    stem = Path(path).with_suffix("").name if fmt else Path(path).name
    return ModelFormatError(
        f"{path}: {what}; pickled models are refused because unpickling runs arbitrary code "
        "(the original LRP Toolbox unpickled .nn, .pickle, .pickled and extension-less files). "
        "To convert a model you trust, load it with the original toolbox in a trusted "
        f"environment and write it as text: model_io.write(model_io.read('{Path(path).name}'), "
        f"'{stem}.txt'); then read the .txt here"
        + (". If the file is not a pickle, pass fmt='txt', 'npz' or 'mat'" if fmt == "" else "")
    )


def _format(path: str, fmt: str | None) -> str:
    if fmt is None:
        fmt = Path(path).suffix
    key = str(fmt).lower().lstrip(".")
    if key == "text":
        key = "txt"
    if key in PICKLE_FORMATS:
        raise _pickle_refusal(path, key)
    if key not in FORMATS:
        raise ModelFormatError(
            f"{path}: unknown model format {key!r}; expected one of {', '.join(FORMATS)} "
            "(from the extension or fmt=)"
        )
    return key


def read_records(path: str | os.PathLike[str], fmt: str | None = None) -> list[Any]:
    """Read a model file as validated layer records, without building layers.

    Parameters
    ----------
    path : str or os.PathLike
        Model file.
    fmt : {'txt', 'npz', 'mat'}, optional
        Format; default from the extension.

    Returns
    -------
    list of LayerRecord

    Raises
    ------
    ModelFormatError
        Malformed file, pickle formats, unknown format.
    OSError
        The file cannot be opened.
    """
    where = os.fspath(path)
    key = _format(where, fmt)
    if key == "txt":
        return text.read(path)[0]
    if key == "npz":
        return npz.read(path)
    return mat.read(path)


def read(
    path: str | os.PathLike[str],
    fmt: str | None = None,
    backend: str = "numpy",
    dtype: Any = None,
) -> Any:
    """Read a model file.

    Parameters
    ----------
    path : str or os.PathLike
        Model file.
    fmt : {'txt', 'npz', 'mat'}, optional
        Format; default from the extension (``'text'`` is an alias of ``'txt'``).
    backend : {'numpy', 'cupy'}
        Where the parameters are placed (nothing moves to CuPy unless asked).
    dtype : {None, 'float32', 'float64'}
        Parameter dtype. ``None`` keeps the stored dtype: as saved for ``.npz``/``.mat``; for text,
        the ``dtype=`` of a version-2 header, else float64 (the original's files).

    Returns
    -------
    lrp_toolbox.modules.Sequential

    Raises
    ------
    ModelFormatError
        Malformed file (message names the file and line or member), refused pickle formats,
        inconsistent consecutive layers, NaN/Inf parameters.
    OSError
        The file cannot be opened.
    BackendError
        ``backend='cupy'`` without a usable CuPy.
    """
    where = os.fspath(path)
    key = _format(where, fmt)
    locations = None
    if key == "txt":
        records, locations, declared = text.read(path)
        if dtype is None:
            dtype = declared
    elif key == "npz":
        records = npz.read(path)
    else:
        records = mat.read(path)
    return build_model(records, where, backend=backend, dtype=dtype, locations=locations)


def write(model: Any, path: str | os.PathLike[str], fmt: str | None = None) -> None:
    """Write a model atomically; the model is not modified.

    Parameters
    ----------
    model : Sequential, Module or list of LayerRecord
        The model (nested ``Sequential`` containers are flattened; CuPy parameters are copied).
    path : str or os.PathLike
        Target file; an existing file is replaced only once the new one is complete.
    fmt : {'txt', 'npz', 'mat'}, optional
        Format; default from the extension.

    Raises
    ------
    ModelFormatError
        Pickle or unknown formats; models that could not be read back identically (NaN/Inf
        parameters, unsupported layers or dtypes, inconsistent layers; for text, mixed dtypes).

    Notes
    -----
    Text is written in the original's version-1 format whenever the model only uses what the
    original supports (float64, no padding/dilation, no AvgPool), so the original toolbox can load
    it; otherwise a version-2 header is added (see docs/formats.md).
    """
    where = os.fspath(path)
    key = _format(where, fmt)
    records = model_records(model)
    if key == "txt":
        content = text.format_records(records)
        with atomic_write(path, "w") as fh:
            fh.write(content)
    elif key == "npz":
        with atomic_write(path, "wb") as fh:
            npz.write(records, fh)
    else:
        with atomic_write(path, "wb") as fh:
            mat.write(records, fh)
