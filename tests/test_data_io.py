"""Data I/O: exact round trips (.npy, .npz, .mat, .txt, idx), keys, no pickle, atomic writes."""

from __future__ import annotations

import gzip
import io
import os
import struct
import time

import numpy
import pytest
import scipy.io

from lrp_toolbox import data_io
from lrp_toolbox.errors import ModelFormatError

DTYPES = [numpy.float64, numpy.float32, numpy.int64, numpy.int32, numpy.uint8, numpy.int8]


def _sample(rng, dtype, shape=(4, 5)):
    if numpy.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = numpy.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


@pytest.mark.parametrize("fmt", ["npy", "npz", "txt"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 5), (7,), (2, 3, 4), (), (0, 3)])
def test_round_trip_exact(tmp_path, rng, fmt, dtype, shape):
    data = _sample(rng, dtype, shape)
    path = tmp_path / f"x.{fmt}"
    data_io.write(data, path)
    back = data_io.read(path)
    assert back.dtype == data.dtype
    assert back.shape == data.shape
    assert back.tobytes() == data.tobytes()


@pytest.mark.parametrize("dtype", [*DTYPES, numpy.complex128, numpy.bool_])
def test_mat_round_trip(tmp_path, rng, dtype):
    data = (
        rng.standard_normal((3, 4)) + 1j
        if dtype is numpy.complex128
        else (rng.random((3, 4)) > 0.5 if dtype is numpy.bool_ else _sample(rng, dtype, (3, 4)))
    )
    data_io.write(data, tmp_path / "x.mat")
    back = data_io.read(tmp_path / "x.mat")
    assert back.shape == (3, 4)
    assert numpy.array_equal(back, data)
    if dtype is not numpy.bool_:
        assert back.dtype == data.dtype


def test_mat_key_and_matlab_shapes(tmp_path):
    data_io.write(numpy.arange(5.0), tmp_path / "v.mat", key="images")
    assert data_io.read(tmp_path / "v.mat", key="images").shape == (1, 5)  # MATLAB is 2-D
    with pytest.raises(ModelFormatError, match=r"no variable 'data'.*images"):
        data_io.read(tmp_path / "v.mat")
    scipy.io.savemat(tmp_path / "orig.mat", {"data": numpy.arange(6, dtype=numpy.uint8).reshape(2, 3)})
    assert data_io.read(tmp_path / "orig.mat").dtype == numpy.uint8
    with pytest.raises(ValueError, match="MATLAB variable name"):
        data_io.write(numpy.zeros(2), tmp_path / "bad.mat", key="_x")


def test_mat_non_numeric_variable(tmp_path):
    scipy.io.savemat(tmp_path / "s.mat", {"data": {"a": 1.0}})
    with pytest.raises(ModelFormatError, match="not a numeric array"):
        data_io.read(tmp_path / "s.mat")


def test_npz_writes_exactly_the_given_name(tmp_path):
    data_io.write(numpy.arange(3), tmp_path / "x.npz")
    assert os.listdir(tmp_path) == ["x.npz"]
    assert numpy.array_equal(data_io.read(tmp_path / "x.npz"), numpy.arange(3))
    with numpy.load(tmp_path / "x.npz", allow_pickle=False) as z:
        assert z.files == ["data"]


@pytest.mark.parametrize("name", ["file", "allow_pickle", "args", "kwds"])
def test_npz_names_that_were_savez_arguments(tmp_path, name):
    """``numpy.savez(fh, **arrays)`` took these names as its own arguments."""
    data_io.write({name: numpy.arange(3.0), "other": numpy.ones(2)}, tmp_path / "n.npz")
    assert numpy.array_equal(data_io.read(tmp_path / "n.npz", key=name), numpy.arange(3.0))
    data_io.write(numpy.arange(2.0), tmp_path / "k.npz", key=name)
    with numpy.load(tmp_path / "k.npz", allow_pickle=False) as z:
        assert z.files == [name]


def test_npz_bytes_depend_on_the_arrays_only(tmp_path):
    data = {"a": numpy.arange(5.0), "b": numpy.eye(2, dtype=numpy.float32)}
    data_io.write(data, tmp_path / "one.npz")
    data_io.write(data, tmp_path / "two.npz")
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()
    buffer = io.BytesIO()
    numpy.savez(buffer, **data)  # the same layout as NumPy's own writer
    assert buffer.getvalue() == (tmp_path / "one.npz").read_bytes()


def test_npz_several_arrays_need_a_key(tmp_path):
    data_io.write({"X": numpy.zeros((2, 2)), "Y": numpy.arange(2)}, tmp_path / "xy.npz")
    with pytest.raises(ModelFormatError, match=r"holds 2 arrays \('X', 'Y'\); pass key="):
        data_io.read(tmp_path / "xy.npz")
    assert numpy.array_equal(data_io.read(tmp_path / "xy.npz", key="Y"), numpy.arange(2))
    with pytest.raises(ModelFormatError, match="no array 'Z'"):
        data_io.read(tmp_path / "xy.npz", key="Z")
    data_io.write(numpy.ones(2), tmp_path / "k.npz", key="relevance")
    assert data_io.read(tmp_path / "k.npz", key="relevance").tolist() == [1.0, 1.0]


def test_plain_numpy_text_files_load(tmp_path):
    data = numpy.array([[1.5, -2.0, 1e-300], [numpy.pi, 0.0, -7.0]])
    numpy.savetxt(tmp_path / "a.txt", data)  # the original's writer: '%.18e'
    assert numpy.array_equal(data_io.read(tmp_path / "a.txt"), data)
    numpy.savetxt(tmp_path / "col.txt", data[0])
    assert data_io.read(tmp_path / "col.txt").shape == (3,)
    (tmp_path / "crlf.txt").write_bytes(b"1 2\r\n3 4\r\n\r\n")
    assert data_io.read(tmp_path / "crlf.txt").tolist() == [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize(
    "content", ["3.5\n", "1 2 3\n", "1\n2\n", "1 2\n3 4\n", "# c\n\n7\n", "# made with dtype=float32\n1 2\n"]
)
def test_plain_text_shapes_match_loadtxt(tmp_path, content):
    # one value: 0-d, one row or column: 1-D, otherwise 2-D, exactly as numpy.loadtxt
    (tmp_path / "p.txt").write_text(content)
    got, want = data_io.read(tmp_path / "p.txt"), numpy.loadtxt(tmp_path / "p.txt")
    assert got.shape == want.shape and numpy.array_equal(got, want)


def test_text_nan_inf_round_trip(tmp_path):
    data = numpy.array([numpy.nan, numpy.inf, -numpy.inf, -0.0, 5e-324])
    data_io.write(data, tmp_path / "s.txt")
    assert data_io.read(tmp_path / "s.txt").tobytes() == data.tobytes()


def test_bool_text_round_trip(tmp_path):
    data = numpy.array([[True, False], [False, True]])
    data_io.write(data, tmp_path / "b.txt")
    back = data_io.read(tmp_path / "b.txt")
    assert back.dtype == bool and numpy.array_equal(back, data)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"1 2\n3\n", "line 2: expected 2 values"),
        (b"1 x\n", "not a number"),
        (b"", "no data"),
        (b"# lrp_toolbox-data 1 dtype=float64 shape=2,2\n1 2\n3\n", "line 3: expected 2 values"),
        (b"# lrp_toolbox-data 1 dtype=float64 shape=2,3\n1 2\n3 4\n", "declares shape (2, 3)"),
        (b"# lrp_toolbox-data 1 dtype=object shape=1\n1\n", "malformed header"),
        (b"# lrp_toolbox-data 1 dtype=uint8 shape=1\n256\n", "out of range"),
        (b"# lrp_toolbox-data 1 dtype=float32 shape=1\n1e300\n", "overflows"),
        (b"\x00\xff\x10binary", "not ASCII"),
        # a mistyped, misplaced or repeated header is an error, not a comment (dtype and shape lost)
        (b"# lrp-toolbox-data 1 dtype=float32 shape=4\n1\n2\n3\n4\n", "line 1: a data header"),
        (b"#lrp_toolbox-data 1 dtype=float32 shape=2\n1\n2\n", "line 1: a data header"),
        (b"1 2\n# lrp_toolbox-data 1 dtype=float32 shape=2\n", "line 2: a data header"),
        (
            b"# lrp_toolbox-data 1 dtype=float32 shape=1\n# lrp_toolbox-data 1 dtype=int8 shape=1\n1\n",
            "line 2: a data header",
        ),
    ],
)
def test_bad_text_data(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(ModelFormatError) as info:
        data_io.read(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz", "x.idx", "x.idx.gz"])
@pytest.mark.parametrize(
    "dtype", [numpy.uint8, numpy.int8, numpy.int16, numpy.int32, numpy.float32, numpy.float64]
)
def test_idx_round_trip(tmp_path, rng, name, dtype):
    data = _sample(rng, dtype, (3, 4, 2))
    data_io.write(data, tmp_path / name)
    raw = (tmp_path / name).read_bytes()
    assert raw[:2] == (b"\x1f\x8b" if name.endswith(".gz") else b"\0\0")
    back = data_io.read(tmp_path / name)
    assert back.dtype == data.dtype and back.dtype.isnative
    assert numpy.array_equal(back, data)
    back.flat[0] = 0  # writable


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\0\0\x08\x01\0\0\0\x05abcd", "truncated"),
        (b"\0\0\x08\x01\0\0\0\x02abcd", "trailing bytes"),
        (b"\0\0\x08\x03\0\0", "truncated idx header"),
        (b"\0\0\x07\x01\0\0\0\x01a", "not an idx file"),
        (b"\0\0\x08\x02\xff\xff\xff\xff\xff\xff\xff\xffa", "more than the file can hold"),
        (gzip.compress(b"\0\0\x08\x01\0\0\0\x05ab"), "truncated"),
        (gzip.compress(b"\0\0\x08\x02\xff\xff\xff\xff\xff\xff\xff\xffab"), "more than the file"),
        (gzip.compress(b"\0\0\x08\x01\0\0\0\x05abcde")[:-6], "corrupt gzip"),
        (b"\x1f\x8bnot really gzip", "corrupt gzip"),
    ],
)
def test_bad_idx(tmp_path, content, message):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(content)
    start = time.perf_counter()
    with pytest.raises(ModelFormatError, match=message):
        data_io.read(path)
    assert time.perf_counter() - start < 1.0


def test_extension_less_files_are_sniffed(tmp_path):
    numpy.save(tmp_path / "a.npy", numpy.arange(3))
    os.rename(tmp_path / "a.npy", tmp_path / "a")
    assert data_io.read(tmp_path / "a").tolist() == [0, 1, 2]
    (tmp_path / "b").write_bytes(b"\x80\x04pickle")
    with pytest.raises(ModelFormatError, match="pass fmt="):
        data_io.read(tmp_path / "b")
    with pytest.raises(ModelFormatError, match="pass fmt="):
        data_io.write(numpy.zeros(1), tmp_path / "c")
    data_io.write(numpy.zeros(1), tmp_path / "c", fmt="npy")
    assert data_io.read(tmp_path / "c", fmt="npy").tolist() == [0.0]


def test_pickles_are_refused(tmp_path):
    numpy.save(tmp_path / "obj.npy", numpy.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ModelFormatError, match="unpickle"):
        data_io.read(tmp_path / "obj.npy")
    numpy.savez(tmp_path / "obj.npz", a=numpy.array([None], dtype=object))
    with pytest.raises(ModelFormatError, match="unpickle"):
        data_io.read(tmp_path / "obj.npz")
    for ext in ("pkl", "pickle"):
        with pytest.raises(ModelFormatError, match="arbitrary code"):
            data_io.read(tmp_path / f"x.{ext}")
    with pytest.raises(ModelFormatError, match="object arrays"):
        data_io.write(numpy.array([None], dtype=object), tmp_path / "o.npy")


@pytest.mark.parametrize(
    "content", [b"", b"\x93NUMPY", b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8'}", b"\x93NUMPY\x09\x00"]
)
def test_bad_npy(tmp_path, content):
    path = tmp_path / "x.npy"
    path.write_bytes(content)
    with pytest.raises(ModelFormatError, match=r"x\.npy"):
        data_io.read(path)


def test_truncated_and_forged_npy(tmp_path):
    numpy.save(tmp_path / "x.npy", numpy.arange(100.0))
    raw = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(raw[:-8])
    with pytest.raises(ModelFormatError, match="truncated"):
        data_io.read(tmp_path / "t.npy")
    (tmp_path / "f.npy").write_bytes(raw.replace(b"(100,", b"(9999999999999,"))
    with pytest.raises(ModelFormatError, match="declares 79999999999992 data bytes"):
        data_io.read(tmp_path / "f.npy")


def test_key_only_for_archives(tmp_path):
    data_io.write(numpy.zeros(2), tmp_path / "x.npy")
    with pytest.raises(ValueError, match="key="):
        data_io.read(tmp_path / "x.npy", key="data")


@pytest.mark.parametrize("fmt", ["npy", "npz", "mat", "txt", "idx"])
def test_interrupted_write_keeps_old_file(tmp_path, monkeypatch, fmt):
    path = tmp_path / f"x.{fmt}"
    data_io.write(numpy.arange(4.0), path)
    before = path.read_bytes()

    def boom(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(KeyboardInterrupt):
        data_io.write(numpy.arange(100.0), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]


def test_unknown_format(tmp_path):
    with pytest.raises(ModelFormatError, match="unknown data format 'csv'"):
        data_io.read(tmp_path / "x.csv")
    with pytest.raises(ModelFormatError, match="gzip"):
        data_io.read(tmp_path / "x.npy.gz")


def _mat_element(e: str, mtype: int, data: bytes) -> bytes:
    return struct.pack(e + "II", mtype, len(data)) + data + b"\0" * (-len(data) % 8)


def _mat_file(e: str, name: str, cls: int, dims: tuple[int, ...], mi_type: int, data: bytes) -> bytes:
    """A minimal MAT v5 file, as MATLAB writes it (``e``: '<' or '>' byte order)."""
    header = b"MATLAB 5.0 MAT-file, hand-made".ljust(116, b" ") + b"\0" * 8
    header += struct.pack(e + "H", 0x0100) + (b"IM" if e == "<" else b"MI")
    content = (
        _mat_element(e, 6, struct.pack(e + "II", cls, 0))
        + _mat_element(e, 5, struct.pack(e + f"{len(dims)}i", *dims))
        + _mat_element(e, 1, name.encode())
        + _mat_element(e, mi_type, data)
    )
    return header + _mat_element(e, 14, content)


def test_mat_big_endian_and_matlab_storage_types(tmp_path):
    values = numpy.arange(6.0).reshape(2, 3)
    # big-endian double 2x3 (column-major data)
    raw = _mat_file(">", "data", 6, (2, 3), 9, values.ravel(order="F").astype(">f8").tobytes())
    (tmp_path / "be.mat").write_bytes(raw)
    back = data_io.read(tmp_path / "be.mat")
    assert back.dtype == numpy.float64 and numpy.array_equal(back, values)
    # MATLAB stores small whole doubles as uint8 data: the class (double) decides the dtype
    raw = _mat_file("<", "data", 6, (2, 3), 2, values.ravel(order="F").astype(numpy.uint8).tobytes())
    (tmp_path / "u8.mat").write_bytes(raw)
    back = data_io.read(tmp_path / "u8.mat")
    assert back.dtype == numpy.float64 and numpy.array_equal(back, values)
    # a sparse matrix is refused clearly
    (tmp_path / "sp.mat").write_bytes(_mat_file("<", "data", 5, (2, 3), 9, b"\0" * 48))
    with pytest.raises(ModelFormatError, match="sparse matrix arrays are not supported"):
        data_io.read(tmp_path / "sp.mat")
    # a forged dimension is refused without allocating
    (tmp_path / "big.mat").write_bytes(_mat_file("<", "data", 6, (2**30, 2**30), 9, b"\0" * 48))
    with pytest.raises(ModelFormatError, match="do not match"):
        data_io.read(tmp_path / "big.mat")


def test_mat_v73_is_refused(tmp_path):
    raw = b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116, b" ") + b"\0" * 8
    raw += struct.pack("<H", 0x0200) + b"IM" + b"\0" * 384 + b"\x89HDF\r\n\x1a\n"
    (tmp_path / "v73.mat").write_bytes(raw)
    with pytest.raises(ModelFormatError, match=r"v7\.3"):
        data_io.read(tmp_path / "v73.mat")


def test_mat_struct_array_without_fields_is_refused_without_allocating(tmp_path):
    """A 200-byte file declaring 40000x40000 structs without fields once exhausted memory."""
    e = "<"
    header = (
        b"MATLAB 5.0 MAT-file, hand-made".ljust(116, b" ") + b"\0" * 8 + struct.pack(e + "H", 0x0100) + b"IM"
    )
    content = (
        _mat_element(e, 6, struct.pack(e + "II", 2, 0))  # class 2: struct
        + _mat_element(e, 5, struct.pack(e + "2i", 40000, 40000))
        + _mat_element(e, 1, b"data")
        + _mat_element(e, 5, struct.pack(e + "i", 32))  # field-name length
        + _mat_element(e, 1, b"")  # no field names
    )
    (tmp_path / "bomb.mat").write_bytes(header + _mat_element(e, 14, content))
    start = time.perf_counter()
    with pytest.raises(ModelFormatError, match="array of 1600000000 structs without fields"):
        data_io.read(tmp_path / "bomb.mat")
    assert time.perf_counter() - start < 1.0


def test_write_errors_name_the_target_not_the_temporary_file(tmp_path):
    target = tmp_path / "missing" / "x.npy"
    with pytest.raises(FileNotFoundError) as info:
        data_io.write(numpy.ones(3), target)
    assert info.value.filename == str(target)
    assert ".tmp" not in str(info.value)


def test_write_through_a_symlink_keeps_the_link(tmp_path):
    real = tmp_path / "real.npy"
    data_io.write(numpy.zeros(2), real)
    (tmp_path / "link.npy").symlink_to(real)
    data_io.write(numpy.arange(3.0), tmp_path / "link.npy")
    assert (tmp_path / "link.npy").is_symlink()
    assert numpy.array_equal(data_io.read(real), numpy.arange(3.0))


def test_mat_refuses_float16_instead_of_widening(tmp_path):
    with pytest.raises(ModelFormatError, match=r"float16 cannot be stored in .mat; write arr.astype"):
        data_io.write(numpy.ones(3, dtype=numpy.float16), tmp_path / "h.mat")
    assert not list(tmp_path.iterdir())
