"""Guarded reading of ``.npy`` files and ``.npz`` archives, and writing of archives (shared by model
and data I/O).

Everything goes through :func:`numpy.load` with ``allow_pickle=False``. Before an array is read, its
``.npy`` header is parsed here and the declared size is compared with the bytes that are really
there, so a forged header (``shape=(10**12,)``) is refused before NumPy allocates anything.
Archive members are also checked against the deflate ratio limit, so a tiny archive cannot claim
gigabytes.
"""

from __future__ import annotations

import ast
import math
import os
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO

import numpy

from ..errors import ModelFormatError

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
ZIP_EMPTY_MAGIC = b"PK\x05\x06"  # an end-of-central-directory record first: no members
_MAX_HEADER = 65536
_DEFLATE_MAX_RATIO = 1100  # deflate cannot expand by more than ~1032:1


def parse_npy_header(fp: IO[bytes], where: str) -> tuple[numpy.dtype, tuple[int, ...], bool, int]:
    """Read a ``.npy`` header from ``fp``.

    Returns
    -------
    dtype, shape, fortran_order, header_length
        ``header_length`` counts the bytes consumed (magic included).

    Raises
    ------
    ModelFormatError
        For a missing magic string, an unsupported version, a malformed header dictionary or a
        dtype that holds Python objects (which would need pickle).
    """
    magic = fp.read(8)
    if len(magic) < 8 or magic[:6] != NPY_MAGIC:
        raise ModelFormatError(f"{where}: not a .npy array (missing the b'\\x93NUMPY' magic)")
    major = magic[6]
    if major == 1:
        raw = fp.read(2)
        size_len = 2
    elif major in (2, 3):
        raw = fp.read(4)
        size_len = 4
    else:
        raise ModelFormatError(f"{where}: unsupported .npy format version {major}.{magic[7]}")
    if len(raw) < size_len:
        raise ModelFormatError(f"{where}: truncated .npy header")
    hlen = int.from_bytes(raw, "little")
    if hlen > _MAX_HEADER:
        raise ModelFormatError(f"{where}: .npy header of {hlen} bytes is implausibly long")
    header = fp.read(hlen)
    if len(header) < hlen:
        raise ModelFormatError(f"{where}: truncated .npy header")
    try:
        text = header.decode("utf-8" if major == 3 else "latin1")
        meta = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{where}: malformed .npy header ({exc})") from None
    if not isinstance(meta, dict) or set(meta) != {"descr", "fortran_order", "shape"}:
        raise ModelFormatError(
            f"{where}: malformed .npy header; expected the keys descr, fortran_order, shape"
        )
    shape = meta["shape"]
    if not (
        isinstance(shape, tuple)
        and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise ModelFormatError(f"{where}: malformed .npy shape {shape!r}")
    if not isinstance(meta["fortran_order"], bool):
        raise ModelFormatError(f"{where}: malformed .npy fortran_order")
    try:
        dtype = numpy.lib.format.descr_to_dtype(meta["descr"])
    except Exception as exc:  # numpy raises TypeError/ValueError/KeyError for bad descr
        raise ModelFormatError(f"{where}: unsupported .npy dtype {meta['descr']!r} ({exc})") from None
    if dtype.hasobject:
        raise ModelFormatError(
            f"{where}: the array holds Python objects; refused because loading them would "
            "unpickle (run arbitrary code)"
        )
    if dtype.itemsize == 0:  # e.g. '|V0' or '<U0': any shape, even 10**12 elements, in 0 bytes
        raise ModelFormatError(f"{where}: .npy dtype {meta['descr']!r} has elements of size 0")
    return dtype, shape, meta["fortran_order"], 8 + size_len + hlen


def _nbytes(dtype: numpy.dtype, shape: tuple[int, ...]) -> int:
    return math.prod(shape) * dtype.itemsize


def read_npy(path: str | os.PathLike[str], where: str | None = None) -> numpy.ndarray:
    """Read one ``.npy`` file with ``allow_pickle=False`` after checking its declared size.

    Raises ``OSError`` when the file cannot be opened, ``ModelFormatError`` for bad content.
    """
    where = where or os.fspath(path)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        dtype, shape, _, hlen = parse_npy_header(fh, where)
        expected = _nbytes(dtype, shape)
        if size - hlen != expected:
            raise ModelFormatError(
                f"{where}: the header declares {expected} data bytes (shape {shape}, dtype "
                f"{dtype}) but the file holds {size - hlen}"
                + (" (truncated)" if size - hlen < expected else "")
            )
        fh.seek(0)
        try:
            arr = numpy.load(fh, allow_pickle=False)
        except Exception as exc:
            raise ModelFormatError(f"{where}: unreadable .npy data ({exc})") from None
    if not isinstance(arr, numpy.ndarray):
        raise ModelFormatError(f"{where}: not a .npy array")
    return arr


class NpzReader:
    """An opened ``.npz`` archive whose members are checked before they are read.

    Use :func:`open_npz`. ``names`` lists the array names (member names without ``.npy``).
    """

    def __init__(self, npz: numpy.lib.npyio.NpzFile, where: str, archive_size: int) -> None:
        self._npz = npz
        self.where = where
        zf = npz.zip
        if zf is None:  # pragma: no cover - numpy.load just opened it
            raise ModelFormatError(f"{where}: the archive is closed")
        self._zip: zipfile.ZipFile = zf
        infos = zf.infolist()
        total = sum(i.compress_size for i in infos)
        if total > archive_size:
            raise ModelFormatError(f"{where}: corrupt archive (members larger than the file)")
        members = [i.filename for i in infos]
        unique = set(members)
        if len(unique) != len(members):
            raise ModelFormatError(f"{where}: corrupt archive (duplicate member names)")
        # NumPy reads the array 'x' from a member named exactly 'x' before 'x.npy': with both present
        # the checks below and the read could see different members
        twins = sorted(m for m in members if m.endswith(".npy") and m[: -len(".npy")] in unique)
        if twins:
            raise ModelFormatError(
                f"{where}: ambiguous archive: members {twins[0][:-4]!r} and {twins[0]!r} both hold an "
                "array of that name"
            )
        self._infos = {i.filename: i for i in infos}
        self.names: list[str] = list(npz.files)

    def _member(self, name: str) -> zipfile.ZipInfo:
        for member in (f"{name}.npy", name):
            if member in self._infos:
                return self._infos[member]
        raise ModelFormatError(f"{self.where}: no member {name!r}")

    def read(self, name: str) -> numpy.ndarray:
        """Return the array stored under ``name`` (refusing forged sizes and non-arrays)."""
        info = self._member(name)
        where = f"{self.where}: member {name!r}"
        if info.file_size > _DEFLATE_MAX_RATIO * info.compress_size + 4096:
            raise ModelFormatError(f"{where}: implausible compression ratio (corrupt archive)")
        try:
            with self._zip.open(info) as fh:
                dtype, shape, _, hlen = parse_npy_header(fh, where)
        except ModelFormatError:
            raise
        except Exception as exc:
            raise ModelFormatError(f"{where}: unreadable member ({exc})") from None
        expected = _nbytes(dtype, shape)
        if info.file_size - hlen != expected:
            raise ModelFormatError(
                f"{where}: the header declares {expected} data bytes (shape {shape}, dtype "
                f"{dtype}) but the member holds {info.file_size - hlen}"
            )
        try:
            arr = self._npz[name]
        except Exception as exc:
            raise ModelFormatError(f"{where}: unreadable member ({exc})") from None
        if not isinstance(arr, numpy.ndarray):  # pragma: no cover - magic was checked above
            raise ModelFormatError(f"{where}: not a .npy array")
        return arr


@contextmanager
def open_npz(path: str | os.PathLike[str], where: str | None = None) -> Iterator[NpzReader]:
    """Open an ``.npz`` archive with ``numpy.load(..., allow_pickle=False)``.

    Raises ``OSError`` when the file cannot be opened and ``ModelFormatError`` when it is not a
    readable zip archive of ``.npy`` members.
    """
    where = where or os.fspath(path)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(4)
        if head != ZIP_MAGIC:
            if head == ZIP_EMPTY_MAGIC:
                raise ModelFormatError(f"{where}: the .npz (zip) archive is empty: it holds no arrays")
            kind = "a .npy array" if head == NPY_MAGIC[:4] else "not a zip archive"
            raise ModelFormatError(f"{where}: expected an .npz (zip) archive; the file is {kind}")
        fh.seek(0)
        try:
            npz = numpy.load(fh, allow_pickle=False)
        except Exception as exc:
            raise ModelFormatError(f"{where}: unreadable .npz archive ({exc})") from None
        with npz:
            try:
                reader = NpzReader(npz, where, size)
            except ModelFormatError:
                raise
            except Exception as exc:
                raise ModelFormatError(f"{where}: unreadable .npz archive ({exc})") from None
            yield reader


def write_npz(fh: IO[bytes], arrays: Mapping[str, numpy.ndarray]) -> None:
    """Write ``arrays`` as an uncompressed ``.npz`` archive to the open binary file ``fh``.

    The layout of ``numpy.savez`` (one stored ``<name>.npy`` member per array, zip64 headers, the
    zip epoch as every timestamp, so equal arrays give equal bytes), written here because
    ``savez`` takes the names as keyword arguments (``file`` and ``allow_pickle`` collide with its
    own) and only NumPy >= 2.2 accepts ``allow_pickle`` there. Object arrays are refused.
    """
    with zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, value in arrays.items():
            arr = numpy.asanyarray(value)
            if arr.dtype.hasobject:
                raise ValueError(f"array {name!r} holds Python objects; only plain arrays are written")
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            with zf.open(info, mode="w", force_zip64=True) as member:
                numpy.lib.format.write_array(member, arr, allow_pickle=False)
