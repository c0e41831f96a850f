"""Model and data file edge cases: float32 overflow and duplicate header fields in text models,
format versions below 1, integer extremes and 1-D layout in data text files, dtype aliases in the
data header, and trailing bytes after gzip-compressed idx data."""

from __future__ import annotations

import gzip

import numpy
import pytest
import scipy.io

from lrp_toolbox import data_io, model_io
from lrp_toolbox.errors import ModelFormatError


def _read_fails(path, message: str) -> None:
    with pytest.raises(ModelFormatError) as info:
        model_io.read(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_text_float32_overflow_names_the_value_line(tmp_path) -> None:
    """1e39 is finite in float64 but above float32's maximum (~3.4e38): the error names line 3
    (the weight line) and value 2."""
    path = tmp_path / "m.txt"
    path.write_text("#lrp_toolbox-text 2 dtype=float32\nLinear 1 2\n1.0 1e39\n0 0\n")
    _read_fails(path, "line 3: value 2 (1e39) overflows float32")


def test_text_header_with_two_dtypes_is_refused(tmp_path) -> None:
    """A header may declare the dtype once."""
    path = tmp_path / "m.txt"
    path.write_text("#lrp_toolbox-text 2 dtype=float32 dtype=float64\nRect\n")
    _read_fails(path, "line 1: unknown header field 'dtype=float64'")


def test_npz_model_version_0_is_refused(tmp_path) -> None:
    """Format versions start at 1."""
    path = tmp_path / "m.npz"
    doc = '{"format": "lrp_toolbox-model", "version": 0, "layers": [{"type": "Rect", "config": {}}]}'
    numpy.savez(path, architecture=numpy.array(doc))
    _read_fails(path, 'expected an integer "version"')


@pytest.mark.parametrize("version", [0.0, -1.0])
def test_mat_model_version_below_1_is_refused(tmp_path, version) -> None:
    """format_version must be 1 (the only version); 0 and negative values are not supported."""
    path = tmp_path / "m.mat"
    scipy.io.savemat(
        path, {"layers": numpy.array([[{"type": "Rect"}]], dtype=object), "format_version": version}
    )
    _read_fails(path, "not supported")


@pytest.mark.parametrize("dtype", [numpy.uint8, numpy.int8, numpy.int32, numpy.int64])
def test_text_data_integer_extremes_round_trip(tmp_path, dtype) -> None:
    """The smallest and largest value of every integer dtype survive a .txt round trip."""
    info = numpy.iinfo(dtype)
    data = numpy.array([info.min, 0, info.max], dtype=dtype)
    path = tmp_path / "x.txt"
    data_io.write(data, path)
    back = data_io.read(path)
    assert back.dtype == data.dtype and back.tolist() == data.tolist()


def test_text_data_vectors_are_written_one_value_per_line() -> None:
    """1-D arrays are written as a column (as numpy.savetxt), after the header line."""
    text = data_io.format_txt(numpy.array([1.5, -2.0, 3.0]))
    assert text == "# lrp_toolbox-data 1 dtype=float64 shape=3\n1.5\n-2.0\n3.0\n"


@pytest.mark.parametrize("alias", ["f8", "double", ">i4", "<f4"])
def test_text_data_header_needs_the_canonical_dtype_name(tmp_path, alias) -> None:
    """dtype= takes NumPy's canonical name (float64, int32, ...), not aliases or byte orders."""
    path = tmp_path / "x.txt"
    path.write_text(f"# lrp_toolbox-data 1 dtype={alias} shape=2\n1\n2\n")
    with pytest.raises(ModelFormatError, match="line 1: malformed header"):
        data_io.read(path)


def test_gzip_idx_with_trailing_bytes_is_refused(tmp_path) -> None:
    """Header: uint8 (0x08), 1 axis of length 2; three data bytes follow instead of two."""
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(b"\0\0\x08\x01\0\0\0\x02abc"))
    with pytest.raises(ModelFormatError, match="trailing bytes"):
        data_io.read(path)
