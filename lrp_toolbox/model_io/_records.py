"""Validation of layer records shared by every model format.

Readers turn a file into a list of :class:`~lrp_toolbox.modules.LayerRecord` through
:func:`make_record` (which checks hyper-parameters and array shapes before anything large is
allocated), then :func:`check_chain` checks consecutive layers against each other and
:func:`build_model` builds the ``Sequential``. Writers call :func:`model_records`, which applies the
same checks, so a file that is written can always be read back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy

from ..backend import to_numpy
from ..errors import ModelFormatError
from ..modules.base import PARAM_DTYPES

# kind -> (config keys, array names)
SPECS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Linear": (("m", "n"), ("W", "B")),
    "Convolution": (("filtersize", "stride", "padding", "dilation"), ("W", "B")),
    "SumPool": (("pool", "stride"), ()),
    "AvgPool": (("pool", "stride"), ()),
    "MaxPool": (("pool", "stride"), ()),
    "Rect": ((), ()),
    "Tanh": ((), ()),
    "SoftMax": ((), ()),
    "Flatten": ((), ()),
}
POOLS = ("SumPool", "AvgPool", "MaxPool")
ELEMENTWISE = ("Rect", "Tanh", "SoftMax")
MAX_DIM = 2**31 - 1  # any single hyper-parameter above this is refused as absurd


def _int(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum or value > MAX_DIM:
        raise ValueError(f"{what} must be an integer in [{minimum}, {MAX_DIM}], got {value}")
    return value


def _ints(value: Any, count: int, what: str, minimum: int) -> tuple[int, ...]:
    if isinstance(value, numpy.ndarray):
        value = value.tolist()
    if not isinstance(value, (tuple, list)) or len(value) != count:
        raise ValueError(f"{what} must be {count} integers, got {value!r}")
    return tuple(_int(v, what, minimum) for v in value)


def _padding(value: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    if isinstance(value, numpy.ndarray):
        value = value.tolist()
    if isinstance(value, (tuple, list)) and len(value) == 4:  # flat (top, bottom, left, right)
        top, bottom, left, right = _ints(value, 4, "padding", 0)
        return ((top, bottom), (left, right))
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"padding must be ((top, bottom), (left, right)), got {value!r}")
    return (
        _ints(value[0], 2, "padding", 0),  # type: ignore[return-value]
        _ints(value[1], 2, "padding", 0),
    )


def normalize_config(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Check and normalise a record's hyper-parameters (ints and tuples of ints).

    Missing Convolution ``padding``/``dilation`` default to none / ``(1, 1)``.

    Raises
    ------
    ValueError
        Unknown kind, unknown or missing keys, non-integer or out-of-range values.
    """
    if kind not in SPECS:
        raise ValueError(f"unknown layer type {kind!r}; expected one of {', '.join(SPECS)}")
    keys, _ = SPECS[kind]
    config = dict(config)
    if kind == "Convolution":
        config.setdefault("padding", ((0, 0), (0, 0)))
        config.setdefault("dilation", (1, 1))
    extra = sorted(set(config) - set(keys))
    missing = [k for k in keys if k not in config]
    if extra or missing:
        raise ValueError(
            f"{kind} expects the settings {list(keys)}"
            + (f"; unknown {extra}" if extra else "")
            + (f"; missing {missing}" if missing else "")
        )
    if kind == "Linear":
        return {"m": _int(config["m"], "Linear m", 1), "n": _int(config["n"], "Linear n", 1)}
    if kind == "Convolution":
        return {
            "filtersize": _ints(config["filtersize"], 4, "Convolution filtersize", 1),
            "stride": _ints(config["stride"], 2, "Convolution stride", 1),
            "padding": _padding(config["padding"]),
            "dilation": _ints(config["dilation"], 2, "Convolution dilation", 1),
        }
    if kind in POOLS:
        return {
            "pool": _ints(config["pool"], 2, f"{kind} pool", 1),
            "stride": _ints(config["stride"], 2, f"{kind} stride", 1),
        }
    return {}


def array_shapes(kind: str, config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Expected parameter shapes of a layer with a normalised ``config``."""
    if kind == "Linear":
        return {"W": (config["m"], config["n"]), "B": (config["n"],)}
    if kind == "Convolution":
        return {"W": tuple(config["filtersize"]), "B": (config["filtersize"][3],)}
    return {}


def expected_sizes(kind: str, config: Mapping[str, Any]) -> dict[str, int]:
    """Number of values per parameter (validated before any parameter array is allocated)."""
    return {name: math.prod(shape) for name, shape in array_shapes(kind, config).items()}


def check_arrays(kind: str, config: Mapping[str, Any], arrays: Mapping[str, Any]) -> dict[str, numpy.ndarray]:
    """Check parameter names, shapes, dtypes (float32/float64, one per layer) and finiteness.

    Returns the arrays as NumPy arrays (not copied when they already are).
    """
    shapes = array_shapes(kind, config)
    if set(arrays) != set(shapes):
        raise ValueError(f"{kind} expects the arrays {sorted(shapes)}, got {sorted(arrays)}")
    out: dict[str, numpy.ndarray] = {}
    for name, shape in shapes.items():
        value = arrays[name]
        if not isinstance(value, numpy.ndarray):
            raise ValueError(f"{kind} {name} must be a NumPy array, got {type(value).__name__}")
        if value.dtype.kind == "f" and value.dtype.newbyteorder("=") in PARAM_DTYPES:
            value = value.astype(value.dtype.newbyteorder("="), copy=False)  # e.g. big-endian '>f8'
        if value.dtype not in PARAM_DTYPES:
            raise ValueError(f"{kind} {name} must be float32 or float64, got {value.dtype}")
        if value.shape != shape:
            raise ValueError(f"{kind} {name} must have shape {shape}, got {value.shape}")
        if not numpy.isfinite(value).all():
            bad = numpy.flatnonzero(~numpy.isfinite(value))
            raise ValueError(f"{kind} {name} holds {bad.size} NaN/Inf value(s), first at flat index {bad[0]}")
        out[name] = value
    dtypes = {a.dtype for a in out.values()}
    if len(dtypes) > 1:
        raise ValueError(f"{kind} parameters must share one dtype, got {sorted(map(str, dtypes))}")
    return out


def make_record(kind: str, config: Mapping[str, Any], arrays: Mapping[str, Any]) -> Any:
    """Validate and build a :class:`~lrp_toolbox.modules.LayerRecord` (``ValueError`` if bad)."""
    from ..modules import LayerRecord

    cfg = normalize_config(kind, config)
    return LayerRecord(kind, cfg, check_arrays(kind, cfg, arrays))


def check_chain(records: Sequence[Any], locations: Sequence[str] | None = None) -> None:
    """Check what can be checked between consecutive layers without knowing the input shape.

    - ``Linear m`` after a layer with ``n`` flat outputs needs ``m == n``; after ``Flatten`` of
      ``C``-channel images it needs ``m % C == 0``.
    - ``Convolution`` depth must equal the channels of the previous convolution (pools and
      element-wise layers keep channels).
    - Convolutions and pools cannot follow flat outputs (``Linear`` or ``Flatten``).

    Parameters
    ----------
    records : sequence of LayerRecord
    locations : sequence of str, optional
        Where each layer sits in the file (e.g. ``'line 5'``), added to the messages.

    Raises
    ------
    ValueError
        Naming the layers, e.g. ``layer 2 (Linear 784x10) expects 784 inputs but layer 0
        (Linear 2x3) produces 3``.
    """

    def label(index: int) -> str:
        where = f", {locations[index]}" if locations else ""
        return f"layer {index} ({describe(records[index])}{where})"

    flat: int | None = None  # number of flat features if known
    flat_multiple: int | None = None  # flat features are a multiple of this (after Flatten)
    is_flat = False
    channels: int | None = None
    source = ""
    for index, rec in enumerate(records):
        kind, cfg = rec.kind, rec.config
        if kind == "Linear":
            m = cfg["m"]
            if is_flat and flat is not None and m != flat:
                raise ValueError(f"{label(index)} expects {m} inputs but {source} produces {flat}")
            if is_flat and flat_multiple is not None and m % flat_multiple:
                raise ValueError(
                    f"{label(index)} expects {m} inputs, not a multiple of the "
                    f"{flat_multiple} channels flattened by {source}"
                )
            is_flat, flat, flat_multiple, channels = True, cfg["n"], None, None
            source = label(index)
        elif kind == "Convolution" or kind in POOLS:
            if is_flat:
                raise ValueError(
                    f"{label(index)} needs image input (N, H, W, C) but {source} produces flat vectors"
                )
            if kind == "Convolution":
                d = cfg["filtersize"][2]
                if channels is not None and d != channels:
                    raise ValueError(
                        f"{label(index)} expects input depth {d} but {source} produces {channels} channels"
                    )
                channels = cfg["filtersize"][3]
                source = label(index)
        elif kind == "Flatten" and not is_flat:
            is_flat, flat, flat_multiple = True, None, channels
            channels = None
            source = label(index)
        # element-wise layers keep the state


def describe(rec: Any) -> str:
    """Short human description of a record, e.g. ``Linear 784x10``."""
    cfg = rec.config
    if rec.kind == "Linear":
        return f"Linear {cfg['m']}x{cfg['n']}"
    if rec.kind == "Convolution":
        return "Convolution " + "x".join(map(str, cfg["filtersize"]))
    if rec.kind in POOLS:
        return f"{rec.kind} {cfg['pool'][0]}x{cfg['pool'][1]}"
    return rec.kind


def build_model(
    records: Sequence[Any],
    where: str,
    backend: str = "numpy",
    dtype: Any = None,
    locations: Sequence[str] | None = None,
) -> Any:
    """Check the chain, cast to ``dtype`` if given, build the ``Sequential``, move it to ``backend``.

    Raises
    ------
    ModelFormatError
        For inconsistent layers or anything ``Sequential.from_records`` refuses.
    """
    from ..modules import Sequential

    if not records:
        raise ModelFormatError(f"{where}: the file holds no layers")
    try:
        check_chain(records, locations)
    except ValueError as exc:
        raise ModelFormatError(f"{where}: inconsistent layers: {exc}") from None
    if dtype is not None:
        target = numpy.dtype(dtype)
        if target not in PARAM_DTYPES:
            raise ValueError(f"dtype must be float32 or float64, got {target}")
        records = [_cast_record(r, target, where, i, locations) for i, r in enumerate(records)]
    try:
        model = Sequential.from_records(records)
    except (ValueError, TypeError) as exc:
        raise ModelFormatError(f"{where}: {exc}") from None
    if backend != "numpy":
        model.to(backend)
    return model


def _cast_record(
    rec: Any, target: numpy.dtype, where: str, index: int, locations: Sequence[str] | None
) -> Any:
    """``rec`` with its parameters cast to ``target``; ``ModelFormatError`` if a (finite) value
    overflows it, e.g. 1e300 read with ``dtype='float32'`` (NumPy would warn and give inf)."""
    from ..modules import LayerRecord

    arrays = {}
    for name, value in rec.arrays.items():
        with numpy.errstate(over="ignore"):
            arrays[name] = cast = value.astype(target)
        overflowed = ~numpy.isfinite(cast) & numpy.isfinite(value)  # NaN/Inf in the file: refused later
        if overflowed.any():
            flat = int(numpy.flatnonzero(overflowed)[0])
            at = f", {locations[index]}" if locations else ""
            raise ModelFormatError(
                f"{where}: layer {index} ({describe(rec)}{at}): {name} value {float(value.flat[flat])!r} "
                f"(flat index {flat}) overflows {target}"
            )
    return LayerRecord(rec.kind, rec.config, arrays)


def model_records(model: Any) -> list[Any]:
    """Records of a model (a ``Sequential``, a single ``Module`` or a list of records).

    Nested ``Sequential`` containers are flattened. The model is not modified (records hold
    copies of the parameters on NumPy). Every record is validated like a record read from a file.

    Raises
    ------
    ModelFormatError
        When the model cannot be written so that it reads back identically (unknown layer type,
        NaN/Inf parameters, unsupported dtype, inconsistent consecutive layers).
    """
    from ..modules import Module, Sequential

    raw: list[Any] = []

    def collect(obj: Any) -> None:
        if isinstance(obj, Sequential):
            for child in obj.modules:
                collect(child)
        elif isinstance(obj, Module):
            raw.append(obj.to_record())
        elif isinstance(obj, (list, tuple)):
            for item in obj:
                collect(item)
        elif hasattr(obj, "kind") and hasattr(obj, "config") and hasattr(obj, "arrays"):
            raw.append(obj)
        else:
            raise TypeError(f"cannot write a {type(obj).__name__}; expected a Sequential or Module")

    collect(model)
    if not raw:
        raise ModelFormatError("cannot write a model without layers")
    records = []
    for index, rec in enumerate(raw):
        try:
            arrays = {k: to_numpy(v) for k, v in rec.arrays.items()}
            records.append(make_record(rec.kind, rec.config, arrays))
        except ValueError as exc:
            raise ModelFormatError(f"cannot write layer {index}: {exc}") from None
    try:
        check_chain(records)
    except ValueError as exc:
        raise ModelFormatError(f"cannot write an inconsistent model: {exc}") from None
    return records


def model_dtype(records: Sequence[Any]) -> numpy.dtype | None:
    """The single parameter dtype of the records, ``None`` without parameters.

    Raises ``ModelFormatError`` for models that mix float32 and float64 layers.
    """
    dtypes = {a.dtype for r in records for a in r.arrays.values()}
    if len(dtypes) > 1:
        raise ModelFormatError(f"the model mixes parameter dtypes {sorted(map(str, dtypes))}")
    return next(iter(dtypes), None)
