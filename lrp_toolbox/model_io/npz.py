"""NumPy ``.npz`` model format: the parameters as arrays plus a JSON architecture description.

Members (see docs/formats.md):

- ``architecture``: a 0-d unicode array (``numpy.str_``) holding the JSON document
  ``{"format": "lrp_toolbox-model", "version": 1, "layers": [{"type": ..., "config": {...}}, ...]}``;
- ``layers.<i>.<name>``: parameter ``<name>`` (``W``, ``B``) of layer ``i``, dtype as in the model.

Read with ``numpy.load(..., allow_pickle=False)``; every member is size-checked before it is read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import IO, Any

import numpy

from ..errors import ModelFormatError
from ._npy import open_npz, write_npz
from ._records import SPECS, make_record

FORMAT = "lrp_toolbox-model"
VERSION = 1
ARCHITECTURE = "architecture"


def member(index: int, name: str) -> str:
    """Archive key of parameter ``name`` of layer ``index``."""
    return f"layers.{index}.{name}"


def _config_to_json(config: Any) -> Any:
    if isinstance(config, dict) or hasattr(config, "items"):
        return {k: _config_to_json(v) for k, v in config.items()}
    if isinstance(config, (tuple, list)):
        return [_config_to_json(v) for v in config]
    return int(config)


def architecture_json(records: Sequence[Any]) -> str:
    """The JSON architecture document of a model."""
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "layers": [{"type": r.kind, "config": _config_to_json(r.config)} for r in records],
    }
    return json.dumps(doc, sort_keys=False, separators=(", ", ": "))


def write(records: Sequence[Any], fh: IO[bytes]) -> None:
    """Write the archive to an open binary file."""
    arrays: dict[str, numpy.ndarray] = {ARCHITECTURE: numpy.array(architecture_json(records))}
    for i, rec in enumerate(records):
        for name, value in rec.arrays.items():
            arrays[member(i, name)] = numpy.ascontiguousarray(value)
    write_npz(fh, arrays)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate keys {sorted({k for k in keys if keys.count(k) > 1})}")
    return dict(pairs)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def parse_architecture(text: str, where: str) -> list[tuple[str, dict[str, Any]]]:
    """Validate the JSON document; return ``[(type, config), ...]``."""
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ModelFormatError(f"{where}: invalid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ModelFormatError(f"{where}: expected a JSON object")
    if doc.get("format") != FORMAT:
        raise ModelFormatError(f'{where}: expected "format": "{FORMAT}"')
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFormatError(f'{where}: expected an integer "version"')
    if version > VERSION:
        raise ModelFormatError(
            f"{where}: format version {version} is newer than this reader ({VERSION}); update lrp_toolbox"
        )
    extra = sorted(set(doc) - {"format", "version", "layers"})
    if extra:
        raise ModelFormatError(f"{where}: unknown keys {extra}")
    layers = doc.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ModelFormatError(f'{where}: expected a non-empty list "layers"')
    out = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict) or set(layer) - {"type", "config"} or "type" not in layer:
            raise ModelFormatError(f'{where}: layers[{i}]: expected an object with "type" and "config"')
        kind, config = layer["type"], layer.get("config", {})
        if not isinstance(kind, str) or kind not in SPECS:
            raise ModelFormatError(
                f"{where}: layers[{i}]: unknown layer type {kind!r}; expected one of {', '.join(SPECS)}"
            )
        if not isinstance(config, dict):
            raise ModelFormatError(f'{where}: layers[{i}]: "config" must be an object')
        out.append((kind, config))
    return out


def read(path: str | os.PathLike[str]) -> list[Any]:
    """Read the layer records of an ``.npz`` model. ``OSError`` if it cannot be opened."""
    where = os.fspath(path)
    with open_npz(path, where) as npz:
        names = set(npz.names)
        if ARCHITECTURE not in names:
            raise ModelFormatError(
                f"{where}: no member {ARCHITECTURE!r}; not an lrp_toolbox model archive "
                f"(members: {sorted(names)[:10]})"
            )
        arch = npz.read(ARCHITECTURE)
        if arch.shape != () or arch.dtype.kind != "U":
            raise ModelFormatError(
                f"{where}: member {ARCHITECTURE!r} must be a 0-d unicode array, got shape "
                f"{arch.shape} dtype {arch.dtype}"
            )
        layers = parse_architecture(str(arch[()]), f"{where}: member {ARCHITECTURE!r}")
        from ._records import expected_sizes, normalize_config

        wanted: dict[str, tuple[int, str, int]] = {}
        configs = []
        for i, (kind, config) in enumerate(layers):
            try:
                cfg = normalize_config(kind, config)
            except ValueError as exc:
                raise ModelFormatError(f"{where}: member {ARCHITECTURE!r}: layers[{i}]: {exc}") from None
            configs.append(cfg)
            for name, size in expected_sizes(kind, cfg).items():
                wanted[member(i, name)] = (i, name, size)
        missing = sorted(set(wanted) - names)
        extra = sorted(names - set(wanted) - {ARCHITECTURE})
        if missing or extra:
            raise ModelFormatError(
                f"{where}: archive members do not match the architecture"
                + (f"; missing {missing[:10]}" if missing else "")
                + (f"; unexpected {extra[:10]}" if extra else "")
            )
        arrays: list[dict[str, numpy.ndarray]] = [{} for _ in layers]
        for key, (i, name, _) in wanted.items():
            arrays[i][name] = npz.read(key)
    records = []
    for i, ((kind, _), cfg) in enumerate(zip(layers, configs, strict=True)):
        try:
            records.append(make_record(kind, cfg, arrays[i]))
        except ValueError as exc:
            raise ModelFormatError(f"{where}: layer {i} (members layers.{i}.*): {exc}") from None
    return records
