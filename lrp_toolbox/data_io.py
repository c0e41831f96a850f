"""Reading and writing data arrays: ``.npy``, ``.npz``, ``.mat``, ``.txt`` and MNIST idx files.

Replaces the original toolbox's ``data_io`` with these differences:

- nothing is ever unpickled (``allow_pickle=False``; object arrays are refused);
- ``read('x.npz')`` returns an array (selected by ``key`` when the archive holds several) and
  ``write(x, 'x.npz')`` writes ``x.npz`` (the original wrote ``x.npz.npy``);
- ``.txt`` round trips are exact: values are written as ``repr(float(v))`` and a comment line
  records dtype and shape (plain numeric text files without it still load);
- MNIST idx files (plain or gzip) are read and written;
- writes are atomic: a failed write never damages an existing file.

Every problem with a file's content raises :class:`~lrp_toolbox.errors.ModelFormatError` naming
the file and the line or key; a file that cannot be opened raises the usual ``OSError``.
The exact formats are specified in docs/formats.md.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import re
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy

from .backend import to_numpy
from .errors import ModelFormatError
from .model_io._atomic import atomic_write
from .model_io._matv5 import load_mat_file
from .model_io._npy import NPY_MAGIC, ZIP_MAGIC, open_npz, read_npy, write_npz

__all__ = ["FORMATS", "read", "read_idx", "write", "write_idx"]

FORMATS = ("npy", "npz", "mat", "txt", "idx")
"""Supported data formats (``fmt`` values)."""

TXT_MAGIC = "# lrp_toolbox-data"
DEFAULT_MAT_KEY = "data"
DEFAULT_NPZ_KEY = "data"
_PICKLE_EXTENSIONS = ("pickle", "pickled", "pkl", "nn")
_GZIP_MAGIC = b"\x1f\x8b"
_IDX_TYPES: dict[int, str] = {
    0x08: "u1",
    0x09: "i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
_IDX_CODES = {numpy.dtype(v).newbyteorder(">").str[1:]: k for k, v in _IDX_TYPES.items()}
_MAT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")
_TXT_DTYPE = re.compile(r"bool|u?int(8|16|32|64)|float(16|32|64)")  # what format_txt writes


# --------------------------------------------------------------------------- format detection
def _is_idx_name(name: str) -> bool:
    return bool(re.search(r"(ubyte|\.idx\d?)$", name))


def _sniff(path: str) -> str:
    """Format of an extension-less file, from its first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head.startswith(ZIP_MAGIC):
        return "npz"
    if head.startswith(_GZIP_MAGIC) or (len(head) >= 4 and head[:2] == b"\0\0" and head[2] in _IDX_TYPES):
        return "idx"
    raise ModelFormatError(
        f"{path}: no file extension and not recognisably .npy, .npz or idx; pass fmt= "
        f"(one of {', '.join(FORMATS)})"
    )


def _format(path: str, fmt: str | None, reading: bool) -> str:
    if fmt is not None:
        key = str(fmt).lower().lstrip(".")
        key = {"text": "txt", "gz": "idx"}.get(key, key)
    else:
        name = Path(path).name.lower()
        if name.endswith(".gz"):
            name = name[:-3]
            if not _is_idx_name(name):
                raise ModelFormatError(
                    f"{path}: only gzip-compressed MNIST idx files are supported "
                    "(names ending in 'ubyte.gz' or '.idx.gz'); pass fmt='idx' if it is one"
                )
            return "idx"
        if _is_idx_name(name):
            return "idx"
        key = Path(name).suffix.lstrip(".")
        if key == "":
            if reading:
                return _sniff(path)
            raise ModelFormatError(f"{path}: no file extension; pass fmt= ({', '.join(FORMATS)})")
    if key in _PICKLE_EXTENSIONS:
        raise ModelFormatError(
            f"{path}: pickled data is refused because unpickling runs arbitrary code; "
            "save it as .npy or .npz instead"
        )
    if key not in FORMATS:
        raise ModelFormatError(f"{path}: unknown data format {key!r}; expected one of {', '.join(FORMATS)}")
    return key


# --------------------------------------------------------------------------- public API
def read(path: str | os.PathLike[str], fmt: str | None = None, key: str | None = None) -> numpy.ndarray:
    """Read an array from a data file.

    Parameters
    ----------
    path : str or os.PathLike
        Data file.
    fmt : {'npy', 'npz', 'mat', 'txt', 'idx'}, optional
        Format; default from the extension (``*ubyte``, ``*.idx``, ``*ubyte.gz`` are idx;
        extension-less files are recognised by their magic bytes).
    key : str, optional
        ``.npz``: the array name (required when the archive holds several arrays).
        ``.mat``: the variable name (default ``'data'``, as in the original toolbox).

    Returns
    -------
    numpy.ndarray
        ``.npy``/``.npz``/idx/``.txt`` with a header: dtype and shape as written. ``.mat``: as
        ``scipy.io.loadmat`` returns it (at least 2-D). Plain numeric text: float64, 2-D, or 1-D
        for a single row or column (as ``numpy.loadtxt``).

    Raises
    ------
    ModelFormatError
        Malformed content, missing or ambiguous key, pickled data, unknown format.
    OSError
        The file cannot be opened.
    """
    where = os.fspath(path)
    kind = _format(where, fmt, reading=True)
    if key is not None and kind not in ("npz", "mat"):
        raise ValueError(f"key= applies to .npz and .mat files only, not {kind}")
    if kind == "npy":
        return read_npy(path, where)
    if kind == "npz":
        return _read_npz(path, where, key)
    if kind == "mat":
        return _read_mat(path, where, DEFAULT_MAT_KEY if key is None else key)
    if kind == "txt":
        return _read_txt(path, where)
    return read_idx(path)


def write(data: Any, path: str | os.PathLike[str], fmt: str | None = None, key: str | None = None) -> None:
    """Write an array to a data file, atomically.

    Parameters
    ----------
    data : array_like, or mapping of str to array_like (``.npz`` only)
        The data (CuPy arrays are copied to NumPy). Object arrays are refused.
    path : str or os.PathLike
        Target file, written exactly at this path (``x.npz`` stays ``x.npz``).
    fmt : {'npy', 'npz', 'mat', 'txt', 'idx'}, optional
        Format; default from the extension. ``idx`` writes gzip when the name ends in ``.gz``.
    key : str, optional
        Name of the array in ``.npz`` (default ``'data'``) and ``.mat`` (default ``'data'``) files.

    Raises
    ------
    ModelFormatError
        Unknown or pickle formats, dtypes the format cannot hold.
    """
    where = os.fspath(path)
    kind = _format(where, fmt, reading=False)
    if kind == "npz":
        arrays = _npz_arrays(data, key)
        with atomic_write(path, "wb") as fh:
            write_npz(fh, arrays)
        return
    if isinstance(data, Mapping):
        raise TypeError(f"a mapping of arrays can only be written to .npz, not {kind}")
    if key is not None and kind != "mat":
        raise ValueError(f"key= applies to .npz and .mat files only, not {kind}")
    arr = _as_array(data)
    if kind == "npy":
        with atomic_write(path, "wb") as fh:
            numpy.save(fh, arr, allow_pickle=False)
    elif kind == "mat":
        _write_mat(arr, path, DEFAULT_MAT_KEY if key is None else key)
    elif kind == "txt":
        content = format_txt(arr)
        with atomic_write(path, "w") as fh:
            fh.write(content)
    else:
        write_idx(arr, path)


def _as_array(data: Any) -> numpy.ndarray:
    arr = to_numpy(data)
    if arr.dtype.hasobject:
        raise ModelFormatError("object arrays are refused (they would need pickle)")
    return arr


# --------------------------------------------------------------------------- npz
def _npz_arrays(data: Any, key: str | None) -> dict[str, numpy.ndarray]:
    if isinstance(data, Mapping):
        if key is not None:
            raise ValueError("key= cannot be combined with a mapping of arrays")
        items = dict(data)
    else:
        items = {DEFAULT_NPZ_KEY if key is None else key: data}
    if not items:
        raise ValueError("nothing to write: the mapping is empty")
    out = {}
    for name, value in items.items():
        if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
            raise ValueError(f"invalid .npz array name {name!r}")
        out[name] = _as_array(value)
    return out


def _read_npz(path: str | os.PathLike[str], where: str, key: str | None) -> numpy.ndarray:
    with open_npz(path, where) as npz:
        names = npz.names
        if key is None:
            if len(names) != 1:
                shown = ", ".join(map(repr, names[:20])) or "none"
                raise ModelFormatError(
                    f"{where}: the archive holds {len(names)} arrays ({shown}); pass key= to choose one"
                )
            key = names[0]
        elif key not in names:
            shown = ", ".join(map(repr, names[:20])) or "none"
            raise ModelFormatError(f"{where}: no array {key!r} in the archive (it holds {shown})")
        return npz.read(key)


# --------------------------------------------------------------------------- mat
def _read_mat(path: str | os.PathLike[str], where: str, key: str) -> numpy.ndarray:
    content = load_mat_file(path, where)
    names = sorted(content)
    if key not in names:
        raise ModelFormatError(
            f"{where}: no variable {key!r} (variables: {', '.join(names[:20]) or 'none'}); pass key="
        )
    value = content[key]
    if not isinstance(value, numpy.ndarray) or value.dtype.kind not in "biufc":
        kind = getattr(value, "dtype", type(value).__name__)
        raise ModelFormatError(f"{where}: variable {key!r} is not a numeric array ({kind})")
    return numpy.ascontiguousarray(value)


def _write_mat(arr: numpy.ndarray, path: str | os.PathLike[str], key: str) -> None:
    from scipy.io import savemat

    if not _MAT_NAME.fullmatch(key):
        raise ValueError(f"{key!r} is not a valid MATLAB variable name")
    if arr.dtype.kind not in "biufc" or arr.dtype == numpy.float16:
        hint = "; write arr.astype(numpy.float32)" if arr.dtype == numpy.float16 else ""
        raise ModelFormatError(f"{os.fspath(path)}: dtype {arr.dtype} cannot be stored in .mat{hint}")
    with atomic_write(path, "wb") as fh:
        savemat(fh, {key: arr}, do_compression=True, oned_as="row")


# --------------------------------------------------------------------------- txt
def _txt_token(dtype: numpy.dtype):  # -> Callable[[Any], str]
    if dtype.kind == "b":
        return lambda v: "1" if v else "0"
    if dtype.kind in "iu":
        return str
    return repr


def format_txt(arr: numpy.ndarray) -> str:
    """The text form of an array: a ``# lrp_toolbox-data`` comment line, then one row per line.

    1-D arrays are written one value per line (as ``numpy.savetxt``), arrays with more axes as
    ``arr.reshape(len(arr), -1)``. Floats use ``repr(float(v))`` (exact round trip).
    """
    arr = numpy.asarray(arr)
    if arr.dtype.kind not in "biuf" or arr.dtype.itemsize > 8:
        raise ModelFormatError(f"dtype {arr.dtype} cannot be written as text (bool, int, float only)")
    shape = ",".join(map(str, arr.shape))
    lines = [f"{TXT_MAGIC} 1 dtype={arr.dtype.name} shape={shape}"]
    if arr.size:
        rows = arr.reshape(-1, 1) if arr.ndim <= 1 else arr.reshape(arr.shape[0], -1)
        if arr.dtype.kind == "f":
            rows = rows.astype(numpy.float64)
        token = _txt_token(arr.dtype)
        lines += [" ".join(map(token, row)) for row in rows.tolist()]
    return "\n".join(lines) + "\n"


def _parse_txt_header(line: str, lineno: int, where: str) -> tuple[numpy.dtype, tuple[int, ...]]:
    tokens = line.split()
    fields = dict(t.partition("=")[::2] for t in tokens[3:])
    try:
        if tokens[2] != "1" or set(fields) != {"dtype", "shape"} or len(tokens) != 5:
            raise ValueError
        # the canonical name of a bool, int or float dtype, checked before numpy.dtype sees it (NumPy
        # warns for some aliases, e.g. 'a')
        if not _TXT_DTYPE.fullmatch(fields["dtype"]):
            raise ValueError
        dtype = numpy.dtype(fields["dtype"])
        shape = tuple(int(s) for s in fields["shape"].split(",")) if fields["shape"] else ()
        if any(d < 0 for d in shape) or len(shape) > 32:
            raise ValueError
    except (ValueError, TypeError, IndexError):
        raise ModelFormatError(
            f"{where}: line {lineno}: malformed header; expected "
            f"'{TXT_MAGIC} 1 dtype=<name> shape=<d0,d1,...>'"
        ) from None
    return dtype, shape


def _looks_like_header(comment: str) -> bool:
    """A comment meant as the data header: the magic, something like it (``#lrp-toolbox-data``), or
    both ``dtype=`` and ``shape=`` fields. A mistyped header must not silently become a comment and
    lose the dtype and shape."""
    tokens = comment.lstrip("#").split()
    fields = {t.partition("=")[0] for t in tokens if "=" in t}
    first = tokens[0].lower() if tokens else ""
    return (first.startswith("lrp") and "data" in first) or {"dtype", "shape"} <= fields


def _read_txt(path: str | os.PathLike[str], where: str) -> numpy.ndarray:
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ModelFormatError(
            f"{where}: byte 0x{raw[exc.start]:02x} at offset {exc.start} is not ASCII text "
            "(is it a binary file?)"
        ) from None
    header: tuple[numpy.dtype, tuple[int, ...]] | None = None
    rows: list[list[str]] = []
    first_line = 0
    for lineno, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            if _looks_like_header(stripped):
                if header is not None or rows or not stripped.startswith(TXT_MAGIC):
                    raise ModelFormatError(
                        f"{where}: line {lineno}: a data header must be the first line and read "
                        f"'{TXT_MAGIC} 1 dtype=<name> shape=<d0,d1,...>'"
                    )
                header = _parse_txt_header(stripped, lineno, where)
            continue
        tokens = stripped.split()
        if rows and len(tokens) != len(rows[0]):
            raise ModelFormatError(
                f"{where}: line {lineno}: expected {len(rows[0])} values (as on line "
                f"{first_line}), got {len(tokens)}"
            )
        if not rows:
            first_line = lineno
        rows.append(tokens)
    dtype = header[0] if header else numpy.dtype(numpy.float64)
    flat = [t for row in rows for t in row]
    if header:
        shape = header[1]
        if math.prod(shape) != len(flat):
            raise ModelFormatError(
                f"{where}: the header declares shape {shape} ({math.prod(shape)} values) but the "
                f"file holds {len(flat)} (truncated?)"
            )
    elif not flat:
        raise ModelFormatError(f"{where}: no data in the file")
    values = _parse_values(flat, dtype, where)
    if header:
        return values.reshape(header[1])
    # as numpy.loadtxt: axes of length 1 are squeezed (one row or column: 1-D; one value: 0-d)
    return values.reshape(len(rows), -1).squeeze()


def _parse_values(tokens: list[str], dtype: numpy.dtype, where: str) -> numpy.ndarray:
    if any("_" in t for t in tokens):
        raise ModelFormatError(f"{where}: '_' in a number is not allowed")
    try:
        if dtype.kind == "f":
            values = numpy.array(list(map(float, tokens)), dtype=numpy.float64)
            with numpy.errstate(over="ignore"):
                cast = values.astype(dtype)
            if not numpy.array_equal(numpy.isfinite(cast), numpy.isfinite(values)):
                raise ValueError(f"a value overflows {dtype}")
            return cast
        ints = list(map(int, tokens))
        if dtype.kind == "b":
            if not set(ints) <= {0, 1}:
                raise ValueError("bool values must be 0 or 1")
            return numpy.array(ints, dtype=bool)
        info = numpy.iinfo(dtype)
        if ints and (min(ints) < info.min or max(ints) > info.max):
            raise ValueError(f"a value is out of range for {dtype}")
        return numpy.array(ints, dtype=dtype)
    except ValueError as exc:
        raise ModelFormatError(f"{where}: not a number table of {dtype} ({exc})"[:300]) from None


# --------------------------------------------------------------------------- idx (MNIST)
def read_idx(path: str | os.PathLike[str]) -> numpy.ndarray:
    """Read an idx file (the MNIST format), plain or gzip-compressed.

    Returns
    -------
    numpy.ndarray
        Native byte order, writable, shape as declared (e.g. ``(60000, 28, 28)`` uint8).

    Raises
    ------
    ModelFormatError
        Bad magic, unknown type code, truncated data or trailing bytes, corrupt gzip stream.
    OSError
        The file cannot be opened.
    """
    where = os.fspath(path)
    with open(path, "rb") as fh:
        raw = fh.read()
    return parse_idx(raw, where)


def parse_idx(raw: bytes, where: str) -> numpy.ndarray:
    """Parse idx content (gzip or plain bytes); see :func:`read_idx`."""
    if raw.startswith(_GZIP_MAGIC):
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(raw), mode="rb") as stream:
                head = stream.read(4 + 4 * 255)[:4]
                stream.seek(0)
                header_len = 4 + 4 * head[3] if len(head) == 4 else 4
                header = stream.read(header_len)
                dtype, shape, nbytes = _idx_header(header, where, 1100 * len(raw) + 1024)
                chunks = []
                remaining = nbytes + 1  # one byte more, to detect trailing data
                while remaining > 0:
                    chunk = stream.read(min(remaining, 1 << 24))
                    if not chunk:
                        break
                    chunks.append(chunk)
                    remaining -= len(chunk)
                data: bytes | memoryview = b"".join(chunks)
        except ModelFormatError:
            raise
        except (OSError, EOFError, zlib.error) as exc:
            raise ModelFormatError(f"{where}: corrupt gzip stream ({exc})") from None
    else:
        dtype, shape, nbytes = _idx_header(raw, where, len(raw))
        data = memoryview(raw)[4 + 4 * len(shape) :]
    if len(data) != nbytes:
        problem = "truncated" if len(data) < nbytes else "has trailing bytes"
        raise ModelFormatError(
            f"{where}: idx data {problem}: the header declares shape {shape} of {dtype.name} ({nbytes} bytes)"
        )
    array = numpy.frombuffer(data, dtype=dtype, count=math.prod(shape)).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def _idx_header(head: bytes, where: str, limit: int) -> tuple[numpy.dtype, tuple[int, ...], int]:
    """dtype, shape and data size from the start of an idx file (``limit``: plausible bytes)."""
    if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in _IDX_TYPES or head[3] == 0:
        raise ModelFormatError(
            f"{where}: not an idx file (magic bytes {head[:4].hex() or 'missing'}; expected "
            "00 00 <type 08|09|0b|0c|0d|0e> <ndim>)"
        )
    dtype = numpy.dtype(_IDX_TYPES[head[2]])
    ndim = head[3]
    if len(head) < 4 + 4 * ndim:
        raise ModelFormatError(f"{where}: truncated idx header ({ndim} dimensions declared)")
    shape = tuple(int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > limit:  # deflate expands at most ~1032:1, so a larger size cannot be real
        raise ModelFormatError(
            f"{where}: idx data truncated: the header declares shape {shape} of {dtype.name} "
            f"({nbytes} bytes), more than the file can hold"
        )
    return dtype, shape, nbytes


def write_idx(data: Any, path: str | os.PathLike[str]) -> None:
    """Write an idx file atomically (gzip-compressed when ``path`` ends in ``.gz``).

    Supported dtypes: uint8, int8, int16, int32, float32, float64; 1 to 255 axes.
    """
    arr = _as_array(data)
    code = _IDX_CODES.get(arr.dtype.newbyteorder(">").str[1:])
    if code is None or arr.ndim == 0 or arr.ndim > 255 or max(arr.shape) >= 2**32:
        raise ModelFormatError(
            f"{os.fspath(path)}: idx holds 1 to 255 axes of uint8, int8, int16, int32, float32 or "
            f"float64; got shape {arr.shape} dtype {arr.dtype}"
        )
    header = bytes([0, 0, code, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    payload = header + numpy.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder(">")).tobytes()
    if os.fspath(path).lower().endswith(".gz"):
        payload = gzip.compress(payload, compresslevel=6, mtime=0)
    with atomic_write(path, "wb") as fh:
        fh.write(payload)
