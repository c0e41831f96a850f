"""A bounded, pure-Python reader for MATLAB MAT v5 files (``save -v6``/``-v7``, ``scipy.io.savemat``).

Why not ``scipy.io.loadmat``: on corrupted files it can crash the interpreter (a segmentation fault
in its compiled reader was found by this package's fuzz tests with SciPy 1.17), and a reader of
untrusted files must fail with an exception instead. This reader checks every size against the
bytes that are really there before it allocates anything, bounds decompression and nesting, and
supports exactly what data and model files need:

- numeric arrays (double, single, int8..int64, uint8..uint64, logical, complex);
- char arrays;
- cell arrays and struct arrays (nested up to :data:`MAX_DEPTH`).

Sparse matrices, objects, function handles and MAT v4 / v7.3 (HDF5) files are refused with a
clear message. Writing uses ``scipy.io.savemat``.

Values are returned as: numeric -> ``numpy.ndarray`` with the MATLAB shape (at least 2-D, values
in MATLAB's column-major order, i.e. ``a[i, j] == A(i+1, j+1)``); char -> ``str`` (one row) or a
list of ``str`` (several rows); cell -> object ``ndarray``; 1x1 struct -> ``dict``; other structs
-> object ``ndarray`` of ``dict``.
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from typing import Any

import numpy

from ..errors import ModelFormatError

MAX_DEPTH = 16
_INFLATE_RATIO = 1100  # deflate expands at most ~1032:1: a bound on the memory, never reached

# data element types (mi*) -> numpy type code without byte order
_MI_NUMERIC = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8"}
_MI_MATRIX = 14
_MI_COMPRESSED = 15
_MI_TEXT = {
    2: ("u1", "latin-1"),
    4: ("u2", None),
    16: (None, "utf-8"),
    17: (None, "utf-16"),
    18: (None, "utf-32"),
}
# array classes (mx*)
_MX_CELL, _MX_STRUCT, _MX_OBJECT, _MX_CHAR, _MX_SPARSE = 1, 2, 3, 4, 5
_MX_NUMERIC = {6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4", 14: "i8", 15: "u8"}
_MX_NAMES = {_MX_OBJECT: "object", _MX_SPARSE: "sparse matrix", 16: "function handle", 17: "opaque object"}


class MatError(ValueError):
    """The bytes are not a well-formed MAT v5 file (the caller adds the file name)."""


class _Reader:
    def __init__(self, buf: bytes, endian: str) -> None:
        self.buf = buf
        self.e = endian

    def tag(self, pos: int, end: int) -> tuple[int, int, int, int]:
        """(type, nbytes, data start, next element position) of the element at ``pos``."""
        if pos + 8 > end:
            raise MatError(f"truncated data element at byte {pos}")
        first, second = struct.unpack_from(self.e + "II", self.buf, pos)
        if first >> 16:  # small data element: type and size packed into 4 bytes
            mtype, nbytes = first & 0xFFFF, first >> 16
            if nbytes > 4:
                raise MatError(f"corrupt small data element at byte {pos}")
            return mtype, nbytes, pos + 4, pos + 8
        mtype, nbytes = first, second
        start = pos + 8
        if nbytes > end - start:
            raise MatError(
                f"data element at byte {pos} declares {nbytes} bytes but only {end - start} remain"
                " (truncated file?)"
            )
        padded = nbytes if mtype == _MI_COMPRESSED else (nbytes + 7) // 8 * 8
        return mtype, nbytes, start, min(start + padded, end)

    def numeric(self, pos: int, end: int, count: int, what: str) -> tuple[numpy.ndarray, int]:
        mtype, nbytes, start, nxt = self.tag(pos, end)
        code = _MI_NUMERIC.get(mtype)
        if code is None:
            raise MatError(f"{what}: unexpected data type {mtype}")
        dtype = numpy.dtype(self.e + code)
        if nbytes != count * dtype.itemsize:
            raise MatError(f"{what}: {nbytes} data bytes do not match {count} values of {dtype.name}")
        return numpy.frombuffer(self.buf, dtype=dtype, count=count, offset=start), nxt

    def matrix(self, start: int, end: int, depth: int) -> tuple[str, Any]:
        """Parse the content of a miMATRIX element spanning ``buf[start:end]``."""
        if start == end:  # an empty element stands for []
            return "", numpy.zeros((0, 0))
        if depth > MAX_DEPTH:
            raise MatError(f"arrays nested deeper than {MAX_DEPTH} levels")
        mtype, nbytes, s, pos = self.tag(start, end)
        if mtype != 6 or nbytes != 8:
            raise MatError(f"corrupt array flags at byte {start}")
        flags = struct.unpack_from(self.e + "I", self.buf, s)[0]
        cls, is_complex, is_logical = flags & 0xFF, bool(flags & 0x800), bool(flags & 0x200)
        mtype, nbytes, s, pos = self.tag(pos, end)
        if mtype != 5 or nbytes % 4 or not 8 <= nbytes <= 4 * 32:
            raise MatError(f"corrupt array dimensions at byte {s}")
        dims = [int(d) for d in numpy.frombuffer(self.buf, self.e + "i4", nbytes // 4, s)]
        if min(dims) < 0:
            raise MatError(f"negative array dimension {dims}")
        mtype, nbytes, s, pos = self.tag(pos, end)
        if mtype != 1:
            raise MatError(f"corrupt array name at byte {s}")
        try:
            name = self.buf[s : s + nbytes].decode("ascii")
        except UnicodeDecodeError:
            raise MatError(f"array name at byte {s} is not ASCII") from None
        count = math.prod(dims)
        what = f"variable {name!r}" if name else "array"
        if cls in _MX_NUMERIC:
            real, pos = self.numeric(pos, end, count, what)
            value = _as_class(real, numpy.dtype(_MX_NUMERIC[cls]), what)
            if is_complex:  # set the imaginary part: value + 1j * imag makes NaN of 0 * inf, +0 of -0
                imag, pos = self.numeric(pos, end, count, what)
                imag = _as_class(imag, value.dtype, what)
                value = value.astype(numpy.complex64 if value.dtype == numpy.float32 else numpy.complex128)
                value.imag = imag
            if is_logical:
                value = value != 0
            value = value.reshape(dims, order="F")
        elif cls == _MX_CHAR:
            value, pos = self.chars(pos, end, dims, what)
        elif cls == _MX_CELL:
            if count * 8 > end - pos:
                raise MatError(f"{what}: {count} cells cannot fit in {end - pos} bytes")
            value = numpy.empty(count, dtype=object)
            for i in range(count):
                value[i], pos = self.element(pos, end, depth)
            value = value.reshape(dims, order="F")
        elif cls == _MX_STRUCT:
            value, pos = self.struct(pos, end, dims, count, depth, what)
        else:
            kind = _MX_NAMES.get(cls, f"class {cls}")
            raise MatError(f"{what}: {kind} arrays are not supported")
        if end - pos >= 8 or any(self.buf[pos:end]):
            raise MatError(f"{what}: unexpected data after the array (corrupt file?)")
        return name, value

    def element(self, pos: int, end: int, depth: int) -> tuple[Any, int]:
        mtype, nbytes, s, nxt = self.tag(pos, end)
        if mtype != _MI_MATRIX:
            raise MatError(f"expected an array element at byte {pos}, got type {mtype}")
        return self.matrix(s, s + nbytes, depth + 1)[1], nxt

    def chars(self, pos: int, end: int, dims: list[int], what: str) -> tuple[Any, int]:
        mtype, nbytes, s, nxt = self.tag(pos, end)
        if mtype not in _MI_TEXT:
            raise MatError(f"{what}: unexpected character data type {mtype}")
        code, encoding = _MI_TEXT[mtype]
        raw = self.buf[s : s + nbytes]
        try:
            if code == "u2":
                if nbytes % 2:
                    raise ValueError("odd byte count")
                text = "".join(map(chr, numpy.frombuffer(raw, self.e + "u2").tolist()))
            else:
                if encoding in ("utf-16", "utf-32"):
                    encoding += "-le" if self.e == "<" else "-be"
                text = raw.decode(encoding)  # type: ignore[arg-type]
        except (ValueError, UnicodeDecodeError) as exc:
            raise MatError(f"{what}: undecodable characters ({exc})") from None
        count = math.prod(dims)
        if len(text) != count:
            raise MatError(f"{what}: {len(text)} characters for dimensions {dims}")
        if len(dims) != 2:
            raise MatError(f"{what}: character arrays must be 2-D")
        rows = [text[r :: max(dims[0], 1)][: dims[1]] for r in range(dims[0])]
        return (rows[0] if rows else "") if dims[0] <= 1 else rows, nxt

    def struct(
        self, pos: int, end: int, dims: list[int], count: int, depth: int, what: str
    ) -> tuple[Any, int]:
        mtype, nbytes, s, pos = self.tag(pos, end)
        if mtype != 5 or nbytes != 4:
            raise MatError(f"{what}: corrupt struct field-name length")
        length = struct.unpack_from(self.e + "i", self.buf, s)[0]
        mtype, nbytes, s, pos = self.tag(pos, end)
        if mtype != 1 or length <= 0 or nbytes % length:
            raise MatError(f"{what}: corrupt struct field names")
        names = []
        for i in range(nbytes // length):
            raw = self.buf[s + i * length : s + (i + 1) * length].split(b"\0", 1)[0]
            try:
                names.append(raw.decode("ascii"))
            except UnicodeDecodeError:
                raise MatError(f"{what}: struct field name is not ASCII") from None
        if len(set(names)) != len(names) or not all(names):
            raise MatError(f"{what}: empty or repeated struct field names {names}")
        if not names and count > 1:  # its elements take no bytes: nothing bounds count
            raise MatError(f"{what}: an array of {count} structs without fields")
        if count * len(names) * 8 > end - pos:
            raise MatError(f"{what}: {count} structs cannot fit in {end - pos} bytes")
        items = numpy.empty(count, dtype=object)
        for i in range(count):
            fields = {}
            for field in names:
                fields[field], pos = self.element(pos, end, depth)
            items[i] = fields
        if count == 1:
            return items[0], pos
        return items.reshape(dims, order="F"), pos


def _as_class(stored: numpy.ndarray, dtype: numpy.dtype, what: str) -> numpy.ndarray:
    """``stored`` cast to its array class's ``dtype``, refusing values the class cannot hold exactly.

    MATLAB stores e.g. whole doubles as uint8 to save space, always losslessly; a file whose stored
    values change in the cast (-1 stored for a uint8 array, NaN or 0.5 for an int8 one, 1e300 for a
    single one) is corrupt, and the cast would give wrong values silently.
    """
    if stored.dtype.newbyteorder("=") == dtype:
        return stored.astype(dtype)
    with numpy.errstate(invalid="ignore", over="ignore"):
        value = stored.astype(dtype)
        back = value.astype(stored.dtype)
    # the round trip misses sign flips between integers of one width (int8 -1 <-> uint8 255)
    same = (back == stored) & ((value < 0) == (stored < 0))
    if stored.dtype.kind == "f":
        same |= numpy.isnan(back) & numpy.isnan(stored)
    if not same.all():
        flat = int(numpy.flatnonzero(~same)[0])
        raise MatError(
            f"{what}: value {stored.flat[flat].item()!r} (flat index {flat}) stored as "
            f"{stored.dtype.name} does not fit its class {dtype.name}"
        )
    return value


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    limit = _INFLATE_RATIO * len(data) + 1024
    try:
        out = inflater.decompress(data, limit)
    except zlib.error as exc:
        raise MatError(f"corrupt compressed element ({exc})") from None
    # deflate cannot expand past ``limit``; were the output cut there, ``eof`` would be False
    if not inflater.eof or inflater.unused_data:
        raise MatError("truncated or corrupt compressed element")
    return out


def load_mat_file(path: str | os.PathLike[str], where: str) -> dict[str, Any]:
    """Read and parse a MAT v5 file; ``OSError`` if it cannot be opened, ``ModelFormatError``
    (naming ``where``) if its content is not a well-formed MAT v5 file."""
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        return loadmat(raw)
    except MatError as exc:
        raise ModelFormatError(f"{where}: {exc}") from None


def loadmat(raw: bytes) -> dict[str, Any]:
    """Parse a MAT v5 file's bytes into ``{variable name: value}``.

    Raises
    ------
    MatError
        For anything that is not a well-formed MAT v5 file with supported arrays.
    """
    if len(raw) < 128:
        raise MatError("not a MAT file (shorter than the 128-byte header)")
    indicator = raw[126:128]
    if indicator == b"IM":
        endian = "<"
    elif indicator == b"MI":
        endian = ">"
    else:
        if raw.startswith(b"MATLAB 7.3") or raw[512:520] == b"\x89HDF\r\n\x1a\n":
            raise MatError("MAT v7.3 (HDF5) files are not supported; save with `save(..., '-v7')`")
        raise MatError("not a MAT v5 file (no endian indicator; MAT v4 is not supported)")
    version = struct.unpack_from(endian + "H", raw, 124)[0]
    if version != 0x0100:
        if version == 0x0200:
            raise MatError("MAT v7.3 (HDF5) files are not supported; save with `save(..., '-v7')`")
        raise MatError(f"unsupported MAT file version 0x{version:04x}")
    variables: dict[str, Any] = {}
    pos = 128
    top = _Reader(raw, endian)
    while pos < len(raw):
        mtype, nbytes, start, nxt = top.tag(pos, len(raw))
        if mtype == _MI_COMPRESSED:
            inner = _Reader(_inflate(raw[start : start + nbytes]), endian)
            itype, inbytes, istart, _ = inner.tag(0, len(inner.buf))
            if itype != _MI_MATRIX or istart + inbytes != len(inner.buf):
                raise MatError(f"corrupt compressed variable at byte {pos}")
            name, value = inner.matrix(istart, istart + inbytes, 0)
        elif mtype == _MI_MATRIX:
            name, value = top.matrix(start, start + nbytes, 0)
        else:
            raise MatError(f"unexpected top-level data element of type {mtype} at byte {pos}")
        if name in variables:
            raise MatError(f"variable {name!r} appears twice")
        variables[name] = value
        pos = nxt
    return variables
