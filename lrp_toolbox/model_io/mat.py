"""MATLAB ``.mat`` model format (MAT v5: written with ``scipy.io.savemat``, readable by ``loadmat``).

Variables (see docs/formats.md):

- ``layers``: a 1xL cell array of structs, one per layer, with the field ``type`` (char, the layer
  name), the layer's settings as double row vectors (``m``, ``n``; ``filtersize``, ``stride``,
  ``padding`` = [top bottom left right], ``dilation``; ``pool``, ``stride``), and the parameters
  ``W`` and ``B`` (single or double; ``B`` a 1xn row vector);
- ``model_format``: ``'lrp_toolbox-model'`` and ``format_version``: 1 (both optional on reading).

Reading uses the bounded MAT v5 parser of :mod:`._matv5`, not ``scipy.io.loadmat``, which can crash
the interpreter on corrupted files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import IO, Any

import numpy

from ..errors import ModelFormatError
from ._matv5 import load_mat_file
from ._records import POOLS, SPECS, array_shapes, make_record

FORMAT = "lrp_toolbox-model"
VERSION = 1
_VARIABLES = {"layers", "model_format", "format_version"}
# field name -> number of values, per layer type (besides ``type``, ``W``, ``B``)
_FIELDS: dict[str, dict[str, int]] = {
    "Linear": {"m": 1, "n": 1},
    "Convolution": {"filtersize": 4, "stride": 2, "padding": 4, "dilation": 2},
    **{k: {"pool": 2, "stride": 2} for k in POOLS},
    **{k: {} for k in ("Rect", "Tanh", "SoftMax", "Flatten")},
}


def _struct(rec: Any) -> dict[str, Any]:
    cfg = rec.config
    out: dict[str, Any] = {"type": rec.kind}
    if rec.kind == "Linear":
        out.update(m=float(cfg["m"]), n=float(cfg["n"]))
    elif rec.kind == "Convolution":
        (t, b), (left, right) = cfg["padding"]
        out.update(
            filtersize=numpy.array(cfg["filtersize"], dtype=numpy.float64)[None],
            stride=numpy.array(cfg["stride"], dtype=numpy.float64)[None],
            padding=numpy.array([t, b, left, right], dtype=numpy.float64)[None],
            dilation=numpy.array(cfg["dilation"], dtype=numpy.float64)[None],
        )
    elif rec.kind in POOLS:
        out.update(
            pool=numpy.array(cfg["pool"], dtype=numpy.float64)[None],
            stride=numpy.array(cfg["stride"], dtype=numpy.float64)[None],
        )
    for name, value in rec.arrays.items():
        out[name] = numpy.ascontiguousarray(value)
    return out


def write(records: Sequence[Any], fh: IO[bytes]) -> None:
    """Write the MAT file to an open binary file."""
    from scipy.io import savemat

    cell = numpy.empty((1, len(records)), dtype=object)
    for i, rec in enumerate(records):
        cell[0, i] = _struct(rec)
    savemat(
        fh,
        {"layers": cell, "model_format": FORMAT, "format_version": float(VERSION)},
        do_compression=True,
        oned_as="row",
    )


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _integers(value: Any, count: int, what: str) -> list[int]:
    if not isinstance(value, numpy.ndarray) or value.dtype.kind not in "fiu" or value.size != count:
        raise ValueError(f"{what} must be {count} number(s)")
    flat = value.ravel().astype(numpy.float64)
    if not numpy.isfinite(flat).all() or (flat != numpy.round(flat)).any():
        raise ValueError(f"{what} must hold whole numbers, got {flat.tolist()}")
    if (numpy.abs(flat) > 2**31).any():
        raise ValueError(f"{what} is out of range: {flat.tolist()}")
    return [int(v) for v in flat]


def _strip(shape: tuple[int, ...]) -> tuple[int, ...]:
    while len(shape) > 0 and shape[-1] == 1:
        shape = shape[:-1]
    return shape


def _parameter(value: Any, shape: tuple[int, ...], what: str) -> numpy.ndarray:
    if not isinstance(value, numpy.ndarray) or value.dtype.kind != "f":
        kind = getattr(value, "dtype", type(value).__name__)
        raise ValueError(f"{what} must be a single or double array, got {kind}")
    if len(shape) == 1:  # B: accept 1xn, nx1 and n
        ok = value.size == shape[0] and sum(d != 1 for d in value.shape) <= 1
    else:  # MATLAB drops trailing singleton dimensions
        ok = _strip(value.shape) == _strip(shape)
    if not ok:
        raise ValueError(f"{what} must have shape {shape}, got {value.shape}")
    return numpy.ascontiguousarray(value.reshape(shape))


def _layer(fields: Any, index: int) -> Any:
    where = f"layers{{{index + 1}}}"
    if not isinstance(fields, dict):
        raise ValueError(f"{where} must be a struct")
    kind = _string(fields.get("type"))
    if kind is None or kind not in SPECS:
        raise ValueError(f"{where}.type must be one of {', '.join(SPECS)}, got {kind!r}")
    spec = _FIELDS[kind]
    params = SPECS[kind][1]
    allowed = {"type", *spec, *params}
    extra = sorted(set(fields) - allowed)
    optional = {"padding", "dilation"}  # default: no padding, no dilation
    missing = sorted((set(spec) - optional - set(fields)) | (set(params) - set(fields)))
    if extra or missing:
        raise ValueError(
            f"{where} ({kind}) expects the fields {sorted(allowed)}"
            + (f"; unknown {extra}" if extra else "")
            + (f"; missing {missing}" if missing else "")
        )
    config: dict[str, Any] = {}
    for name, count in spec.items():
        if name not in fields:
            continue
        values = _integers(fields[name], count, f"{where}.{name}")
        config[name] = values[0] if count == 1 else values
    from ._records import normalize_config

    try:
        cfg = normalize_config(kind, config)
        shapes = array_shapes(kind, cfg)
        arrays = {n: _parameter(fields[n], shapes[n], f"{where}.{n}") for n in params}
        return make_record(kind, cfg, arrays)
    except ValueError as exc:
        text = str(exc)
        raise ValueError(text if text.startswith(where) else f"{where} ({kind}): {text}") from None


def read(path: str | os.PathLike[str]) -> list[Any]:
    """Read the layer records of a ``.mat`` model. ``OSError`` if it cannot be opened."""
    where = os.fspath(path)
    content = load_mat_file(path, where)
    variables = set(content)
    if "layers" not in variables:
        raise ModelFormatError(
            f"{where}: no variable 'layers'; expected a cell array of layer structs "
            f"(variables: {sorted(variables)[:10]})"
        )
    extra = sorted(variables - _VARIABLES)
    if extra:
        raise ModelFormatError(f"{where}: unexpected variables {extra[:10]}; expected {sorted(_VARIABLES)}")
    if "model_format" in content and _string(content["model_format"]) != FORMAT:
        raise ModelFormatError(f"{where}: variable 'model_format' must be '{FORMAT}'")
    if "format_version" in content:
        try:
            (version,) = _integers(content["format_version"], 1, "format_version")
        except ValueError as exc:
            raise ModelFormatError(f"{where}: {exc}") from None
        if version > VERSION or version < 1:
            raise ModelFormatError(
                f"{where}: format_version {version} is not supported (this reader: {VERSION})"
            )
    cell = content["layers"]
    if not isinstance(cell, numpy.ndarray) or cell.dtype != object or cell.ndim != 2 or min(cell.shape) > 1:
        raise ModelFormatError(f"{where}: variable 'layers' must be a 1xL cell array of structs")
    records = []
    for i, fields in enumerate(cell.ravel()):
        try:
            records.append(_layer(fields, i))
        except ValueError as exc:
            raise ModelFormatError(f"{where}: {exc}") from None
    return records
