"""Text model format of the original LRP Toolbox, with a versioned extension.

Version 1 is the original's format (grammar in docs/formats.md): a header line per layer, then one
line with all weights and one line with all biases. Files written here in version 1 load in the
original's parser. Version 2 starts with the line ``#lrp_toolbox-text 2 dtype=<float32|float64>``
and adds ``AvgPool`` and the Convolution tokens ``padding=t,b,l,r`` and ``dilation=d0,d1``; it is
written only when the model uses one of these or is float32, because the original cannot read it.

Values are written as ``repr(float(v))``, the shortest decimal that parses back to the same
float64, so text round trips are bit-exact (float32 values are exactly representable in float64).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import numpy

from ..errors import ModelFormatError
from ._records import POOLS, SPECS, make_record, model_dtype

MAGIC = "#lrp_toolbox-text"
VERSION = 2
V1_KINDS = ("Linear", "Convolution", "SumPool", "MaxPool", "Rect", "Tanh", "SoftMax", "Flatten")
V2_KINDS = (*V1_KINDS, "AvgPool")
_INT = re.compile(r"[0-9]{1,10}")
_BOM = b"\xef\xbb\xbf"


class _Lines:
    """The file's lines (CR stripped) with a cursor; line numbers are 1-based."""

    def __init__(self, text: str, where: str) -> None:
        self.lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
        self.pos = 0
        self.where = where

    def error(self, lineno: int | None, message: str) -> ModelFormatError:
        at = f"line {lineno}: " if lineno is not None else ""
        return ModelFormatError(f"{self.where}: {at}{message}")

    def skip_blank(self) -> bool:
        """Skip blank lines; return whether a non-blank line remains."""
        while self.pos < len(self.lines) and not self.lines[self.pos].strip():
            self.pos += 1
        return self.pos < len(self.lines)

    def next_data(self, what: str) -> tuple[int, list[str]]:
        """Tokens of the next line, which must be a non-blank data line."""
        lineno = self.pos + 1
        line = self.lines[self.pos] if self.pos < len(self.lines) else ""
        if not line.strip():
            if not any(rest.strip() for rest in self.lines[self.pos :]):
                raise self.error(None, f"unexpected end of file; expected {what} (truncated file?)")
            raise self.error(lineno, f"blank line; expected {what}")
        self.pos += 1
        return lineno, line.split()


def _looks_numeric(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _floats(lines: _Lines, lineno: int, tokens: list[str], dtype: numpy.dtype) -> numpy.ndarray:
    """Parse decimal literals; NaN/Inf, ``_`` digit separators and non-numbers are refused."""
    try:
        if any("_" in t for t in tokens):
            raise ValueError
        values = numpy.array(list(map(float, tokens)), dtype=numpy.float64)
    except ValueError:
        for j, tok in enumerate(tokens):
            try:
                if "_" in tok:
                    raise ValueError
                float(tok)
            except ValueError:
                raise lines.error(lineno, f"value {j + 1} ({tok[:40]!r}) is not a number") from None
        raise  # pragma: no cover - one of the tokens failed above
    finite = numpy.isfinite(values)
    if not finite.all():
        j = int(numpy.argmin(finite))
        raise lines.error(lineno, f"value {j + 1} is {tokens[j][:40]!r}; NaN and Inf parameters are refused")
    if dtype != values.dtype:
        with numpy.errstate(over="ignore"):
            values = values.astype(dtype)
        if not numpy.isfinite(values).all():
            j = int(numpy.argmin(numpy.isfinite(values)))
            raise lines.error(lineno, f"value {j + 1} ({tokens[j][:40]}) overflows {dtype}")
    return values


def _ints(lines: _Lines, lineno: int, tokens: list[str], names: str, minimum: int = 1) -> tuple[int, ...]:
    count = len(names.split())
    kind = tokens[0]
    if len(tokens) - 1 != count or not all(_INT.fullmatch(t) for t in tokens[1:]):
        raise lines.error(
            lineno,
            f"{kind} expects {count} integer(s) ({names}), got {' '.join(tokens)[:120]!r}",
        )
    values = tuple(int(t) for t in tokens[1:])
    if min(values) < minimum:
        raise lines.error(lineno, f"{kind} settings ({names}) must be >= {minimum}")
    return values


def _conv_options(
    lines: _Lines, lineno: int, tokens: list[str], version: int
) -> tuple[list[str], dict[str, Any]]:
    """Split the version-2 ``key=value`` tokens off a Convolution header."""
    positional = [t for t in tokens if "=" not in t]
    options: dict[str, Any] = {}
    for tok in tokens:
        if "=" not in tok:
            continue
        if version < 2:
            raise lines.error(lineno, f"{tok[:40]!r} needs the version-2 header line '{MAGIC} 2' at the top")
        key, _, value = tok.partition("=")
        parts = value.split(",")
        wanted = {"padding": 4, "dilation": 2}.get(key)
        if wanted is None or key in options:
            raise lines.error(
                lineno, f"unknown or repeated option {tok[:40]!r}; expected padding=, dilation="
            )
        if len(parts) != wanted or not all(_INT.fullmatch(p) for p in parts):
            raise lines.error(lineno, f"{key}= expects {wanted} comma-separated integers")
        ints = [int(p) for p in parts]
        if key == "dilation" and min(ints) < 1:
            raise lines.error(lineno, "dilation must be >= 1")
        options[key] = ((ints[0], ints[1]), (ints[2], ints[3])) if key == "padding" else tuple(ints)
    return positional, options


def _parse_header(lines: _Lines) -> tuple[int, numpy.dtype | None]:
    """Parse an optional ``#lrp_toolbox-text`` first line; return (version, dtype)."""
    if not lines.skip_blank() or not lines.lines[lines.pos].lstrip().startswith("#"):
        return 1, None
    lineno = lines.pos + 1
    tokens = lines.lines[lines.pos].split()
    lines.pos += 1
    if tokens[0] != MAGIC or len(tokens) < 2 or not _INT.fullmatch(tokens[1]):
        raise lines.error(
            lineno,
            f"unknown header {' '.join(tokens)[:80]!r}; expected '{MAGIC} {VERSION} dtype=...' "
            "or a layer name",
        )
    version = int(tokens[1])
    if version not in (1, 2):
        raise lines.error(
            lineno,
            f"text format version {version} is newer than this reader (versions 1 and 2); update lrp_toolbox",
        )
    dtype = None
    for tok in tokens[2:]:
        key, _, value = tok.partition("=")
        if key != "dtype" or value not in ("float32", "float64") or dtype is not None:
            raise lines.error(lineno, f"unknown header field {tok[:40]!r}; expected dtype=float32|float64")
        dtype = numpy.dtype(value)
    return version, dtype


def parse(raw: bytes, where: str) -> tuple[list[Any], list[str], numpy.dtype]:
    """Parse a text model file.

    Parameters
    ----------
    raw : bytes
        File content.
    where : str
        File name used in error messages.

    Returns
    -------
    records : list of LayerRecord
    locations : list of str
        ``'line k'`` of each layer header.
    dtype : numpy.dtype
        The dtype the file declares (float64 unless a version-2 header says float32).

    Raises
    ------
    ModelFormatError
        Naming the file, the line and what was expected.
    """
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ModelFormatError(
            f"{where}: byte 0x{raw[exc.start]:02x} at offset {exc.start} is not ASCII; a text "
            "model file holds only ASCII text (is it a binary file?)"
        ) from None
    lines = _Lines(text, where)
    version, declared = _parse_header(lines)
    dtype = declared if declared is not None else numpy.dtype(numpy.float64)
    kinds = V2_KINDS if version >= 2 else V1_KINDS
    records: list[Any] = []
    locations: list[str] = []
    while lines.skip_blank():
        lineno = lines.pos + 1
        tokens = lines.lines[lines.pos].split()
        lines.pos += 1
        kind = tokens[0]
        if kind not in kinds:
            if kind in SPECS:
                raise lines.error(lineno, f"{kind} needs the version-2 header line '{MAGIC} 2' at the top")
            hint = ""
            if records and _looks_numeric(kind):
                hint = " (a line of values where a layer header belongs: extra value lines?)"
            raise lines.error(
                lineno, f"unknown layer {kind[:40]!r}; expected one of {', '.join(kinds)}{hint}"
            )
        config: dict[str, Any]
        arrays: dict[str, numpy.ndarray] = {}
        W: numpy.ndarray
        label = f"{kind} (line {lineno})"
        if kind == "Linear":
            m, n = _ints(lines, lineno, tokens, "m n")
            config = {"m": m, "n": n}
            wl, wt = lines.next_data(f"the {m * n} weights of {label}")
            if len(wt) == m * n:
                W = _floats(lines, wl, wt, dtype).reshape(m, n)
            elif version == 1 and len(wt) == n:  # legacy: m lines of n values
                rows = [_floats(lines, wl, wt, dtype)]
                for i in range(1, m):
                    rl, rt = lines.next_data(f"row {i + 1} of {m} of the legacy weights of {label}")
                    if len(rt) != n:
                        raise lines.error(
                            rl, f"expected {n} values (legacy weight row {i + 1} of {m}), got {len(rt)}"
                        )
                    rows.append(_floats(lines, rl, rt, dtype))
                W = numpy.stack(rows)
            else:
                legacy = f", or {n} per line on {m} lines (legacy)" if version == 1 else ""
                raise lines.error(
                    wl, f"expected {m * n} weight values for Linear {m}x{n}{legacy}, got {len(wt)}"
                )
            bl, bt = lines.next_data(f"the {n} biases of {label}")
            if len(bt) != n:
                raise lines.error(bl, f"expected {n} bias values for Linear {m}x{n}, got {len(bt)}")
            arrays = {"W": W, "B": _floats(lines, bl, bt, dtype)}
        elif kind == "Convolution":
            positional, options = _conv_options(lines, lineno, tokens, version)
            h, w, d, n, s0, s1 = _ints(lines, lineno, positional, "h w d n s0 s1")
            config = {"filtersize": (h, w, d, n), "stride": (s0, s1), **options}
            count = h * w * d * n
            wl, wt = lines.next_data(f"the {count} weights of {label}")
            if len(wt) != count:
                raise lines.error(
                    wl, f"expected {count} weight values for Convolution {h}x{w}x{d}x{n}, got {len(wt)}"
                )
            W = _floats(lines, wl, wt, dtype).reshape(h, w, d, n)
            bl, bt = lines.next_data(f"the {n} biases of {label}")
            if len(bt) != n:
                raise lines.error(
                    bl, f"expected {n} bias values for Convolution {h}x{w}x{d}x{n}, got {len(bt)}"
                )
            arrays = {"W": W, "B": _floats(lines, bl, bt, dtype)}
        elif kind in POOLS:
            hp, wp, s0, s1 = _ints(lines, lineno, tokens, "h w s0 s1")
            config = {"pool": (hp, wp), "stride": (s0, s1)}
        else:
            if len(tokens) != 1:
                raise lines.error(lineno, f"{kind} takes no settings, got {' '.join(tokens)[:80]!r}")
            config = {}
        try:
            records.append(make_record(kind, config, arrays))
        except ValueError as exc:
            raise lines.error(lineno, str(exc)) from None
        locations.append(f"line {lineno}")
    if not records:
        raise ModelFormatError(f"{where}: no layers found (empty file?)")
    return records, locations, dtype


def read(path: str | os.PathLike[str]) -> tuple[list[Any], list[str], numpy.dtype]:
    """Read a text model file; see :func:`parse`. ``OSError`` if it cannot be opened."""
    with open(path, "rb") as fh:
        raw = fh.read()
    return parse(raw, os.fspath(path))


def needs_version_2(records: Sequence[Any]) -> bool:
    """Whether the model uses anything the original's text parser cannot read."""
    if model_dtype(records) == numpy.float32:
        return True
    for rec in records:
        if rec.kind == "AvgPool":
            return True
        if rec.kind == "Convolution" and (
            rec.config["padding"] != ((0, 0), (0, 0)) or rec.config["dilation"] != (1, 1)
        ):
            return True
    return False


def _values(a: numpy.ndarray) -> str:
    return " ".join(map(repr, a.astype(numpy.float64).ravel().tolist()))


def format_records(records: Sequence[Any]) -> str:
    """The text of a model file (version 1 when possible, else version 2); ends with a newline."""
    dtype = model_dtype(records) or numpy.dtype(numpy.float64)
    out: list[str] = []
    if needs_version_2(records):
        out.append(f"{MAGIC} {VERSION} dtype={dtype.name}")
    for rec in records:
        cfg = rec.config
        if rec.kind == "Linear":
            out += [f"Linear {cfg['m']} {cfg['n']}", _values(rec.arrays["W"]), _values(rec.arrays["B"])]
        elif rec.kind == "Convolution":
            head = "Convolution " + " ".join(map(str, (*cfg["filtersize"], *cfg["stride"])))
            (t, b), (left, right) = cfg["padding"]
            if (t, b, left, right) != (0, 0, 0, 0):
                head += f" padding={t},{b},{left},{right}"
            if tuple(cfg["dilation"]) != (1, 1):
                head += " dilation={},{}".format(*cfg["dilation"])
            out += [head, _values(rec.arrays["W"]), _values(rec.arrays["B"])]
        elif rec.kind in POOLS:
            out.append(f"{rec.kind} " + " ".join(map(str, (*cfg["pool"], *cfg["stride"]))))
        else:
            out.append(rec.kind)
    return "\n".join(out) + "\n"
