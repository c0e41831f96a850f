"""Error branches of the model and data readers (and their writers) that no other test reaches.

Each case is the smallest malformed input for one branch: MAT v5 and ``.npy`` bytes built by hand
(offsets explained where a message reports one), ``.npz`` architectures that break one rule, and
writes that must be refused without leaving a file behind. Every reader error is a
``ModelFormatError`` naming the file and what is wrong.
"""

from __future__ import annotations

import io
import os
import re
import struct
import zipfile
import zlib

import numpy
import pytest
import scipy.io
from test_model_io_reader_details import (
    MI_DOUBLE,
    MI_INT8,
    MI_INT32,
    MI_MATRIX,
    MI_UINT32,
    element,
    mat_file,
    npy_bytes,
)

from lrp_toolbox import data_io, model_io
from lrp_toolbox.errors import BackendError, ModelFormatError
from lrp_toolbox.model_io._atomic import atomic_write
from lrp_toolbox.model_io._matv5 import loadmat
from lrp_toolbox.model_io._npy import open_npz, write_npz
from lrp_toolbox.model_io._records import build_model
from lrp_toolbox.modules import LayerRecord, Linear, Rect, Sequential, Tanh

E = "<"  # little-endian MAT files throughout
MX_CELL, MX_STRUCT, MX_CHAR, MX_DOUBLE, MX_SINGLE, MX_INT8, MX_UINT8 = 1, 2, 4, 6, 7, 8, 9
MI_UINT16, MI_UTF8, MI_COMPRESSED = 4, 16, 15
MX_COMPLEX = 0x800  # array flag


def _fails(read, path, match: str) -> None:
    """``read(path)`` raises ``ModelFormatError`` matching ``match`` and naming ``path``."""
    with pytest.raises(ModelFormatError, match=match) as info:
        read(path)
    assert str(path) in str(info.value)


# -------------------------------------------------------------------------------------- MAT v5
# A variable is a miMATRIX element: its tag sits at byte 128 (after the 128-byte file header), its
# content at 136: the flags sub-element (8-byte tag + 8 bytes) at 136, the dimensions (tag + two
# int32) at 152 with data at 160, the name (tag + 1..8 bytes, padded to 8) at 168 with data at 176,
# then the data (or cells / struct fields) at 184.


def _flags(cls: int, extra: int = 0) -> bytes:
    return element(E, MI_UINT32, struct.pack(E + "II", cls | extra, 0))


def _dims(*dims: int) -> bytes:
    return element(E, MI_INT32, struct.pack(E + f"{len(dims)}i", *dims))


def _name(name: bytes) -> bytes:
    return element(E, MI_INT8, name)


def _mat(*parts: bytes) -> bytes:
    """A MAT file holding one uncompressed variable made of ``parts``."""
    return mat_file(E, element(E, MI_MATRIX, b"".join(parts)))


ONE = element(E, MI_DOUBLE, struct.pack(E + "d", 1.0))


def _struct(dims: tuple[int, ...], length: bytes, names: bytes) -> bytes:
    """A struct array 's': field-name length element, then the packed field names."""
    return _mat(_flags(MX_STRUCT), _dims(*dims), _name(b"s"), length, element(E, MI_INT8, names))


FIELD_LENGTH_4 = element(E, MI_INT32, struct.pack(E + "i", 4))

BAD_MAT = {
    "flags-element-of-wrong-type": (
        _mat(element(E, MI_INT32, struct.pack(E + "II", MX_DOUBLE, 0)), _dims(1, 1), _name(b"a"), ONE),
        "corrupt array flags at byte 136",
    ),
    "dimensions-element-of-wrong-type": (
        _mat(_flags(MX_DOUBLE), element(E, MI_UINT32, struct.pack(E + "2i", 1, 1)), _name(b"a"), ONE),
        "corrupt array dimensions at byte 160",
    ),
    "negative-dimension": (
        _mat(_flags(MX_DOUBLE), _dims(1, -1), _name(b"a"), ONE),
        r"negative array dimension \[1, -1\]",
    ),
    "name-element-of-wrong-type": (
        _mat(_flags(MX_DOUBLE), _dims(1, 1), element(E, 2, b"a"), ONE),
        "corrupt array name at byte 176",
    ),
    "non-ascii-name": (
        _mat(_flags(MX_DOUBLE), _dims(1, 1), _name(b"\xff"), ONE),
        "array name at byte 176 is not ASCII",
    ),
    "numeric-data-in-a-matrix-element": (
        _mat(_flags(MX_DOUBLE), _dims(1, 1), _name(b"a"), element(E, MI_MATRIX, bytes(8))),
        "variable 'a': unexpected data type 14",
    ),
    "more-cells-than-bytes": (
        _mat(_flags(MX_CELL), _dims(1000, 1000), _name(b"c")),
        "variable 'c': 1000000 cells cannot fit in 0 bytes",
    ),
    "cell-holding-a-bare-double": (
        # the cell's only element starts at 184 and is miDOUBLE (9), not miMATRIX
        _mat(_flags(MX_CELL), _dims(1, 1), _name(b"c"), ONE),
        "expected an array element at byte 184, got type 9",
    ),
    "char-data-of-type-double": (
        _mat(_flags(MX_CHAR), _dims(1, 1), _name(b"s"), ONE),
        "variable 's': unexpected character data type 9",
    ),
    "uint16-chars-with-odd-byte-count": (
        _mat(_flags(MX_CHAR), _dims(1, 2), _name(b"s"), element(E, MI_UINT16, b"h\0i")),
        r"variable 's': undecodable characters \(odd byte count\)",
    ),
    "invalid-utf8-chars": (
        _mat(_flags(MX_CHAR), _dims(1, 1), _name(b"s"), element(E, MI_UTF8, b"\xff")),
        "variable 's': undecodable characters",
    ),
    "fewer-chars-than-dimensions": (
        _mat(_flags(MX_CHAR), _dims(1, 3), _name(b"s"), element(E, MI_UTF8, b"hi")),
        r"variable 's': 2 characters for dimensions \[1, 3\]",
    ),
    "three-dimensional-char-array": (
        _mat(_flags(MX_CHAR), _dims(1, 1, 2), _name(b"s"), element(E, MI_UTF8, b"hi")),
        "variable 's': character arrays must be 2-D",
    ),
    "struct-field-name-length-of-8-bytes": (
        _struct((1, 1), element(E, MI_INT32, struct.pack(E + "2i", 4, 4)), b"a\0\0\0"),
        "variable 's': corrupt struct field-name length",
    ),
    "struct-field-names-not-a-multiple-of-the-length": (
        _struct((1, 1), FIELD_LENGTH_4, b"a\0\0\0b\0"),
        "variable 's': corrupt struct field names",
    ),
    "struct-field-name-not-ascii": (
        _struct((1, 1), FIELD_LENGTH_4, b"\xe9\0\0\0"),
        "variable 's': struct field name is not ASCII",
    ),
    "struct-field-name-repeated": (
        _struct((1, 1), FIELD_LENGTH_4, b"ab\0\0ab\0\0"),
        r"variable 's': empty or repeated struct field names \['ab', 'ab'\]",
    ),
    "struct-field-name-empty": (
        _struct((1, 1), FIELD_LENGTH_4, b"\0\0\0\0"),
        r"empty or repeated struct field names \[''\]",
    ),
    "more-structs-than-bytes": (
        _struct((1000, 1000), FIELD_LENGTH_4, b"a\0\0\0"),
        "variable 's': 1000000 structs cannot fit in 0 bytes",
    ),
    "v7.3-text-without-endian-indicator": (
        b"MATLAB 7.3 MAT-file".ljust(128, b" "),
        r"MAT v7\.3 \(HDF5\) files are not supported",
    ),
    "hdf5-signature-at-byte-512": (
        bytes(512) + b"\x89HDF\r\n\x1a\n",
        r"MAT v7\.3 \(HDF5\) files are not supported",
    ),
    "compressed-variable-holding-a-bare-double": (
        # miCOMPRESSED elements are not padded; the variable's tag is at byte 128
        mat_file(E, struct.pack(E + "II", MI_COMPRESSED, len(zlib.compress(ONE))) + zlib.compress(ONE)),
        "corrupt compressed variable at byte 128",
    ),
    # the stored type must hold the array class's values exactly (MATLAB stores e.g. whole doubles
    # as uint8, never lossily); these were silently wrapped, truncated or overflowed
    "uint8-array-storing-int8-minus-1": (
        _mat(_flags(MX_UINT8), _dims(1, 1), _name(b"a"), element(E, MI_INT8, b"\xff")),
        r"variable 'a': value -1 \(flat index 0\) stored as int8 does not fit its class uint8",
    ),
    "int8-array-storing-double-nan": (
        _mat(
            _flags(MX_INT8), _dims(1, 1), _name(b"a"), element(E, MI_DOUBLE, struct.pack(E + "d", numpy.nan))
        ),
        r"variable 'a': value nan \(flat index 0\) stored as float64 does not fit its class int8",
    ),
    "int8-array-storing-double-0.5": (
        _mat(_flags(MX_INT8), _dims(1, 1), _name(b"a"), element(E, MI_DOUBLE, struct.pack(E + "d", 0.5))),
        r"variable 'a': value 0\.5 \(flat index 0\) stored as float64 does not fit its class int8",
    ),
    "single-array-storing-double-1e300": (
        _mat(_flags(MX_SINGLE), _dims(1, 1), _name(b"a"), element(E, MI_DOUBLE, struct.pack(E + "d", 1e300))),
        r"variable 'a': value 1e\+300 \(flat index 0\) stored as float64 does not fit its class float32",
    ),
    "complex-double-with-inexact-int64-imaginary-part": (
        _mat(
            _flags(MX_DOUBLE, MX_COMPLEX),
            _dims(1, 1),
            _name(b"a"),
            ONE,
            element(E, 12, struct.pack(E + "q", 2**60 + 1)),  # miINT64: not exact as a double
        ),
        r"variable 'a': value 1152921504606846977 \(flat index 0\) stored as int64 does not fit its "
        "class float64",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_MAT))
def test_bad_mat_bytes(tmp_path, case):
    raw, match = BAD_MAT[case]
    path = tmp_path / "x.mat"
    path.write_bytes(raw)
    _fails(data_io.read, path, match)


def test_mat_uint16_characters_are_read():
    """MATLAB stores char arrays as miUINT16 code units."""
    raw = _mat(_flags(MX_CHAR), _dims(1, 2), _name(b"s"), element(E, MI_UINT16, "hé".encode("utf-16-le")))
    assert loadmat(raw) == {"s": "hé"}


def test_mat_empty_array_element_in_a_cell_is_an_empty_matrix():
    """A miMATRIX element without content (tag only) stands for MATLAB's []."""
    raw = _mat(_flags(MX_CELL), _dims(1, 1), _name(b"c"), element(E, MI_MATRIX, b""))
    cell = loadmat(raw)["c"]
    assert cell.shape == (1, 1) and cell[0, 0].shape == (0, 0)


def test_mat_special_values_pass_the_exactness_check():
    """NaN, ±Inf and -0.0 stored as doubles for a single array survive the cast unchanged."""
    values = struct.pack(E + "4d", numpy.nan, numpy.inf, -numpy.inf, -0.0)
    raw = _mat(_flags(MX_SINGLE), _dims(1, 4), _name(b"a"), element(E, MI_DOUBLE, values))
    value = loadmat(raw)["a"]
    assert value.dtype == numpy.float32
    assert numpy.isnan(value[0, 0]) and value[0, 1:3].tolist() == [numpy.inf, -numpy.inf]
    assert value[0, 3] == 0 and numpy.signbit(value[0, 3])


def test_mat_complex_values_with_special_imaginary_parts_match_scipy(tmp_path):
    """``real + 1j * imag`` made NaN of ``0 * inf`` and lost an imaginary -0.0."""
    z = numpy.array([[1 + 2j, complex(-0.0, -0.0), complex(numpy.nan, 1), complex(1, numpy.nan)]])
    z = numpy.concatenate([z, [[complex(numpy.inf, -numpy.inf), complex(2, numpy.inf), -numpy.inf, 0]]])
    scipy.io.savemat(tmp_path / "z.mat", {"data": z})
    ours, theirs = data_io.read(tmp_path / "z.mat"), scipy.io.loadmat(tmp_path / "z.mat")["data"]
    assert ours.dtype == theirs.dtype == numpy.complex128
    assert ours.tobytes() == theirs.tobytes()


def test_mat_lossless_storage_types_are_still_read():
    """Whole doubles stored as int8 (as MATLAB saves them) pass the exactness check."""
    raw = _mat(_flags(MX_DOUBLE), _dims(1, 2), _name(b"a"), element(E, MI_INT8, b"\xff\x05"))
    value = loadmat(raw)["a"]
    assert value.dtype == numpy.float64 and value.tolist() == [[-1.0, 5.0]]


# ----------------------------------------------------------------------------------------- .npy


def _npy(header: str, data: bytes = b"") -> bytes:
    """A version-1.0 ``.npy`` file with the header dictionary ``header`` (padded to 64 bytes)."""
    text = header.encode("latin1")
    text += b" " * (-(len(text) + 11) % 64) + b"\n"  # 8 magic + 2 length bytes + header + newline
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + data


@pytest.mark.parametrize(
    ("content", "match"),
    [
        # version 1.0 needs a 2-byte header length; only one byte follows the magic
        (b"\x93NUMPY\x01\x00\x10", r"truncated \.npy header"),
        # version 2.0 has a 4-byte header length: 65537 is refused before anything is read
        (
            b"\x93NUMPY\x02\x00" + (65537).to_bytes(4, "little"),
            r"\.npy header of 65537 bytes is implausibly long",
        ),
        (
            _npy("{'descr': '<f8', 'fortran_order': 0, 'shape': (1,)}", bytes(8)),
            r"malformed \.npy fortran_order",
        ),
        (
            _npy("{'descr': '<zz', 'fortran_order': False, 'shape': (1,)}", bytes(8)),
            r"unsupported \.npy dtype '<zz'",
        ),
        # 10**12 elements of a size-0 dtype fit in 0 bytes, so the size check alone let them through
        (
            _npy("{'descr': '|V0', 'fortran_order': False, 'shape': (1000000000000,)}"),
            r"\.npy dtype '\|V0' has elements of size 0",
        ),
        (_npy("{'descr': '<U0', 'fortran_order': False, 'shape': (3,)}"), r"'<U0' has elements of size 0"),
    ],
    ids=[
        "truncated-header-length",
        "header-length-over-64k",
        "fortran-order-not-bool",
        "unknown-descr",
        "size-0-void",
        "size-0-str",
    ],
)
def test_bad_npy_headers(tmp_path, content, match):
    path = tmp_path / "x.npy"
    path.write_bytes(content)
    _fails(data_io.read, path, match)


# ----------------------------------------------------------------------------------------- .npz


def test_npz_member_with_a_bad_crc_is_refused(tmp_path):
    """A flipped data byte passes the header and size checks; the CRC check at the end of NumPy's
    read catches it. The member holds 8128 bytes, more than the 4096 that ``zipfile`` reads ahead
    while the header is parsed, so the error comes from the read itself. The archive's members are
    stored (uncompressed): the ``.npy`` bytes start after the 30-byte local header, the name
    'x.npy' (5 bytes) and the 20-byte zip64 extra field, i.e. at byte 55."""
    path = tmp_path / "x.npz"
    data_io.write(numpy.arange(1000.0), path, key="x")
    raw = bytearray(path.read_bytes())
    payload = npy_bytes(numpy.arange(1000.0))
    assert len(payload) == 8128 and raw[55 : 55 + len(payload)] == payload
    raw[55 + len(payload) - 1] ^= 0x01  # the last byte of the last value
    path.write_bytes(bytes(raw))
    _fails(data_io.read, path, r"member 'x': unreadable member \(Bad CRC-32 for file 'x\.npy'\)")


def test_npz_member_without_npy_suffix_is_read(tmp_path):
    """NumPy names the array of a member 'x' (no '.npy') 'x' too; the size checks find that member."""
    with zipfile.ZipFile(tmp_path / "a.npz", "w") as zf:
        zf.writestr("x", npy_bytes(numpy.arange(3.0)))
    assert data_io.read(tmp_path / "a.npz").tolist() == [0.0, 1.0, 2.0]


def test_npz_reader_refuses_an_absent_member(tmp_path):
    """The readers only ask for listed names; the reader still refuses others clearly."""
    data_io.write(numpy.arange(2.0), tmp_path / "a.npz")
    with open_npz(tmp_path / "a.npz") as npz, pytest.raises(ModelFormatError, match="no member 'nope'"):
        npz.read("nope")


def test_write_npz_refuses_object_arrays():
    """The archive writer never pickles (its callers refuse object arrays first, too)."""
    with pytest.raises(ValueError, match="array 'o' holds Python objects"):
        write_npz(io.BytesIO(), {"o": numpy.array([None], dtype=object)})


# ------------------------------------------------------------------------------- .npz models


def _arch(layers: str, **top: str) -> str:
    fields = {"format": '"lrp_toolbox-model"', "version": "1", "layers": layers, **top}
    return "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"


BAD_ARCHITECTURE = {
    "duplicate-key": (
        '{"format": "lrp_toolbox-model", "format": "x", "version": 1, "layers": [{"type": "Rect"}]}',
        r"invalid JSON \(duplicate keys \['format'\]\)",
    ),
    "nan-literal": (_arch('[{"type": "Rect"}]', version="NaN"), r"invalid JSON \(NaN is not allowed\)"),
    "top-level-array": ('[{"type": "Rect"}]', "expected a JSON object"),
    "other-format": (_arch('[{"type": "Rect"}]', format='"keras"'), 'expected "format": "lrp_toolbox-model"'),
    "unknown-top-level-key": (_arch('[{"type": "Rect"}]', comment='"x"'), r"unknown keys \['comment'\]"),
    "no-layers": (_arch("[]"), 'expected a non-empty list "layers"'),
    "layers-an-object": (_arch('{"type": "Rect"}'), 'expected a non-empty list "layers"'),
    "layer-a-number": (_arch("[5]"), r'layers\[0\]: expected an object with "type" and "config"'),
    "layer-without-type": (_arch('[{"config": {}}]'), r'layers\[0\]: expected an object with "type"'),
    "layer-with-extra-key": (_arch('[{"type": "Rect", "name": "r"}]'), r"layers\[0\]: expected an object"),
    "config-a-list": (_arch('[{"type": "Rect", "config": []}]'), r'layers\[0\]: "config" must be an object'),
    "linear-m-not-integer": (
        _arch('[{"type": "Linear", "config": {"m": 2.5, "n": 1}}]'),
        r"layers\[0\]: Linear m must be an integer, got 2\.5",
    ),
    "linear-m-bool": (
        _arch('[{"type": "Linear", "config": {"m": true, "n": 1}}]'),
        r"layers\[0\]: Linear m must be an integer, got True",
    ),
    "linear-missing-n": (
        _arch('[{"type": "Linear", "config": {"m": 2}}]'),
        r"layers\[0\]: Linear expects the settings \['m', 'n'\]; missing \['n'\]",
    ),
    "pool-stride-of-one-value": (
        _arch('[{"type": "SumPool", "config": {"pool": [2, 2], "stride": [1]}}]'),
        r"layers\[0\]: SumPool stride must be 2 integers, got \[1\]",
    ),
    "padding-of-three-values": (
        _arch(
            '[{"type": "Convolution", "config": {"filtersize": [1, 1, 1, 1], "stride": [1, 1], '
            '"padding": [1, 2, 3]}}]'
        ),
        r"layers\[0\]: padding must be \(\(top, bottom\), \(left, right\)\), got \[1, 2, 3\]",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_ARCHITECTURE))
def test_bad_npz_architecture(tmp_path, case):
    text, match = BAD_ARCHITECTURE[case]
    path = tmp_path / "m.npz"
    numpy.savez(path, architecture=numpy.array(text))
    _fails(model_io.read, path, "member 'architecture': " + match)


def test_npz_layer_with_float32_weights_and_float64_bias_is_refused(tmp_path):
    path = tmp_path / "m.npz"
    arrays = {"layers.0.W": numpy.ones((1, 2), numpy.float32), "layers.0.B": numpy.zeros(2)}
    numpy.savez(
        path, architecture=numpy.array(_arch('[{"type": "Linear", "config": {"m": 1, "n": 2}}]')), **arrays
    )
    _fails(
        model_io.read,
        path,
        r"layer 0 \(members layers\.0\.\*\): Linear parameters must share one dtype, "
        r"got \['float32', 'float64'\]",
    )


# ---------------------------------------------------------------------------------- .mat models


def _mat_model(path, *layers, **variables) -> None:
    cell = numpy.empty((1, len(layers)), dtype=object)
    for i, layer in enumerate(layers):
        cell[0, i] = layer
    scipy.io.savemat(path, {"layers": cell, **variables})


LINEAR_1x1 = {"type": "Linear", "m": 1.0, "n": 1.0, "W": numpy.ones((1, 1)), "B": numpy.zeros(1)}

BAD_MAT_MODEL = {
    "setting-of-two-values": (
        [{**LINEAR_1x1, "m": numpy.array([1.0, 2.0])}],
        {},
        r"layers\{1\}\.m must be 1 number\(s\)",
    ),
    "setting-out-of-range": (
        [{**LINEAR_1x1, "m": 1e10}],
        {},
        r"layers\{1\}\.m is out of range: \[10000000000\.0\]",
    ),
    "integer-weights": (
        [{**LINEAR_1x1, "W": numpy.ones((1, 1), numpy.int32)}],
        {},
        r"layers\{1\}\.W must be a single or double array, got int32",
    ),
    "text-weights": (
        [{**LINEAR_1x1, "W": "w"}],
        {},
        r"layers\{1\}\.W must be a single or double array, got str",
    ),
    "cell-holding-a-number": ([1.0], {}, r"layers\{1\} must be a struct"),
    "other-model-format": ([{"type": "Rect"}], {"model_format": "keras"}, "variable 'model_format' must be"),
    "format-version-text": (
        [{"type": "Rect"}],
        {"format_version": "1"},
        r"format_version must be 1 number\(s\)",
    ),
    "no-layers": ([], {}, "the file holds no layers"),
}


@pytest.mark.parametrize("case", sorted(BAD_MAT_MODEL))
def test_bad_mat_model(tmp_path, case):
    layers, variables, match = BAD_MAT_MODEL[case]
    path = tmp_path / "m.mat"
    _mat_model(path, *layers, **variables)
    _fails(model_io.read, path, match)


# ------------------------------------------------------------------------------- layer records


@pytest.mark.parametrize(("fmt", "where"), [("txt", "line 1"), ("npz", None), ("mat", None)])
def test_read_as_float32_refuses_values_that_overflow_it(tmp_path, fmt, where):
    """1e300 is a finite float64 but inf as float32: named, instead of NumPy's overflow warning and
    a misleading 'contains NaN or Inf'."""
    model = Sequential([Linear(1, 2)])
    model.modules[0].W[0, 1] = 1e300
    path = tmp_path / f"m.{fmt}"
    model_io.write(model, path)
    label = "Linear 1x2" + (f", {where}" if where else "")
    with pytest.raises(
        ModelFormatError, match=re.escape(f"layer 0 ({label}): W value 1e+300 (flat index 1)")
    ):
        model_io.read(path, dtype="float32")
    assert model_io.read(path).modules[0].W[0, 1] == 1e300


@pytest.mark.parametrize("dtype", [None, "float32"])
def test_nan_parameters_are_named_as_nan_not_as_an_overflow(tmp_path, dtype):
    """Every reader refuses NaN first (here .mat); ``build_model`` given NaN records directly names
    them as NaN, also when casting to float32 (the overflow check skips values already non-finite)."""
    _mat_model(tmp_path / "m.mat", {**LINEAR_1x1, "W": numpy.full((1, 1), numpy.nan)})
    with pytest.raises(ModelFormatError, match=r"W holds 1 NaN/Inf value\(s\)"):
        model_io.read(tmp_path / "m.mat", dtype=dtype)
    record = LayerRecord(
        "Linear", {"m": 1, "n": 2}, {"W": numpy.array([[numpy.nan, 1.0]]), "B": numpy.zeros(2)}
    )
    with pytest.raises(ModelFormatError, match="W contains NaN or Inf") as info:
        build_model([record], "mem", dtype=dtype)
    assert "overflow" not in str(info.value)


def test_read_with_an_unknown_backend_is_refused(tmp_path):
    model_io.write(Sequential([Rect()]), tmp_path / "m.npz")
    with pytest.raises(BackendError, match="unknown backend 'tpu'"):
        model_io.read(tmp_path / "m.npz", backend="tpu")


def test_records_with_array_settings_are_normalised(tmp_path):
    """Settings given as NumPy arrays (padding nested) are written and read back as int tuples."""
    conv = LayerRecord(
        "Convolution",
        {
            "filtersize": numpy.array([1, 1, 1, 2]),
            "stride": numpy.array([1, 1]),
            "padding": numpy.array([[1, 0], [0, 1]]),
            "dilation": (1, 1),
        },
        {"W": numpy.ones((1, 1, 1, 2)), "B": numpy.zeros(2)},
    )
    model_io.write([conv, LayerRecord("Rect")], tmp_path / "m.npz")
    back, rect = model_io.read_records(tmp_path / "m.npz")
    assert back.config == {
        "filtersize": (1, 1, 1, 2),
        "stride": (1, 1),
        "padding": ((1, 0), (0, 1)),
        "dilation": (1, 1),
    }
    assert rect.kind == "Rect"


def test_write_accepts_a_list_of_modules(tmp_path):
    model_io.write([Linear(2, 2), Tanh()], tmp_path / "m.txt")
    assert [type(m).__name__ for m in model_io.read(tmp_path / "m.txt").modules] == ["Linear", "Tanh"]


@pytest.mark.parametrize(
    ("model", "error", "match"),
    [
        ([LayerRecord("Dropout")], ModelFormatError, "cannot write layer 0: unknown layer type 'Dropout'"),
        (
            [LayerRecord("Linear", {"m": 1, "n": 2}, {"W": numpy.ones((1, 2))})],
            ModelFormatError,
            r"cannot write layer 0: Linear expects the arrays \['B', 'W'\], got \['W'\]",
        ),
        ("Linear 1 1", TypeError, "cannot write a str; expected a Sequential or Module"),
        ([Rect(), 3], TypeError, "cannot write a int"),
        ([], ModelFormatError, "cannot write a model without layers"),
        (
            Sequential([Linear(1, 2, dtype=numpy.float32), Linear(2, 1)]),
            ModelFormatError,
            r"the model mixes parameter dtypes \['float32', 'float64'\]",
        ),
    ],
    ids=[
        "unknown-kind",
        "missing-bias",
        "a-string",
        "a-number-in-a-list",
        "no-layers",
        "mixed-dtypes-as-text",
    ],
)
def test_refused_models_leave_no_file(tmp_path, model, error, match):
    with pytest.raises(error, match=match):
        model_io.write(model, tmp_path / "m.txt")
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------------------ data_io


def test_extension_less_archives_and_idx_files_are_sniffed(tmp_path):
    data_io.write({"x": numpy.arange(3.0)}, tmp_path / "archive", fmt="npz")
    assert data_io.read(tmp_path / "archive").tolist() == [0.0, 1.0, 2.0]
    data_io.write(numpy.arange(4, dtype=numpy.uint8), tmp_path / "labels.gz", fmt="idx")
    os.rename(tmp_path / "labels.gz", tmp_path / "gzipped")
    assert data_io.read(tmp_path / "gzipped").tolist() == [0, 1, 2, 3]
    (tmp_path / "plain").write_bytes(b"\0\0\x08\x01\0\0\0\x02ab")  # uint8, 1 axis of 2
    assert data_io.read(tmp_path / "plain").tolist() == [97, 98]


@pytest.mark.parametrize(
    ("data", "name", "key", "error", "match"),
    [
        (
            {"a": numpy.ones(2)},
            "x.npy",
            None,
            TypeError,
            r"a mapping of arrays can only be written to \.npz, not npy",
        ),
        (numpy.ones(2), "x.txt", "k", ValueError, r"key= applies to \.npz and \.mat files only, not txt"),
        ({"a": numpy.ones(2)}, "x.npz", "k", ValueError, "key= cannot be combined with a mapping"),
        ({}, "x.npz", None, ValueError, "nothing to write: the mapping is empty"),
        ({"": numpy.ones(2)}, "x.npz", None, ValueError, r"invalid \.npz array name ''"),
        ({"a/b": numpy.ones(2)}, "x.npz", None, ValueError, r"invalid \.npz array name 'a/b'"),
        ({".a": numpy.ones(2)}, "x.npz", None, ValueError, r"invalid \.npz array name '\.a'"),
        ({3: numpy.ones(2)}, "x.npz", None, ValueError, r"invalid \.npz array name 3"),
        (
            numpy.ones(2, complex),
            "x.txt",
            None,
            ModelFormatError,
            "dtype complex128 cannot be written as text",
        ),
        (numpy.ones(2, numpy.int64), "x.idx", None, ModelFormatError, r"got shape \(2,\) dtype int64"),
        (
            numpy.array(1, numpy.uint8),
            "x.idx",
            None,
            ModelFormatError,
            r"idx holds 1 to 255 axes .* got shape \(\)",
        ),
    ],
    ids=[
        "mapping-to-npy",
        "key-for-txt",
        "key-with-mapping",
        "empty-mapping",
        "empty-name",
        "name-with-slash",
        "hidden-name",
        "non-string-name",
        "complex-as-text",
        "int64-as-idx",
        "0-d-as-idx",
    ],
)
def test_refused_data_writes_leave_no_file(tmp_path, data, name, key, error, match):
    with pytest.raises(error, match=match):
        data_io.write(data, tmp_path / name, key=key)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"# lrp_toolbox-data 1 dtype=float64 shape=-1\n1\n", "line 1: malformed header"),
        (
            b"# lrp_toolbox-data 1 dtype=float64 shape=" + b",".join([b"1"] * 33) + b"\n1\n",
            "line 1: malformed header",
        ),
        # NumPy warns (DeprecationWarning) for the alias 'a': refused before numpy.dtype sees it
        (b"# lrp_toolbox-data 1 dtype=a shape=1\n1\n", "line 1: malformed header"),
        # a structured dtype must not slip through a prefix match ('int8' then ',int8')
        (b"# lrp_toolbox-data 1 dtype=int8,int8 shape=1\n1\n", "line 1: malformed header"),
        (b"# lrp_toolbox-data 1 dtype=float128 shape=1\n1\n", "line 1: malformed header"),
        (b"1_0 2\n", "'_' in a number is not allowed"),
        (
            b"# lrp_toolbox-data 1 dtype=bool shape=2\n0\n2\n",
            r"not a number table of bool \(bool values must be 0 or 1\)",
        ),
    ],
    ids=[
        "negative-dimension",
        "33-dimensions",
        "dtype-alias-a",
        "structured-dtype",
        "float128",
        "digit-separator",
        "bool-value-2",
    ],
)
def test_bad_text_data_values_and_headers(tmp_path, content, match):
    path = tmp_path / "x.txt"
    path.write_bytes(content)
    _fails(data_io.read, path, match)


def test_text_data_with_a_byte_order_mark_is_read(tmp_path):
    (tmp_path / "x.txt").write_bytes(b"\xef\xbb\xbf# lrp_toolbox-data 1 dtype=int8 shape=2\n-1\n2\n")
    back = data_io.read(tmp_path / "x.txt")
    assert back.dtype == numpy.int8 and back.tolist() == [-1, 2]


# ------------------------------------------------------------------------------ atomic writes


def test_atomic_write_refuses_other_modes(tmp_path):
    with (
        pytest.raises(ValueError, match="mode must be 'wb' or 'w', got 'a'"),
        atomic_write(tmp_path / "x", "a"),
    ):
        pass
    assert os.listdir(tmp_path) == []


def test_write_through_a_symlink_loop_is_an_oserror_naming_the_path(tmp_path):
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(OSError, match="Too many levels of symbolic links") as info:
        data_io.write(numpy.zeros(2), a)  # Path.resolve raised RuntimeError before (3.13: os.stat)
    assert info.value.filename == str(a)
    assert sorted(os.listdir(tmp_path)) == ["a.npy", "b.npy"]


def test_write_over_a_folder_names_the_target_and_leaves_no_temporary_file(tmp_path):
    """The temporary file is written, then ``os.replace`` cannot move it over a folder: the error
    names the target (it named the hidden temporary file too) and the temporary file is removed."""
    target = tmp_path / "x.npy"
    target.mkdir()
    with pytest.raises(IsADirectoryError) as info:
        data_io.write(numpy.zeros(2), target)
    assert info.value.filename == str(target) and info.value.filename2 is None
    assert ".tmp" not in str(info.value)
    assert os.listdir(tmp_path) == ["x.npy"] and os.listdir(target) == []
