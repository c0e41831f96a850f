"""Details of the guarded readers: format dispatch, the MAT v5 parser, ``.npy``/``.npz`` checks and the
layer-chain checks shared by every model format.

MAT files are built byte by byte (little- or big-endian) where SciPy cannot write the case.
"""

from __future__ import annotations

import io
import struct
import zipfile

import numpy
import pytest
import scipy.io

from lrp_toolbox import data_io, model_io
from lrp_toolbox.errors import ModelFormatError
from lrp_toolbox.model_io._matv5 import MAX_DEPTH, MatError, loadmat
from lrp_toolbox.model_io._records import MAX_DIM, normalize_config
from lrp_toolbox.modules import Convolution, Flatten, Linear, Rect, Sequential

MX_DOUBLE, MX_CHAR = 6, 4
MI_INT8, MI_INT32, MI_UINT32, MI_DOUBLE, MI_MATRIX, MI_UTF16 = 1, 5, 6, 9, 14, 17


def element(e: str, mtype: int, data: bytes) -> bytes:
    """A data element: 8-byte tag, then the data padded with zeros to a multiple of 8 bytes."""
    return struct.pack(e + "II", mtype, len(data)) + data + b"\0" * (-len(data) % 8)


def array_content(e: str, name: str, cls: int, dims: tuple[int, ...], data: bytes, mi_type: int) -> bytes:
    """Flags, dimensions, name and data sub-elements of an array."""
    return (
        element(e, MI_UINT32, struct.pack(e + "II", cls, 0))
        + element(e, MI_INT32, struct.pack(e + f"{len(dims)}i", *dims))
        + element(e, MI_INT8, name.encode())
        + element(e, mi_type, data)
    )


def mat_file(e: str, *variables: bytes) -> bytes:
    """The 128-byte MAT v5 header followed by the given top-level elements."""
    header = b"MATLAB 5.0 MAT-file, hand-made".ljust(116, b" ") + b"\0" * 8
    return header + struct.pack(e + "H", 0x0100) + (b"IM" if e == "<" else b"MI") + b"".join(variables)


def double(e: str, name: str, value: float) -> bytes:
    """A 1x1 double variable."""
    return element(
        e, MI_MATRIX, array_content(e, name, MX_DOUBLE, (1, 1), struct.pack(e + "d", value), MI_DOUBLE)
    )


def savemat_bytes(variables: dict) -> bytes:
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, variables)
    return buffer.getvalue()


def npy_bytes(array: numpy.ndarray, version: tuple[int, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    numpy.lib.format.write_array(buffer, array, version=version)
    return buffer.getvalue()


# --------------------------------------------------------------------------------- format dispatch


def test_text_is_an_alias_of_txt(tmp_path, rng):
    """``fmt='text'`` reads and writes the text format whatever the file name."""
    model = Sequential([Linear(2, 3, rng=rng)])
    model_io.write(model, tmp_path / "m.model", fmt="text")
    assert (tmp_path / "m.model").read_text().startswith("Linear 2 3")
    back = model_io.read(tmp_path / "m.model", fmt="text")
    assert numpy.array_equal(back.modules[0].W, model.modules[0].W)


def test_read_records_honours_fmt(tmp_path, rng):
    """``read_records(path, fmt=...)`` uses ``fmt``, not the extension."""
    model_io.write(Sequential([Linear(2, 3, rng=rng), Rect()]), tmp_path / "m.bin", fmt="npz")
    records = model_io.read_records(tmp_path / "m.bin", fmt="npz")
    assert [r.kind for r in records] == ["Linear", "Rect"]


# ---------------------------------------------------------------------------------------- MAT v5


@pytest.mark.parametrize("e", ["<", ">"])
def test_mat_utf16_characters_follow_the_file_byte_order(e):
    """miUTF16 character data is decoded in the file's byte order."""
    data = "hé".encode("utf-16-le" if e == "<" else "utf-16-be")
    raw = mat_file(e, element(e, MI_MATRIX, array_content(e, "s", MX_CHAR, (1, 2), data, MI_UTF16)))
    assert loadmat(raw) == {"s": "hé"}


def test_mat_nesting_limit_is_max_depth():
    """Cells nested ``MAX_DEPTH`` (16) deep around a number are read; one level more is refused."""

    def nested(levels: int) -> numpy.ndarray:
        value = numpy.array([[1.0]])
        for _ in range(levels):
            cell = numpy.empty((1, 1), dtype=object)
            cell[0, 0] = value
            value = cell
        return value

    value = loadmat(savemat_bytes({"n": nested(MAX_DEPTH)}))["n"]
    for _ in range(MAX_DEPTH):
        value = value[0, 0]
    assert value.tolist() == [[1.0]]
    with pytest.raises(MatError, match="nested deeper"):
        loadmat(savemat_bytes({"n": nested(MAX_DEPTH + 1)}))


def test_mat_logical_arrays_are_bool():
    """A MATLAB logical array (uint8 data with the logical flag) is read as bool."""
    value = loadmat(savemat_bytes({"b": numpy.array([[True, False, True]])}))["b"]
    assert value.dtype == numpy.bool_ and value.tolist() == [[True, False, True]]


def test_mat_cell_and_struct_arrays_keep_matlab_indexing():
    """2x3 cell and struct arrays: ``a[i, j]`` is MATLAB's ``A(i+1, j+1)`` (column-major storage)."""
    cells = numpy.empty((2, 3), dtype=object)
    structs = numpy.zeros((2, 3), dtype=[("v", object)])
    for i in range(2):
        for j in range(3):
            cells[i, j] = numpy.array([[10.0 * i + j]])
            structs[i, j]["v"] = numpy.array([[10.0 * i + j]])
    content = loadmat(savemat_bytes({"c": cells, "s": structs}))
    assert content["c"].shape == content["s"].shape == (2, 3)
    assert [[float(v[0, 0]) for v in row] for row in content["c"]] == [[0, 1, 2], [10, 11, 12]]
    assert [[float(v["v"][0, 0]) for v in row] for row in content["s"]] == [[0, 1, 2], [10, 11, 12]]


def test_mat_char_matrix_rows():
    """A 2x3 char array (stored column-major as 'adbecf') is read as its rows."""
    assert loadmat(savemat_bytes({"t": numpy.array(["abc", "def"])})) == {"t": ["abc", "def"]}


def test_mat_refuses_a_repeated_variable_name():
    """Two top-level variables with the same name are refused."""
    assert loadmat(mat_file("<", double("<", "a", 1.0)))["a"].tolist() == [[1.0]]
    with pytest.raises(MatError, match="appears twice"):
        loadmat(mat_file("<", double("<", "a", 1.0), double("<", "a", 2.0)))


def test_mat_refuses_non_zero_bytes_after_an_array():
    """Bytes after an array's last sub-element must be zero padding."""
    content = array_content("<", "a", MX_DOUBLE, (1, 1), struct.pack("<d", 1.0), MI_DOUBLE)
    assert loadmat(mat_file("<", element("<", MI_MATRIX, content + b"\0\0\0\0")))["a"].tolist() == [[1.0]]
    with pytest.raises(MatError, match="unexpected data after the array"):
        loadmat(mat_file("<", element("<", MI_MATRIX, content + b"\1\2\3\4")))


def test_mat_refuses_small_elements_longer_than_four_bytes():
    """A small data element (size packed into the tag) holds at most 4 bytes."""

    def with_name_size(size: int) -> bytes:
        content = (
            element("<", MI_UINT32, struct.pack("<II", MX_DOUBLE, 0))
            + element("<", MI_INT32, struct.pack("<2i", 1, 1))
            + struct.pack("<I", (size << 16) | MI_INT8)
            + b"ab\0\0"  # the name 'ab' as a small element
            + element("<", MI_DOUBLE, struct.pack("<d", 1.0))
        )
        return mat_file("<", element("<", MI_MATRIX, content))

    assert loadmat(with_name_size(2))["ab"].tolist() == [[1.0]]
    with pytest.raises(MatError, match="corrupt small data element"):
        loadmat(with_name_size(6))


# ----------------------------------------------------------------------------------- .npy and .npz


def test_npy_with_trailing_bytes_is_refused(tmp_path):
    """A ``.npy`` file must hold exactly the bytes its header declares (2 doubles: 16, not 24)."""
    (tmp_path / "x.npy").write_bytes(npy_bytes(numpy.arange(2.0)) + b"\0" * 8)
    with pytest.raises(ModelFormatError, match=r"declares 16 data bytes .* holds 24"):
        data_io.read(tmp_path / "x.npy")


def test_npy_version_3_is_read(tmp_path):
    """Format version 3.0 (UTF-8 header) is supported like 1.0 and 2.0."""
    (tmp_path / "x.npy").write_bytes(npy_bytes(numpy.arange(4.0), version=(3, 0)))
    assert data_io.read(tmp_path / "x.npy").tolist() == [0.0, 1.0, 2.0, 3.0]


def test_npy_bool_in_shape_is_refused(tmp_path):
    """A header shape of ``(True,)`` is malformed, not a shape of 1."""
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (True,), }".ljust(117) + b"\n"
    (tmp_path / "x.npy").write_bytes(
        b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + bytes(8)
    )
    with pytest.raises(ModelFormatError, match=r"malformed \.npy shape"):
        data_io.read(tmp_path / "x.npy")


def test_npz_with_duplicate_member_names_is_refused(tmp_path):
    """An archive holding two members with the same name is refused as corrupt."""
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(tmp_path / "d.npz", "w") as zf:
        zf.writestr("a.npy", npy_bytes(numpy.arange(3.0)))
        zf.writestr("a.npy", npy_bytes(numpy.arange(2.0)))
    with pytest.raises(ModelFormatError, match="duplicate member names"):
        data_io.read(tmp_path / "d.npz")


def test_npz_member_expanding_beyond_the_deflate_limit_is_refused(tmp_path):
    """A member claiming more than 1100x its compressed size (here bzip2: 8 MB from ~150 bytes) is
    refused before it is read."""
    with zipfile.ZipFile(tmp_path / "z.npz", "w", compression=zipfile.ZIP_BZIP2) as zf:
        zf.writestr("z.npy", npy_bytes(numpy.zeros(10**6)))
    with zipfile.ZipFile(tmp_path / "z.npz") as zf:
        info = zf.infolist()[0]
    assert info.file_size > 1100 * info.compress_size + 4096
    with pytest.raises(ModelFormatError, match="implausible compression ratio"):
        data_io.read(tmp_path / "z.npz")


# ---------------------------------------------------------------------------------- layer records


def test_hyper_parameter_range_includes_max_dim():
    """Settings up to ``MAX_DIM`` = 2**31 - 1 inclusive are accepted; one more is refused."""
    assert normalize_config("Linear", {"m": MAX_DIM, "n": 1}) == {"m": 2**31 - 1, "n": 1}
    with pytest.raises(ValueError, match=r"\[1, 2147483647\]"):
        normalize_config("Linear", {"m": MAX_DIM + 1, "n": 1})


def test_linear_after_flatten_needs_a_multiple_of_the_channels(tmp_path):
    """Flatten of 4-channel images gives a multiple of 4 features: a Linear with m = 10 cannot follow."""
    model = Sequential([Convolution((1, 1, 1, 4), (1, 1)), Flatten(), Linear(10, 2)])
    with pytest.raises(ModelFormatError, match="not a multiple of the 4 channels"):
        model_io.write(model, tmp_path / "m.npz")


def test_flatten_of_flat_vectors_keeps_their_size(tmp_path):
    """Flatten after a Linear with n = 6 still produces 6 features: a Linear with m = 5 cannot follow."""
    model = Sequential([Linear(3, 6), Flatten(), Linear(5, 2)])
    with pytest.raises(ModelFormatError, match=r"expects 5 inputs but layer 0 .* produces 6"):
        model_io.write(model, tmp_path / "m.npz")


def test_read_refuses_float16(tmp_path, rng):
    """``read(..., dtype='float16')`` is refused up front with the accepted dtypes."""
    model_io.write(Sequential([Linear(2, 1, rng=rng)]), tmp_path / "m.npz")
    with pytest.raises(ValueError, match="dtype must be float32 or float64, got float16"):
        model_io.read(tmp_path / "m.npz", dtype="float16")


# ------------------------------------------------------------------------------------- .mat models


def test_mat_model_bias_must_be_a_vector(tmp_path):
    """``B`` may be 1xn, nx1 or n, but not a 2x2 matrix holding n = 4 values."""
    layer = {"type": "Linear", "m": 1.0, "n": 4.0, "W": numpy.ones((1, 4))}
    cell = numpy.empty((1, 1), dtype=object)
    cell[0, 0] = {**layer, "B": numpy.zeros((4, 1))}
    scipy.io.savemat(tmp_path / "ok.mat", {"layers": cell})
    assert model_io.read(tmp_path / "ok.mat").modules[0].B.shape == (4,)
    cell[0, 0] = {**layer, "B": numpy.zeros((2, 2))}
    scipy.io.savemat(tmp_path / "bad.mat", {"layers": cell})
    with pytest.raises(ModelFormatError, match=r"B must have shape \(4,\)"):
        model_io.read(tmp_path / "bad.mat")


def test_mat_model_layers_must_be_a_row_or_column_of_cells(tmp_path):
    """A 2x2 cell array of layers is refused (1xL or Lx1 only)."""
    cell = numpy.empty((2, 2), dtype=object)
    for index in numpy.ndindex(cell.shape):
        cell[index] = {"type": "Rect"}
    scipy.io.savemat(tmp_path / "m.mat", {"layers": cell})
    with pytest.raises(ModelFormatError, match="1xL cell array"):
        model_io.read(tmp_path / "m.mat")


def test_npz_with_x_and_x_npy_members_is_refused(tmp_path):
    """Members ``x`` and ``x.npy`` both name the array ``x``: NumPy would read one while the size
    checks looked at the other, so the archive is refused as ambiguous."""
    with zipfile.ZipFile(tmp_path / "a.npz", "w") as zf:
        zf.writestr("x.npy", npy_bytes(numpy.arange(3.0)))
        zf.writestr("x", npy_bytes(10 * numpy.arange(5.0)))
    for read in (data_io.read, model_io.read):
        with pytest.raises(ModelFormatError, match=r"ambiguous archive: members 'x' and 'x\.npy'"):
            read(tmp_path / "a.npz")
